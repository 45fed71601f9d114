"""Promises and coroutines from Python, with JavaScript's tick counts (ordering rules 2.5, 7 in
docs/ordering.md).

The first tests replay Node programs: each Python function below is the twin of the JS program
of the same name in `tests/node/` (the Rust tests replay the same programs), and must
print what Node printed (the `.expected` file beside it; `test_node_still_prints_the_expected_
orders` reruns Node). The rest check the API: values,
errors, the rejection tracker, contexts, the timeline, threads and the garbage collector.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import shutil
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import phaseloop
import pytest

# The Node corpus; the core's Rust tests replay the same promise programs (core/tests/promises.rs).
NODE = Path(__file__).resolve().parents[2] / "tests" / "node"
Log = Callable[[str], None]


class Thenable:
    """A JavaScript-style thenable: `then(resolve, reject)` resolves with `value` at once."""

    def __init__(self, value: object = None) -> None:
        self.value = value

    def then(self, resolve: Callable[..., None], reject: object = None) -> None:
        resolve(self.value)


def ticker(lp: phaseloop.Loop, log: Log, last: int) -> None:
    """Logs `tick N` in every microtask turn, up to `last`."""
    n = 0

    def step() -> None:
        nonlocal n
        n += 1
        log(f"tick {n}")
        if n < last:
            lp.queue_microtask(step)

    lp.queue_microtask(step)


def js(value: object) -> str:
    """`String(value)` for the values these programs log (lists as the JS programs show them)."""
    if isinstance(value, list):
        return "[" + ",".join(js(v) for v in value) + "]"
    if isinstance(value, dict):
        if value["status"] == "fulfilled":
            return f"fulfilled:{js(value['value'])}"
        return f"rejected:{js(value['reason'])}"
    if isinstance(value, TypeError):
        return f"TypeError: {value}"
    return str(value)


def promise_tick_counts(lp: phaseloop.Loop, log: Log) -> None:
    ticker(lp, log, 5)
    lp.resolve("a").then(lambda v: log(f"then on fulfilled {v}"))
    lp.promise(lambda res, rej: res(lp.resolve("b"))).then(
        lambda v: log(f"resolved with promise {v}")
    )
    lp.promise(lambda res, rej: res(Thenable("c"))).then(
        lambda v: log(f"resolved with thenable {v}")
    )

    async def await_promise() -> None:
        await lp.resolve()
        log("await promise")

    async def await_value() -> None:
        await lp.resolve(1)
        log("await value")

    async def await_thenable() -> None:
        await lp.resolve(Thenable())
        log("await thenable")

    async def returns_value() -> str:
        return "v"

    async def returns_promise() -> phaseloop.Promise[str]:
        return lp.resolve("p")

    lp.start(await_promise())
    lp.start(await_value())
    lp.start(await_thenable())
    lp.start(returns_value()).then(lambda v: log("async returns value"))
    lp.start(returns_promise()).then(lambda v: log("async returns promise"))
    log("script end")


def promise_then_catch_finally(lp: phaseloop.Loop, log: Log) -> None:
    ticker(lp, log, 5)

    def throw(reason: object) -> Callable[..., Any]:
        def thrower(*_: object) -> None:
            raise Reason(reason)

        return thrower

    lp.resolve(1).then().then(lambda v: log(f"then() passes value {v}"))
    lp.reject("r1").then(lambda v: log("not called")).catch(
        lambda r: log(f"catch after then gets {r}")
    )
    lp.reject("r2").catch(lambda r: f"recovered {r}").then(
        lambda v: log(f"then after catch gets {v}")
    )
    lp.resolve(2).then(throw("thrown")).catch(
        lambda r: log(f"handler throw rejects: {r}")
    )
    lp.resolve(3).then(lambda v: lp.resolve("from promise")).then(
        lambda v: log(f"handler returns promise: {v}")
    )

    def finally_fulfilled() -> str:
        log("finally on fulfilled runs")
        return "ignored"

    lp.resolve(4).finally_(finally_fulfilled).then(
        lambda v: log(f"finally passes value {v}")
    )
    lp.reject("r5").finally_(lambda: log("finally on rejected runs")).catch(
        lambda r: log(f"finally passes reason {r}")
    )
    lp.resolve(6).finally_(throw("finally threw")).catch(
        lambda r: log(f"throwing finally rejects: {r}")
    )
    lp.resolve(7).finally_(lambda: lp.reject("finally promise rejected")).catch(
        lambda r: log(f"finally returning rejected promise: {r}")
    )
    lp.resolve(8).then(lambda v: v).then(lambda v: log(f"two thens: {v}"))
    log("script end")


class Reason(Exception):
    """An exception whose str() is the JS program's thrown string."""


