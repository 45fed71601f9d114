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

What is run is bench/suites.py (the suites as data), how it is run bench/measure.py; this file
is the command line and the markdown: the tables, the targets' verdicts, every run's figures.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import suites
from environment import machine, versions
from measure import Measured, Program, Runner, fmt, ratio
from suites import Group, Setup, TableRow


def markdown_row(cells: Sequence[str]) -> str:
    """One line of a markdown table."""
    return "| " + " | ".join(cells) + " |"


def markdown_head(head: Sequence[str]) -> list[str]:
    """A markdown table's header and its separator line."""
    return [markdown_row(head), "|" + "---|" * len(head)]


def ratio_cell(value: float | None) -> str:
    """A ratio with two decimals, or a dash where there is none."""
    return "—" if value is None else f"{value:.2f}"


def verdict(
    target: Mapping[str, float],
    ours: Measured,
    anchors: Sequence[Measured],
    anchor_names: Sequence[str],
    floor: Measured | None,
    metric: str,
) -> str:
    """The target of a row and whether this run met it: every anchor name (or "floor") with
    its bound, e.g. `✗ asyncio ≤ 0.5, uvloop ≤ 1 ✗`."""
    if not target:
        return ""
    met = True
    shown = []
    for name, bound in target.items():
        if name == "floor":
            value = ratio(ours, floor, metric, "call")
        else:
            value = ratio(ours, anchors[list(anchor_names).index(name)], metric)
        ok = value is not None and value <= bound
        met = met and ok
        shown.append(f"{name} ≤ {bound:g}" + ("" if ok else " ✗"))
    return ("✓ " if met else "✗ ") + ", ".join(shown)


