"""Every program in examples/python/ runs to its end quickly and says what it promises."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "python"


def run_example(name: str, *args: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_every_example_runs(path: Path, tmp_path: Path) -> None:
    run_example(path.name, cwd=tmp_path)


def test_experiment_basics_prints_node_order_and_timeline(tmp_path: Path) -> None:
    out = run_example("experiment_basics.py", cwd=tmp_path)
    assert out.splitlines()[:6] == [
        "script start",
        "script end",
        "tick",
        "microtask",
        "immediate",
        "timeout",
    ]
    assert "timeline: 4 callbacks" in out


def test_experiment_labels_shows_the_labels(tmp_path: Path) -> None:
    out = run_example("experiment_labels.py", cwd=tmp_path)
    for label in ("on_data", "after digest", "five ms later"):
        assert f"  {label}  " in out


def test_experiment_real_clock_takes_its_clock_from_the_file(tmp_path: Path) -> None:
    assert "clock: real" in run_example("experiment_real_clock.py", cwd=tmp_path)
    virtual = run_example(
        "experiment_real_clock.py", "--clock", "virtual", cwd=tmp_path
    )
    assert "clock: virtual" in virtual


def test_drain_modes_prints_both_orders(tmp_path: Path) -> None:
    out = run_example("drain_modes.py", cwd=tmp_path)
    assert "drain=callback: timer 1, tick 1, timer 2, tick 2" in out
    assert "drain=phase: timer 1, timer 2, tick 1, tick 2" in out


def test_timeline_svg_writes_a_picture(tmp_path: Path) -> None:
    out = run_example("timeline_svg.py", str(tmp_path / "mine.svg"), cwd=tmp_path)
    assert f"wrote {tmp_path / 'mine.svg'}" in out
    root = ET.parse(tmp_path / "mine.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"


def test_echo_server_serves_three_clients_in_libuvs_phases(tmp_path: Path) -> None:
    lines = run_example("echo_server.py", cwd=tmp_path).splitlines()
    assert sum(line.startswith("[poll] connection from") for line in lines) == 3
    for n in range(3):
        assert f"[poll] client {n} got b'hello {n}'" in lines
        assert f"[close] client {n} closed" in lines
    assert lines[-1] == "server closed"


def test_http_server_answers_fast_before_slow(tmp_path: Path) -> None:
    out = run_example("http_server.py", cwd=tmp_path)
    assert "[poll] client: /fast -> 'fast'" in out
    assert out.splitlines()[-1] == "answered in order: /fast /slow"


def test_udp_ping_gets_three_pongs(tmp_path: Path) -> None:
    lines = run_example("udp_ping.py", cwd=tmp_path).splitlines()
    assert [line.split(" from ")[0] for line in lines[:3]] == [
        f"[poll] pong ping {n}" for n in (1, 2, 3)
    ]
    assert lines[-1] == "closed"


def test_process_pipeline_counts_the_words(tmp_path: Path) -> None:
    out = run_example("process_pipeline.py", cwd=tmp_path)
    assert [line.split() for line in out.splitlines()[-3:]] == [
        ["2", "apple"],
        ["1", "fig"],
        ["3", "pear"],
    ]
    assert "[poll] sort exited 0" in out
