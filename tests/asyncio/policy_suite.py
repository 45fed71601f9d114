"""Runs one module of CPython's ``test.test_asyncio`` with phaseloop's loop as the default.

Most of asyncio's suites (tasks, futures, streams, TLS, locks, queues, task groups, timeouts,
runners, ...) make their loops with ``asyncio.new_event_loop()`` or ``asyncio.run()``, so
they take them from the event loop policy. This makes phaseloop's policy the default one, a
policy reset to ``None`` included, and prints the outcome as one JSON line: the tests run,
the ids of those that failed or raised with their last line, those skipped, and how many
phaseloop loops were made (so a suite that never reached phaseloop's loop cannot pass
unnoticed).

    python tests/asyncio/policy_suite.py test_tasks

``test_cpython_policy_suites.py`` runs it, one process per module.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import sys
import unittest
from typing import Any

import phaseloop.asyncio as pla


def main(module_name: str) -> None:
    made = 0
    init = pla.EventLoop.__init__

    def counting_init(self: pla.EventLoop, *args: Any, **kwargs: Any) -> None:
        nonlocal made
        made += 1
        init(self, *args, **kwargs)

    pla.EventLoop.__init__ = counting_init  # type: ignore[method-assign]
    # asyncio makes its default policy from this name, at first use and after every
    # set_event_loop_policy(None) (which the suites call in their tear-downs).
    asyncio.DefaultEventLoopPolicy = pla.EventLoopPolicy  # type: ignore[misc]
    asyncio.set_event_loop_policy(None)

    module = importlib.import_module(f"test.test_asyncio.{module_name}")
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    result = unittest.TextTestRunner(stream=io.StringIO(), verbosity=0).run(suite)
    broken = [
        (test.id(), trace.strip().splitlines()[-1])
        for test, trace in result.failures + result.errors
    ]
    print(
        json.dumps(
            {
                "run": result.testsRun,
                "broken": broken,
                "skipped": len(result.skipped),
                "loops": made,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
