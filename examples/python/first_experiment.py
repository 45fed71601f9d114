"""A first ordering experiment: which callback runs when, and in which phase.

    python examples/python/first_experiment.py

Runs on the virtual clock, so the order is the same on every run (ordering rule 4.8,
docs/ordering.md).
"""

from __future__ import annotations

import phaseloop


def main() -> list[str]:
    log: list[str] = []

    with phaseloop.Loop(clock="virtual") as loop:

        def note(what: str) -> None:
            log.append(f"{what:<28} phase={loop.phase} iteration={loop.iteration}")

        def io_done(error: BaseException | None, result: object) -> None:
            note("io callback")
            loop.set_timeout(note, 0, "timeout set in io")
            loop.set_immediate(note, "immediate set in io")
            loop.next_tick(note, "tick set in io")

        note("main script")
        loop.set_timeout(note, 0, "timeout 0")
        loop.set_immediate(note, "immediate")
        loop.next_tick(note, "tick")
        loop.queue_microtask(lambda: note("microtask"))
        loop.queue_work(lambda: None, callback=io_done)
        loop.record()
        loop.run()
        timeline = loop.timeline()

    for line in log:
        print(line)
    print(
        f"{len(timeline)} callbacks recorded; the first: {timeline[0].kind} ({timeline[0].label})"
    )
    return log


if __name__ == "__main__":
    main()