class Resolver:
    """A thenable whose `then` is `body(resolve, reject)`."""

    def __init__(self, body: Callable[[Any, Any], None]) -> None:
        self.then = body


class ThrowingThen:
    """`{ get then() { throw 'getter' } }`."""

    @property
    def then(self) -> Any:
        raise Reason("getter")


def promise_thenables(lp: phaseloop.Loop, log: Log) -> None:
    ticker(lp, log, 4)

    def show(name: str) -> Callable[[phaseloop.Promise[Any]], None]:
        def subscribe(p: phaseloop.Promise[Any]) -> None:
            p.then(
                lambda v: log(f"{name} fulfilled {js(v)}"),
                lambda r: log(f"{name} rejected {js(r)}"),
            )

        return subscribe

    def adopting(thenable: object) -> phaseloop.Promise[Any]:
        return lp.promise(lambda res, rej: res(thenable))

    def sync_then(res: Any, rej: Any) -> None:
        log("sync then called")
        res("s")

    def twice(res: Any, rej: Any) -> None:
        res("first")
        res("second")
        rej("third")

    def reject_first(res: Any, rej: Any) -> None:
        rej("no")
        res("yes")

    def throws_after_resolve(res: Any, rej: Any) -> None:
        res("kept")
        raise Reason("ignored")

    def throws(res: Any, rej: Any) -> None:
        raise Reason("boom")

    show("sync")(adopting(Resolver(sync_then)))
    show("twice")(adopting(Resolver(twice)))
    show("reject first")(adopting(Resolver(reject_first)))
    show("throws after resolve")(adopting(Resolver(throws_after_resolve)))
    show("throws")(adopting(Resolver(throws)))
    show("getter throws")(adopting(ThrowingThen()))
    show("plain")(adopting("plain"))
    show("nested")(adopting(Resolver(lambda res, rej: res(Thenable("inner")))))

    def late_then(res: Any, rej: Any) -> None:
        log("late then called")

        def resolve_late() -> None:
            log("late resolves")
            res("late")

        lp.set_timeout(resolve_late, 5)

    show("late")(adopting(Resolver(late_then)))
    box: list[phaseloop.Promise[Any]] = []
    box.append(lp.promise(lambda res, rej: lp.set_timeout(lambda: res(box[0]), 1)))
    show("self")(box[0])
    show("adopt rejected")(adopting(lp.reject("inner reason")))
    log("script end")


def promise_combinators(lp: phaseloop.Loop, log: Log) -> None:
    ticker(lp, log, 4)

    def show(name: str, p: phaseloop.Promise[Any]) -> None:
        def rejected(r: object) -> None:
            if isinstance(r, phaseloop.AggregateError):
                log(f"{name} rejected AggregateError {js(r.errors)}")
            else:
                log(f"{name} rejected {js(r)}")

        p.then(lambda v: log(f"{name} fulfilled {js(v)}"), rejected)

    def breaking() -> Iterator[int]:
        yield 1
        raise Reason("iterator broke")

    show("all values", lp.all([1, lp.resolve(2), Thenable(3)]))
    show("all plain", lp.all([1, 2]))
    show("all empty", lp.all([]))
    show(
        "all rejects",
        lp.all([lp.resolve(1), lp.reject("no"), lp.reject("later")]),
    )
    show("all iterator throws", lp.all(breaking()))
    show("allSettled", lp.all_settled([lp.resolve(1), lp.reject("x"), 3]))
    show("allSettled empty", lp.all_settled([]))
    show("race", lp.race([Thenable("slow"), lp.resolve("fast")]))
    show("race reject", lp.race([lp.reject("first"), lp.resolve("second")]))
    show("any", lp.any([lp.reject("a"), Thenable("b"), lp.resolve("c")]))
    show("any all rejected", lp.any([lp.reject("a"), lp.reject("b")]))
    show("any empty", lp.any([]))
    pending = lp.promise(lambda res, rej: None)
    timer = lp.promise(lambda res, rej: lp.set_timeout(res, 1, "timer"))
    show("race with pending", lp.race([pending, timer]))
    log("script end")


