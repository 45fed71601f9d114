"""Self-checks of the conformance tools: each of them can fail, and says so.

A runner that compared nothing, or a fuzzer that never reported, would pass everything; so
these checks feed the tools known-bad input and expect them to complain: a wrong `expect`
must fail the Python and the C runner, a loop that runs ticks as microtasks (the runner's
"tick-as-microtask" mutant) must fail scenarios and be found, minimised and saved by the
fuzzer, and the minimiser must reach the smallest program on a property it can see.

    python selftest.py          # with the Python in which phaseloop is installed

Standard library only (unittest); about half a minute, most of it the fuzzer's check.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import unittest
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import shards
from minimise import candidates, keep_labels, minimise, size
from ops import InvalidScenario, chain_ends_handled, validate_scenario, walk
from scenarios import load, write

HERE = Path(__file__).resolve().parent
# A scenario whose order depends on the tick queue being drained before microtasks.
TICK_SCENARIO = HERE / "scenarios" / "tick-before-microtask-queued-earlier.json"


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one of this folder's scripts with this Python."""
    return subprocess.run(
        [sys.executable, str(HERE / script), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=HERE,
    )


def wrong_expect(folder: Path, source: Path) -> Path:
    """A copy of `source` whose expect has its first two labels swapped."""
    scenario = load(source)
    expect = list(scenario["expect"])
    expect[0], expect[1] = expect[1], expect[0]
    file = folder / source.name
    write(file, {**scenario, "expect": expect})
    return file


class RunnersFail(unittest.TestCase):
    """The runners report a log that is not the expect."""

    def test_python_runner_reports_a_wrong_expect(self) -> None:
        with tempfile.TemporaryDirectory() as temp:
            file = wrong_expect(Path(temp), TICK_SCENARIO)
            done = run("run_phaseloop.py", "--clock", "both", str(file))
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        self.assertIn("MISMATCH", done.stdout)
        self.assertIn("(clock virtual): 0 passed, 1 failed", done.stdout)

    def test_c_runner_reports_a_wrong_expect(self) -> None:
        with tempfile.TemporaryDirectory() as temp:
            file = wrong_expect(Path(temp), TICK_SCENARIO)
            done = run("run_c.py", "--workdir", str(Path(temp) / "c"), str(file))
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        self.assertIn("0 passed, 1 failed, 0 skipped", done.stdout, done.stdout)

    def test_python_runner_notices_ticks_run_as_microtasks(self) -> None:
        done = run(
            "run_phaseloop.py", "--mutant", "tick-as-microtask", str(TICK_SCENARIO)
        )
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        self.assertIn("MISMATCH tick-before-microtask-queued-earlier.json", done.stdout)


class FuzzerFinds(unittest.TestCase):
    """The fuzzer finds a misordering loop, minimises the program and saves Node's order."""

    def test_mutant_is_found_minimised_and_saved(self) -> None:
        with tempfile.TemporaryDirectory() as temp:
            found = Path(temp) / "found"
            done = run(
                "fuzz.py",
                "--count=0",
                "--c-count=3",
                "--no-c",
                "--clock=virtual",
                "--mutant=tick-as-microtask",
                "--minimise-max=1",
                "--minimise-budget=60",
                f"--save={found}",
                f"--workdir={Path(temp) / 'work'}",
            )
            self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
            self.assertIn("DIFFERENCE fuzz-c-1-", done.stdout)
            saved = sorted(found.glob("found-*.json"))
            self.assertEqual(len(saved), 1, done.stdout)
            scenario = load(saved[0])
            self.assertLessEqual(size(scenario["program"]), 6, json.dumps(scenario))
            self.assertTrue((found / "NODE_VERSION").read_text().startswith("v"))
            # Node's expect: the real loop passes it, the mutant does not.
            self.assertEqual(run("run_phaseloop.py", str(saved[0])).returncode, 0)
            mutant = run(
                "run_phaseloop.py", "--mutant=tick-as-microtask", str(saved[0])
            )
            self.assertEqual(mutant.returncode, 1)


def labels(scenario: dict[str, Any]) -> list[str]:
    return [op["msg"] for op in walk(scenario["program"]) if op["op"] == "log"]


class MinimiserShrinks(unittest.TestCase):
    """The minimiser keeps the property and removes everything else it can."""

    def scenario(self) -> dict[str, Any]:
        return {
            "name": "m",
            "threadpool_size": 4,
            "program": [
                {"op": "log", "msg": "a"},
                {
                    "op": "timeout",
                    "delay": 10,
                    "as": "t",
                    "body": [
                        {"op": "log", "msg": "b"},
                        {"op": "tick", "body": [{"op": "log", "msg": "needle"}]},
                    ],
                },
                {"op": "immediate", "body": [{"op": "clear", "target": "t"}]},
                {
                    "op": "then",
                    "chain": [[{"op": "log", "msg": "c"}], [{"op": "log", "msg": "d"}]],
                },
            ],
        }

    def test_reaches_the_smallest_program(self) -> None:
        def holds(batch: list[dict[str, Any]]) -> list[bool]:
            # "a tick whose body logs needle": the smallest such program has 2 ops.
            return [
                any(
                    op["op"] == "tick" and {"op": "log", "msg": "needle"} in op["body"]
                    for op in walk(candidate["program"])
                )
                for candidate in batch
            ]

        result = minimise(self.scenario(), holds, budget_seconds=30)
        self.assertEqual(
            result["program"],
            [{"op": "tick", "body": [{"op": "log", "msg": "needle"}]}],
        )
        self.assertEqual(result["threadpool_size"], 1)

    def test_candidates_are_valid_and_smaller(self) -> None:
        original = self.scenario()
        options = candidates(original)
        self.assertTrue(options)
        for candidate in options:
            validate_scenario(candidate, "candidate")
            self.assertLessEqual(size(candidate["program"]), size(original["program"]))
        # Removing the timeout would leave its clear dangling: no such candidate.
        self.assertFalse(
            any(
                all(op["op"] != "timeout" for op in walk(c["program"]))
                and any(op["op"] == "clear" for op in walk(c["program"]))
                for c in options
            )
        )

    def test_keep_labels_removes_only_other_logs(self) -> None:
        trimmed = keep_labels(self.scenario(), {"needle", "d"})
        assert trimmed is not None
        self.assertEqual(labels(trimmed), ["needle", "d"])
        self.assertEqual(size(trimmed["program"]), size(self.scenario()["program"]) - 3)


# A worker that prints a result for each file, but dies on files named "crash*" and hangs
# on files named "hang*".
FLAKY_WORKER = """
import json, sys, time
for name in sys.argv[1:]:
    if "crash" in name:
        sys.exit(3)
    if "hang" in name:
        time.sleep(60)
    print(json.dumps({"name": name, "log": [name]}), flush=True)
"""


class ShardsRecover(unittest.TestCase):
    """A worker that dies or hangs loses the file it ran, and only that one."""

    def test_crash_and_hang_cost_one_file_each(self) -> None:
        files = [Path(n) for n in ("a", "crash1", "b", "hang1", "c", "d")]

        def command(batch: Sequence[Path]) -> list[str]:
            return [sys.executable, "-c", FLAKY_WORKER, *map(str, batch)]

        saved = shards.SECONDS_PER_FILE
        shards.SECONDS_PER_FILE = 2
        try:
            results = shards.run_sharded(command, files, jobs=2)
        finally:
            shards.SECONDS_PER_FILE = saved
        self.assertEqual(set(results), set(files))
        for name in ("a", "b", "c", "d"):
            self.assertEqual(results[Path(name)]["log"], [name])
        self.assertIn("exit 3", results[Path("crash1")]["error"])
        self.assertIn("stuck", results[Path("hang1")]["error"])


class FormatChecks(unittest.TestCase):
    """Malformed scenarios are refused, as node_runner.js refuses them."""

    def test_unhandled_chain_is_refused(self) -> None:
        chain = {
            "op": "chain",
            "from": "rejected",
            "links": [{"on": "then", "body": []}],
        }
        self.assertFalse(chain_ends_handled(chain))
        with self.assertRaises(InvalidScenario):
            validate_scenario({"name": "x", "program": [chain]}, "x")

    def test_throwing_finally_after_catch_is_unhandled(self) -> None:
        chain = {
            "op": "chain",
            "from": "rejected",
            "links": [
                {"on": "catch", "body": []},
                {"on": "finally", "body": [], "throws": True},
            ],
        }
        self.assertFalse(chain_ends_handled(chain))

    def test_clear_of_unknown_handle_is_refused(self) -> None:
        with self.assertRaises(InvalidScenario):
            validate_scenario(
                {"name": "x", "program": [{"op": "clear", "target": "h"}]}, "x"
            )


if __name__ == "__main__":
    unittest.main()
