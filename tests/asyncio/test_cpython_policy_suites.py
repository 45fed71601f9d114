"""CPython's asyncio suites that take their loop from the event loop policy, run with
phaseloop's loop as the default (``policy_suite.py``, one process per module).

``test_cpython_suites.py`` runs the loop suites through their ``create_event_loop()`` hook;
these others make loops with ``asyncio.new_event_loop()`` or ``asyncio.run()``: tasks, task
groups, timeouts, locks, queues, streams, TLS, ``wait_for``, eager tasks, threads. Every test
that passes on asyncio's own loop must pass on phaseloop's, and each module must have made
phaseloop loops (``loops``), so a suite that never reached phaseloop's loop does not pass
unnoticed. Modules an interpreter's suite does not have are skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "test.test_asyncio", reason="this CPython ships without test.test_asyncio"
)

RUNNER = Path(__file__).with_name("policy_suite.py")

#: The modules, each with the fewest phaseloop loops its run makes on 3.11 (the counts are
#: larger on 3.13, whose suites have more tests). Modules whose tests build asyncio's own
#: loop classes directly (test_base_events, test_selector_events) or test policies
#: themselves (test_runners) are left out: they would not run on phaseloop's loop.
MODULES: dict[str, int] = {
    "test_tasks": 300,
    "test_futures2": 3,
    "test_eager_task_factory": 40,
    "test_taskgroups": 35,
    "test_timeouts": 32,
    "test_waitfor": 15,
    "test_locks": 70,
    "test_queues": 44,
    "test_streams": 67,
    "test_ssl": 22,
    "test_sslproto": 10,
    "test_context": 1,
    "test_threads": 6,
    "test_staggered": 5,
    "test_unix_events": 15,
    "test_events": 21,
}


@pytest.mark.parametrize("module", list(MODULES))
def test_the_suite_passes_on_phaseloops_loop(module: str) -> None:
    if importlib.util.find_spec(f"test.test_asyncio.{module}") is None:
        pytest.skip(f"this CPython's test_asyncio has no {module}")
    done = subprocess.run(
        [sys.executable, str(RUNNER), module],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["broken"] == []
    assert outcome["run"] > 0
    assert outcome["loops"] >= MODULES[module]
