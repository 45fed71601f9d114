"""`python -m phaseloop`: `run EXPERIMENT.py` prints the log and the timeline, writes SVG and
JSON, honours --clock and --drain and the file's own defaults, reports errors, shows progress
on long runs and prints the timeline so far on Ctrl-C; `demo` runs the puzzles."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

BASIC = """
import phaseloop
from phaseloop.experiment import Log

def experiment(loop: phaseloop.Loop, log: Log) -> None:
    def timer(n: int) -> None:
        log(f"timer {n}")
        loop.next_tick(log, f"tick {n}")

    log("script start")
    loop.set_timeout(timer, 0, 1)
    loop.set_timeout(timer, 0, 2)
    loop.set_immediate(log, "immediate", label="the immediate")
    log("script end")
"""


def write(directory: Path, source: str, name: str = "experiment_file.py") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(source))
    return path


def phaseloop_cli(
    *args: str, cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "phaseloop", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def table(stdout: str) -> list[list[str]]:
    """The timeline's rows (after its header line), split into cells on runs of 2+ spaces."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("timeline: "))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith(" "):
            break
        rows.append([cell for cell in line.strip().split("  ") if cell])
    return [[cell.strip() for cell in row] for row in rows]


def test_run_prints_the_log_then_the_timeline(tmp_path: Path) -> None:
    done = phaseloop_cli("run", str(write(tmp_path, BASIC)), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:7] == [
        "script start",
        "script end",
        "immediate",
        "timer 1",
        "tick 1",
        "timer 2",
        "tick 2",
    ]
    assert "timeline: 5 callbacks in " in done.stdout
    assert "(clock: virtual, drain: callback)" in done.stdout
    assert table(done.stdout) == [
        ["0", "script", "0.0", "main script", "script start"],
        ["script end"],
        ["1", "check", "0.0", "immediate", "the immediate", "immediate"],
        ["3", "timers", "1.0", "timeout", "timer", "timer 1"],
        ["└ tick", "log", "tick 1"],
        ["3", "timers", "1.0", "timeout", "timer", "timer 2"],
        ["└ tick", "log", "tick 2"],
    ]
    assert done.stderr == ""  # a short run shows no progress


def test_run_is_the_same_on_every_run_on_the_virtual_clock(tmp_path: Path) -> None:
    path = str(write(tmp_path, BASIC))
    first = phaseloop_cli("run", path, cwd=tmp_path)
    second = phaseloop_cli("run", path, cwd=tmp_path)
    assert first.stdout == second.stdout