def promise_interleave(lp: phaseloop.Loop, log: Log) -> None:
    async def worker(name: str, steps: int) -> str:
        log(f"{name} start")
        for i in range(1, steps + 1):
            await lp.resolve(None)
            log(f"{name} step {i}")
            if i == 1:
                lp.next_tick(log, f"{name} tick after step 1")
        return name

    lp.start(worker("A", 3)).then(lambda v: log(f"{v} done"))
    lp.queue_microtask(lambda: log("micro 1"))
    lp.next_tick(log, "tick 1")
    lp.start(worker("B", 2)).then(lambda v: log(f"{v} done"))
    lp.resolve().then(lambda _: log("then 1")).then(lambda _: log("then 2")).then(
        lambda _: log("then 3")
    )

    def micro_2() -> None:
        log("micro 2")
        lp.queue_microtask(lambda: log("micro 2.1"))

    lp.queue_microtask(micro_2)

    def timeout() -> None:
        log("timeout")
        lp.resolve().then(lambda _: log("then in timeout"))
        lp.next_tick(log, "tick in timeout")
        lp.set_immediate(log, "immediate")

    lp.set_timeout(timeout, 0)
    log("script end")


def promise_unhandled(lp: phaseloop.Loop, log: Log) -> None:
    def report(reason: object, promise: phaseloop.Promise[Any]) -> None:
        log(f"unhandledRejection {js(reason)}")
        lp.next_tick(log, f"tick queued by the report of {js(reason)}")

    lp.on_unhandled_rejection = report
    same_drain = lp.reject("same drain")
    lp.queue_microtask(
        lambda: lp.queue_microtask(
            lambda: same_drain.catch(lambda r: log("caught same drain"))
        )
    )
    lp.reject("never handled")
    later = lp.reject("later iteration")
    lp.on_rejection_handled = lambda p: log(
        f"rejectionHandled {'later iteration' if p == later else '?'}"
    )

    def throw(_: object) -> None:
        raise Reason("thrown in then")

    lp.resolve().then(throw)
    lp.reject("chained").then(lambda v: None)

    def timeout() -> None:
        log("timeout")
        later.catch(lambda r: log(f"caught {js(r)}"))
        lp.reject("in timeout")
        lp.set_immediate(log, "immediate")

    lp.set_timeout(timeout, 1)
    log("script end")


PROGRAMS: dict[str, Callable[[phaseloop.Loop, Log], None]] = {
    "promise_tick_counts": promise_tick_counts,
    "promise_then_catch_finally": promise_then_catch_finally,
    "promise_thenables": promise_thenables,
    "promise_combinators": promise_combinators,
    "promise_interleave": promise_interleave,
    "promise_unhandled": promise_unhandled,
}


def expected(name: str) -> list[str]:
    return (NODE / f"{name}.expected").read_text().splitlines()


def test_every_promise_program_of_node_has_a_python_twin() -> None:
    assert sorted(p.stem for p in NODE.glob("promise_*.js")) == sorted(PROGRAMS)


