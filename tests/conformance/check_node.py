"""Check that Node.js agrees with itself and with the scenarios' `expect`.

Runs every scenario under Node several times (node_runner.js starts a fresh Node process for
each scenario on each run) and fails when Node's log varies between runs (the scenario is
unfair: its order depends on luck, see shared/conformance/FORMAT.md), when it differs from the
scenario's `expect`, or when a scenario fails to run.

    python3 check_node.py                          # scenarios/*.json, 5 runs
    python3 check_node.py --runs 20
    python3 check_node.py --runs 10 --load         # every run with both cores kept busy
    python3 check_node.py --runs 5 --load-runs 5   # 5 quiet runs, then 5 loaded runs
    python3 check_node.py --stability-only DIR     # programs without `expect` (fuzz output)
    python3 check_node.py --node /path/to/node     # another Node version
    python3 check_node.py --jobs 4                 # 4 runner processes side by side

Python 3.9+, standard library only. The last line is "check_node: N passed, N failed".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nodefind import NodeNotFound, find_node, node_version
from shards import node_command, run_sharded

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "node_runner.js"
DEFAULT_SCENARIOS = HERE / "scenarios"
# Matches "the two cores kept busy" in FORMAT.md: fairness is judged on a busy 2-core machine.
LOAD_PROCESSES = 2


def scenario_files(paths: list[str]) -> list[Path]:
    """The .json files named, or found directly inside the folders named, sorted."""
    files: list[Path] = []
    for name in paths or [str(DEFAULT_SCENARIOS)]:
        path = Path(name)
        files.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    return files


@contextmanager
def busy_cores(count: int) -> Iterator[None]:
    """Keep `count` busy-loop processes running for the duration of the block."""
    loops = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(count)
    ]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
        for loop in loops:
            loop.wait()


def run_once(node: str, files: list[Path], jobs: int = 1) -> dict[str, dict]:
    """One pass of node_runner.js over `files`, in `jobs` parallel runners: file name ->
    {"log": [...]} or {"error": ...}."""
    # The runner prints one line per file, in order, so results are matched by position
    # and not by name (a broken file may have no readable name); shards.py does that.
    results = run_sharded(node_command(node, RUNNER), files, jobs)
    return {str(file): result for file, result in results.items()}


def outcome(result: dict) -> str:
    """A run's result as one comparable string."""
    if "error" in result:
        return "ERROR " + result["error"]
    return json.dumps(result["log"])


def first_difference(expected: list, got: list) -> str:
    for index, (want, have) in enumerate(zip(expected, got)):
        if want != have:
            return f"at {index}: expected {want!r}, Node printed {have!r}"
    return f"lengths differ: expected {len(expected)} labels, Node printed {len(got)}"


def judge(file: Path, outcomes: list[str], stability_only: bool) -> str | None:
    """None when the scenario passes, else a report of what is wrong."""
    counts = Counter(outcomes)
    if len(counts) > 1:
        variants = "\n".join(f"    {n} x {text}" for text, n in counts.most_common())
        return (
            f"UNFAIR {file.name}: Node printed {len(counts)} different logs\n{variants}"
        )
    (only,) = counts
    if only.startswith("ERROR"):
        return f"ERROR {file.name}: {only.removeprefix('ERROR ')}"
    if stability_only:
        return None
    expected = json.loads(file.read_text()).get("expect")
    if expected is None:
        return f"NO EXPECT {file.name}: run `node node_runner.js --write-expect {file}`"
    got = json.loads(only)
    if got != expected:
        return (
            f"MISMATCH {file.name}: {first_difference(expected, got)}\n"
            f"    expect: {json.dumps(expected)}\n    node:   {only}"
        )
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "paths", nargs="*", help="scenario files or folders (default: scenarios/)"
    )
    parser.add_argument(
        "--runs", type=int, default=5, help="runs per scenario (default 5)"
    )
    parser.add_argument(
        "--load", action="store_true", help="keep 2 cores busy during every run"
    )
    parser.add_argument(
        "--load-runs",
        type=int,
        default=0,
        help="extra runs under load, after the --runs ones",
    )
    parser.add_argument("--node", help="the node executable (default: see nodefind.py)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="node_runner.js processes side by side (default 1: the fairness audit's setting)",
    )
    parser.add_argument(
        "--stability-only",
        action="store_true",
        help="check only that runs agree (no expect)",
    )
    args = parser.parse_args(argv)

    try:
        node = find_node(args.node)
    except NodeNotFound as error:
        print(f"check_node: {error}", file=sys.stderr)
        return 2
    files = scenario_files(args.paths)
    if not files:
        print("check_node: no scenario files", file=sys.stderr)
        return 2

    plan = [args.load] * args.runs + [True] * args.load_runs
    print(
        f"check_node: {len(files)} scenarios, {len(plan)} runs "
        f"({sum(plan)} under load) with {node} {node_version(node)}",
        flush=True,
    )
    outcomes: dict[str, list[str]] = {str(file): [] for file in files}
    for number, loaded in enumerate(plan, 1):
        started = time.monotonic()
        if loaded:
            with busy_cores(LOAD_PROCESSES):
                results = run_once(node, files, args.jobs)
        else:
            results = run_once(node, files, args.jobs)
        for name, result in results.items():
            outcomes[name].append(outcome(result))
        took = time.monotonic() - started
        print(
            f"  run {number}/{len(plan)}{' (load)' if loaded else ''}: {took:.1f} s",
            flush=True,
        )

    failures = [
        report
        for file in files
        if (report := judge(file, outcomes[str(file)], args.stability_only)) is not None
    ]
    for report in failures:
        print(report)
    passed = len(files) - len(failures)
    print(f"check_node: {passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
