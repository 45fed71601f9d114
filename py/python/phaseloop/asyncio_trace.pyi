"""``python -m phaseloop run --asyncio APP.py``: an asyncio program on phaseloop.asyncio."""

from pathlib import Path
from typing import NamedTuple

from .timeline import Timeline

class LoopRecording(NamedTuple):
    """The timeline of one event loop the program used."""

    timeline: Timeline

def run_program(
    path: Path,
    *,
    clock: str = "real",
    threadpool_size: int | None = None,
    argv: list[str] | None = None,
) -> tuple[list[LoopRecording], BaseException | None]: ...

__all__ = ["LoopRecording", "run_program"]