@pytest.mark.parametrize("clock", ["virtual", "real"])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_phaseloop_prints_what_node_printed(
    name: str, clock: Literal["virtual", "real"]
) -> None:
    printed: list[str] = []
    with phaseloop.Loop(clock=clock, threadpool_size=1) as lp:
        PROGRAMS[name](lp, printed.append)
        assert lp.run() is False
    assert printed == expected(name)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_node_still_prints_the_expected_orders(name: str) -> None:
    done = subprocess.run(
        ["node", str(NODE / f"{name}.js")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines() == expected(name)


# ----- values and states ---------------------------------------------------------------------


def test_state_value_and_reason(loop: phaseloop.Loop) -> None:
    fulfilled = loop.resolve(42)
    rejected = loop.reject("why")
    rejected.catch(lambda r: None)
    pending = loop.promise(lambda res, rej: None)
    assert (fulfilled.state, fulfilled.value) == ("fulfilled", 42)
    assert (rejected.state, rejected.reason) == ("rejected", "why")
    assert pending.state == "pending"
    with pytest.raises(phaseloop.Error, match="fulfilled, not rejected"):
        _ = fulfilled.reason
    with pytest.raises(phaseloop.Error, match="rejected, not fulfilled"):
        _ = rejected.value
    with pytest.raises(phaseloop.Error, match="pending"):
        _ = pending.value
    assert repr(fulfilled) == "<Promise fulfilled 42>"
    assert repr(pending) == "<Promise pending>"


def test_resolve_of_a_promise_is_that_promise(loop: phaseloop.Loop) -> None:
    p = loop.resolve(1)
    assert loop.resolve(p) is p
    assert loop.resolve().value is None
    rejected = loop.reject()
    rejected.catch(lambda r: None)
    assert rejected.reason is None
    assert loop.run() is False


def test_a_handler_result_and_an_exception_settle_the_derived_promise(
    loop: phaseloop.Loop,
) -> None:
    doubled = loop.resolve(21).then(lambda v: v * 2)
    error = ValueError("bad")

    def raise_it(v: object) -> None:
        raise error

    failed = loop.resolve(1).then(raise_it)
    failed.catch(lambda r: None)
    loop.run()
    assert doubled.value == 42
    assert failed.reason is error


def test_an_executor_that_raises_rejects_unless_already_resolved(
    loop: phaseloop.Loop,
) -> None:
    def raises(res: Any, rej: Any) -> None:
        raise KeyError("executor")

    def resolves_then_raises(res: Any, rej: Any) -> None:
        res("kept")
        raise KeyError("ignored")

    rejected = loop.promise(raises)
    kept = loop.promise(resolves_then_raises)
    rejected.catch(lambda r: None)
    assert isinstance(rejected.reason, KeyError)
    assert kept.value == "kept"


def test_resolving_functions_after_the_first_call_do_nothing(
    loop: phaseloop.Loop,
) -> None:
    saved: list[Any] = []
    p = loop.promise(lambda res, rej: saved.extend([res, rej]))
    resolve, reject = saved
    resolve("first")
    resolve("second")
    reject("third")
    assert (p.state, p.value) == ("fulfilled", "first")


def test_a_promise_resolved_with_itself_rejects_with_a_type_error(
    loop: phaseloop.Loop,
) -> None:
    saved: list[Any] = []
    p = loop.promise(lambda res, rej: saved.append(res))
    saved[0](p)
    p.catch(lambda r: None)
    loop.run()
    assert isinstance(p.reason, TypeError)
    assert "Chaining cycle" in str(p.reason)


# ----- bad arguments ----------------------------------------------------------------------------


def test_bad_arguments_name_the_argument(loop: phaseloop.Loop) -> None:
    p = loop.resolve()
    with pytest.raises(TypeError, match="on_fulfilled"):
        p.then(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="on_rejected"):
        p.then(None, "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="on_rejected"):
        p.catch(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callback"):
        p.finally_(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="executor"):
        loop.promise(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="iterable must be iterable, not int"):
        loop.all(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="coro must be a coroutine"):
        loop.start(42)  # type: ignore[arg-type]

    async def main() -> None:
        pass

    with pytest.raises(TypeError, match=r"start\(main\(\)\), not start\(main\)"):
        loop.start(main)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="delay"):
        loop.sleep("soon")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="on_unhandled_rejection"):
        loop.on_unhandled_rejection = 3  # type: ignore[assignment]
    with pytest.raises(TypeError, match="work"):
        loop.work(7)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        phaseloop.Promise()


# ----- coroutines --------------------------------------------------------------------------------


def test_start_runs_the_coroutine_synchronously_to_its_first_await(
    loop: phaseloop.Loop,
) -> None:
    log: list[str] = []

    async def main() -> str:
        log.append("before await")
        await loop.resolve()
        log.append("after await")
        return "done"

    p = loop.start(main())
    log.append("after start")
    loop.run()
    assert log == ["before await", "after start", "after await"]
    assert p.value == "done"


def test_a_coroutine_that_raises_rejects_its_promise(loop: phaseloop.Loop) -> None:
    error = ValueError("inside")

    async def main() -> None:
        await loop.resolve()
        raise error

    p = loop.start(main())
    p.catch(lambda r: None)
    loop.run()
    assert p.reason is error


def test_try_except_around_await_catches_the_rejection(loop: phaseloop.Loop) -> None:
    error = ValueError("rejected")
    caught: list[object] = []

    async def main() -> str:
        try:
            await loop.reject(error)
        except ValueError as e:
            caught.append(e)
        try:
            await loop.reject("a string")
        except phaseloop.Rejection as e:
            caught.append(e.reason)
        return "recovered"

    p = loop.start(main())
    loop.run()
    assert caught == [error, "a string"]
    assert p.value == "recovered"


def test_a_non_exception_reason_that_escapes_rejects_with_the_original_value(
    loop: phaseloop.Loop,
) -> None:
    async def main() -> None:
        await loop.reject({"code": 7})

    p = loop.start(main())
    p.catch(lambda r: None)
    loop.run()
    assert p.reason == {"code": 7}


def test_awaiting_another_coroutine_and_the_timers_promises(
    loop: phaseloop.Loop,
) -> None:
    async def child(n: int) -> int:
        await loop.sleep(10)
        return n * 2

    async def main() -> list[Any]:
        a = await loop.start(child(1))
        b = await loop.immediate("imm")
        c = await loop.sleep(5, "slept")
        d = await loop.work(phaseloop.jobs.sha256, b"abc")
        return [a, b, c, d[:2].hex(), loop.now()]

    p = loop.start(main())
    loop.run()
    assert p.value == [2, "imm", "slept", "ba78", 15]


def test_awaiting_an_asyncio_future_throws_a_type_error_into_the_coroutine(
    loop: phaseloop.Loop,
) -> None:
    seen: list[str] = []
    other = asyncio.new_event_loop()
    future = other.create_future()

    async def main() -> str:
        try:
            await future  # an asyncio future: not a phaseloop promise
        except TypeError as e:
            seen.append(str(e))
        return "went on"

    p = loop.start(main())
    other.close()
    assert p.value == "went on"
    assert "can only await phaseloop promises" in seen[0]
    assert "not Future" in seen[0]


def test_coroutine_steps_and_handlers_run_in_their_contexts(
    loop: phaseloop.Loop,
) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="none")
    seen: list[tuple[str, str]] = []

    async def main() -> None:
        seen.append(("start", var.get()))
        var.set("changed inside")
        await loop.resolve()
        seen.append(("resumed", var.get()))

    var.set("at start")
    loop.start(main())
    var.set("at then")
    loop.resolve().then(lambda _: seen.append(("then", var.get())))
    var.set("later")
    loop.run()
    assert seen == [
        ("start", "at start"),
        ("resumed", "changed inside"),
        ("then", "at then"),
    ]
    assert var.get() == "later"


def test_handlers_sharing_a_context_each_see_it_as_it_was(loop: phaseloop.Loop) -> None:
    # The handlers subscribed in one context share one snapshot of it; the last of them to
    # run enters the snapshot itself (nothing else has it). What any of them sets still reaches
    # only the callbacks it schedules after setting it.
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="none")
    seen: list[tuple[str, str]] = []

    def first(_: object) -> None:
        seen.append(("first", var.get()))
        var.set("set by first")

    def second(_: object) -> None:
        seen.append(("second", var.get()))
        loop.resolve().then(lambda _: seen.append(("before the set", var.get())))
        var.set("set by second")
        loop.resolve().then(lambda _: seen.append(("after the set", var.get())))

    var.set("outside")
    loop.resolve().then(first)
    loop.resolve().then(second)
    loop.run()
    loop.resolve().then(lambda _: seen.append(("next run", var.get())))
    loop.run()
    assert seen == [
        ("first", "outside"),
        ("second", "outside"),
        ("before the set", "outside"),
        ("after the set", "set by second"),
        ("next run", "outside"),
    ]
    assert var.get() == "outside"


