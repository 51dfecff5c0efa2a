#!/usr/bin/env bash
# Smoke test of the PyO3 observer on every installed CPython >= 3.9 (not free-threaded: those
# cannot load abi3 modules): builds the module (unless OBS_SO names a built one), starts a
# worker the way the harness does, runs one generator case and checks every answer.
#
#   harness/observer-pyo3/smoke.sh              # all pyenv CPythons >= 3.9 (else python3)
#   PYTHONS="/usr/bin/python3.12" smoke.sh      # these interpreters only
#   OBS_SO=/path/libintrospec_pyo3.so smoke.sh  # skip the build
#
# Exits non-zero if the build fails, no interpreter is found, or any answer is wrong.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target_dir="${CARGO_TARGET_DIR:-$here/../../target/pyext}"

if [[ -z "${OBS_SO:-}" ]]; then
    (cd "$here" && cargo build --release --target-dir "$target_dir" -j 2)
    OBS_SO="$target_dir/release/libintrospec_pyo3.so"
fi
[[ -f "$OBS_SO" ]] || { echo "smoke: no built module at $OBS_SO" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/obs"
cp "$OBS_SO" "$work/obs/introspec_pyo3.abi3.so"

if [[ -z "${PYTHONS:-}" ]]; then
    PYTHONS=""
    if command -v pyenv >/dev/null 2>&1; then
        for py in "$(pyenv root)"/versions/*/bin/python3; do
            [[ -x "$py" ]] && PYTHONS="$PYTHONS $py"
        done
    fi
    [[ -n "$PYTHONS" ]] || PYTHONS="$(command -v python3 || true)"
fi

# The checker runs on the interpreter under test (any Python >= 3.9 has json and subprocess).
cat >"$work/check.py" <<'PYEOF'
import json, os, subprocess, sys

obs_dir, py = sys.argv[1], sys.argv[2]
env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONIOENCODING="utf-8",
           PYTHONHASHSEED="0", PYTHONUNBUFFERED="1")
cmd = [py, "-c", "import sys; sys.path.insert(0, %r); import introspec_pyo3; introspec_pyo3.serve()" % obs_dir]

SOURCE = (
    "import os\n"
    "def gen():\n"
    "    print('printed inside the body')\n"
    "    os.write(1, b'raw bytes written to fd 1\\n')\n"
    "    observe()\n"
    "    yield 1\n"
    "    observe()\n"
    "    yield 2\n"
)
READS = [[{"attr": "gi_frame"}], [{"attr": "gi_running"}], [{"attr": "gi_suspended"}],
         [{"call": "inspect.getgeneratorstate"}], [{"attr": "gi_code"}]]
CASE = {"id": "smoke.generator", "origin": "smoke.toml:1", "source": SOURCE, "module": None,
        "refs": ["gen.__code__"],
        "targets": [{"name": "subject", "reads": READS}],
        "steps": [{"op": "create", "expr": "gen()"}, {"op": "next", "target": "subject"},
                  {"op": "next", "target": "subject"}, {"op": "next", "target": "subject"}]}
requests = [{"ping": {}}, {"run": CASE}, "this is not json", {"shutdown": {}}]
stdin = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in requests)

proc = subprocess.run(cmd, input=stdin.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                      env=env, timeout=60)
out = proc.stdout.decode("utf-8", "replace")
err = proc.stderr.decode("utf-8", "replace")
failures = []

def check(what, got, want):
    if got != want:
        failures.append("%s:\n    got  %s\n    want %s" % (what, json.dumps(got), json.dumps(want)))

lines = out.splitlines()
try:
    msgs = [json.loads(l) for l in lines]
except ValueError as e:
    msgs = []
    failures.append("the channel is corrupted (%s): %r" % (e, out[:500]))
check("exit status", proc.returncode, 0)
check("number of lines", len(lines), 4)

vi = sys.version_info
if msgs:
    hello = msgs[0].get("hello", {})
    check("hello.protocol", hello.get("protocol"), 1)
    check("hello.observer", hello.get("observer"), "pyo3")
    check("hello.implementation", hello.get("implementation"), "cpython")
    check("hello.version", hello.get("version"), "%d.%d.%d" % vi[:3])
    check("hello.version_info", hello.get("version_info"), list(vi))
    check("hello.free_threaded", hello.get("free_threaded"), False)
    check("hello.debug", hello.get("debug"), hasattr(sys, "gettotalrefcount"))
    check("hello.build is one line", "\n" in hello.get("build", "\n"), False)
if len(msgs) > 1:
    check("ping", msgs[1], {"pong": {}})
if len(msgs) > 3:
    check("not json", list(msgs[3]), ["bad_request"])
if len(msgs) > 2:
    has_suspended = vi >= (3, 11)
    def susp(b):
        return {"Bool": b} if has_suspended else {"Missing": "gi_suspended"}
    frame = {"Obj": {"type": "frame", "id": 0, "refs": []}}
    def code(i):
        return {"Obj": {"type": "code", "id": i, "refs": [0]}}
    created = [[frame, {"Bool": False}, susp(False), {"Str": "GEN_CREATED"}, code(1)]]
    running = [[frame, {"Bool": True}, susp(False), {"Str": "GEN_RUNNING"}, code(1)]]
    suspended = [[frame, {"Bool": False}, susp(True), {"Str": "GEN_SUSPENDED"}, code(1)]]
    closed = [["None", {"Bool": False}, susp(False), {"Str": "GEN_CLOSED"}, code(0)]]
    want = {"id": "smoke.generator", "error": None, "steps": [
        {"outcome": {"Returned": {"Obj": {"type": "generator", "id": 0, "refs": []}}},
         "after": created, "inside": []},
        {"outcome": {"Returned": {"Int": 1}}, "after": suspended, "inside": [running]},
        {"outcome": {"Returned": {"Int": 2}}, "after": suspended, "inside": [running]},
        {"outcome": {"Raised": {"type": "StopIteration", "msg": "", "value": "None"}},
         "after": closed, "inside": []},
    ]}
    got = msgs[2].get("result")
    before = len(failures)
    if got != want and isinstance(got, dict):
        check("result.error", got.get("error"), None)
        check("number of steps", len(got.get("steps", [])), len(want["steps"]))
        for i, (g, w) in enumerate(zip(got.get("steps", []), want["steps"])):
            check("step %d" % i, g, w)
    if len(failures) == before:
        check("result", got, want)
check("print() went to stderr", "printed inside the body" in err, True)
check("os.write(1) went to stderr", "raw bytes written to fd 1" in err, True)

if failures:
    print("FAIL %s\n  %s" % (py, "\n  ".join(failures)))
    if err.strip():
        print("  stderr:\n    " + err.strip().replace("\n", "\n    "))
    sys.exit(1)
print("ok   %s (%d.%d.%d)" % ((py,) + tuple(vi[:3])))
PYEOF

ran=0
failed=0
for py in $PYTHONS; do
    # CPython >= 3.9 with the GIL only; anything else is not this observer's.
    if ! "$py" -c 'import sys, sysconfig; sys.exit(0 if sys.implementation.name == "cpython" and sys.version_info >= (3, 9) and not sysconfig.get_config_var("Py_GIL_DISABLED") else 1)' 2>/dev/null; then
        echo "skip $py"
        continue
    fi
    ran=$((ran + 1))
    "$py" "$work/check.py" "$work/obs" "$py" || failed=$((failed + 1))
done

if [[ $ran -eq 0 ]]; then
    echo "smoke: no CPython >= 3.9 found" >&2
    exit 1
fi
echo "$((ran - failed)) passed, $failed failed"
[[ $failed -eq 0 ]]
