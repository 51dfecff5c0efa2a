#!/usr/bin/env bash
# Take reports/matrix.png, a screenshot of reports/matrix.html in headless chromium
# (1600×1000), and record what it shows in reports/matrix.png.json: the sha256 of the page it
# was taken of, of the picture itself, and the commit and spec digest the page names. The test
# harness/report/tests/provenance.rs fails when the page changed since (the screenshot is
# older than the page) or the picture is not the one recorded. Run it after `introspec report`
# whenever matrix.html changes:  bash harness/report/tools/screenshot.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
browser="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$browser" ]; then
  echo "screenshot: no chromium (apt-get install -y chromium)" >&2
  exit 2
fi
# no background networking: this machine's network is closed, and chromium's own connections
# (component updates, sync, QUIC) would only be refused, many at a time
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size=1600,1000 \
  --screenshot="$PWD/reports/matrix.png" "file://$PWD/reports/matrix.html" >/dev/null 2>&1
page="$(sha256sum reports/matrix.html | cut -d' ' -f1)"
png="$(sha256sum reports/matrix.png | cut -d' ' -f1)"
commit="$(python3 -c 'import json; print(json.load(open("reports/matrix.json"))["harness"]["commit"])')"
digest="$(python3 -c 'import json; print(json.load(open("reports/matrix.json"))["harness"]["spec_digest"])')"
cat > reports/matrix.png.json <<JSON
{
  "page": "reports/matrix.html",
  "page_sha256": "$page",
  "png_sha256": "$png",
  "commit": "$commit",
  "spec_digest": "$digest",
  "how": "headless chromium, 1600x1000, harness/report/tools/screenshot.sh"
}
JSON
echo "screenshot: reports/matrix.png of the page at commit $commit (reports/matrix.png.json)"
