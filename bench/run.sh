#!/usr/bin/env bash
# The benchmark command: installs what it needs, builds everything, measures phaseloop and its
# anchors (libuv from C; asyncio, uvloop and rloop from Python; Node; the Rust core alone) in
# one run, prints the table and writes it to bench/RESULTS.md.
#
# Usage: bash bench/run.sh [--quick] [report.py options...]
#   --quick             a hundredth of the sizes and 3 runs: a smoke run of a minute or two,
#                       written to bench/build/RESULTS-quick.md (RESULTS.md is left alone)
#   --suites c,python,asyncio,js,rust   only these tables;  --runs R   R runs per figure (default 5)
#   --verbose           every run's figures on stderr
# Needs: cargo, cc, python3 (with venv), pkg-config; installs libuv1-dev with apt-get when it is
# missing, and uvloop and rloop from PyPI into bench/build/venv. Node is optional (its columns
# then read "failed"). CARGO_TARGET_DIR is honoured (default target/).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bench=$root/bench
build=$bench/build
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
export CARGO_TARGET_DIR=$target

out=$bench/RESULTS.md
for arg in "$@"; do
  if [ "$arg" = --quick ]; then out=$build/RESULTS-quick.md; fi
done

step() { echo "== $*" >&2; }
mkdir -p "$build"

# ----- what the anchors need -----------------------------------------------------------------------

if ! pkg-config --exists libuv 2>/dev/null; then
  step "installing libuv1-dev"
  apt-get install -y libuv1-dev >/dev/null 2>&1 \
    || { apt-get update >/dev/null && apt-get install -y libuv1-dev >/dev/null; }
fi
if ! command -v node >/dev/null; then
  echo "run.sh: node is not installed; the Node columns will read 'failed'" >&2
fi

venv=$build/venv
if [ ! -x "$venv/bin/python" ]; then
  step "creating $venv"
  python3 -m venv "$venv"
fi
step "installing uvloop, rloop and maturin into the bench venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check uvloop rloop maturin

# ----- phaseloop: the Python module, libphaseloop, the Rust core bench -------------------------------

step "building the phaseloop Python module (release)"
rm -rf "$build/wheels"
(cd "$root" && "$venv/bin/maturin" build --quiet --release -m py/Cargo.toml \
  -i "$venv/bin/python" -o "$build/wheels" >&2)
"$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps \
  "$build"/wheels/*.whl

step "building and installing libphaseloop into $build/prefix"
"$root/ffi-c/install.sh" "$build/prefix" >&2

step "compiling the C bench programs (-O2)"
pl_flags=$(PKG_CONFIG_PATH=$build/prefix/lib/pkgconfig pkg-config --cflags --libs phaseloop)
uv_flags=$(pkg-config --cflags --libs libuv)
cc -O2 -std=c11 -Wall -Wextra -Werror -pthread "$bench/c/pl_bench.c" -o "$build/pl_bench" \
  $pl_flags -Wl,-rpath,"$build/prefix/lib"
cc -O2 -std=c11 -Wall -Wextra -Werror -pthread "$bench/c/uv_bench.c" -o "$build/uv_bench" $uv_flags

step "building the Rust core bench (release)"
cargo build --quiet --release --manifest-path "$bench/rust/Cargo.toml"
cp "$target/release/core_bench" "$build/core_bench"

# ----- measuring --------------------------------------------------------------------------------------

step "measuring (figures: ns per operation, median [min-max] of the runs)"
"$venv/bin/python" "$bench/report.py" --build "$build" --python "$venv/bin/python" \
  --out "$out" "$@"
step "written to $out"
