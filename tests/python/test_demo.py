"""`python -m phaseloop demo`: each puzzle logs exactly what Node prints for its JavaScript twin.

`tests/node/demo/NAME.js` is the puzzle in JavaScript and `tests/node/demo/NAME.expected` what
Node 20 printed for it (regenerate with `tests/node/check.sh --write`);
`test_node_still_prints_the_expected_logs` reruns Node, when it is on PATH, to keep them honest.
The twins are fair: their output depends on no luck (the blocking and hashing puzzles log
thresholds, not times, and leave wide margins).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from phaseloop.demo import PUZZLES, Puzzle, explain, program, run_puzzle

NODE_DIR = Path(__file__).resolve().parents[2] / "tests" / "node" / "demo"
BY_NAME = {puzzle.name: puzzle for puzzle in PUZZLES}


def expected(name: str) -> list[str]:
    return (NODE_DIR / f"{name}.expected").read_text().splitlines()


def test_every_puzzle_has_a_node_twin_and_the_other_way_round() -> None:
    assert sorted(p.stem for p in NODE_DIR.glob("*.js")) == sorted(BY_NAME)
    assert sorted(p.stem for p in NODE_DIR.glob("*.expected")) == sorted(BY_NAME)


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_the_puzzle_logs_what_node_printed(name: str) -> None:
    recording = run_puzzle(BY_NAME[name])
    assert recording.status == "finished", recording.error
    assert recording.log == expected(name)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_node_still_prints_the_expected_logs(name: str) -> None:
    done = subprocess.run(
        ["node", str(NODE_DIR / f"{name}.js")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.splitlines() == expected(name)


@pytest.mark.parametrize("puzzle", PUZZLES, ids=lambda p: p.name)
def test_each_why_names_the_rule_that_decides(puzzle: Puzzle) -> None:
    assert re.search(r"\brules? \d+(\.\d+)?\b", puzzle.why), puzzle.why
    assert "\n" not in puzzle.why


def test_the_order_puzzles_are_on_the_virtual_clock_the_timing_ones_on_the_real() -> (
    None
):
    # every_phase's sockets are real, but its order is causal, so the virtual clock holds it.
    real = [p.name for p in PUZZLES if p.clock == "real"]
    assert real == ["blocking_the_loop", "offload_hash"]


@pytest.mark.parametrize(
    "puzzle", [p for p in PUZZLES if p.clock == "virtual"], ids=lambda p: p.name
)
def test_a_virtual_clock_puzzle_prints_the_same_every_run(puzzle: Puzzle) -> None:
    number = PUZZLES.index(puzzle) + 1
    first = explain(number, puzzle, run_puzzle(puzzle))
    assert first == explain(number, puzzle, run_puzzle(puzzle))
    assert f"why: {puzzle.why}" in first


def test_every_phase_runs_a_callback_in_each_phase_once_idle_and_prepare() -> None:
    recording = run_puzzle(BY_NAME["every_phase"])
    assert recording.status == "finished", recording.error
    rows = [(event.phase, event.label) for event in recording.timeline.events]
    phases = {phase for phase, _ in rows}
    assert {"timers", "pending", "idle", "prepare", "poll", "check", "close"} <= phases
    # The idle and prepare handles close themselves after one run: one row each.
    assert rows.count(("idle", "an idle handle")) == 1
    assert rows.count(("prepare", "a prepare handle")) == 1
    assert ("pending", "a pending callback") in rows


def test_the_starvation_puzzle_folds_its_chain_into_one_row() -> None:
    text = run_puzzle(BY_NAME["microtask_starvation"]).timeline.text()
    assert "×998 in a row" in text
    assert len(text.splitlines()) < 15


def test_the_blocking_puzzle_shows_the_200_ms_callback() -> None:
    timeline = run_puzzle(BY_NAME["blocking_the_loop"]).timeline
    block = next(e for e in timeline.events if e.label and e.label.endswith("block"))
    assert block.duration_ns >= 190e6
    late = next(e for e in timeline.events if e.label and e.label.endswith("late"))
    assert timeline.ms(late) >= 200


def test_the_program_shown_is_the_puzzle_without_its_docstring() -> None:
    source = program(BY_NAME["script_start_end"])
    assert source.splitlines()[0] == (
        "def script_start_end(loop: Loop, log: Log) -> None:"
    )
    assert '"""' not in source
    assert 'log("script start")' in source