# ----- unhandled rejections (rule 2.5) -------------------------------------------------------------


def test_run_raises_unhandled_rejection_with_the_reason_as_cause(
    loop: phaseloop.Loop,
) -> None:
    error = ValueError("nobody listens")
    p = loop.reject(error)
    with pytest.raises(phaseloop.UnhandledRejection) as info:
        loop.run()
    assert info.value.reason is error
    assert info.value.__cause__ is error
    assert info.value.promise.reason is error
    # The next run goes on: nothing else was queued, and the rejection is not reported twice.
    assert loop.run() is False
    assert p.state == "rejected"


def test_a_non_exception_reason_has_no_cause(loop: phaseloop.Loop) -> None:
    loop.reject(404)
    with pytest.raises(phaseloop.UnhandledRejection) as info:
        loop.run()
    assert info.value.reason == 404
    assert info.value.__cause__ is None


def test_a_rejection_handled_later_in_the_same_drain_is_not_reported(
    loop: phaseloop.Loop,
) -> None:
    caught: list[object] = []
    p = loop.reject("late but in time")
    loop.queue_microtask(lambda: p.catch(caught.append))
    loop.run()
    assert caught == ["late but in time"]


def test_a_rejection_handled_in_a_later_iteration_was_reported_first(
    loop: phaseloop.Loop,
) -> None:
    reports: list[object] = []
    caught: list[object] = []
    loop.on_unhandled_rejection = lambda reason, promise: reports.append(reason)
    p = loop.reject("too late")
    loop.set_timeout(lambda: p.catch(caught.append), 5)
    loop.run()
    assert reports == ["too late"]
    assert caught == ["too late"]


