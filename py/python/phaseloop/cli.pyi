"""Type stubs for phaseloop.cli: the ``python -m phaseloop`` command."""

from collections.abc import Sequence
from pathlib import Path

from .experiment import CallbackCounter, Experiment, Recording

DEFAULT_LIMIT: int
EXIT_OK: int
EXIT_FAILED: int
EXIT_USAGE: int
EXIT_INTERRUPTED: int

def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""

def run_experiment(experiment: Experiment, argv: Sequence[str] | None = None) -> int:
    """Runs ``experiment`` as ``python -m phaseloop run`` would; returns the exit status."""

def write_outputs(
    recording: Recording, *, svg: Path | None = None, json_path: Path | None = None
) -> None:
    """Writes the recording's timeline as an SVG picture and/or a JSON document."""

def report_end(recording: Recording, counter: CallbackCounter) -> int:
    """Says how the run ended when it did not finish; returns the exit status."""

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
