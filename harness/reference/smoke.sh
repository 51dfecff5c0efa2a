#!/usr/bin/env bash
# Build async_introspection and run smoke_check.py on every CPython 3.9-3.13 of pyenv.
#
#   harness/reference/smoke.sh
#
# Environment:
#   SMOKE_SKIP_BUILD=1   use the module already in $REF_DIR
#   REF_DIR              where the module is copied and loaded from (default /tmp/ref)
#   TARGET_DIR           cargo target dir (default <repo>/target/pyext)
#   SMOKE_PYTHONS        space-separated interpreters instead of the pyenv ones
#                        (e.g. venvs that have Cython and mypy: the compiled-object checks
#                        run only where the interpreter can import Cython / mypyc)
# Exits non-zero if the build or any interpreter's check fails, or an interpreter is missing.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
ref_dir="${REF_DIR:-/tmp/ref}"
target_dir="${TARGET_DIR:-$repo/target/pyext}"

if [ "${SMOKE_SKIP_BUILD:-0}" != "1" ]; then
    # .cargo/config.toml in this directory sets PYO3_BUILD_EXTENSION_MODULE=1.
    (cd "$here" && CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" \
        cargo build --release --target-dir "$target_dir") || { echo "smoke: build failed"; exit 1; }
    mkdir -p "$ref_dir"
    cp "$target_dir/release/libasync_introspection.so" "$ref_dir/async_introspection.abi3.so" \
        || { echo "smoke: no built module"; exit 1; }
fi
[ -f "$ref_dir/async_introspection.abi3.so" ] || { echo "smoke: $ref_dir/async_introspection.abi3.so missing"; exit 1; }

if [ -n "${SMOKE_PYTHONS:-}" ]; then
    read -r -a pythons <<< "$SMOKE_PYTHONS"
else
    root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
    pythons=()
    for v in 3.9.18 3.10.13 3.11.7 3.12.1 3.13.0; do
        pythons+=("$root/versions/$v/bin/python")
    done
fi

# Compile the samples with Cython and mypyc when this interpreter has them.
build_samples() {
    local py="$1" out="$2"
    cp "$here/samples/"*.py "$out/"
    if "$py" -c "import Cython, setuptools" 2>/dev/null; then
        (cd "$out" && "$py" -c "
from setuptools import setup
from Cython.Build import cythonize
setup(ext_modules=cythonize(['introspec_cy_sample.py'], language_level=3, quiet=True),
      script_args=['build_ext', '--inplace'])" >build-cython.log 2>&1) \
            || echo "smoke: Cython build failed for $py (see $out/build-cython.log)"
    fi
    if "$py" -c "import mypyc, setuptools" 2>/dev/null; then
        (cd "$out" && "$py" -m mypyc introspec_mypyc_sample.py >build-mypyc.log 2>&1) \
            || echo "smoke: mypyc build failed for $py (see $out/build-mypyc.log)"
    fi
    # Uncompiled sources would be imported as plain Python: keep only compiled modules.
    rm -f "$out/introspec_cy_sample.py" "$out/introspec_mypyc_sample.py"
}

ok=0
bad=0
for py in "${pythons[@]}"; do
    if [ ! -x "$py" ]; then
        echo "smoke: FAIL interpreter missing: $py"
        bad=$((bad + 1))
        continue
    fi
    samples="$(mktemp -d)"
    build_samples "$py" "$samples"
    echo "== $("$py" -c 'import sys; print(sys.version.split()[0])') ($py)"
    if PYTHONDONTWRITEBYTECODE=1 "$py" -X faulthandler \
        "$here/smoke_check.py" "$ref_dir" "$samples"; then
        ok=$((ok + 1))
    else
        echo "smoke: FAIL $py"
        bad=$((bad + 1))
    fi
    rm -rf "$samples"
done

echo "smoke: $ok passed, $bad failed"
[ "$bad" -eq 0 ]
