"""Why does `await` of a promise beat a promise resolved with a promise? Microtask turns.

A ticker logs every microtask turn; each promise logs in the turn its reaction runs. The counts are
JavaScript's (ordering rule 7.1 in docs/ordering.md, and docs/promises.md): `then` on a settled
promise and `await` take 1 turn, a thenable 2, resolving with a promise 3. Node prints the same
order for the same program (tests/node/promise_tick_counts.js).

    python examples/python/promise_tick_counts.py
"""

from __future__ import annotations

from collections.abc import Callable

import phaseloop


def main() -> None:
    with phaseloop.Loop(clock="virtual") as loop:
        log: list[str] = []
        turn = 0

        def ticker() -> None:
            nonlocal turn
            turn += 1
            log.append(f"-- microtask turn {turn}")
            if turn < 3:
                loop.queue_microtask(ticker)

        loop.queue_microtask(ticker)

        class Thenable:
            """Not a promise, but it has a callable `then`: adopting it costs a job."""

            def then(self, resolve: Callable[[str], None], reject: object) -> None:
                resolve("thenable")

        loop.resolve("value").then(
            lambda v: log.append(f"then on a settled promise: {v}")
        )
        loop.promise(lambda res, rej: res(loop.resolve("promise"))).then(
            lambda v: log.append(f"resolved with a promise: {v}")
        )
        loop.promise(lambda res, rej: res(Thenable())).then(
            lambda v: log.append(f"resolved with a thenable: {v}")
        )

        async def awaits() -> None:
            await loop.resolve()
            log.append("await of a settled promise")
            await loop.resolve(Thenable())
            log.append("await of a thenable (two more turns)")

        loop.start(awaits())
        loop.run()
        print("\n".join(log))


if __name__ == "__main__":
    main()
