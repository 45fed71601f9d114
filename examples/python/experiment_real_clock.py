"""An experiment that asks for the real clock: `CLOCK = "real"` at module level.

    python -m phaseloop run examples/python/experiment_real_clock.py
    python -m phaseloop run examples/python/experiment_real_clock.py --clock virtual

On the real clock the timeline's times are wall-clock milliseconds and a "took ms" column
shows the slow callback; with `--clock virtual` (the command line wins) the timers fire at
virtual times 10 and 30 without waiting, and nothing takes any time.
"""

from __future__ import annotations

import time

import phaseloop
from phaseloop.cli import run_experiment
from phaseloop.experiment import Log

CLOCK = "real"


def experiment(loop: phaseloop.Loop, log: Log) -> None:
    def slow() -> None:
        time.sleep(0.02)  # 20 ms of work on the loop thread
        log("slow callback done")

    loop.set_timeout(slow, 10)
    loop.set_timeout(lambda: log("30 ms timer"), 30, label="timer")


if __name__ == "__main__":
    raise SystemExit(run_experiment(experiment))
