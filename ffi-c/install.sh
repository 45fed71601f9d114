#!/usr/bin/env bash
# Builds libphaseloop (release profile) and installs it the way C programmers expect, so that
#   cc prog.c $(pkg-config --cflags --libs phaseloop)
# works:
#   PREFIX/include/phaseloop.h
#   PREFIX/lib/libphaseloop.so.X.Y.Z, libphaseloop.so.X -> (the soname), libphaseloop.so -> (dev link)
#   PREFIX/lib/libphaseloop.a
#   PREFIX/lib/pkgconfig/phaseloop.pc
#
# Usage: ffi-c/install.sh [PREFIX]     (default /usr/local; DESTDIR is honoured for packaging)
# Honours CARGO_TARGET_DIR (default target/). Linux and other ELF platforms.
#
# cargo-c does this job in general, but building it takes about ten minutes on two cores; this
# script needs nothing but cargo.
set -euo pipefail

prefix=${1:-/usr/local}
case $prefix in /*) ;; *) prefix=$(pwd)/$prefix ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
major=${version%%.*}

# One build for both libraries; --print native-static-libs tells what a static link needs
# (cargo replays the note when nothing was rebuilt).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! cargo rustc --manifest-path "$root/Cargo.toml" --release -p phaseloop-ffi --lib \
    -- --print native-static-libs >"$log" 2>&1; then
  cat "$log" >&2
  echo "install.sh: the build failed" >&2
  exit 1
fi
static_libs=$(sed -n 's/.*native-static-libs: //p' "$log" | tail -n 1)

libdir=${DESTDIR:-}$prefix/lib
includedir=${DESTDIR:-}$prefix/include
mkdir -p "$libdir/pkgconfig" "$includedir"

install -m 644 "$root/include/phaseloop.h" "$includedir/phaseloop.h"
install -m 755 "$target/release/libphaseloop.so" "$libdir/libphaseloop.so.$version"
ln -sf "libphaseloop.so.$version" "$libdir/libphaseloop.so.$major"
ln -sf "libphaseloop.so.$major" "$libdir/libphaseloop.so"
install -m 644 "$target/release/libphaseloop.a" "$libdir/libphaseloop.a"

cat >"$libdir/pkgconfig/phaseloop.pc" <<PC
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: phaseloop
Description: The Node.js event loop as a C library
Version: $version
Libs: -L\${libdir} -lphaseloop
Libs.private: $static_libs
Cflags: -I\${includedir}
PC

echo "install.sh: installed phaseloop $version into ${DESTDIR:-}$prefix"
