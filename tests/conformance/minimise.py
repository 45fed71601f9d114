"""Shrink a scenario while a property holds: delta debugging on the op tree.

The property (for the fuzzer: "Node prints the same log on every run, and phaseloop prints
another one") is asked about a batch of candidates at once, so that the caller can run them
in parallel. Each round tries the one-step simplifications of the current program, biggest
first: remove an op with everything nested in it, remove a link of a `then` or `chain`, an
input of a combinator, one run of an interval, or replace an op by its own body. The first
candidate that keeps the property becomes the current program; it stops when no candidate
does, or when the time budget is spent.

Python 3.9+, standard library only.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from typing import Any

from ops import (
    COMBINATORS,
    Body,
    InvalidScenario,
    child_bodies,
    validate_scenario,
    walk,
)

Scenario = dict[str, Any]
# Ops whose one body may run in their place (an interval only when it runs once).
UNWRAPPABLE = ("tick", "microtask", "timeout", "interval", "immediate", "io")
# Given candidates, whether each still has the property.
Property = Callable[[list[Scenario]], list[bool]]


def size(body: Body) -> int:
    """How many ops `body` holds, nested ones included."""
    return sum(1 for _ in walk(body))


def _bodies(body: Body) -> Iterator[Body]:
    """`body` and every body nested in it."""
    yield body
    for op in body:
        for child in child_bodies(op):
            yield from _bodies(child)


def _edits(program: Body) -> Iterator[tuple[int, Callable[[Body], None]]]:
    """One-step simplifications, as (ops removed, an edit of a copy of `program`).

    An edit addresses its target by the position of its body in _bodies() order, so that
    it can be replayed on a deep copy."""
    for b, body in enumerate(_bodies(program)):
        for i, op in enumerate(body):
            yield size([op]), _remove(b, i)
            nested = list(child_bodies(op))
            once = op["op"] != "interval" or op["times"] == 1
            if op["op"] in UNWRAPPABLE and nested and once:
                # Run the body right here instead: one op less, the rest kept.
                yield 1, _unwrap(b, i)
            if op["op"] == "then" and len(op["chain"]) > 1:
                for k, link in enumerate(op["chain"]):
                    yield size(link) + 1, _drop_item(b, i, "chain", k)
            if op["op"] == "chain" and len(op["links"]) > 1:
                for k, link in enumerate(op["links"]):
                    yield size(link["body"]) + 1, _drop_item(b, i, "links", k)
            if op["op"] in COMBINATORS:
                for k in range(len(op["inputs"])):
                    yield 1, _drop_item(b, i, "inputs", k)
            if op["op"] == "interval" and op["times"] > 1:
                yield 1, _fewer_runs(b, i)


def _nth_body(program: Body, b: int) -> Body:
    for index, body in enumerate(_bodies(program)):
        if index == b:
            return body
    raise IndexError(b)


def _remove(b: int, i: int) -> Callable[[Body], None]:
    def edit(program: Body) -> None:
        del _nth_body(program, b)[i]

    return edit


def _unwrap(b: int, i: int) -> Callable[[Body], None]:
    def edit(program: Body) -> None:
        body = _nth_body(program, b)
        body[i : i + 1] = body[i]["body"]

    return edit


def _drop_item(b: int, i: int, key: str, k: int) -> Callable[[Body], None]:
    def edit(program: Body) -> None:
        del _nth_body(program, b)[i][key][k]

    return edit


def _fewer_runs(b: int, i: int) -> Callable[[Body], None]:
    def edit(program: Body) -> None:
        _nth_body(program, b)[i]["times"] -= 1

    return edit


def tidy(scenario: Scenario) -> Scenario:
    """Drop `as` names that no `clear` targets any more (they change nothing)."""
    result = copy.deepcopy(scenario)
    targets = {op["target"] for op in walk(result["program"]) if op["op"] == "clear"}
    for op in walk(result["program"]):
        if "as" in op and op["as"] not in targets:
            del op["as"]
    return result


def candidates(scenario: Scenario) -> list[Scenario]:
    """The valid one-step simplifications of `scenario`, biggest reductions first."""
    found: list[tuple[int, int, Scenario]] = []
    seen: set[str] = set()
    for order, (removed, edit) in enumerate(_edits(scenario["program"])):
        candidate = copy.deepcopy(scenario)
        candidate.pop("expect", None)
        edit(candidate["program"])
        if not candidate["program"]:
            continue
        try:
            validate_scenario(candidate, "candidate")
        except InvalidScenario:
            continue  # e.g. a clear whose target was removed
        key = repr(candidate["program"])
        if key not in seen:
            seen.add(key)
            found.append((-removed, order, tidy(candidate)))
    if scenario.get("threadpool_size", 1) != 1:
        found.append((0, len(found), {**tidy(scenario), "threadpool_size": 1}))
        found[-1][2].pop("expect", None)
    found.sort(key=lambda item: (item[0], item[1]))
    return [candidate for _, _, candidate in found]


def keep_labels(scenario: Scenario, labels: set[str]) -> Scenario | None:
    """`scenario` without the `log` ops whose label is not in `labels` (None if that
    removes nothing). Logs schedule nothing, so this changes no order, only what is seen."""
    result = copy.deepcopy(scenario)
    removed = 0
    for body in _bodies(result["program"]):
        kept = [op for op in body if op["op"] != "log" or op["msg"] in labels]
        removed += len(body) - len(kept)
        body[:] = kept
    if removed == 0 or not result["program"]:
        return None
    try:
        validate_scenario(result, "candidate")
    except InvalidScenario:
        return None
    return result


def minimise(
    scenario: Scenario,
    holds: Property,
    budget_seconds: float,
    batch: int = 8,
    focus: set[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Scenario:
    """The smallest variant of `scenario` found that keeps the property.

    `scenario` itself is assumed to have it. `holds` is called with at most `batch`
    candidates at a time. `focus` names labels that show the property (for the fuzzer,
    the two labels at the first difference): a first candidate keeps only their logs."""
    deadline = time.monotonic() + budget_seconds
    current = tidy(scenario)
    current.pop("expect", None)
    if focus:
        trimmed = keep_labels(current, focus)
        if trimmed is not None and holds([trimmed])[0]:
            current = trimmed
    while time.monotonic() < deadline:
        options = candidates(current)
        better = None
        for start in range(0, len(options), batch):
            if time.monotonic() >= deadline:
                break
            chunk = options[start : start + batch]
            for candidate, keeps in zip(chunk, holds(chunk)):
                if keeps:
                    better = candidate
                    break
            if better is not None:
                break
        if better is None:
            break
        current = better
        if progress is not None:
            progress(f"{size(current['program'])} ops")
    return current
