"""Run ordering scenarios on phaseloop from C and compare each log with its `expect`.

    python3 run_c.py                        # scenarios/ and found/, real clock
    python3 run_c.py --clock virtual        # or "both"
    python3 run_c.py scenarios/io-*.json
    python3 run_c.py --prefix /usr/local    # use an installed libphaseloop, build nothing

It installs libphaseloop with ffi-c/install.sh into a prefix under the cargo target dir
(incremental: seconds when nothing changed), translates every scenario whose ops C has
(c_program.py) into one C program, compiles it with `cc $(pkg-config --cflags --libs
phaseloop)` as a C user would, and runs each scenario on a fresh loop. Scenarios with
promise ops are skipped and counted: the C API has no promises.

The last lines are "run_c (clock C): N passed, N failed, N skipped (...)", one per clock.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from c_program import program_source, translatable
from scenarios import Result, judge_all, load, scenario_files
from shards import run_sharded

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CLOCKS = ("real", "virtual")
# The prelude's helpers go unused when no scenario needs them.
CFLAGS = ("-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function")


class BuildFailed(RuntimeError):
    """libphaseloop or the generated program did not build; the message has the output."""


def target_dir() -> Path:
    """Cargo's target dir (CARGO_TARGET_DIR, else ROOT/target), as install.sh sees it."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target if target.is_absolute() else ROOT / target


# Prefixes this process installed into already: one build per run is enough.
_installed: set[Path] = set()


def install_library(prefix: Path) -> None:
    """Build and install libphaseloop into `prefix` (ffi-c/install.sh), once per process."""
    if prefix in _installed:
        return
    done = subprocess.run(
        [str(ROOT / "ffi-c" / "install.sh"), str(prefix)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BuildFailed(f"ffi-c/install.sh failed:\n{done.stdout}{done.stderr}")
    _installed.add(prefix)


def pkg_config_flags(prefix: Path) -> list[str]:
    """`pkg-config --cflags --libs phaseloop` for the library installed in `prefix`."""
    env = dict(os.environ)
    pc_dir = str(prefix / "lib" / "pkgconfig")
    env["PKG_CONFIG_PATH"] = pc_dir + os.pathsep + env.get("PKG_CONFIG_PATH", "")
    done = subprocess.run(
        ["pkg-config", "--cflags", "--libs", "phaseloop"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise BuildFailed(f"pkg-config found no phaseloop in {pc_dir}:\n{done.stderr}")
    return done.stdout.split()


@dataclass
class CProgram:
    """The compiled program of a set of scenarios."""

    binary: Path
    libdir: Path

    def command(self, clock: str) -> Any:
        """The shards.py worker command for `clock`."""
        return lambda files: [str(self.binary), "--clock", clock, *map(str, files)]

    def env(self) -> dict[str, str]:
        """The environment to run it in: the shared library is found by its soname."""
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = (
            str(self.libdir) + os.pathsep + env.get("LD_LIBRARY_PATH", "")
        )
        return env


def build_program(
    scenarios: list[tuple[str, dict[str, Any]]],
    workdir: Path,
    prefix: Path | None = None,
) -> CProgram:
    """Install the library (unless `prefix` is given), write and compile the program."""
    if prefix is None:
        prefix = target_dir() / "conformance" / "prefix"
        install_library(prefix)
    flags = pkg_config_flags(prefix)
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "scenarios.c"
    binary = workdir / "scenarios"
    source.write_text(program_source(scenarios), encoding="utf-8")
    compiler = os.environ.get("CC", "cc")
    done = subprocess.run(
        [compiler, *CFLAGS, str(source), "-o", str(binary), *flags],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BuildFailed(f"{compiler} failed on {source}:\n{done.stderr[-4000:]}")
    return CProgram(binary, prefix / "lib")


def split(
    files: Sequence[Path],
) -> tuple[list[tuple[Path, dict[str, Any]]], list[Path], dict[Path, Result]]:
    """The files C can run (with their scenarios), those it cannot, and those unreadable."""
    runnable: list[tuple[Path, dict[str, Any]]] = []
    skipped: list[Path] = []
    broken: dict[Path, Result] = {}
    for file in files:
        try:
            scenario = load(file)
        except (ValueError, OSError) as error:
            broken[file] = {"name": file.stem, "error": str(error)}
            continue
        if translatable(scenario):
            runnable.append((file, scenario))
        else:
            skipped.append(file)
    return runnable, skipped, broken


def run_many(
    files: Sequence[Path],
    clock: str,
    jobs: int,
    workdir: Path,
    prefix: Path | None = None,
    program: CProgram | None = None,
) -> tuple[dict[Path, Result], list[Path]]:
    """Run the C-runnable `files`: (file -> result, files skipped for their ops).

    Pass `program` to reuse one built before for the same files."""
    runnable, skipped, results = split(files)
    if runnable:
        if program is None:
            program = build_program([(str(f), s) for f, s in runnable], workdir, prefix)
        keys = [file for file, _ in runnable]
        results.update(run_sharded(program.command(clock), keys, jobs, program.env()))
    return results, skipped


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios on phaseloop from C and compare; exit status 1 on any failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "paths", nargs="*", help="files or folders (default: scenarios/, found/)"
    )
    parser.add_argument("--clock", choices=(*CLOCKS, "both"), default="real")
    parser.add_argument(
        "--jobs", type=int, default=4, help="parallel workers (default 4)"
    )
    parser.add_argument(
        "--prefix", type=Path, help="an installed libphaseloop (no build)"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=target_dir() / "conformance" / "c",
        help="where the generated program goes",
    )
    parser.add_argument(
        "--print", action="store_true", help="print the logs, compare nothing"
    )
    args = parser.parse_args(argv)
    if shutil.which(os.environ.get("CC", "cc")) is None:
        print("run_c: no C compiler (set CC)", file=sys.stderr)
        return 2
    files = scenario_files(args.paths)
    if not files:
        print("run_c: no scenario files", file=sys.stderr)
        return 2
    clocks = CLOCKS if args.clock == "both" else (args.clock,)
    runnable, skipped, _ = split(files)
    try:
        program = (
            build_program([(str(f), s) for f, s in runnable], args.workdir, args.prefix)
            if runnable
            else None
        )
    except BuildFailed as error:
        print(f"run_c: {error}")
        print("run_c: 0 passed, 1 failed (build)")
        return 1
    failed_any = False
    summaries = []
    for clock in clocks:
        results, skipped = run_many(
            files, clock, args.jobs, args.workdir, program=program
        )
        if args.print:
            for file in sorted(results):
                print(json.dumps(results[file]))
            continue
        failures = judge_all(sorted(results), results, "C")
        for report in failures:
            print(f"[clock {clock}] {report}")
        failed_any = failed_any or bool(failures)
        summaries.append(
            f"run_c (clock {clock}): {len(results) - len(failures)} passed, "
            f"{len(failures)} failed, {len(skipped)} skipped (promise or network ops)"
        )
    for line in summaries:
        print(line)
    return 1 if failed_any else 0


if __name__ == "__main__":
    sys.exit(main())
