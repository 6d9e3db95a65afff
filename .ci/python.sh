#!/usr/bin/env bash
# The Python test library (services/python, docs/python.md): installed into
# a fresh venv from its built wheel with its test extras, type-checked with
# mypy --strict, and its tests run against the binary the README's test
# command built. pytest's exit 5 (no test collected) fails like any other.
# Arguments go to pytest: `MERIDIAN_IMAGE=meridian:local .ci/python.sh
# tests/test_container.py` runs the container class's tests on the image.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${MERIDIAN_BIN:-${CARGO_TARGET_DIR:-target}/debug/meridian}"
if [ ! -x "$bin" ]; then
    echo "no meridian binary at $bin: build it first (cargo test --workspace, or cargo build -p meridian)" >&2
    exit 1
fi
export MERIDIAN_BIN="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
# A built wheel, as a user gets it (pip builds the same one to install
# from the path): typed (py.typed) and with its pytest plugin registered.
"$venv/bin/pip" wheel --quiet --no-deps -w "$venv/dist" ./services/python
wheel=$(ls "$venv"/dist/meridian_testkit-*.whl)
"$venv/bin/python" - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
assert "meridian_testkit/py.typed" in names, names
ep = [n for n in names if n.endswith("entry_points.txt")]
assert ep and b"pytest11" in zipfile.ZipFile(sys.argv[1]).read(ep[0]), ep
PY
"$venv/bin/pip" install --quiet "$wheel[test]"

echo "== mypy --strict (meridian_testkit)"
(cd services/python && "$venv/bin/mypy")

echo "== pytest (meridian_testkit, against $MERIDIAN_BIN)"
status=0
(cd services/python && "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@") || status=$?
if [ "$status" = 5 ]; then
    echo "pytest collected no test: that is a failure here" >&2
    exit 1
fi
exit "$status"
