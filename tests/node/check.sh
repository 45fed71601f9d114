#!/usr/bin/env bash
# Reruns every Node program of the corpus (tests/node/*.js and tests/node/demo/*.js) and diffs
# its output against its .expected file, the order the Rust, C and Python tests assert; with
# --write it records node's output as the new .expected instead (review the diff: a changed
# order is a Node change or an unfair program, never something to match phaseloop).
# Usage: tests/node/check.sh [--write]   (NODE=/path/to/node to choose the binary)
set -euo pipefail
cd "$(dirname "$0")"
node_bin=${NODE:-node}
status=0
count=0
for js in *.js demo/*.js; do
  expected="${js%.js}.expected"
  actual=$("$node_bin" "$js")
  count=$((count + 1))
  if [ "${1:-}" = "--write" ]; then
    printf '%s\n' "$actual" > "$expected"
  elif ! diff -u "$expected" <(printf '%s\n' "$actual") >/dev/null; then
    echo "MISMATCH $js (node $("$node_bin" --version)):"
    diff -u "$expected" <(printf '%s\n' "$actual") || true
    status=1
  fi
done
echo "node cross-check: $count programs, node $("$node_bin" --version), $([ $status = 0 ] && echo all match || echo MISMATCH)"
exit $status
