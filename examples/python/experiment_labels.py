"""Naming callbacks in the timeline: by their function's name, or with `label=`.

    python -m phaseloop run examples/python/experiment_labels.py

The timeline shows a callback by its `__qualname__` (a nested function appears by its own
name); every scheduling method takes `label=` to name it otherwise, which lambdas need.
"""

from __future__ import annotations

import phaseloop
from phaseloop.cli import run_experiment
from phaseloop.experiment import Log


def experiment(loop: phaseloop.Loop, log: Log) -> None:
    def on_data(
        error: BaseException | None, digest: bytes
    ) -> None:  # labelled "on_data"
        log(f"digest {digest.hex()[:8]}")
        loop.next_tick(lambda: log("tick"), label="after digest")

    loop.queue_work(phaseloop.jobs.sha256, b"phaseloop", callback=on_data)
    loop.set_timeout(lambda: log("late"), 5, label="five ms later")


if __name__ == "__main__":
    raise SystemExit(run_experiment(experiment))
