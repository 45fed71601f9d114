"""An experiment file: a function that schedules callbacks on the loop it is given.

    python -m phaseloop run examples/python/experiment_basics.py
    python examples/python/experiment_basics.py --svg basics.svg   # the same

The runner calls `experiment(loop, log)` as the main script, then runs the loop, and prints
the log and the timeline: each callback's iteration, phase, kind and label, with the ticks and
microtasks under the callback they drained after.
"""

from __future__ import annotations

import phaseloop
from phaseloop.cli import run_experiment
from phaseloop.experiment import Log


def experiment(loop: phaseloop.Loop, log: Log) -> None:
    log("script start")
    loop.set_timeout(
        log, 0, "timeout"
    )  # `log` itself is a callback: it logs its argument
    loop.set_immediate(log, "immediate")
    loop.next_tick(log, "tick")
    loop.queue_microtask(lambda: log("microtask"))
    log("script end")


if __name__ == "__main__":
    raise SystemExit(run_experiment(experiment))