def test_drain_phase_runs_both_timers_before_their_ticks(tmp_path: Path) -> None:
    done = phaseloop_cli(
        "run", str(write(tmp_path, BASIC)), "--drain", "phase", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[3:7] == ["timer 1", "timer 2", "tick 1", "tick 2"]
    assert "drain: phase" in done.stdout


def test_clock_real_and_the_files_own_default(tmp_path: Path) -> None:
    path = write(tmp_path, 'CLOCK = "real"\n' + textwrap.dedent(BASIC))
    by_file = phaseloop_cli("run", str(path), cwd=tmp_path)
    assert by_file.returncode == 0, by_file.stderr
    assert "(clock: real, drain: callback)" in by_file.stdout
    overridden = phaseloop_cli("run", str(path), "--clock", "virtual", cwd=tmp_path)
    assert "(clock: virtual, drain: callback)" in overridden.stdout


def test_json_and_svg_outputs(tmp_path: Path) -> None:
    done = phaseloop_cli(
        "run",
        str(write(tmp_path, BASIC)),
        "--json",
        "out.json",
        "--svg",
        "out.svg",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote out.json" in done.stdout and "wrote out.svg" in done.stdout
    document = json.loads((tmp_path / "out.json").read_text())
    assert document["experiment"] == "experiment_file.py"
    assert document["status"] == "finished" and document["error"] is None
    assert [(c["kind"], c["log"]) for c in document["callbacks"]] == [
        ("immediate", ["immediate"]),
        ("timeout", ["timer 1"]),
        ("tick", ["tick 1"]),
        ("timeout", ["timer 2"]),
        ("tick", ["tick 2"]),
    ]
    assert [c["drained_after"] for c in document["callbacks"]] == [
        None,
        None,
        1,
        None,
        3,
    ]
    root = ET.parse(tmp_path / "out.svg").getroot()
    labels = [
        g.get("data-label")
        for g in root.iter("{http://www.w3.org/2000/svg}g")
        if "callback" in g.get("class", "").split()
    ]
    timer = "experiment.<locals>.timer"
    assert labels == ["the immediate", timer, "log", timer, "log"]


def test_limit_shortens_the_table(tmp_path: Path) -> None:
    done = phaseloop_cli(
        "run", str(write(tmp_path, BASIC)), "--limit", "2", cwd=tmp_path
    )
    assert len(table(done.stdout)) == 3
    assert "... and 2 more turns not shown" in done.stdout


def test_an_experiment_file_runs_itself_with_the_same_options(tmp_path: Path) -> None:
    source = textwrap.dedent(BASIC) + textwrap.dedent(
        """
        if __name__ == "__main__":
            from phaseloop.cli import run_experiment
            raise SystemExit(run_experiment(experiment))
        """
    )
    path = write(tmp_path, source)
    direct = subprocess.run(
        [sys.executable, str(path), "--drain", "phase", "--json", "direct.json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert direct.returncode == 0, direct.stderr
    via_run = phaseloop_cli("run", str(path), "--drain", "phase", cwd=tmp_path)
    assert direct.stdout.replace("wrote direct.json\n", "") == via_run.stdout
    assert json.loads((tmp_path / "direct.json").read_text())["drain"] == "phase"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x = 1\n", "defines no experiment function"),
        ("experiment = 3\n", "experiment must be a function"),
        ('CLOCK = "wall"\ndef experiment(loop, log): pass\n', "CLOCK must be"),
    ],
)
def test_unusable_experiment_files_are_usage_errors(
    tmp_path: Path, source: str, message: str
) -> None:
    done = phaseloop_cli("run", str(write(tmp_path, source)), cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    done = phaseloop_cli("run", "nowhere.py", cwd=tmp_path)
    assert done.returncode == 2
    assert "no such experiment file: nowhere.py" in done.stderr


def test_an_experiment_that_raises_prints_the_timeline_then_the_traceback(
    tmp_path: Path,
) -> None:
    source = """
    def experiment(loop, log):
        def boom():
            log("about to fail")
            raise ValueError("boom")
        loop.set_immediate(boom)
        loop.set_timeout(log, 10, "never runs")
    """
    done = phaseloop_cli("run", str(write(tmp_path, source)), cwd=tmp_path)
    assert done.returncode == 1
    assert [row[:4] for row in table(done.stdout)][1] == [
        "1",
        "check",
        "0.0",
        "immediate",
    ]
    assert "never runs" not in done.stdout
    assert "the experiment raised ValueError" in done.stdout
    assert done.stderr.rstrip().endswith("ValueError: boom")


def test_the_experiment_can_import_its_neighbours(tmp_path: Path) -> None:
    write(tmp_path, "GREETING = 'hello from a neighbour'\n", name="neighbour.py")
    source = """
    from neighbour import GREETING
    def experiment(loop, log):
        loop.next_tick(log, GREETING)
    """
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    path = write(tmp_path, source)
    done = phaseloop_cli("run", str(path), cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "hello from a neighbour"


LONG = """
import phaseloop
from phaseloop.experiment import Log

CLOCK = "real"

def experiment(loop: phaseloop.Loop, log: Log) -> None:
    ticks = 0
    def tick() -> None:
        nonlocal ticks
        ticks += 1
        if ticks == 1:
            log("first tick")
        if ticks * 10 >= RUN_MS:
            loop.clear_interval(interval)
    interval = loop.set_interval(tick, 10)
"""


def test_a_run_longer_than_a_second_reports_its_progress(tmp_path: Path) -> None:
    path = write(tmp_path, "RUN_MS = 1600\n" + textwrap.dedent(LONG))
    done = phaseloop_cli("run", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    reports = done.stderr.splitlines()
    assert reports, "no progress report"
    # One line a second when stderr is not a terminal, the first after one second.
    first = re.fullmatch(
        r"phaseloop: (\d+\.\d) s, iteration (\d+), (\d+) callbacks so far "
        r"\(Ctrl-C: timeline so far\)",
        reports[0],
    )
    assert first is not None, reports[0]
    assert 1.0 <= float(first[1]) < 1.6
    times = [float(line.split()[1]) for line in reports]
    assert all(times[i + 1] - times[i] >= 0.9 for i in range(len(times) - 1)), times
    # ~100 interval callbacks in the first second; fewer on a loaded machine.
    assert 20 <= int(first[3]) <= 160
    assert int(first[2]) >= int(first[3])
    assert "phaseloop:" not in done.stdout


def test_no_progress_turns_the_reports_off(tmp_path: Path) -> None:
    path = write(tmp_path, "RUN_MS = 1300\n" + textwrap.dedent(LONG))
    done = phaseloop_cli("run", str(path), "--no-progress", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stderr == ""


def interrupt(path: Path, cwd: Path, *, wait_for: str) -> tuple[int, str, str]:
    """Starts `run path`, waits until stdout shows `wait_for` (and a bit), sends SIGINT."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "phaseloop", "run", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )
    try:
        assert proc.stdout is not None
        seen = ""
        deadline = time.monotonic() + 30
        while wait_for not in seen and time.monotonic() < deadline:
            seen += proc.stdout.readline()
        assert wait_for in seen
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, seen + out, err


def test_ctrl_c_prints_the_timeline_so_far(tmp_path: Path) -> None:
    path = write(tmp_path, "RUN_MS = 10**9\n" + textwrap.dedent(LONG))
    code, out, _ = interrupt(path, tmp_path, wait_for="first tick")
    assert code == 130
    rows = table(out)
    assert rows[1][1] == "timers" and "interval" in rows[1]
    assert len(rows) > 5  # the ticks of the 0.3 s before Ctrl-C
    assert "interrupted (Ctrl-C) in iteration " in out
    assert "the timeline above is the run so far" in out


def test_ctrl_c_stops_a_callback_that_blocks(tmp_path: Path) -> None:
    source = """
    import time
    def experiment(loop, log):
        def stuck():
            log("stuck")
            time.sleep(60)
        loop.set_immediate(stuck)
        loop.set_timeout(log, 1, "after")
    """
    code, out, _ = interrupt(write(tmp_path, source), tmp_path, wait_for="stuck")
    assert code == 130
    stuck = table(out)[1]
    assert stuck[1] == "check" and stuck[-2:] == ["stuck", "stuck"]
    assert "immediate" in stuck
    assert len(table(out)) == 2  # the main script and the stuck immediate, no timer
    assert "interrupted (Ctrl-C) in iteration 1 after 1 callback:" in out


def test_demo_lists_its_puzzles(tmp_path: Path) -> None:
    done = phaseloop_cli("demo", "--list", cwd=tmp_path)
    assert done.returncode == 0
    names = [line.split()[0] for line in done.stdout.splitlines()]
    assert names == [
        "script_start_end",
        "tick_promise_immediate_timeout",
        "read_file_callback",
        "microtask_starvation",
        "blocking_the_loop",
        "offload_hash",
        "every_phase",
    ]


def test_demo_runs_a_puzzle_and_explains_it(tmp_path: Path) -> None:
    done = phaseloop_cli(
        "demo",
        "read_file_callback",
        "--svg",
        "pictures",
        "--json",
        "data",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("The puzzles of the Node.js event-loop guides")
    assert "rule numbers are those of docs/ordering.md" in out
    assert "\n== 3/7 a readFile callback schedules" in out
    assert "def read_file_callback(loop: Loop, log: Log) -> None:" in out
    assert [row[1:] for row in table(out)] == [
        ["script", "0.0", "main script", "script end"],
        ["poll", "0.0", "work", "on_read", "readFile callback"],
        ["log", "nextTick"],  # after "└ tick"
        ["check", "0.0", "immediate", "log", "setImmediate"],
        ["timers", "1.0", "timeout", "log", "setTimeout"],
    ]
    assert "why: the callback runs in poll (rule 5.2)" in out
    ET.parse(tmp_path / "pictures" / "read_file_callback.svg")
    document = json.loads((tmp_path / "data" / "read_file_callback.json").read_text())
    assert [c["log"] for c in document["callbacks"]] == [
        ["readFile callback"],
        ["nextTick"],
        ["setImmediate"],
        ["setTimeout"],
    ]


def test_demo_rejects_an_unknown_puzzle(tmp_path: Path) -> None:
    done = phaseloop_cli("demo", "no_such_puzzle", cwd=tmp_path)
    assert done.returncode == 2
    assert "no puzzle named no_such_puzzle" in done.stderr


def test_a_command_is_required(tmp_path: Path) -> None:
    done = phaseloop_cli(cwd=tmp_path)
    assert done.returncode == 2
    assert "run" in done.stderr and "demo" in done.stderr


def test_run_asyncio_prints_the_timeline_of_an_unchanged_asyncio_program(
    tmp_path: Path,
) -> None:
    program = tmp_path / "app.py"
    program.write_text(
        "import asyncio\n"
        "async def main():\n"
        "    await asyncio.sleep(0.001)\n"
        "    print('done', type(asyncio.get_running_loop()).__mro__[1].__name__)\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "phaseloop", "run", "--asyncio", str(program)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "done EventLoop" in done.stdout
    rows = [
        line.split() for line in done.stdout.splitlines() if line.strip()[:1].isdigit()
    ]
    # The task's steps are check-phase immediates labelled with its name; the sleep a timer.
    assert ["check", "immediate", "Task-1"] in [row[1:2] + row[-2:] for row in rows]
    assert any(row[1] == "timers" and "timeout" in row for row in rows)


def test_run_asyncio_reports_a_failing_program(tmp_path: Path) -> None:
    program = tmp_path / "bad.py"
    program.write_text(
        "import asyncio\nasync def main():\n    raise ValueError('boom')\nasyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "phaseloop", "run", "--asyncio", str(program)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "ValueError: boom" in done.stderr


def test_clock_and_drain_choices_are_the_cores_and_the_literal_types() -> None:
    # The CLI's --clock/--drain choices come from the core's names; the Literal types that
    # type checkers see must spell the same set, and a Loop must take every one of them.
    import typing

    from phaseloop import Loop, experiment

    assert set(experiment.CLOCKS) == {"real", "virtual"}
    assert set(experiment.DRAINS) == {"callback", "phase"}
    assert set(typing.get_args(experiment.Clock)) == set(experiment.CLOCKS)
    assert set(typing.get_args(experiment.Drain)) == set(experiment.DRAINS)
    for clock in experiment.CLOCKS:
        for drain in experiment.DRAINS:
            lp = Loop(clock=clock, drain=drain)
            assert (lp.clock, lp.drain) == (clock, drain)
            lp.close()
