"""The benchmark suites, as data: what is run, on which implementations, and the targets.

One table per suite: C (phaseloop against libuv), Python (against asyncio, uvloop and rloop),
asyncio programs (phaseloop.asyncio against the same), JS-shaped (Node as the reference) and
the Rust core alone. An implementation (`Impl`) says how its program is started; a workload
(`Workload`) is one interleaved measurement of phaseloop's programs and the anchors' on the
same workload and size, with the table rows (`Row`) read off it. `resolve` turns a suite into
the `Program`s that bench/measure.py runs; bench/report.py renders what they measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from measure import Program

#: bench/, where the programs' sources live.
BENCH = Path(__file__).resolve().parent


# ----- sizes and the place the programs were built ------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """Operation counts of the workloads (the brief's, or a hundredth with --quick). A
    workload names its size by field name (`Workload.size`)."""

    million: int
    chain_work: int
    py_million: int
    py_timers: int
    py_work: int
    py_threadsafe: int
    py_tasks: int


#: The sizes of a full run.
FULL = Sizes(1_000_000, 100_000, 1_000_000, 100_000, 100_000, 100_000, 10_000)
#: The sizes of a --quick run.
QUICK = Sizes(10_000, 1_000, 10_000, 1_000, 1_000, 1_000, 1_000)


@dataclass(frozen=True)
class Setup:
    """Where the programs are and how big the workloads are: what a suite needs to become
    programs to run."""

    build: Path
    python: str
    sizes: Sizes

    def count(self, size: str) -> int:
        """The operation count named `size` (a field of `Sizes`)."""
        value: int = getattr(self.sizes, size)
        return value


# ----- the implementations ------------------------------------------------------------------------


@dataclass(frozen=True)
class Impl:
    """An implementation: its side's name in the tables and its program's command line, a
    template over `{build}`, `{bench}`, `{python}`, `{workload}`, `{n}` and `{threads}`."""

    side: str
    argv: tuple[str, ...]

    def program(self, setup: Setup, workload: str, n: int, threads: int = 1) -> Program:
        """This implementation's program for `workload` with `n` operations."""
        values = {
            "build": str(setup.build),
            "bench": str(BENCH),
            "python": setup.python,
            "workload": workload,
            "n": str(n),
            "threads": str(threads),
        }
        return Program(self.side, tuple(arg.format(**values) for arg in self.argv))


def python_impl(name: str) -> Impl:
    """An implementation in bench/python/workloads.py, run in the bench venv's Python."""
    return Impl(
        name, ("{python}", "{bench}/python/workloads.py", name, "{workload}", "{n}")
    )


#: phaseloop from C (bench/c/pl_bench.c).
PL_C = Impl("phaseloop", ("{build}/pl_bench", "{workload}", "{n}", "{threads}"))
#: libuv (bench/c/uv_bench.c).
LIBUV = Impl("libuv", ("{build}/uv_bench", "{workload}", "{n}", "{threads}"))
#: Node (bench/node/workloads.js).
NODE = Impl("node", ("node", "{bench}/node/workloads.js", "{workload}", "{n}"))
#: phaseloop's Rust core alone (bench/rust).
CORE = Impl("core", ("{build}/core_bench", "{workload}", "{n}", "{threads}"))
#: The Python anchors, in the tables' column order.
PY_ANCHORS = tuple(python_impl(name) for name in ("asyncio", "uvloop", "rloop"))
#: phaseloop's Python module: callbacks through set_immediate and through next_tick.
PY_IMMEDIATE = python_impl("phaseloop-immediate")
PY_TICK = python_impl("phaseloop-tick")


# ----- ratio tables: C, Python, asyncio -----------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of a ratio table: its label (`{n}` is the workload's size), the metric it
    shows, phaseloop's implementation (the suite's unless given) and the target: anchor name
    (or "floor", the Python suite's bare call) -> the highest ratio that meets it."""

    label: str
    metric: str
    target: Mapping[str, float] = field(default_factory=dict)
    ours: Impl | None = None
    #: Compared with the bare-call floor too (a callback workload).
    floor: bool = False


@dataclass(frozen=True)
class Workload:
    """One interleaved measurement: phaseloop's programs (one per distinct `Row.ours`), the
    suite's anchors and `also` (measured here for another suite) run on one workload."""

    title: str
    workload: str
    size: str
    rows: tuple[Row, ...]
    threads: int = 1
    also: tuple[Impl, ...] = ()


@dataclass(frozen=True)
class Suite:
    """A ratio table: phaseloop's implementation, the anchors (one column pair each) and the
    workloads, measured in this order."""

    ours: Impl
    anchors: tuple[Impl, ...]
    workloads: tuple[Workload, ...]

    @property
    def anchor_names(self) -> tuple[str, ...]:
        """The anchors' names, as the table's columns and the targets name them."""
        return tuple(anchor.side for anchor in self.anchors)


#: The C suite's target for most rows: at or above libuv.
AT_LIBUV = {"libuv": 1}

#: phaseloop against libuv, from C (bench/c): the workloads of libuv's own benchmarks.
C_SUITE = Suite(
    ours=PL_C,
    anchors=(LIBUV,),
    workloads=(
        Workload(
            "C: {n} timers",
            "timers",
            "million",
            (
                Row("{n} timers (delays i % 1000): start", "start", AT_LIBUV),
                Row(
                    "{n} timers: run, CPU time of the loop thread",
                    "run_cpu",
                    {"libuv": 0.5},
                ),
                Row("{n} timers: run, wall time", "run_wall", AT_LIBUV),
            ),
            also=(NODE,),
        ),
        Workload(
            "C: loop iterations",
            "loop_count",
            "million",
            (Row("loop iteration with an idle handle", "iteration", AT_LIBUV),),
        ),
        Workload(
            "C: check-phase callbacks, batch",
            "immediates_flat",
            "million",
            (
                Row(
                    "{n} check-phase callbacks queued, then run (immediates vs check-handle"
                    " FIFO)",
                    "total",
                    AT_LIBUV,
                ),
                Row("  of which queueing", "schedule"),
                Row("  of which running", "run"),
            ),
            also=(NODE,),
        ),
        Workload(
            "C: check-phase callbacks, chained",
            "immediates_chain",
            "million",
            (
                Row(
                    "{n} check-phase callbacks, each queueing the next",
                    "callback",
                    AT_LIBUV,
                ),
            ),
            also=(NODE,),
        ),
        Workload(
            "C: timer start+stop",
            "timer_start_stop",
            "million",
            (Row("{n} timer start+stop pairs", "pair", AT_LIBUV),),
        ),
        *(
            Workload(
                f"C: work batch, pool {pool}",
                "work_batch",
                "million",
                (
                    Row(
                        f"queue_work, {{n}} no-op jobs at once, pool of {pool}",
                        "job",
                        AT_LIBUV,
                    ),
                ),
                threads=pool,
            )
            for pool in (1, 4)
        ),
        *(
            Workload(
                f"C: work chain, pool {pool}",
                "work_chain",
                "chain_work",
                (
                    Row(
                        "queue_work round trip, one job in flight ({n}),"
                        f" pool of {pool}",
                        "round_trip",
                        AT_LIBUV,
                    ),
                ),
                threads=pool,
            )
            for pool in (1, 4)
        ),
        *(
            Workload(
                f"C: cross-thread calls, {threads} senders",
                "remote_calls",
                "million",
                (
                    Row(
                        f"{{n}} cross-thread calls, all delivered, {threads} sending"
                        f" thread{'s' if threads > 1 else ''} (pl_remote_call vs uv_async +"
                        " mutex FIFO)",
                        "call",
                        AT_LIBUV,
                    ),
                ),
                threads=threads,
            )
            for threads in (1, 4)
        ),
    ),
)

#: The Python suite's target for a callback row.
PY_CALLBACK_TARGET = {"asyncio": 0.5, "uvloop": 1, "rloop": 1, "floor": 2}

#: phaseloop against asyncio, uvloop and rloop, from Python (bench/python/workloads.py).
PYTHON_SUITE = Suite(
    ours=python_impl("phaseloop"),
    anchors=PY_ANCHORS,
    workloads=(
        *(
            Workload(
                f"Python: {workload}",
                workload,
                "py_million",
                (
                    Row(
                        f"{{n}} callbacks {shape}: set_immediate vs call_soon",
                        metric,
                        PY_CALLBACK_TARGET,
                        PY_IMMEDIATE,
                        floor=True,
                    ),
                    Row(
                        f"{{n}} callbacks {shape}: next_tick vs call_soon",
                        metric,
                        PY_CALLBACK_TARGET,
                        PY_TICK,
                        floor=True,
                    ),
                ),
            )
            for workload, shape, metric in (
                ("callbacks_flat", "queued, then run", "total"),
                ("callbacks_chain", "chained", "callback"),
            )
        ),
        Workload(
            "Python: timers",
            "timers",
            "py_timers",
            (
                Row("{n} timers (delays i % 1000 ms): schedule", "start"),
                Row("{n} timers: run, CPU time of the loop thread", "run_cpu"),
                Row("{n} timers: run, wall time", "run_wall"),
            ),
        ),
        Workload(
            "Python: offloaded work",
            "work",
            "py_work",
            (
                Row(
                    "{n} no-op Python jobs: queue_work vs run_in_executor (4 threads)",
                    "job",
                    {"asyncio": 0.1},
                    python_impl("phaseloop-python"),
                ),
                Row(
                    "{n} native no-op jobs (jobs.sleep(0)) vs run_in_executor",
                    "job",
                    ours=python_impl("phaseloop-native"),
                ),
            ),
        ),
        Workload(
            "Python: threadsafe calls",
            "threadsafe",
            "py_threadsafe",
            (
                Row(
                    "{n} threadsafe calls from another thread: call_threadsafe vs"
                    " call_soon_threadsafe",
                    "call",
                ),
            ),
        ),
    ),
)


@dataclass(frozen=True)
class Floor:
    """The Python suite's floor, measured before it: a bare call of the counting closure, and
    the same through `contextvars.copy_context().run` (what the ÷ floor column divides by)."""

    title: str
    workload: str
    size: str
    bare: Impl
    with_context: Impl
    metric: str


#: The floor of the Python suite's callback rows.
PY_FLOOR = Floor(
    "Python: floor",
    "floor",
    "py_million",
    python_impl("floor"),
    python_impl("floor-context"),
    "call",
)

#: Issue 19's target for every asyncio program: at or above uvloop, at least 2x asyncio.
ASYNCIO_TARGET = {"asyncio": 0.5, "uvloop": 1}

#: phaseloop.asyncio against asyncio, uvloop and rloop: the same asyncio program on each.
ASYNCIO_SUITE = Suite(
    ours=python_impl("phaseloop-asyncio"),
    anchors=PY_ANCHORS,
    workloads=tuple(
        Workload(
            f"asyncio: {workload}",
            workload,
            size,
            tuple(Row(label, metric, ASYNCIO_TARGET) for label, metric in rows),
        )
        for workload, size, rows in (
            (
                "callbacks_flat",
                "py_million",
                (("{n} call_soon callbacks queued, then run", "total"),),
            ),
            (
                "callbacks_chain",
                "py_million",
                (("{n} call_soon callbacks, each queueing the next", "callback"),),
            ),
            (
                "sleep0",
                "py_timers",
                (("{n} steps of a task awaiting asyncio.sleep(0)", "step"),),
            ),
            (
                "gather",
                "py_tasks",
                (("{n} tasks (each one sleep(0)) gathered", "task"),),
            ),
            (
                "executor",
                "py_tasks",
                (("{n} run_in_executor(None, noop) round trips", "round_trip"),),
            ),
            (
                "timers",
                "py_timers",
                (
                    ("{n} call_later timers (i % 1000 ms): schedule", "start"),
                    ("{n} call_later timers: run, CPU time", "run_cpu"),
                ),
            ),
            (
                "threadsafe",
                "py_threadsafe",
                (("{n} call_soon_threadsafe from another thread", "call"),),
            ),
        )
    ),
)


@dataclass(frozen=True)
class TableRow:
    """A ratio table's line with its programs: what bench/report.py renders."""

    label: str
    ours: Program
    metric: str
    anchors: tuple[Program, ...]
    target: Mapping[str, float]
    floor: bool


@dataclass(frozen=True)
class Group:
    """A resolved `Workload`: its title, the programs to run interleaved, its table lines."""

    title: str
    programs: tuple[Program, ...]
    rows: tuple[TableRow, ...]


def resolve(suite: Suite, setup: Setup) -> list[Group]:
    """The suite's workloads as programs to run, in the suite's order."""
    groups = []
    for work in suite.workloads:
        n = setup.count(work.size)

        def program(impl: Impl, work: Workload = work, n: int = n) -> Program:
            return impl.program(setup, work.workload, n, work.threads)

        anchors = tuple(map(program, suite.anchors))
        rows = tuple(
            TableRow(
                row.label.format(n=n),
                program(row.ours or suite.ours),
                row.metric,
                anchors,
                row.target,
                row.floor,
            )
            for row in work.rows
        )
        ours = list(dict.fromkeys(row.ours for row in rows))
        programs = (*ours, *anchors, *map(program, work.also))
        groups.append(Group(work.title.format(n=n), programs, rows))
    return groups


def floor_programs(floor: Floor, setup: Setup) -> tuple[Program, Program]:
    """The floor's two programs: the bare call, and the call with its context."""
    n = setup.count(floor.size)
    return (
        floor.bare.program(setup, floor.workload, n),
        floor.with_context.program(setup, floor.workload, n),
    )


# ----- JS-shaped: Node as the reference -----------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One implementation's program on a workload, sized by a `Sizes` field."""

    impl: Impl
    workload: str
    size: str = "million"
    threads: int = 1

    def program(self, setup: Setup) -> Program:
        """The program to run."""
        return self.impl.program(
            setup, self.workload, setup.count(self.size), self.threads
        )


#: The JS-shaped table's sides besides Node, in column order.
JS_SIDES = ("c", "python", "rust")


@dataclass(frozen=True)
class JsRow:
    """A line of the JS-shaped table: its label (`{n}` is `Sizes.million`), the metric, and
    the programs: "node" (the reference) and those of `JS_SIDES` that have the shape."""

    label: str
    metric: str
    sides: Mapping[str, Run]


#: The JS-shaped workloads: Node, and phaseloop from C, Python and the Rust core.
JS_SUITE: tuple[JsRow, ...] = (
    JsRow(
        "setImmediate x {n}, then run",
        "total",
        {
            "node": Run(NODE, "immediates_flat"),
            "c": Run(PL_C, "immediates_flat"),
            "python": Run(PY_IMMEDIATE, "callbacks_flat", "py_million"),
            "rust": Run(CORE, "immediates"),
        },
    ),
    JsRow(
        "setImmediate chain of {n}",
        "callback",
        {
            "node": Run(NODE, "immediates_chain"),
            "c": Run(PL_C, "immediates_chain"),
            "python": Run(PY_IMMEDIATE, "callbacks_chain", "py_million"),
            "rust": Run(CORE, "immediates_chain"),
        },
    ),
    JsRow(
        "nextTick chain of {n}",
        "callback",
        {
            "node": Run(NODE, "tick_chain"),
            "c": Run(PL_C, "tick_chain"),
            "python": Run(PY_TICK, "callbacks_chain", "py_million"),
            "rust": Run(CORE, "tick_chain"),
        },
    ),
    JsRow(
        "promise chain of {n}",
        "reaction",
        {
            "node": Run(NODE, "promise_chain"),
            "python": Run(python_impl("phaseloop"), "promise_chain", "py_million"),
        },
    ),
    JsRow(
        "setTimeout x {n} (i % 1000): schedule",
        "start",
        {
            "node": Run(NODE, "timers"),
            "c": Run(PL_C, "timers"),
            "rust": Run(CORE, "timers_real"),
        },
    ),
    JsRow(
        "setTimeout x {n}: run, CPU time",
        "run_cpu",
        {
            "node": Run(NODE, "timers"),
            "c": Run(PL_C, "timers"),
            "rust": Run(CORE, "timers_real"),
        },
    ),
)


# ----- the Rust core alone ------------------------------------------------------------------------


@dataclass(frozen=True)
class CoreRow:
    """A line of the Rust core's table: label (`{n}` is `Sizes.million`), program, metric."""

    label: str
    run: Run
    metric: str


def _core(workload: str, threads: int = 1) -> Run:
    return Run(CORE, workload, threads=threads)


#: The Rust core alone: ns per operation, no anchor.
RUST_SUITE: tuple[CoreRow, ...] = (
    CoreRow("{n} immediates: schedule + run", _core("immediates"), "total"),
    CoreRow("  of which schedule", _core("immediates"), "schedule"),
    CoreRow("  of which run", _core("immediates"), "run"),
    CoreRow(
        "{n} timeouts (i % 1000), virtual clock: schedule",
        _core("timers_virtual"),
        "start",
    ),
    CoreRow("  run", _core("timers_virtual"), "run_cpu"),
    CoreRow(
        "{n} timeouts (i % 1000), real clock: schedule", _core("timers_real"), "start"
    ),
    CoreRow("  run, CPU time", _core("timers_real"), "run_cpu"),
    CoreRow("  run, wall time", _core("timers_real"), "run_wall"),
    CoreRow("{n} start+clear timer pairs", _core("timer_start_clear"), "pair"),
    CoreRow("{n}-long setImmediate chain", _core("immediates_chain"), "callback"),
    CoreRow("{n}-long next-tick chain", _core("tick_chain"), "callback"),
    CoreRow(
        "queue_work round trip, {n} no-op jobs, pool of 1", _core("work", 1), "job"
    ),
    CoreRow(
        "queue_work round trip, {n} no-op jobs, pool of 4", _core("work", 4), "job"
    ),
    CoreRow("{n} threadsafe calls from 1 thread", _core("threadsafe", 1), "call"),
    CoreRow("{n} threadsafe calls from 4 threads", _core("threadsafe", 4), "call"),
)


def labelled(label: str, setup: Setup) -> str:
    """A JS-shaped or Rust core label with its `{n}` filled in (`Sizes.million`)."""
    return label.format(n=setup.sizes.million)
