"""Type stubs for phaseloop.demo: the classic puzzles of the Node event-loop guides."""

import argparse
from typing import NamedTuple

from . import Loop
from .experiment import Clock, Experiment, Log, Recording

def script_start_end(loop: Loop, log: Log) -> None: ...
def tick_promise_immediate_timeout(loop: Loop, log: Log) -> None: ...
def read_file_callback(loop: Loop, log: Log) -> None: ...
def microtask_starvation(loop: Loop, log: Log) -> None: ...
def blocking_the_loop(loop: Loop, log: Log) -> None: ...
def offload_hash(loop: Loop, log: Log) -> None: ...
def every_phase(loop: Loop, log: Log) -> None: ...

class Puzzle(NamedTuple):
    """One puzzle: its name (that of its Node twin), title, experiment, clock and why."""

    name: str
    title: str
    experiment: Experiment
    why: str
    clock: Clock = "virtual"

PUZZLES: tuple[Puzzle, ...]

def run_puzzle(puzzle: Puzzle) -> Recording: ...
def program(puzzle: Puzzle) -> str: ...
def explain(
    number: int, puzzle: Puzzle, recording: Recording, *, source: bool = True
) -> str: ...
def add_arguments(parser: argparse.ArgumentParser) -> None: ...
def main(args: argparse.Namespace) -> int: ...

__all__ = [
    "PUZZLES",
    "Puzzle",
    "add_arguments",
    "blocking_the_loop",
    "every_phase",
    "explain",
    "main",
    "microtask_starvation",
    "offload_hash",
    "program",
    "read_file_callback",
    "run_puzzle",
    "script_start_end",
    "tick_promise_immediate_timeout",
]
