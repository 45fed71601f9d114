#!/usr/bin/env bash
# Generates include/phaseloop.h from ffi-c/src with a pinned cbindgen (settings in
# ffi-c/cbindgen.toml). The version is pinned so that the staleness check never flaps because
# another cbindgen formats differently.
#
#   ffi-c/header.sh           regenerate include/phaseloop.h
#   ffi-c/header.sh --check   fail (exit 1, with the diff) if include/phaseloop.h is stale
#
# cbindgen is installed once with `cargo install --locked` under $CARGO_TARGET_DIR/tools (default
# target/tools) and reused from there; CBINDGEN=/path/to/cbindgen uses another binary of the same
# version instead.
set -euo pipefail

CBINDGEN_VERSION=0.29.4

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
tools=$target/tools/cbindgen-$CBINDGEN_VERSION
cbindgen=${CBINDGEN:-$tools/bin/cbindgen}

if [ ! -x "$cbindgen" ]; then
  echo "header.sh: installing cbindgen $CBINDGEN_VERSION into $tools (once)" >&2
  cargo install cbindgen --version "=$CBINDGEN_VERSION" --locked --quiet \
    --root "$tools" --target-dir "$target/tools/build"
fi
found=$("$cbindgen" --version)
if [ "$found" != "cbindgen $CBINDGEN_VERSION" ]; then
  echo "header.sh: $cbindgen is '$found', need cbindgen $CBINDGEN_VERSION" >&2
  exit 1
fi

fresh=$(mktemp)
trap 'rm -f "$fresh"' EXIT
# Given a source file, cbindgen follows its `mod` declarations without asking cargo metadata.
# It warns about every private item it skips; those lines are noise.
"$cbindgen" --quiet --config "$root/ffi-c/cbindgen.toml" --output "$fresh" "$root/ffi-c/src/lib.rs"

header=$root/include/phaseloop.h
if [ "${1:-}" = "--check" ]; then
  if ! diff -u "$header" "$fresh"; then
    echo "header.sh: include/phaseloop.h is stale; run ffi-c/header.sh and commit the result" >&2
    exit 1
  fi
  echo "header.sh: include/phaseloop.h is up to date (cbindgen $CBINDGEN_VERSION)"
else
  mkdir -p "$root/include"
  cp "$fresh" "$header"
  echo "header.sh: wrote include/phaseloop.h (cbindgen $CBINDGEN_VERSION)"
fi
