"""Node >= 11 against Node <= 10: when ticks and microtasks drain.

    python examples/python/drain_modes.py

`phaseloop.experiment.run` runs an experiment and returns its recording. The same experiment
with `drain="callback"` runs each timer's tick right after that timer; with `drain="phase"`
both timers run first, then both ticks (ordering rule 2.2, docs/ordering.md).
"""

from __future__ import annotations

import phaseloop
from phaseloop.experiment import Log, run


def two_timers(loop: phaseloop.Loop, log: Log) -> None:
    def timer(n: int) -> None:
        log(f"timer {n}")
        loop.next_tick(log, f"tick {n}")

    loop.set_timeout(timer, 0, 1)
    loop.set_timeout(timer, 0, 2)


def main() -> None:
    for drain in ("callback", "phase"):
        recording = run(two_timers, drain=drain)
        print(f"drain={drain}: {', '.join(recording.log)}")
        print(recording.timeline.text())


if __name__ == "__main__":
    main()
