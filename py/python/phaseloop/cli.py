"""The ``python -m phaseloop`` command: ``run`` an experiment file, or the ``demo`` puzzles.

``python -m phaseloop run --asyncio APP.py`` runs an asyncio program unchanged on
``phaseloop.asyncio`` and prints the timeline of each event loop it used.

``python -m phaseloop run EXPERIMENT.py [--clock virtual|real] [--drain callback|phase]
[--svg OUT.svg] [--json OUT.json]`` loads the file's ``experiment(loop, log)`` (see
`phaseloop.experiment`), runs it, prints its log as it goes and then the timeline. A run that
lasts longer than a second shows its progress on stderr; Ctrl-C stops it and prints the
timeline so far. ``python -m phaseloop demo`` runs the puzzles of `phaseloop.demo`.

Exit status: 0 when the experiment ran to its end, 1 when it raised (the traceback follows the
timeline), 2 for a usage error or an experiment file that cannot be used, 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from . import demo
from ._progress import Progress
from .experiment import (
    CLOCKS,
    DRAINS,
    CallbackCounter,
    Clock,
    Drain,
    Experiment,
    Recording,
    load,
    run,
)
from .svg import render

#: How many turns (macrotasks with their drains) the text timeline shows by default.
DEFAULT_LIMIT = 200

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clock",
        choices=CLOCKS,
        help="virtual: the same order every run, timers never wait (default, unless the "
        "file sets CLOCK); real: wall-clock time",
    )
    parser.add_argument(
        "--drain",
        choices=DRAINS,
        help="when ticks and microtasks drain: after every callback (Node >= 11, the "
        "default, unless the file sets DRAIN) or after every phase (Node <= 10)",
    )
    parser.add_argument("--svg", type=Path, help="also draw the timeline as an SVG")
    parser.add_argument("--json", type=Path, help="also write the timeline as JSON")
    parser.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"show at most this many turns of the timeline (default {DEFAULT_LIMIT}; "
        "0: all); the JSON always has them all",
    )
    parser.add_argument(
        "--threadpool-size", type=int, help="pool threads (default: 4, or the env)"
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="do not report progress on stderr when the run takes more than a second",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m phaseloop",
        description="See why callbacks run in the order they do: run an experiment on "
        "phaseloop's Node.js event loop and print its timeline.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser(
        "run",
        help="run an experiment file and print its log and timeline",
        description="Runs EXPERIMENT.py's `experiment(loop, log)` on a recording loop, "
        "prints what it logs, then the timeline: one row per callback with its "
        "iteration, phase, kind and label.",
    )
    run_parser.add_argument("experiment", type=Path, metavar="EXPERIMENT.py")
    run_parser.add_argument(
        "--asyncio",
        action="store_true",
        help="the file is an asyncio program: run it unchanged (as __main__) on "
        "phaseloop.asyncio and print the timeline of each event loop it used (clock: real "
        "unless --clock says otherwise)",
    )
    _run_options(run_parser)
    demo_parser = commands.add_parser(
        "demo",
        help="the classic puzzles of the Node event-loop guides, explained",
        description=demo.__doc__.splitlines()[0] if demo.__doc__ else None,
    )
    demo.add_arguments(demo_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        return demo.main(args)
    if args.asyncio:
        return _run_asyncio(args)
    try:
        loaded = load(args.experiment)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        print(f"python -m phaseloop run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return _run_and_report(
        loaded.experiment,
        args,
        name=loaded.path.name,
        clock=args.clock or loaded.clock or "virtual",
        drain=args.drain or loaded.drain or "callback",
    )


def _run_asyncio(args: argparse.Namespace) -> int:
    from .asyncio_trace import run_program

    if not args.experiment.is_file():
        print(
            f"python -m phaseloop run: no such program: {args.experiment}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    recordings, error = run_program(
        args.experiment,
        clock=args.clock or "real",
        threadpool_size=args.threadpool_size,
    )
    limit = args.limit if args.limit > 0 else None
    for number, recording in enumerate(recordings, 1):
        print()
        if len(recordings) > 1:
            print(f"event loop {number} of {len(recordings)}")
        print(recording.timeline.text(limit=limit), end="")
    if error is not None:
        if isinstance(error, KeyboardInterrupt):
            return EXIT_INTERRUPTED
        traceback.print_exception(type(error), error, error.__traceback__)
        return EXIT_FAILED
    return EXIT_OK


def run_experiment(experiment: Experiment, argv: Sequence[str] | None = None) -> int:
    """Runs ``experiment`` as ``python -m phaseloop run`` would run the file that defines it,
    with that command's options taken from ``argv`` (default ``sys.argv[1:]``); returns the
    exit status. For an experiment file's ``if __name__ == "__main__":`` block::

        raise SystemExit(phaseloop.cli.run_experiment(experiment))
    """
    parser = argparse.ArgumentParser(
        description=f"Runs {getattr(experiment, '__module__', 'this')} experiment "
        "and prints its log and timeline."
    )
    _run_options(parser)
    args = parser.parse_args(argv)
    module = sys.modules.get(getattr(experiment, "__module__", ""), None)
    clock: Clock = args.clock or getattr(module, "CLOCK", None) or "virtual"
    drain: Drain = args.drain or getattr(module, "DRAIN", None) or "callback"
    name = Path(getattr(module, "__file__", None) or "experiment").name
    return _run_and_report(experiment, args, name=name, clock=clock, drain=drain)


def _run_and_report(
    experiment: Experiment,
    args: argparse.Namespace,
    *,
    name: str,
    clock: Clock,
    drain: Drain,
) -> int:
    counter = CallbackCounter()
    # Ctrl-C must reach the loop as KeyboardInterrupt even when this process was started
    # with SIGINT ignored (a background job of a non-interactive shell, say).
    if hasattr(signal, "SIGINT"):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    with Progress(counter, enabled=not args.no_progress) as progress:
        recording = run(
            experiment,
            clock=clock,
            drain=drain,
            threadpool_size=args.threadpool_size,
            name=name,
            echo=progress.echo,
            counter=counter,
        )
    limit = args.limit if args.limit > 0 else None
    print()
    print(recording.timeline.text(limit=limit), end="")
    write_outputs(recording, svg=args.svg, json_path=args.json)
    return report_end(recording, counter)


def write_outputs(
    recording: Recording, *, svg: Path | None = None, json_path: Path | None = None
) -> None:
    """Writes the recording's timeline as an SVG picture and/or a JSON document."""
    if svg is not None:
        svg.write_text(render(recording.timeline, title=recording.name), "utf-8")
        print(f"wrote {svg}")
    if json_path is not None:
        document = {
            "experiment": recording.name,
            "status": recording.status,
            "error": None if recording.error is None else repr(recording.error),
            **recording.timeline.to_json(),
        }
        json_path.write_text(json.dumps(document, indent=1) + "\n", "utf-8")
        print(f"wrote {json_path}")


def report_end(recording: Recording, counter: CallbackCounter) -> int:
    """Says how the run ended when it did not finish; returns the exit status."""
    if recording.status == "interrupted":
        callbacks = (
            "1 callback" if counter.started == 1 else f"{counter.started} callbacks"
        )
        print(
            f"interrupted (Ctrl-C) in iteration {counter.iteration} after {callbacks}: "
            "the timeline above is the run so far"
        )
        return EXIT_INTERRUPTED
    if recording.status == "failed" and recording.error is not None:
        error = recording.error
        print(
            f"the experiment raised {type(error).__name__}: the timeline above ends there"
        )
        sys.stdout.flush()
        traceback.print_exception(type(error), error, error.__traceback__)
        return EXIT_FAILED
    return EXIT_OK


__all__ = [
    "DEFAULT_LIMIT",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "main",
    "report_end",
    "run_experiment",
    "write_outputs",
]