def test_on_error_receives_an_unhandled_rejection_when_set(
    loop: phaseloop.Loop,
) -> None:
    errors: list[BaseException] = []
    loop.on_error = errors.append
    loop.reject("first")
    loop.set_timeout(lambda: loop.reject("second"), 1)
    loop.run()
    assert [type(e) for e in errors] == [phaseloop.UnhandledRejection] * 2
    assert [
        e.reason for e in errors if isinstance(e, phaseloop.UnhandledRejection)
    ] == [
        "first",
        "second",
    ]


def test_a_failing_unhandled_rejection_hook_is_an_uncaught_error(
    loop: phaseloop.Loop,
) -> None:
    def hook(reason: object, promise: object) -> None:
        raise RuntimeError(f"hook saw {reason}")

    loop.on_unhandled_rejection = hook
    assert loop.on_unhandled_rejection is hook
    loop.reject("r")
    with pytest.raises(RuntimeError, match="hook saw r"):
        loop.run()
    loop.on_unhandled_rejection = None
    assert loop.on_unhandled_rejection is None


def test_keyboard_interrupt_in_a_handler_stops_run_and_run_resumes(
    loop: phaseloop.Loop,
) -> None:
    log: list[str] = []

    def interrupt(_: object) -> None:
        raise KeyboardInterrupt

    loop.resolve().then(interrupt).catch(lambda r: log.append("derived rejected"))
    loop.resolve().then(lambda _: log.append("next reaction"))
    with pytest.raises(KeyboardInterrupt):
        loop.run()
    assert log == []
    loop.run()
    assert log == ["next reaction", "derived rejected"]


# ----- the timeline and the trace hook --------------------------------------------------------------


def test_promise_jobs_are_microtasks_named_after_their_handler(
    loop: phaseloop.Loop,
) -> None:
    def on_value(v: object) -> None:
        pass

    async def main() -> None:
        await loop.resolve()

    traced: list[tuple[str, object]] = []
    loop.trace = lambda it, phase, kind, cb: traced.append((kind, cb))
    loop.record()
    loop.resolve().then(on_value)
    loop.resolve().then(lambda v: None, label="my label")
    coro = main()
    loop.start(coro)
    loop.promise(lambda res, rej: res(loop.resolve()))
    loop.run()
    labels = [(e.kind, e.label) for e in loop.timeline()]
    assert labels == [
        (
            "microtask",
            "test_promise_jobs_are_microtasks_named_after_their_handler.<locals>.on_value",
        ),
        ("microtask", "my label"),
        (
            "microtask",
            "test_promise_jobs_are_microtasks_named_after_their_handler.<locals>.main",
        ),
        ("microtask", "promise resolve thenable"),
        ("microtask", "promise reaction"),
    ]
    assert traced[0] == ("microtask", on_value)
    assert traced[2] == ("microtask", coro)
    assert traced[3] == ("microtask", None)


