"""``python -m phaseloop run --asyncio APP.py``: an asyncio program run unchanged on
``phaseloop.asyncio``, with the timeline of each event loop it used printed at the end.

The program runs as ``__main__`` (its ``if __name__ == "__main__":`` block included) under a
policy whose loops are recording ``phaseloop.asyncio.EventLoop``\\ s, so ``asyncio.run``,
``asyncio.new_event_loop`` and ``asyncio.Runner`` all record; task steps carry the task's
name as their label.
"""

from __future__ import annotations

import asyncio
import runpy
import sys
from pathlib import Path
from typing import Any, NamedTuple

from . import asyncio as pla
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
) -> tuple[list[LoopRecording], BaseException | None]:
    """Runs the asyncio program at ``path``; returns each loop's recording (in the order the
    loops closed) and what the program raised (``None`` when it ended normally or with
    ``sys.exit(0)``)."""
    recordings: list[LoopRecording] = []

    class RecordingLoop(pla.EventLoop):
        def __init__(self) -> None:
            super().__init__(clock=clock, threadpool_size=threadpool_size)
            self.phaseloop.record()
            self._origin_ns = self.phaseloop.hrtime()

        def close(self) -> None:
            if not self.is_closed() and not self.is_running():
                events = self.phaseloop.timeline()
                recordings.append(
                    LoopRecording(
                        Timeline(
                            events,
                            [],
                            clock=clock,
                            drain="callback",
                            origin_ns=self._origin_ns,
                        )
                    )
                )
            super().close()

    policy = pla.EventLoopPolicy()
    policy._loop_factory = RecordingLoop  # type: ignore[attr-defined]
    previous_policy = asyncio.get_event_loop_policy()
    previous_argv = sys.argv
    error: BaseException | None = None
    asyncio.set_event_loop_policy(policy)
    sys.argv = [str(path), *(argv or [])]
    sys.path.insert(0, str(path.resolve().parent))
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (None, 0):
            error = exc
    except BaseException as exc:  # noqa: BLE001 - reported with the timelines
        error = exc
    finally:
        sys.path.pop(0)
        sys.argv = previous_argv
        loop: Any = policy._local._loop  # type: ignore[attr-defined]
        if loop is not None and not loop.is_closed():
            loop.close()
        asyncio.set_event_loop_policy(previous_policy)
    return recordings, error


__all__ = ["LoopRecording", "run_program"]
