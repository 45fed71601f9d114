"""A promise is one Python object (issue 15): wherever the loop hands a promise to Python, it is
the same object the program holds (`is`), as Node passes the same promise to its hooks, so
promises can be kept in sets and weak maps."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import phaseloop


def test_on_unhandled_rejection_gets_the_same_object(loop: phaseloop.Loop) -> None:
    seen: list[tuple[Any, phaseloop.Promise[Any]]] = []
    loop.on_unhandled_rejection = lambda reason, promise: seen.append((reason, promise))
    error = ValueError("no handler")
    p = loop.reject(error)
    loop.run()
    assert len(seen) == 1
    assert seen[0][0] is error
    assert seen[0][1] is p


def test_on_rejection_handled_gets_the_same_object(loop: phaseloop.Loop) -> None:
    unhandled: list[phaseloop.Promise[Any]] = []
    handled: list[phaseloop.Promise[Any]] = []
    loop.on_unhandled_rejection = lambda reason, promise: unhandled.append(promise)
    loop.on_rejection_handled = handled.append
    p = loop.reject(ValueError("late"))
    loop.run()
    p.catch(lambda reason: None)
    loop.run()
    assert unhandled[0] is p
    assert handled[0] is p


def test_a_promise_the_program_dropped_comes_back_as_one_object(
    loop: phaseloop.Loop,
) -> None:
    """A derived promise the program never kept: the hooks all get one object for it."""
    unhandled: list[phaseloop.Promise[Any]] = []
    handled: list[phaseloop.Promise[Any]] = []
    loop.on_unhandled_rejection = lambda reason, promise: unhandled.append(promise)
    loop.on_rejection_handled = handled.append
    source = loop.reject(ValueError("x"))
    source.then(lambda v: v)  # rejects too; the program drops it
    source.catch(lambda r: None)
    loop.run()
    assert len(unhandled) == 1
    derived = unhandled[0]
    assert derived is not source
    derived.catch(lambda r: None)
    loop.run()
    assert handled[0] is derived


def test_combinator_results_are_what_the_hooks_get(loop: phaseloop.Loop) -> None:
    seen: list[phaseloop.Promise[Any]] = []
    loop.on_unhandled_rejection = lambda reason, promise: seen.append(promise)
    results = [
        loop.all([loop.reject(1)]),
        loop.race([loop.reject(2)]),
        loop.any([loop.reject(3)]),
        loop.all_settled([loop.reject(4)]).then(lambda _: loop.reject(5)),
    ]
    loop.run()
    assert len(seen) == len(results)
    assert all(any(p is result for result in results) for p in seen)
    assert {id(p) for p in seen} == {id(p) for p in results}


def test_promises_given_to_callbacks_are_the_same_objects(loop: phaseloop.Loop) -> None:
    inner = loop.promise(lambda resolve, reject: None)
    got: dict[str, Any] = {}
    # A promise as a rejection reason reaches the handler as itself.
    loop.reject(inner).catch(lambda reason: got.setdefault("catch", reason))
    # ... as do promises inside combinator results.
    loop.all_settled([loop.reject(inner)]).then(
        lambda records: got.setdefault("all_settled", records[0]["reason"])
    )
    loop.any([loop.reject(inner)]).catch(
        lambda err: got.setdefault("any", err.errors[0])
    )
    loop.all([loop.resolve([inner])]).then(
        lambda values: got.setdefault("all", values[0][0])
    )
    loop.run()
    assert got == {"catch": inner, "all_settled": inner, "any": inner, "all": inner}
    assert all(value is inner for value in got.values())


def test_promises_work_in_sets_and_weak_maps(loop: phaseloop.Loop) -> None:
    reported: weakref.WeakKeyDictionary[phaseloop.Promise[Any], str] = (
        weakref.WeakKeyDictionary()
    )
    pending: set[phaseloop.Promise[Any]] = set()
    loop.on_unhandled_rejection = lambda reason, promise: reported.__setitem__(
        promise, reason
    )
    loop.on_rejection_handled = pending.discard
    p = loop.reject("r")
    pending.add(p)
    loop.run()
    assert reported[p] == "r"
    p.catch(lambda r: None)
    loop.run()
    assert not pending
    del p
    gc.collect()
    assert len(reported) == 0


def test_a_dead_object_is_replaced_by_a_new_one(loop: phaseloop.Loop) -> None:
    """Once the program's object is gone, a new one stands for the promise (no dangling)."""
    seen: list[phaseloop.Promise[Any]] = []
    loop.on_unhandled_rejection = lambda reason, promise: seen.append(promise)
    ref = weakref.ref(loop.reject("gone"))
    gc.collect()
    assert ref() is None
    loop.run()
    assert len(seen) == 1 and seen[0].reason == "gone"
