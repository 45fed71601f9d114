"""The differential fuzzer: random fair programs under Node and under phaseloop, compared.

    python fuzz.py                              # seed 1: 300 programs, 100 more with C ops only
    python fuzz.py --seed 7 --count 3000 --c-count 1000     # a longer run
    python fuzz.py --clock real --no-c          # fewer sides

fuzz_gen.py writes the programs (the same ones for the same seed, every time); Node runs
them all (node_runner.js, in parallel workers); phaseloop runs them from Python with the
real and the virtual clock, and from C (both clocks) those whose ops C has. Every log must
equal Node's. A program on which a side differs is rerun under Node to make sure Node agrees
with itself (else the generator made an unfair program, a generator bug), then minimised
(minimise.py) while Node stays stable and the difference remains, and saved with Node's
`expect` (node_runner.js --write-expect) as found/found-SEED-NNNN.json, where the runners
pick it up as a regression scenario from then on.

Run it with the Python in which phaseloop is installed. The last line is
"fuzz: N programs, N differed, N flaky, N unfair, N errors".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import run_c
import run_phaseloop
from c_program import translatable
from fuzz_gen import generate_scenario
from minimise import minimise, size
from nodefind import NodeNotFound, find_node, node_version
from scenarios import FOUND, Result, first_difference, load, outcome, write
from shards import node_command, run_sharded

HERE = Path(__file__).resolve().parent
NODE_RUNNER = HERE / "node_runner.js"
# Node runs a difference must survive, on top of the first, to count as Node's own order.
CONFIRM_RUNS = 2
# Node runs a saved scenario must pass (node_runner.js --write-expect makes two more).
SAVE_CHECK_RUNS = 8


@dataclass
class Side:
    """One way of running phaseloop: Python or C, on one clock."""

    lang: str  # "python" or "c"
    clock: str
    jobs: int
    python: str
    workdir: Path
    mutant: str | None = None  # run_phaseloop.MUTANTS: a deliberately wrong Python side
    # Built C programs by the files they hold, shared by the C sides of both clocks.
    c_programs: dict[tuple[Path, ...], run_c.CProgram] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.lang}/{self.clock}"

    def accepts(self, scenario: dict[str, Any]) -> bool:
        return self.lang == "python" or translatable(scenario)

    def run(self, files: Sequence[Path]) -> dict[Path, Result]:
        """Results of the files this side accepts."""
        if self.lang == "python":
            return run_phaseloop.run_many(
                files, self.clock, self.jobs, self.python, self.mutant
            )
        # The C sides of both clocks run the same files: one build serves both.
        key = tuple(files)
        program = self.c_programs.get(key)
        if program is None:
            runnable, _, _ = run_c.split(files)
            if runnable:
                build = [(str(f), s) for f, s in runnable]
                folder = self.workdir / "c" / str(len(self.c_programs))
                try:
                    program = run_c.build_program(build, folder)
                except run_c.BuildFailed as error:
                    # Every program this side would run fails with the build.
                    message = str(error).splitlines()[0]
                    return {f: {"name": f.stem, "error": message} for f, _ in runnable}
                self.c_programs[key] = program
        results, _ = run_c.run_many(
            files, self.clock, self.jobs, self.workdir / "c", program=program
        )
        return results


@dataclass
class Finding:
    """A program on which a side printed another log than Node."""

    file: Path
    side: Side
    node_log: list[str]
    side_result: Result
    saved: Path | None = None
    minimised_ops: int = 0
    notes: list[str] = field(default_factory=list)


class Fuzzer:
    """Runs the programs of one seed on Node and every side, and minimises differences."""

    def __init__(self, node: str, sides: list[Side], jobs: int, workdir: Path) -> None:
        self.node = node
        self.sides = sides
        self.jobs = jobs
        self.workdir = workdir
        # Per file that Node was rerun on: every distinct log (outcome) it printed.
        self.node_variants: dict[Path, list[str]] = {}

    def node_results(self, files: Sequence[Path]) -> dict[Path, Result]:
        """One Node run of `files` (node_runner.js, in parallel workers)."""
        return run_sharded(node_command(self.node, NODE_RUNNER), files, self.jobs)

    def stable_node_logs(
        self, files: Sequence[Path], first: dict[Path, Result]
    ) -> dict[Path, bool]:
        """Whether Node prints the same log again, CONFIRM_RUNS more times, per file."""
        stable = {file: "log" in first[file] for file in files}
        for _ in range(CONFIRM_RUNS):
            todo = [file for file in files if stable[file]]
            if not todo:
                break
            again = self.node_results(todo)
            for file in todo:
                seen = self.node_variants.setdefault(file, [outcome(first[file])])
                if outcome(again[file]) not in seen:
                    seen.append(outcome(again[file]))
                stable[file] = outcome(again[file]) == outcome(first[file])
        return stable

    def differs(self, side: Side, files: Sequence[Path]) -> list[bool]:
        """The minimiser's property, for candidate files: Node is stable, and `side` runs
        the program and prints another log."""
        node = self.node_results(files)
        theirs = side.run(files)
        suspects = [
            f
            for f in files
            if "log" in node[f]
            and "log" in theirs.get(f, {})
            and "error" not in theirs[f]
            and theirs[f]["log"] != node[f]["log"]
        ]
        stable = self.stable_node_logs(suspects, node) if suspects else {}
        return [stable.get(f, False) for f in files]

    def minimise(self, finding: Finding, budget: float) -> dict[str, Any]:
        """A minimal program with the same kind of difference."""
        folder = self.workdir / "minimise" / finding.file.stem
        folder.mkdir(parents=True, exist_ok=True)
        counter = 0

        def holds(candidates: list[dict[str, Any]]) -> list[bool]:
            nonlocal counter
            files = []
            for candidate in candidates:
                counter += 1
                file = folder / f"c{counter:05d}.json"
                write(file, candidate)
                files.append(file)
            return self.differs(finding.side, files)

        start = load(finding.file)
        return minimise(
            start,
            holds,
            budget,
            batch=max(4, self.jobs * 2),
            focus=focus_labels(finding),
        )

    def save(self, finding: Finding, scenario: dict[str, Any], folder: Path) -> None:
        """Save a minimised program with Node's expect, checked against more Node runs."""
        folder.mkdir(parents=True, exist_ok=True)
        name = finding.file.stem.replace("fuzz-", "found-", 1)
        scenario = {
            "name": name,
            "threadpool_size": scenario.get("threadpool_size", 1),
            "program": scenario["program"],
        }
        file = folder / f"{name}.json"
        write(file, scenario)
        done = subprocess.run(
            [self.node, str(NODE_RUNNER), "--write-expect", str(file)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            finding.notes.append(
                f"node_runner.js --write-expect refused: {done.stdout.strip()}"
            )
            file.unlink()
            return
        expect = json.loads(file.read_text(encoding="utf-8"))["expect"]
        for _ in range(SAVE_CHECK_RUNS):
            again = self.node_results([file])[file]
            if again.get("log") != expect:
                finding.notes.append(
                    f"Node varies on the minimised program: {outcome(again)}"
                )
                file.unlink()
                return
        finding.saved = file
        finding.minimised_ops = size(scenario["program"])


def generate(seed: int, count: int, c_count: int, folder: Path) -> list[Path]:
    """Write the programs of `seed` into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for index in range(count + c_count):
        promises = index < count
        scenario = generate_scenario(
            seed, index if promises else index - count, promises
        )
        file = folder / f"{scenario['name']}.json"
        write(file, scenario)
        files.append(file)
    return files


def focus_labels(finding: Finding) -> set[str]:
    """The labels where Node's log and the side's first part (both of them, if both logs
    go on): keeping only those logs usually keeps the difference."""
    theirs = finding.side_result.get("log", [])
    for want, have in zip(finding.node_log, theirs):
        if want != have:
            return {want, have}
    longer = finding.node_log if len(finding.node_log) > len(theirs) else theirs
    return set(longer[min(len(finding.node_log), len(theirs)) :][:1])


def describe(finding: Finding, kind: str) -> str:
    """A finding in words: both logs, and where they part."""
    side = finding.side_result
    theirs = side.get("log", [])
    lines = [
        f"{kind} {finding.file.stem} on {finding.side.name}: "
        + first_difference(finding.node_log, theirs, "phaseloop"),
        f"    node:      {json.dumps(finding.node_log)}",
        f"    phaseloop: {json.dumps(theirs)}",
    ]
    if finding.saved is not None:
        lines.append(f"    minimised to {finding.minimised_ops} ops: {finding.saved}")
    lines.extend(f"    note: {note}" for note in finding.notes)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Fuzz; the exit status is 1 on any difference, unfair program or error."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=300, help="programs with every op")
    parser.add_argument(
        "--c-count", type=int, default=100, help="programs with C ops only"
    )
    parser.add_argument("--jobs", type=int, default=4, help="parallel workers per side")
    parser.add_argument("--clock", choices=("real", "virtual", "both"), default="both")
    parser.add_argument("--no-c", action="store_true", help="no C side")
    parser.add_argument("--node", help="the node executable (default: see nodefind.py)")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the Python with phaseloop (default: this one)",
    )
    parser.add_argument(
        "--save", type=Path, default=FOUND, help="where findings go (found/)"
    )
    parser.add_argument(
        "--minimise-budget",
        type=float,
        default=600,
        help="seconds of minimising in all (0: save findings unminimised)",
    )
    parser.add_argument(
        "--minimise-max",
        type=int,
        default=5,
        help="minimise and save at most this many findings (default 5)",
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep the programs here (default: a temp dir)"
    )
    parser.add_argument(
        "--mutant",
        choices=run_phaseloop.MUTANTS,
        help="a deliberately wrong Python side",
    )
    args = parser.parse_args(argv)

    try:
        node = find_node(args.node)
    except NodeNotFound as error:
        print(f"fuzz: {error}", file=sys.stderr)
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="phaseloop-fuzz-") as temp:
        workdir = args.workdir or Path(temp)
        files = generate(args.seed, args.count, args.c_count, workdir / "programs")
        clocks = ("real", "virtual") if args.clock == "both" else (args.clock,)
        sides = [
            Side("python", c, args.jobs, args.python, workdir, args.mutant)
            for c in clocks
        ]
        if not args.no_c:
            builds: dict[tuple[Path, ...], run_c.CProgram] = {}
            sides += [
                Side("c", c, args.jobs, args.python, workdir, c_programs=builds)
                for c in clocks
            ]
        print(
            f"fuzz: seed {args.seed}, {len(files)} programs ({args.c_count} with C ops only), "
            f"node {node_version(node)}, sides {', '.join(s.name for s in sides)}",
            flush=True,
        )
        fuzzer = Fuzzer(node, sides, args.jobs, workdir)
        node_results = fuzzer.node_results(files)
        errors = [
            f"NODE ERROR {f.stem}: {r['error']}"
            for f, r in node_results.items()
            if "error" in r
        ]
        findings: list[Finding] = []
        counted: dict[str, int] = {}
        for side in sides:
            results = side.run(files)
            counted[side.name] = len(results)
            for file, result in results.items():
                node_result = node_results[file]
                if "log" not in node_result:
                    continue
                if "error" in result:
                    # Not an order to minimise: phaseloop failed to run the program.
                    errors.append(
                        f"PHASELOOP ERROR {file.stem} on {side.name}: {result['error']}"
                    )
                elif result["log"] != node_result["log"]:
                    findings.append(Finding(file, side, node_result["log"], result))
            print(f"  {side.name}: {len(results)} programs run", flush=True)

        # Node must agree with itself on every program that showed a difference.
        suspects = sorted({f.file for f in findings})
        stable = fuzzer.stable_node_logs(suspects, node_results) if suspects else {}
        unfair = [f for f in suspects if not stable[f]]
        findings = [f for f in findings if stable[f.file]]

        # Minimise and save one finding per program (the first side that showed it).
        budget = args.minimise_budget
        first_per_file: dict[Path, Finding] = {}
        for finding in findings:
            first_per_file.setdefault(finding.file, finding)
        to_save = list(first_per_file.values())[: args.minimise_max]
        for finding in list(first_per_file.values())[args.minimise_max :]:
            finding.notes.append("not minimised nor saved (--minimise-max)")
        flaky: list[Finding] = []
        for number, finding in enumerate(to_save):
            spent = time.monotonic()
            if not any(
                fuzzer.differs(finding.side, [finding.file])[0] for _ in range(3)
            ):
                # Node kept its order, and phaseloop went back to it: a one-off (the real
                # clock on a busy machine), reported but neither saved nor failing.
                finding.notes.append("not seen again in 3 reruns: not saved")
                flaky.append(finding)
                budget = max(0.0, budget - (time.monotonic() - spent))
                continue
            share = budget / (len(to_save) - number)
            program = (
                fuzzer.minimise(finding, share) if share > 0 else load(finding.file)
            )
            fuzzer.save(finding, program, args.save)
            budget = max(0.0, budget - (time.monotonic() - spent))

    for line in errors:
        print(line)
    for file in unfair:
        print(f"UNFAIR {file.stem}: Node printed different logs (a fuzz_gen.py bug)")
        for variant in fuzzer.node_variants.get(file, []):
            print(f"    node: {variant}")
    for finding in findings:
        print(describe(finding, "FLAKY" if finding in flaky else "DIFFERENCE"))
    took = time.monotonic() - started
    runs = ", ".join(f"{name} {n}" for name, n in counted.items())
    print(f"fuzz: runs per side: {runs}; {took:.0f} s")
    differed = [f for f in first_per_file.values() if f not in flaky]
    print(
        f"fuzz: {len(files)} programs, {len(differed)} differed, {len(flaky)} flaky, "
        f"{len(unfair)} unfair, {len(errors)} errors"
    )
    return 1 if differed or unfair or errors else 0


if __name__ == "__main__":
    sys.exit(main())
