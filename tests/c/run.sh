#!/usr/bin/env bash
# The C test command: checks that include/phaseloop.h is fresh, builds and installs libphaseloop
# into a prefix under the build dir (with its phaseloop.pc), then compiles every C test and
# example against the installed header and library with pkg-config, runs each test, runs each
# test again under valgrind, cross-checks the Node orders with node, and ends with the line
# "N passed, N failed".
#
# Usage: tests/c/run.sh            (CARGO_TARGET_DIR is honoured, default target/;
#                                   CC and CXX choose the compilers; NODE the node binary)
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/tests/c
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
export CARGO_TARGET_DIR=$target
build=$target/c-tests
prefix=$build/prefix
cc=${CC:-cc}
cxx=${CXX:-g++}
node=${NODE:-node}

# The tests choose their own pool sizes; a deliberate panic needs no backtrace (under valgrind,
# symbolising one costs seconds and leaves a large, reachable cache).
unset PHASELOOP_THREADPOOL_SIZE
export RUST_BACKTRACE=0

passed=0
failed=0
skipped=0
failures=()

pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1"; }
skip() { skipped=$((skipped + 1)); echo "SKIP $1"; }
summary() {
  if [ ${#failures[@]} -gt 0 ]; then printf 'failed: %s\n' "${failures[@]}"; fi
  echo "$passed passed, $failed failed, $skipped skipped"
  [ "$failed" -eq 0 ]
  exit
}
# Runs a check: `check NAME command...`; its output goes to $build/logs/NAME.log, shown on failure.
check() {
  local name=$1 log
  shift
  log=$build/logs/$(echo "$name" | tr ' /' '__').log
  if "$@" >"$log" 2>&1; then
    pass "$name"
  else
    fail "$name"
    # The program's own lines first: under valgrind a CHECK failure would otherwise scroll
    # away above the leak report that the exit it caused brings.
    if grep -q '^==[0-9]*== ' "$log"; then
      grep -v '^==[0-9]*== ' "$log" | head -n 20 | sed 's/^/    /'
    fi
    sed 's/^/    /' "$log" | tail -n 40
  fi
}

rm -rf "$build"
mkdir -p "$build/bin" "$build/logs"

# ----- the header and the library ---------------------------------------------------------------

check "header is up to date" "$root/ffi-c/header.sh" --check
check "build and install" "$root/ffi-c/install.sh" "$prefix"
if [ ! -f "$prefix/lib/pkgconfig/phaseloop.pc" ]; then
  summary
fi
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
# Programs find the shared library through its soname, libphaseloop.so.0, in the prefix.
export LD_LIBRARY_PATH=$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
pc_flags=$(pkg-config --cflags --libs phaseloop)
version=$(pkg-config --modversion phaseloop)

check "the shared library's soname is libphaseloop.so.${version%%.*}" \
  bash -c "readelf -d '$prefix/lib/libphaseloop.so.$version' | grep -q 'SONAME.*\[libphaseloop.so.${version%%.*}\]'"

# The header alone, as strict C99 and as C++ (linked and run: C linkage through extern "C").
check "header compiles as C99 (-pedantic)" \
  bash -c "$cc -std=c99 -pedantic -Wall -Wextra -Werror '$here/header_c99.c' -o '$build/bin/header_c99' $pc_flags && '$build/bin/header_c99'"
check "header compiles and links as C++" \
  bash -c "$cxx -Wall -Wextra -Werror '$here/header_cxx.cpp' -o '$build/bin/header_cxx' $pc_flags && '$build/bin/header_cxx'"

# ----- the tests -------------------------------------------------------------------------------------

tests=()
for src in "$here"/test_*.c; do
  name=$(basename "$src" .c)
  if check "compile $name" $cc -std=c99 -Wall -Wextra -Werror -pthread "$src" -o "$build/bin/$name" $pc_flags -lm; then
    tests+=("$name")
  fi
done
[ ${#tests[@]} -gt 0 ] && check "tests link libphaseloop by its soname" \
  bash -c "readelf -d '$build/bin/${tests[0]}' | grep -q 'NEEDED.*\[libphaseloop.so.${version%%.*}\]'"

# The Node programs the C twins replay: the corpus the Rust and Python tests read too.
node_corpus=$root/tests/node
args_for() { [ "$1" = test_node_orders ] && echo "$node_corpus"; }

for name in "${tests[@]}"; do
  check "run $name" timeout 600 "$build/bin/$name" $(args_for "$name")
done

# Valgrind: any memory error fails, and so does any leak that is "definitely", "indirectly" or
# "possibly" lost. "Still reachable" does not: that is memory a static still points to at exit,
# which Rust programs keep by design and never free (signal-hook's global registry of handlers,
# std's lazily initialised thread-local and runtime state, pl_strerror's cache of OS messages).
# Rust's global allocator here is the system malloc, so valgrind sees every allocation; and every
# thread is joined before exit (pool threads by pl_loop_free, the tests' own by pthread_join), so
# no thread-local block is left "possibly lost" behind a live thread.
valgrind_flags=(--error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible
  --show-leak-kinds=definite,indirect,possible --num-callers=30)
if command -v valgrind >/dev/null; then
  for name in "${tests[@]}"; do
    check "valgrind $name" timeout 1200 valgrind "${valgrind_flags[@]}" "$build/bin/$name" $(args_for "$name")
  done
else
  skip "valgrind (not installed)"
fi

# The static library: the status test (its deliberate panic included) linked with libphaseloop.a.
static_libs=$(pkg-config --static --libs phaseloop)
static_libs=${static_libs/-lphaseloop/-Wl,-Bstatic -lphaseloop -Wl,-Bdynamic}
check "static link: test_status against libphaseloop.a" \
  bash -c "$cc -std=c99 -Wall -Wextra -Werror -pthread '$here/test_status.c' -o '$build/bin/test_status_static' \
    $(pkg-config --cflags phaseloop) $static_libs -lm \
    && ! readelf -d '$build/bin/test_status_static' | grep -q 'NEEDED.*libphaseloop' \
    && '$build/bin/test_status_static'"

# ----- the Node orders: the expected outputs are node's own ------------------------------------------

# Every C twin has its program in the Node corpus, and node still prints what the twin asserts
# (tests/node/check.sh reruns the whole corpus; this is the part C relies on).
scenarios=
if [ -x "$build/bin/test_node_orders" ]; then
  scenarios=$("$build/bin/test_node_orders" --list)
  twins_have_programs() {
    local name
    for name in $scenarios; do
      [ -f "$node_corpus/$name.js" ] || { echo "C scenario $name has no tests/node/$name.js"; return 1; }
    done
  }
  check "every C twin has its Node program in tests/node" twins_have_programs
fi
if command -v "$node" >/dev/null; then
  for name in $scenarios; do
    check "node prints tests/node/$name.expected" \
      bash -c "cd '$node_corpus' && '$node' '$name.js' | diff -u '$name.expected' -"
  done
else
  skip "node cross-check (node not installed)"
fi

# ----- the examples ----------------------------------------------------------------------------------

for src in "$root"/examples/c/*.c; do
  name=$(basename "$src" .c)
  check "example $name" \
    bash -c "$cc -std=c99 -Wall -Wextra -Werror -pthread '$src' -o '$build/bin/example_$name' $pc_flags && timeout 120 '$build/bin/example_$name'"
done

summary
