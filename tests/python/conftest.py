"""Fixtures for the phaseloop pytest suite (build the module first: `pip install ./py`)."""

from __future__ import annotations

from collections.abc import Iterator

import phaseloop
import pytest


@pytest.fixture
def loop() -> Iterator[phaseloop.Loop]:
    """A loop on the virtual clock: orders never depend on luck."""
    with phaseloop.Loop(clock="virtual", threadpool_size=2) as lp:
        yield lp


@pytest.fixture
def real_loop() -> Iterator[phaseloop.Loop]:
    """A loop on the real clock."""
    with phaseloop.Loop(threadpool_size=2) as lp:
        yield lp
