#!/usr/bin/env bash
# Reruns every Node program here and diffs its output against the .expected file that the Rust
# tests in core/tests/ assert, so anyone can check that those expectations are Node's.
# Usage: core/tests/node/check.sh [--write]   (NODE=/path/to/node to choose the binary)
set -euo pipefail
cd "$(dirname "$0")"
node_bin=${NODE:-node}
status=0
count=0
for js in *.js; do
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
