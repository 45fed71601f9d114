"""Measuring: running the benchmark programs, reading their figures, keeping every run.

Each program prints ``<metric> <ns per op>`` lines. The programs of one workload (phaseloop's
and its anchors') run interleaved, round after round, so that a burst of load on the machine
hits both sides alike; the 1-minute load average is kept as each round begins.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Program:
    """One program run: a side (phaseloop or an anchor) of one workload."""

    side: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


def fmt(ns: float) -> str:
    """ns with three significant digits (or whole ns from 100 on)."""
    if ns >= 100:
        return f"{ns:,.0f}"
    if ns >= 10:
        return f"{ns:.1f}"
    return f"{ns:.2f}"


@dataclass
class Measured:
    """Every run of one program: metric -> ns per op, one value per run."""

    runs: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None

    def add(self, figures: dict[str, float]) -> None:
        """Adds one run's figures."""
        for metric, value in figures.items():
            self.runs.setdefault(metric, []).append(value)

    def median(self, metric: str) -> float | None:
        """The median of `metric` over the runs, or None without a run."""
        values = self.runs.get(metric)
        return statistics.median(values) if values else None

    def cell(self, metric: str) -> str:
        """`median [min–max]`, or why there is no figure."""
        values = self.runs.get(metric)
        if not values:
            return "n/a" if self.error is None else f"failed: {self.error}"
        med = statistics.median(values)
        return f"{fmt(med)} [{fmt(min(values))}–{fmt(max(values))}]"


def ratio(
    ours: Measured,
    anchor: Measured | None,
    metric: str,
    anchor_metric: str | None = None,
) -> float | None:
    """ours / anchor, medians of `metric` (of `anchor_metric` on the anchor's side, if given)."""
    if anchor is None:
        return None
    a, b = ours.median(metric), anchor.median(anchor_metric or metric)
    if a is None or b is None or b == 0:
        return None
    return a / b


def parse(output: str) -> dict[str, float]:
    """A program's output, ``<metric> <ns per op>`` per line, as metric -> ns per op."""
    figures = {}
    for line in output.splitlines():
        metric, _, value = line.partition(" ")
        figures[metric] = float(value)
    return figures


@dataclass
class Measurement:
    """One interleaved measurement: its programs, and the machine's 1-minute load average
    as each round began (so that a figure far from its median can be matched with a burst of
    load from elsewhere)."""

    title: str
    programs: list[Program]
    loads: list[float] = field(default_factory=list)


class Runner:
    """Runs programs, interleaved by workload, and keeps what they measured."""

    def __init__(self, runs: int, verbose: bool) -> None:
        self.runs = runs
        self.verbose = verbose
        self.results: dict[Program, Measured] = {}
        self.measurements: list[Measurement] = []

    def measure(self, title: str, programs: Sequence[Program]) -> None:
        """Runs each program `self.runs` times, one round over all of them at a time."""
        print(f"  {title}", file=sys.stderr, flush=True)
        measurement = Measurement(title, list(programs))
        self.measurements.append(measurement)
        for program in programs:
            self.results.setdefault(program, Measured())
        for round_no in range(self.runs):
            measurement.loads.append(os.getloadavg()[0])
            if self.verbose:
                print(
                    f"    round {round_no + 1}, load {measurement.loads[-1]:.2f}",
                    file=sys.stderr,
                )
            # Alternate who goes first, so that neither side always runs on a warmer machine.
            order = programs if round_no % 2 == 0 else list(reversed(programs))
            for program in order:
                self._run(program)

    def _run(self, program: Program) -> None:
        """One run of `program`, its figures or its error kept (a failed program is not
        run again)."""
        measured = self.results[program]
        if measured.error is not None:
            return
        env = dict(os.environ)
        env.update(program.env)
        proc = subprocess.run(
            program.argv,
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
            measured.error = lines[-1]
            print(f"    {program.side}: {measured.error}", file=sys.stderr)
            return
        figures = parse(proc.stdout)
        measured.add(figures)
        if self.verbose:
            shown = " ".join(f"{k}={fmt(v)}" for k, v in figures.items())
            print(f"    {program.side}: {shown}", file=sys.stderr)

    def get(self, program: Program) -> Measured:
        """What `program` measured (an error "not run" if it was not)."""
        return self.results.get(program, Measured(error="not run"))
