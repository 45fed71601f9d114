"""Runs every benchmark of bench/ in one go and prints the table of ratios.

    python bench/report.py --build DIR [--quick] [--runs R] [--suites c,python,asyncio,js,rust]
                           [--out bench/RESULTS.md]

bench/run.sh calls this after building everything (it is the one command to use). Each
workload is a separate program run (C: bench/c, Python: bench/python/workloads.py, Node:
bench/node/workloads.js, Rust core: bench/rust) printing ``<metric> <ns per op>`` lines. The
runs of phaseloop and of its anchors on one workload are interleaved, round after round, so
that a burst of load on the machine hits both sides alike; every figure is the median of R runs
(at least 5 unless --quick) with the min and max, and every ratio is phaseloop's median over the
anchor's median, measured in this same run: below 1.0 phaseloop is faster.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


@dataclass(frozen=True)
class Program:
    """One program run: a side (phaseloop or an anchor) of one workload."""

    side: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


@dataclass
class Measured:
    """Every run of one program: metric -> ns per op, one value per run."""

    runs: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None

    def add(self, figures: dict[str, float]) -> None:
        for metric, value in figures.items():
            self.runs.setdefault(metric, []).append(value)

    def median(self, metric: str) -> float | None:
        values = self.runs.get(metric)
        return statistics.median(values) if values else None

    def cell(self, metric: str) -> str:
        """`median [min–max]`, or why there is no figure."""
        values = self.runs.get(metric)
        if not values:
            return "n/a" if self.error is None else f"failed: {self.error}"
        med = statistics.median(values)
        return f"{fmt(med)} [{fmt(min(values))}–{fmt(max(values))}]"


def fmt(ns: float) -> str:
    """ns with three significant digits (or whole ns from 100 on)."""
    if ns >= 100:
        return f"{ns:,.0f}"
    if ns >= 10:
        return f"{ns:.1f}"
    return f"{ns:.2f}"


def parse(output: str) -> dict[str, float]:
    figures = {}
    for line in output.splitlines():
        metric, _, value = line.partition(" ")
        figures[metric] = float(value)
    return figures


@dataclass
class Group:
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
        self.groups: list[Group] = []

    def measure(self, title: str, programs: Sequence[Program]) -> None:
        """Runs each program `self.runs` times, one round over all of them at a time."""
        print(f"  {title}", file=sys.stderr, flush=True)
        group = Group(title, list(programs))
        self.groups.append(group)
        for program in programs:
            self.results.setdefault(program, Measured())
        for round_no in range(self.runs):
            group.loads.append(os.getloadavg()[0])
            if self.verbose:
                print(
                    f"    round {round_no + 1}, load {group.loads[-1]:.2f}",
                    file=sys.stderr,
                )
            # Alternate who goes first, so that neither side always runs on a warmer machine.
            order = programs if round_no % 2 == 0 else list(reversed(programs))
            for program in order:
                measured = self.results[program]
                if measured.error is not None:
                    continue
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
                    lines = (proc.stderr or proc.stdout).strip().splitlines() or [
                        "no output"
                    ]
                    measured.error = lines[-1]
                    print(f"    {program.side}: {measured.error}", file=sys.stderr)
                    continue
                figures = parse(proc.stdout)
                measured.add(figures)
                if self.verbose:
                    shown = " ".join(f"{k}={fmt(v)}" for k, v in figures.items())
                    print(f"    {program.side}: {shown}", file=sys.stderr)

    def get(self, program: Program) -> Measured:
        return self.results.get(program, Measured(error="not run"))

    def every_run(self) -> list[str]:
        """A markdown table of every run's figure, round by round, with the load average as
        each round began: what the medians above were taken from."""
        width = max((len(g.loads) for g in self.groups), default=0)
        head = ["workload", "side", "metric", *[f"run {i + 1}" for i in range(width)]]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for group in self.groups:
            loads = [f"{load:.2f}" for load in group.loads]
            lines.append(
                "| " + " | ".join([group.title, "load (1 min)", "", *loads]) + " |"
            )
            for program in group.programs:
                measured = self.get(program)
                if measured.error is not None and not measured.runs:
                    cells = [group.title, program.side, "failed", measured.error]
                    lines.append("| " + " | ".join(cells) + " |")
                for metric, values in measured.runs.items():
                    cells = [group.title, program.side, metric, *map(fmt, values)]
                    lines.append("| " + " | ".join(cells) + " |")
        return lines


# ----- the suites ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """Operation counts of the workloads (the brief's, or a hundredth with --quick)."""

    million: int
    chain_work: int
    py_million: int
    py_timers: int
    py_work: int
    py_threadsafe: int
    py_tasks: int


FULL = Sizes(1_000_000, 100_000, 1_000_000, 100_000, 100_000, 100_000, 10_000)
QUICK = Sizes(10_000, 1_000, 10_000, 1_000, 1_000, 1_000, 1_000)


@dataclass(frozen=True)
class Row:
    """One line of a table: a label, phaseloop's program and metric, and the anchors'."""

    label: str
    ours: Program
    metric: str
    anchors: tuple[Program | None, ...]
    target: str = ""
    #: Compared with the bare-call floor too (a callback workload).
    floor: bool = False


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


def ratio_cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def table(
    runner: Runner,
    rows: Sequence[Row],
    anchor_names: Sequence[str],
    with_floor: Measured | None,
) -> list[str]:
    """A markdown table: figures as median [min–max] ns/op, ratios phaseloop / anchor."""
    head = ["workload", "phaseloop ns/op"]
    head += [f"{name} ns/op" for name in anchor_names]
    head += [f"÷ {name}" for name in anchor_names]
    if with_floor is not None:
        head.append("÷ floor")
    head.append("target")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        ours = runner.get(row.ours)
        anchors = [runner.get(p) if p is not None else None for p in row.anchors]
        cells = [row.label, ours.cell(row.metric)]
        cells += [a.cell(row.metric) if a is not None else "—" for a in anchors]
        cells += [ratio_cell(ratio(ours, a, row.metric)) for a in anchors]
        floor = with_floor if row.floor else None
        if with_floor is not None:
            cells.append(ratio_cell(ratio(ours, floor, row.metric, "call")))
        cells.append(
            verdict(row.target, ours, anchors, anchor_names, floor, row.metric)
        )
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def verdict(
    target: str,
    ours: Measured,
    anchors: Sequence[Measured | None],
    anchor_names: Sequence[str],
    floor: Measured | None,
    metric: str,
) -> str:
    """The target of a row and whether this run met it. A target is a list of
    `<anchor name or 'floor'><=<bound>` terms, e.g. `asyncio<=0.5 uvloop<=1 floor<=2`."""
    if not target:
        return ""
    met = True
    shown = []
    for term in target.split():
        name, _, bound_text = term.partition("<=")
        bound = float(bound_text)
        if name == "floor":
            value = ratio(ours, floor, metric, "call")
        else:
            value = ratio(ours, anchors[list(anchor_names).index(name)], metric)
        ok = value is not None and value <= bound
        met = met and ok
        shown.append(f"{name} ≤ {bound:g}" + ("" if ok else " ✗"))
    return ("✓ " if met else "✗ ") + ", ".join(shown)


def c_rows(build: Path, sizes: Sizes) -> list[tuple[str, list[Program], list[Row]]]:
    """phaseloop against libuv, from C."""
    pl, uv = str(build / "pl_bench"), str(build / "uv_bench")
    m = str(sizes.million)
    groups = []

    def pair(workload: str, n: str, threads: int = 1) -> tuple[Program, Program]:
        return (
            Program("phaseloop", (pl, workload, n, str(threads))),
            Program("libuv", (uv, workload, n, str(threads))),
        )

    ours, theirs = pair("timers", m)
    node = Program("node", ("node", str(BENCH / "node" / "workloads.js"), "timers", m))
    groups.append(
        (
            f"C: {m} timers",
            [ours, theirs, node],
            [
                Row(
                    f"{m} timers (delays i % 1000): start",
                    ours,
                    "start",
                    (theirs,),
                    "libuv<=1",
                ),
                Row(
                    f"{m} timers: run, CPU time of the loop thread",
                    ours,
                    "run_cpu",
                    (theirs,),
                    "libuv<=0.5",
                ),
                Row(
                    f"{m} timers: run, wall time",
                    ours,
                    "run_wall",
                    (theirs,),
                    "libuv<=1",
                ),
            ],
        )
    )
    ours, theirs = pair("loop_count", m)
    groups.append(
        (
            "C: loop iterations",
            [ours, theirs],
            [
                Row(
                    "loop iteration with an idle handle",
                    ours,
                    "iteration",
                    (theirs,),
                    "libuv<=1",
                )
            ],
        )
    )
    ours, theirs = pair("immediates_flat", m)
    node = Program(
        "node", ("node", str(BENCH / "node" / "workloads.js"), "immediates_flat", m)
    )
    groups.append(
        (
            "C: check-phase callbacks, batch",
            [ours, theirs, node],
            [
                Row(
                    f"{m} check-phase callbacks queued, then run (immediates vs check-handle"
                    " FIFO)",
                    ours,
                    "total",
                    (theirs,),
                    "libuv<=1",
                ),
                Row("  of which queueing", ours, "schedule", (theirs,)),
                Row("  of which running", ours, "run", (theirs,)),
            ],
        )
    )
    ours, theirs = pair("immediates_chain", m)
    node = Program(
        "node", ("node", str(BENCH / "node" / "workloads.js"), "immediates_chain", m)
    )
    groups.append(
        (
            "C: check-phase callbacks, chained",
            [ours, theirs, node],
            [
                Row(
                    f"{m} check-phase callbacks, each queueing the next",
                    ours,
                    "callback",
                    (theirs,),
                    "libuv<=1",
                )
            ],
        )
    )
    ours, theirs = pair("timer_start_stop", m)
    groups.append(
        (
            "C: timer start+stop",
            [ours, theirs],
            [Row(f"{m} timer start+stop pairs", ours, "pair", (theirs,), "libuv<=1")],
        )
    )
    for pool in (1, 4):
        ours, theirs = pair("work_batch", m, pool)
        groups.append(
            (
                f"C: work batch, pool {pool}",
                [ours, theirs],
                [
                    Row(
                        f"queue_work, {m} no-op jobs at once, pool of {pool}",
                        ours,
                        "job",
                        (theirs,),
                        "libuv<=1",
                    )
                ],
            )
        )
    chain = str(sizes.chain_work)
    for pool in (1, 4):
        ours, theirs = pair("work_chain", chain, pool)
        groups.append(
            (
                f"C: work chain, pool {pool}",
                [ours, theirs],
                [
                    Row(
                        f"queue_work round trip, one job in flight ({chain}), pool of {pool}",
                        ours,
                        "round_trip",
                        (theirs,),
                        "libuv<=1",
                    )
                ],
            )
        )
    for threads in (1, 4):
        ours, theirs = pair("remote_calls", m, threads)
        groups.append(
            (
                f"C: cross-thread calls, {threads} senders",
                [ours, theirs],
                [
                    Row(
                        f"{m} cross-thread calls, all delivered, {threads} sending"
                        f" thread{'s' if threads > 1 else ''} (pl_remote_call vs uv_async +"
                        " mutex FIFO)",
                        ours,
                        "call",
                        (theirs,),
                        "libuv<=1",
                    )
                ],
            )
        )
    return groups


PY_ANCHORS = ("asyncio", "uvloop", "rloop")


def python_rows(
    python: str, sizes: Sizes
) -> list[tuple[str, list[Program], list[Row]]]:
    """phaseloop against asyncio, uvloop and rloop, from Python."""
    script = str(BENCH / "python" / "workloads.py")

    def prog(impl: str, workload: str, n: int) -> Program:
        return Program(impl, (python, script, impl, workload, str(n)))

    groups = []
    million = sizes.py_million
    for workload, shape in (
        ("callbacks_flat", "queued, then run"),
        ("callbacks_chain", "chained"),
    ):
        anchors = tuple(prog(a, workload, million) for a in PY_ANCHORS)
        ours_i = prog("phaseloop-immediate", workload, million)
        ours_t = prog("phaseloop-tick", workload, million)
        metric = "total" if workload == "callbacks_flat" else "callback"
        target = "asyncio<=0.5 uvloop<=1 rloop<=1 floor<=2"
        rows = [
            Row(
                f"{million} callbacks {shape}: set_immediate vs call_soon",
                ours_i,
                metric,
                anchors,
                target,
                floor=True,
            ),
            Row(
                f"{million} callbacks {shape}: next_tick vs call_soon",
                ours_t,
                metric,
                anchors,
                target,
                floor=True,
            ),
        ]
        groups.append((f"Python: {workload}", [ours_i, ours_t, *anchors], rows))
    n = sizes.py_timers
    anchors = tuple(prog(a, "timers", n) for a in PY_ANCHORS)
    ours = prog("phaseloop", "timers", n)
    groups.append(
        (
            "Python: timers",
            [ours, *anchors],
            [
                Row(
                    f"{n} timers (delays i % 1000 ms): schedule", ours, "start", anchors
                ),
                Row(
                    f"{n} timers: run, CPU time of the loop thread",
                    ours,
                    "run_cpu",
                    anchors,
                ),
                Row(f"{n} timers: run, wall time", ours, "run_wall", anchors),
            ],
        )
    )
    n = sizes.py_work
    anchors = tuple(prog(a, "work", n) for a in PY_ANCHORS)
    ours_py = prog("phaseloop-python", "work", n)
    ours_native = prog("phaseloop-native", "work", n)
    groups.append(
        (
            "Python: offloaded work",
            [ours_py, ours_native, *anchors],
            [
                Row(
                    f"{n} no-op Python jobs: queue_work vs run_in_executor (4 threads)",
                    ours_py,
                    "job",
                    anchors,
                    "asyncio<=0.1",
                ),
                Row(
                    f"{n} native no-op jobs (jobs.sleep(0)) vs run_in_executor",
                    ours_native,
                    "job",
                    anchors,
                ),
            ],
        )
    )
    n = sizes.py_threadsafe
    anchors = tuple(prog(a, "threadsafe", n) for a in PY_ANCHORS)
    ours = prog("phaseloop", "threadsafe", n)
    groups.append(
        (
            "Python: threadsafe calls",
            [ours, *anchors],
            [
                Row(
                    f"{n} threadsafe calls from another thread: call_threadsafe vs"
                    " call_soon_threadsafe",
                    ours,
                    "call",
                    anchors,
                )
            ],
        )
    )
    return groups


#: The asyncio suite, as data: (workload in bench/python/workloads.py, how many, the row's
#: label, the metric), each run on phaseloop.asyncio and on every anchor. Issue 19's target for
#: each: at or above uvloop, at least 2x asyncio.
ASYNCIO_WORKLOADS: tuple[tuple[str, str, str, str], ...] = (
    (
        "callbacks_flat",
        "py_million",
        "{n} call_soon callbacks queued, then run",
        "total",
    ),
    (
        "callbacks_chain",
        "py_million",
        "{n} call_soon callbacks, each queueing the next",
        "callback",
    ),
    ("sleep0", "py_timers", "{n} steps of a task awaiting asyncio.sleep(0)", "step"),
    ("gather", "py_tasks", "{n} tasks (each one sleep(0)) gathered", "task"),
    (
        "executor",
        "py_tasks",
        "{n} run_in_executor(None, noop) round trips",
        "round_trip",
    ),
    ("timers", "py_timers", "{n} call_later timers (i % 1000 ms): schedule", "start"),
    ("timers", "py_timers", "{n} call_later timers: run, CPU time", "run_cpu"),
    (
        "threadsafe",
        "py_threadsafe",
        "{n} call_soon_threadsafe from another thread",
        "call",
    ),
)
ASYNCIO_TARGET = "asyncio<=0.5 uvloop<=1"


def asyncio_rows(
    python: str, sizes: Sizes
) -> list[tuple[str, list[Program], list[Row]]]:
    """phaseloop.asyncio against asyncio, uvloop and rloop: the same asyncio program on each."""
    script = str(BENCH / "python" / "workloads.py")
    groups: dict[str, tuple[list[Program], list[Row]]] = {}
    for workload, size, label, metric in ASYNCIO_WORKLOADS:
        n = getattr(sizes, size)

        def prog(impl: str, workload: str = workload, n: int = n) -> Program:
            return Program(impl, (python, script, impl, workload, str(n)))

        ours, anchors = prog("phaseloop-asyncio"), tuple(map(prog, PY_ANCHORS))
        _, rows = groups.setdefault(workload, ([ours, *anchors], []))
        rows.append(Row(label.format(n=n), ours, metric, anchors, ASYNCIO_TARGET))
    return [(f"asyncio: {w}", progs, rows) for w, (progs, rows) in groups.items()]


def floor_programs(python: str, sizes: Sizes) -> tuple[Program, Program]:
    script = str(BENCH / "python" / "workloads.py")
    n = str(sizes.py_million)
    return (
        Program("floor", (python, script, "floor", "floor", n)),
        Program("floor-context", (python, script, "floor-context", "floor", n)),
    )


def js_programs(
    python: str, build: Path, sizes: Sizes
) -> dict[str, tuple[dict[str, Program], str]]:
    """The JS-shaped workloads: label -> (side -> program, metric), the sides being Node and
    phaseloop from C, from Python and the Rust core (where each has the shape)."""
    node = ("node", str(BENCH / "node" / "workloads.js"))
    pl, core = str(build / "pl_bench"), str(build / "core_bench")
    script = str(BENCH / "python" / "workloads.py")
    m, pm = str(sizes.million), str(sizes.py_million)

    def py(impl: str, workload: str) -> Program:
        return Program(impl, (python, script, impl, workload, pm))

    return {
        f"setImmediate x {m}, then run": (
            {
                "node": Program("node", (*node, "immediates_flat", m)),
                "c": Program("phaseloop", (pl, "immediates_flat", m, "1")),
                "python": py("phaseloop-immediate", "callbacks_flat"),
                "rust": Program("core", (core, "immediates", m, "1")),
            },
            "total",
        ),
        f"setImmediate chain of {m}": (
            {
                "node": Program("node", (*node, "immediates_chain", m)),
                "c": Program("phaseloop", (pl, "immediates_chain", m, "1")),
                "python": py("phaseloop-immediate", "callbacks_chain"),
            },
            "callback",
        ),
        f"nextTick chain of {m}": (
            {
                "node": Program("node", (*node, "tick_chain", m)),
                "c": Program("phaseloop", (pl, "tick_chain", m, "1")),
                "python": py("phaseloop-tick", "callbacks_chain"),
                "rust": Program("core", (core, "tick_chain", m, "1")),
            },
            "callback",
        ),
        f"promise chain of {m}": (
            {
                "node": Program("node", (*node, "promise_chain", m)),
                "python": py("phaseloop", "promise_chain"),
            },
            "reaction",
        ),
        f"setTimeout x {m} (i % 1000): schedule": (
            {
                "node": Program("node", (*node, "timers", m)),
                "c": Program("phaseloop", (pl, "timers", m, "1")),
                "rust": Program("core", (core, "timers_real", m, "1")),
            },
            "start",
        ),
        f"setTimeout x {m}: run, CPU time": (
            {
                "node": Program("node", (*node, "timers", m)),
                "c": Program("phaseloop", (pl, "timers", m, "1")),
                "rust": Program("core", (core, "timers_real", m, "1")),
            },
            "run_cpu",
        ),
    }


def rust_programs(build: Path, sizes: Sizes) -> list[tuple[str, Program, str]]:
    core = str(build / "core_bench")
    m = str(sizes.million)

    def p(workload: str, threads: int = 1) -> Program:
        return Program("core", (core, workload, m, str(threads)))

    return [
        (f"{m} immediates: schedule + run", p("immediates"), "total"),
        ("  of which schedule", p("immediates"), "schedule"),
        ("  of which run", p("immediates"), "run"),
        (
            f"{m} timeouts (i % 1000), virtual clock: schedule",
            p("timers_virtual"),
            "start",
        ),
        ("  run", p("timers_virtual"), "run_cpu"),
        (f"{m} timeouts (i % 1000), real clock: schedule", p("timers_real"), "start"),
        ("  run, CPU time", p("timers_real"), "run_cpu"),
        ("  run, wall time", p("timers_real"), "run_wall"),
        (f"{m} start+clear timer pairs", p("timer_start_clear"), "pair"),
        (f"{m}-long next-tick chain", p("tick_chain"), "callback"),
        (f"queue_work round trip, {m} no-op jobs, pool of 1", p("work", 1), "job"),
        (f"queue_work round trip, {m} no-op jobs, pool of 4", p("work", 4), "job"),
        (f"{m} threadsafe calls from 1 thread", p("threadsafe", 1), "call"),
        (f"{m} threadsafe calls from 4 threads", p("threadsafe", 4), "call"),
    ]


# ----- the machine and the versions ------------------------------------------------------------


def command_output(argv: Sequence[str], cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(
            argv, check=False, capture_output=True, text=True, cwd=cwd, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return proc.stdout.strip() if proc.returncode == 0 else "unknown"


def machine() -> list[str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kib / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"CPU: {model}, {os.cpu_count()} cores (as the OS reports them), {mem} memory",
        f"OS: {platform.system()} {platform.release()}; clocksource "
        + command_output(
            ["cat", "/sys/devices/system/clocksource/clocksource0/current_clocksource"]
        ),
        f"load average (1/5/15 min) when the run began: {load}",
    ]


def versions(python: str) -> list[str]:
    commit = command_output(["git", "rev-parse", "--short=12", "HEAD"], ROOT)
    if command_output(
        ["git", "status", "--porcelain", "--untracked-files=no"], ROOT
    ) not in ("", "unknown"):
        commit += " with uncommitted changes"
    probe = (
        "import sys, importlib.metadata as m; "
        "print(sys.version.split()[0]); "
        "[print(m.version(p)) for p in ('phaseloop', 'uvloop', 'rloop')]"
    )
    py = command_output([python, "-c", probe]).splitlines() + ["unknown"] * 4
    return [
        f"phaseloop {py[1]}, commit {commit}; "
        + command_output(["rustc", "--version"]),
        "libuv "
        + command_output(["pkg-config", "--modversion", "libuv"])
        + " (Debian's libuv1-dev); C compiled with "
        + command_output(["cc", "-dumpfullversion"]).join(["gcc ", " -O2"]),
        f"Node {command_output(['node', '--version'])}",
        f"Python {py[0]} (asyncio of the same), uvloop {py[2]}, rloop {py[3]}",
    ]


# ----- putting it together ------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--build", type=Path, required=True, help="where run.sh built the programs"
    )
    parser.add_argument(
        "--python", default=sys.executable, help="the bench venv's python"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a hundredth of the sizes, 3 runs"
    )
    parser.add_argument(
        "--runs", type=int, help="runs per figure (default 5, --quick 3)"
    )
    parser.add_argument("--suites", default="c,python,asyncio,js,rust")
    parser.add_argument("--out", type=Path, help="write the markdown here too")
    parser.add_argument(
        "--verbose", action="store_true", help="print every run's figures"
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    runs = args.runs or (3 if args.quick else 5)
    suites = set(args.suites.split(","))
    runner = Runner(runs, args.verbose)
    started = datetime.datetime.now(datetime.UTC)
    quick = " --quick" if args.quick else ""
    header = [
        "# phaseloop benchmarks",
        "",
        (
            f"Measured {started:%Y-%m-%d %H:%M} UTC by `bash bench/run.sh{quick}`"
            " (see bench/README.md). Every figure is ns per operation, the median of"
            f" {runs} runs [min–max]; every ratio is phaseloop's median over the"
            " anchor's, from this same run: below 1.00 phaseloop is faster."
        ),
        "",
        *[f"- {line}" for line in machine()],
        *[f"- {line}" for line in versions(args.python)],
        "",
    ]
    print("\n".join(header[2:]), file=sys.stderr)
    out = list(header)

    if "c" in suites:
        groups = c_rows(args.build, sizes)
        for title, programs, _ in groups:
            runner.measure(title, programs)
        out += ["## From C: phaseloop against libuv", ""]
        out += table(
            runner, [row for _, _, rows in groups for row in rows], ["libuv"], None
        )
        out.append("")

    if "python" in suites:
        floor, floor_ctx = floor_programs(args.python, sizes)
        runner.measure("Python: floor", [floor, floor_ctx])
        groups = python_rows(args.python, sizes)
        for title, programs, _ in groups:
            runner.measure(title, programs)
        floor_m, floor_ctx_m = runner.get(floor), runner.get(floor_ctx)
        out += ["## From Python: phaseloop against asyncio, uvloop and rloop", ""]
        out += [
            (
                "Floor (a bare `for` loop calling the same counting closure):"
                f" {floor_m.cell('call')} ns per call; with contextvars (each call"
                " `copy_context().run(cb)`, what a callback scheduled with its context"
                f" costs at least): {floor_ctx_m.cell('call')} ns. The ÷ floor column"
                " divides by the latter."
            ),
            "",
        ]
        out += table(
            runner,
            [row for _, _, rows in groups for row in rows],
            PY_ANCHORS,
            floor_ctx_m,
        )
        out.append("")

    if "asyncio" in suites:
        groups = asyncio_rows(args.python, sizes)
        for title, programs, _ in groups:
            runner.measure(title, programs)
        out += [
            "## asyncio programs: phaseloop.asyncio against asyncio, uvloop and rloop",
            "",
            "The same asyncio code on each loop (bench/python/workloads.py).",
            "",
        ]
        out += table(
            runner, [row for _, _, rows in groups for row in rows], PY_ANCHORS, None
        )
        out.append("")

    if "js" in suites:
        js = js_programs(args.python, args.build, sizes)
        for label, (sides, _) in js.items():
            # Programs already measured in another suite are not run again.
            fresh = [p for p in sides.values() if p not in runner.results]
            if fresh:
                runner.measure(f"JS-shaped: {label}", fresh)
        out += ["## JS-shaped workloads: Node as the reference", ""]
        head = [
            "workload",
            "Node ns/op",
            "phaseloop C",
            "÷ Node",
            "phaseloop Python",
            "÷ Node",
            "phaseloop Rust core",
            "÷ Node",
        ]
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for label, (sides, metric) in js.items():
            node_m = runner.get(sides["node"])
            cells = [label, node_m.cell(metric)]
            for side in ("c", "python", "rust"):
                if side in sides:
                    ours = runner.get(sides[side])
                    cells += [
                        ours.cell(metric),
                        ratio_cell(ratio(ours, node_m, metric)),
                    ]
                else:
                    cells += ["—", "—"]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")

    if "rust" in suites:
        rows = rust_programs(args.build, sizes)
        seen: list[Program] = []
        for _, program, _ in rows:
            if program not in seen:
                seen.append(program)
        for program in seen:
            runner.measure(f"Rust core: {' '.join(program.argv[1:])}", [program])
        out += ["## The Rust core alone (no binding)", ""]
        out += ["| workload | ns/op | per second |", "|---|---|---|"]
        for label, program, metric in rows:
            measured = runner.get(program)
            med = measured.median(metric)
            per_second = f"{1e9 / med:,.0f}" if med else "—"
            out.append(f"| {label} | {measured.cell(metric)} | {per_second} |")
        out.append("")

    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    out.append(f"Load average (1/5/15 min) when the run ended: {load}.")
    out += [
        "",
        "## Every run",
        "",
        (
            "ns per operation of each run, in run order, and the 1-minute load average as"
            " each round began: a figure far from its median next to a higher load was"
            " the machine, not the code."
        ),
        "",
        *runner.every_run(),
    ]
    text = "\n".join(out) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
