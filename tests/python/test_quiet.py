"""The test command is quiet (issue 15): the conformance harness closes what it opens, so a
warning in it fails this test (tests/pytest.ini makes warnings errors) rather than scrolling by."""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence
from pathlib import Path

CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance"
sys.path.insert(0, str(CONFORMANCE))

import shards

WORKER = """
import json, sys
for i, name in enumerate(sys.argv[1:]):
    if name.endswith("die"):
        sys.exit(3)
    print(json.dumps({"name": name, "log": [i]}), flush=True)
"""


def command(files: Sequence[Path]) -> list[str]:
    return [sys.executable, "-c", WORKER, *map(str, files)]


def test_sharded_runs_leave_no_file_open() -> None:
    files = [Path(f"f{i}") for i in range(6)] + [Path("x-die"), Path("after")]
    results = shards.run_sharded(command, files, jobs=3)
    assert results[Path("x-die")]["error"].startswith("worker died")
    assert results[Path("after")]["name"] == "after" and "log" in results[Path("after")]
    # The pipes of every worker (the one that died too) are closed: collecting them now warns
    # of nothing.
    gc.collect()