def test_sleep_immediate_and_work_schedule_labeled_callbacks(
    loop: phaseloop.Loop,
) -> None:
    loop.record()
    loop.sleep(1)
    loop.immediate(label="my immediate")
    loop.work(lambda: None)
    loop.run()
    kinds = sorted((e.phase, e.kind, e.label) for e in loop.timeline())
    assert kinds == [
        ("check", "immediate", "my immediate"),
        ("poll", "work", "work"),
        ("timers", "timeout", "sleep"),
    ]


def test_work_rejects_with_what_the_job_raised(loop: phaseloop.Loop) -> None:
    def fails() -> None:
        raise ArithmeticError("in the pool")

    p = loop.work(fails)
    missing = loop.work(phaseloop.jobs.read_file, "/no/such/file")
    for q in (p, missing):
        q.catch(lambda r: None)
    loop.run()
    assert isinstance(p.reason, ArithmeticError)
    assert isinstance(missing.reason, FileNotFoundError)


# ----- threads, closing, the garbage collector ------------------------------------------------------


def test_a_promise_is_used_from_its_loops_thread_only(loop: phaseloop.Loop) -> None:
    p = loop.resolve(1)
    errors: list[BaseException] = []

    def other() -> None:
        try:
            p.then(lambda v: None)
        except RuntimeError as e:
            errors.append(e)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert len(errors) == 1
    assert "thread" in str(errors[0])
    assert p.value == 1, "reading a settled value is allowed anywhere"


def test_promise_methods_on_a_closed_loop_raise_loop_closed() -> None:
    lp = phaseloop.Loop(clock="virtual")
    p = lp.resolve()
    lp.close()
    for call in (
        lambda: p.then(print),
        lambda: lp.resolve(),
        lambda: lp.reject(1),
        lambda: lp.all([]),
        lambda: lp.sleep(1),
    ):
        with pytest.raises(phaseloop.LoopClosed):
            call()


def test_a_pending_promise_and_its_handlers_are_released_when_the_loop_closes() -> None:
    class Handler:
        def __call__(self, value: object) -> None:
            pass

    lp = phaseloop.Loop(clock="virtual")
    first, second = Handler(), Handler()
    watches = [weakref.ref(first), weakref.ref(second)]
    never = lp.promise(lambda res, rej: None)
    never.then(first)
    # Settled only by a timer the loop holds: closing the loop releases it.
    sleeping = lp.sleep(2_000_000)
    sleeping.then(second)
    del first, second, never
    lp.close()
    assert sleeping.state == "pending"
    del sleeping
    gc.collect()
    assert [watch() for watch in watches] == [None, None]


def test_settled_promises_release_their_values(loop: phaseloop.Loop) -> None:
    value = object()
    before = sys.getrefcount(value)
    for _ in range(1000):
        loop.resolve(value).then(lambda v: v).then(lambda v: None)
        loop.all([value, loop.resolve(value)])
    loop.start(returns(value))
    loop.run()
    gc.collect()
    assert sys.getrefcount(value) == before


async def returns(value: object) -> object:
    return value


def test_a_cycle_through_a_promise_handler_is_collected() -> None:
    lp = phaseloop.Loop(clock="virtual")

    class Holder:
        promise: phaseloop.Promise[Any]

    holder = Holder()
    holder.promise = lp.promise(lambda res, rej: None)

    # The handler keeps the holder, which keeps the promise, which keeps the handler.
    def keeps_holder(value: object, kept: Holder = holder) -> Holder:
        return kept

    holder.promise.then(keeps_holder)
    watch = weakref.ref(holder)
    del holder, keeps_holder
    gc.collect()
    assert watch() is None
    lp.close()


def test_a_suspended_coroutine_is_collected_with_its_promise() -> None:
    lp = phaseloop.Loop(clock="virtual")
    finished: list[str] = []

    class Marker:
        pass

    async def waits_forever() -> None:
        marker = Marker()
        refs.append(weakref.ref(marker))
        try:
            await lp.promise(lambda res, rej: None)
        finally:
            finished.append("closed")

    refs: list[weakref.ref[Marker]] = []
    lp.start(waits_forever())
    gc.collect()
    assert refs[0]() is None, "the frame of the suspended coroutine was freed"
    assert finished == ["closed"]
    lp.close()