def table(
    runner: Runner,
    rows: Sequence[TableRow],
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
    lines = markdown_head(head)
    for row in rows:
        ours = runner.get(row.ours)
        anchors = [runner.get(p) for p in row.anchors]
        cells = [row.label, ours.cell(row.metric)]
        cells += [a.cell(row.metric) for a in anchors]
        cells += [ratio_cell(ratio(ours, a, row.metric)) for a in anchors]
        floor = with_floor if row.floor else None
        if with_floor is not None:
            cells.append(ratio_cell(ratio(ours, floor, row.metric, "call")))
        cells.append(
            verdict(row.target, ours, anchors, anchor_names, floor, row.metric)
        )
        lines.append(markdown_row(cells))
    return lines


def every_run(runner: Runner) -> list[str]:
    """A markdown table of every run's figure, round by round, with the load average as
    each round began: what the medians above were taken from."""
    width = max((len(m.loads) for m in runner.measurements), default=0)
    lines = markdown_head(
        ["workload", "side", "metric", *[f"run {i + 1}" for i in range(width)]]
    )
    for measurement in runner.measurements:
        title = measurement.title
        loads = [f"{load:.2f}" for load in measurement.loads]
        lines.append(markdown_row([title, "load (1 min)", "", *loads]))
        for program in measurement.programs:
            measured = runner.get(program)
            if measured.error is not None and not measured.runs:
                lines.append(
                    markdown_row([title, program.side, "failed", measured.error])
                )
            for metric, values in measured.runs.items():
                lines.append(
                    markdown_row([title, program.side, metric, *map(fmt, values)])
                )
    return lines


# ----- the suites' sections ---------------------------------------------------------------------


def measure_groups(runner: Runner, groups: Sequence[Group]) -> list[TableRow]:
    """Measures every group, in order; their table rows."""
    for group in groups:
        runner.measure(group.title, group.programs)
    return [row for group in groups for row in group.rows]


def c_section(runner: Runner, setup: Setup) -> list[str]:
    """Measures the C suite; its section."""
    rows = measure_groups(runner, suites.resolve(suites.C_SUITE, setup))
    out = ["## From C: phaseloop against libuv", ""]
    return out + table(runner, rows, suites.C_SUITE.anchor_names, None)


def python_section(runner: Runner, setup: Setup) -> list[str]:
    """Measures the Python suite, its floor first; its section."""
    floor, floor_ctx = suites.floor_programs(suites.PY_FLOOR, setup)
    runner.measure(suites.PY_FLOOR.title, [floor, floor_ctx])
    rows = measure_groups(runner, suites.resolve(suites.PYTHON_SUITE, setup))
    floor_m, floor_ctx_m = runner.get(floor), runner.get(floor_ctx)
    metric = suites.PY_FLOOR.metric
    out = ["## From Python: phaseloop against asyncio, uvloop and rloop", ""]
    out += [
        (
            "Floor (a bare `for` loop calling the same counting closure):"
            f" {floor_m.cell(metric)} ns per call; with contextvars (each call"
            " `copy_context().run(cb)`, what a callback scheduled with its context"
            f" costs at least): {floor_ctx_m.cell(metric)} ns. The ÷ floor column"
            " divides by the latter."
        ),
        "",
    ]
    return out + table(runner, rows, suites.PYTHON_SUITE.anchor_names, floor_ctx_m)


def asyncio_section(runner: Runner, setup: Setup) -> list[str]:
    """Measures the asyncio programs; their section."""
    rows = measure_groups(runner, suites.resolve(suites.ASYNCIO_SUITE, setup))
    out = [
        "## asyncio programs: phaseloop.asyncio against asyncio, uvloop and rloop",
        "",
        "The same asyncio code on each loop (bench/python/workloads.py).",
        "",
    ]
    return out + table(runner, rows, suites.ASYNCIO_SUITE.anchor_names, None)


def js_section(runner: Runner, setup: Setup) -> list[str]:
    """Measures the JS-shaped workloads (those not measured by another suite already);
    their section."""
    rows = []
    for js_row in suites.JS_SUITE:
        label = suites.labelled(js_row.label, setup)
        sides = {side: run.program(setup) for side, run in js_row.sides.items()}
        rows.append((label, sides, js_row.metric))
        # Programs already measured in another suite are not run again.
        fresh = [p for p in sides.values() if p not in runner.results]
        if fresh:
            runner.measure(f"JS-shaped: {label}", fresh)
    out = ["## JS-shaped workloads: Node as the reference", ""]
    out += markdown_head(
        [
            "workload",
            "Node ns/op",
            "phaseloop C",
            "÷ Node",
            "phaseloop Python",
            "÷ Node",
            "phaseloop Rust core",
            "÷ Node",
        ]
    )
    for label, sides, metric in rows:
        node_m = runner.get(sides["node"])
        cells = [label, node_m.cell(metric)]
        for side in suites.JS_SIDES:
            if side in sides:
                ours = runner.get(sides[side])
                cells += [ours.cell(metric), ratio_cell(ratio(ours, node_m, metric))]
            else:
                cells += ["—", "—"]
        out.append(markdown_row(cells))
    return out


def rust_section(runner: Runner, setup: Setup) -> list[str]:
    """Measures the Rust core's programs, each on its own; their section."""
    rows = [
        (suites.labelled(row.label, setup), row.run.program(setup), row.metric)
        for row in suites.RUST_SUITE
    ]
    programs: list[Program] = list(dict.fromkeys(program for _, program, _ in rows))
    for program in programs:
        runner.measure(f"Rust core: {' '.join(program.argv[1:])}", [program])
    out = ["## The Rust core alone (no binding)", ""]
    out += markdown_head(["workload", "ns/op", "per second"])
    for label, program, metric in rows:
        measured = runner.get(program)
        med = measured.median(metric)
        per_second = f"{1e9 / med:,.0f}" if med else "—"
        out.append(markdown_row([label, measured.cell(metric), per_second]))
    return out


#: The sections by --suites name, in the order they are measured and printed.
SECTIONS = {
    "c": c_section,
    "python": python_section,
    "asyncio": asyncio_section,
    "js": js_section,
    "rust": rust_section,
}


# ----- putting it together ------------------------------------------------------------------------


def main() -> None:
    """The command line: measures the chosen suites, prints the markdown, writes --out."""
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
    parser.add_argument("--suites", default=",".join(SECTIONS))
    parser.add_argument("--out", type=Path, help="write the markdown here too")
    parser.add_argument(
        "--verbose", action="store_true", help="print every run's figures"
    )
    args = parser.parse_args()
    setup = Setup(args.build, args.python, suites.QUICK if args.quick else suites.FULL)
    runs = args.runs or (3 if args.quick else 5)
    chosen = set(args.suites.split(","))
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
    for name, section in SECTIONS.items():
        if name in chosen:
            out += section(runner, setup)
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
        *every_run(runner),
    ]
    text = "\n".join(out) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
