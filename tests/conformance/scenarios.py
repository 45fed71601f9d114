"""Scenario files: finding, loading and writing them, and comparing a log with `expect`.

A runner's result for one scenario is a dict: {"name": ..., "log": [...]} when it ran, or
{"name": ..., "error": "..."} when it could not (node_runner.js prints the same shapes).

Python 3.9+, standard library only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fuzz_gen import format_scenario
from ops import validate_scenario

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
# Where the fuzzer saves the minimised programs on which phaseloop and Node differed.
FOUND = HERE / "found"
DEFAULT_FOLDERS = (SCENARIOS, FOUND)

Scenario = dict[str, Any]
Result = dict[str, Any]


def scenario_files(paths: list[str] | None = None) -> list[Path]:
    """The .json files named, or found directly inside the folders named, sorted; with no
    paths, those of scenarios/ and found/."""
    files: list[Path] = []
    names = [str(folder) for folder in DEFAULT_FOLDERS] if not paths else paths
    for name in names:
        path = Path(name)
        if path.is_dir():
            files.extend(sorted(path.glob("*.json")))
        elif path.exists() or paths:
            files.append(path)
    return files


def load(file: Path) -> Scenario:
    """Read and validate one scenario file (raises ops.InvalidScenario or ValueError)."""
    scenario = json.loads(file.read_text(encoding="utf-8"))
    validate_scenario(scenario, str(file))
    return scenario  # type: ignore[no-any-return]


def write(file: Path, scenario: Scenario) -> None:
    """Write `scenario` in the layout node_runner.js and fuzz_gen.py use."""
    file.write_text(format_scenario(scenario), encoding="utf-8")


def outcome(result: Result) -> str:
    """A result as one comparable string."""
    if "error" in result:
        return "ERROR " + str(result["error"])
    return json.dumps(result["log"])


def first_difference(expected: list[str], got: list[str], who: str) -> str:
    """Where two logs first differ, in words."""
    for index, (want, have) in enumerate(zip(expected, got)):
        if want != have:
            return f"at {index}: expected {want!r}, {who} printed {have!r}"
    return f"lengths differ: expected {len(expected)} labels, {who} printed {len(got)}"


def judge(
    expected: list[str] | None, result: Result, who: str, name: str
) -> str | None:
    """None when `result` is the expected log, else a report of the difference."""
    if "error" in result:
        return f"ERROR {name}: {result['error']}"
    if expected is None:
        return f"NO EXPECT {name}"
    got = result["log"]
    if got == expected:
        return None
    return (
        f"MISMATCH {name}: {first_difference(expected, got, who)}\n"
        f"    expect:    {json.dumps(expected)}\n"
        f"    {who + ':':<11}{json.dumps(got)}"
    )


def judge_all(files: list[Path], results: dict[Path, Result], who: str) -> list[str]:
    """The reports of every file in `files` whose result is not its expected log."""
    failures = []
    for file in files:
        try:
            expected = json.loads(file.read_text(encoding="utf-8")).get("expect")
        except (ValueError, OSError):
            expected = None
        report = judge(expected, results[file], who, file.name)
        if report is not None:
            failures.append(report)
    return failures
