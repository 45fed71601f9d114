"""Generate random FAIR ordering scenarios (shared/conformance/FORMAT.md), without `expect`.

    python3 fuzz_gen.py --seed S --count N --out DIR

writes DIR/fuzz-S-0000.json ... : nested timeouts, intervals with `times`, immediates, ticks,
microtasks, then chains, rejections, adoptions, async functions with every kind of await, io,
clears, and the extension ops of README.md (then/catch/finally chains; combinators of inputs
that settle within a drain). `--c-ops` writes a separate series with only the ops the C
runner has (fuzz-c-S-0000.json ...). Node prints the same log for each of them on every run, because the generator
respects FORMAT.md's fairness margins by construction:

It generates while it simulates. A model of Node's loop (timers, poll, check; every callback
takes no time) runs the program as it is being written: a callback's body is made only when
the model runs that callback, so every op is chosen knowing exactly which timers, immediates
and io are pending at that moment, and an op that could make the order depend on luck is
simply not generated. Model times are lower bounds of Node's real times, and real lateness
adds up along a chain of callbacks, so every margin grows with the number of callbacks
between the main script and the timers it compares (LATENESS_PER_HOP).

The model writes a drain's nested bodies depth-first, so within one phase it may run two
callbacks in another order than Node (a timer created in a tick body is written before one
created later in the same callback body, but Node creates it after). So no decision depends
on the order of callbacks within one phase: timers of one list that are due together all
count as pending until the whole group has run, and a `clear` only names a handle created,
and only counts on a handle having run, in an earlier phase.

Each program depends only on (seed, index). Python 3.9+, standard library only.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# FORMAT.md's margins, in ms ...
# Two pending timers are this far apart, unless one callback set both with one delay.
TIMER_SEPARATION = 40
# A timer this close to a timers phase with immediates or io pending is luck.
IMMEDIATE_LUCK = 100
# No timer is due this soon while an io is outstanding.
IO_TIMER_GAP = 130
# A clear from another callback comes this long before its target is due.
CLEAR_LEAD = 40
# ... and ours on top of them: a constant, and lateness per callback along a chain.
EXTRA_MARGIN = 10
LATENESS_PER_HOP = 5

MAX_TIME = 450  # model ms: no timer is due later, so that a program runs quickly
MAX_HOPS = 6  # no timer, immediate or io is created deeper than this
MAX_NESTING = 3  # depth of tick / microtask / promise bodies inside one callback

TIMEOUT_DELAYS = (0, 0, 1, 1, 2, 10, 25, 50, 50, 75, 100, 100, 150, 200, 250)
INTERVAL_DELAYS = (20, 50, 50, 100)
SLEEP_DELAYS = (0, 1, 50, 100, 150)

# Key order in written files; FORMAT.md's example puts `body` last.
KEY_ORDER = (
    "op",
    "kind",
    "on",
    "msg",
    "value",
    "after",
    "delay",
    "times",
    "what",
    "as",
    "target",
    "from",
    "throws",
    "returns",
    "inputs",
    "body",
    "chain",
    "links",
)


@dataclass
class Context:
    """One macrotask (a callback the loop runs, or the main script) and the ticks and
    microtasks drained after it: everything in it happens at one model time."""

    id: int
    time: int
    phase: str  # "main", "timers", "poll" or "check"
    hops: int  # callbacks between the main script and this one
    serial: int  # which phase run: the main script is 0, each later phase adds 1


@dataclass
class Due:
    """One model time at which a pending timer runs."""

    time: int
    # (context, delay): timers of one Node list keep FIFO; None for an interval's re-arms
    list_key: tuple[int, int] | None
    hops: int


@dataclass
class Timer:
    """A pending timeout, interval or `await sleep`; an interval reserves all its runs."""

    id: int
    dues: list[Due]
    fire: Callable[[Context], None]
    stop_after_first: bool = False  # an interval that clears itself in its own callback


@dataclass
class Immediate:
    """A pending immediate (or the immediate behind `await immediate`)."""

    id: int
    queued_in: str  # the phase that queued it: one queued in poll runs before any timer
    hops: int  # of the callback that queued it
    run: Callable[[Context], None]
    done: bool = False  # ran or cleared


@dataclass
class Handle:
    """Something a `clear` may name."""

    op: dict
    kind: str  # "timer" or "immediate"
    record_id: int
    created_serial: int  # only a later phase may clear it: it surely exists then


@dataclass
class Model:
    """The simulated loop, and what the program being generated has scheduled."""

    timers: dict[int, Timer] = field(default_factory=dict)
    # queued for the next check phase, and those of the check phase running now
    immediates: list[Immediate] = field(default_factory=list)
    running_check: list[Immediate] = field(default_factory=list)
    io_created_at: int | None = None  # model time of the outstanding io, if any
    io_fire: Callable[[Context], None] | None = None
    io_hops: int = 0
    handles: list[Handle] = field(default_factory=list)
    # timer or immediate id -> serial of the phase it ran in (-1: cleared)
    finished: dict[int, int] = field(default_factory=dict)
    # the timer whose callback runs now: its current due is spent
    firing: int | None = None
    next_id: int = 0

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def risky_immediates(self) -> bool:
        """Are immediates queued that a timers or poll phase will see pending?"""
        # One queued during a poll phase runs in that iteration's check, before any timer.
        return any(not i.done and i.queued_in != "poll" for i in self.immediates)

    def immediates_pending(self) -> bool:
        return any(not i.done for i in self.immediates)

    def all_dues(self) -> list[Due]:
        return [
            due
            for timer in self.timers.values()
            for due in (timer.dues[1:] if timer.id == self.firing else timer.dues)
        ]


def slack(*hops: int) -> int:
    return EXTRA_MARGIN + LATENESS_PER_HOP * max(hops)


class ProgramGenerator:
    """Writes one random fair program while running it on the model."""

    def __init__(self, rng: random.Random, promises: bool = True) -> None:
        self.rng = rng
        # Without promises, a program uses only the ops the C runner has (ops.C_OPS).
        self.promises = promises
        self.model = Model()
        self.budget = rng.randint(6, 40)  # ops still to generate
        self.labels = 0
        self.contexts = 0
        self.serial = 0

    # -- the loop -----------------------------------------------------------------------

    def generate(self) -> list[dict]:
        program: list[dict] = []
        self.fill(program, self.new_context(0, "main", 0), 0, least=3)
        self.run_loop()
        return program

    def new_context(self, time: int, phase: str, hops: int) -> Context:
        self.contexts += 1
        return Context(self.contexts, time, phase, hops, self.serial)

    def run_loop(self) -> None:
        model = self.model
        now = 0
        while model.timers or model.immediates or model.io_fire:
            # timers: every timer due by now. The margins leave only timers of one list due
            # together; they all stay pending until the last has run (see the docstring).
            self.serial += 1
            group = sorted(
                (t for t in model.timers.values() if t.dues[0].time <= now),
                key=lambda t: (t.dues[0].time, t.id),
            )
            for timer in group:
                if timer.id in model.timers:
                    model.firing = timer.id
                    timer.fire(self.new_context(now, "timers", timer.dues[0].hops))
            model.firing = None
            for timer in group:
                if timer.id in model.timers:
                    timer.dues.pop(0)
                    if not timer.dues or timer.stop_after_first:
                        del model.timers[timer.id]
                        model.finished[timer.id] = self.serial
            # poll: the io completes; or block until the next timer
            self.serial += 1
            if model.io_fire is not None:
                fire, hops = model.io_fire, model.io_hops
                model.io_fire, model.io_created_at = None, None
                fire(self.new_context(now, "poll", hops + 1))
            elif not model.immediates_pending() and model.timers:
                now = max(now, min(t.dues[0].time for t in model.timers.values()))
            # check: the immediates queued before it began
            self.serial += 1
            model.running_check, model.immediates = model.immediates, []
            for immediate in model.running_check:
                if not immediate.done:
                    immediate.done = True
                    model.finished[immediate.id] = self.serial
                    immediate.run(self.new_context(now, "check", immediate.hops + 1))
            model.running_check = []

    # -- fairness checks ----------------------------------------------------------------

    def timer_allowed(self, ctx: Context, dues: list[Due]) -> bool:
        """May timers with these dues be created now?"""
        model = self.model
        for due in dues:
            if due.time > MAX_TIME or ctx.hops > MAX_HOPS:
                return False
            if model.io_created_at is not None and due.time < (
                model.io_created_at + IO_TIMER_GAP + slack(due.hops, model.io_hops)
            ):
                return False
            if model.risky_immediates() and due.time < (
                ctx.time + IMMEDIATE_LUCK + slack(due.hops, ctx.hops)
            ):
                return False
            for other in model.all_dues():
                same_list = (
                    other.list_key is not None and other.list_key == due.list_key
                )
                if not same_list and abs(other.time - due.time) < (
                    TIMER_SEPARATION + slack(due.hops, other.hops)
                ):
                    return False
        return True

    def immediate_allowed(self, ctx: Context) -> bool:
        model = self.model
        if ctx.hops > MAX_HOPS or model.io_created_at is not None:
            return False
        if ctx.phase == "poll":
            # It runs in this iteration's check, before any timer: only timers that were
            # pending before the io matter, and the io rule kept them 130 ms away.
            return True
        return all(
            due.time >= ctx.time + IMMEDIATE_LUCK + slack(due.hops, ctx.hops)
            for due in model.all_dues()
        )

    def io_allowed(self, ctx: Context) -> bool:
        model = self.model
        if ctx.hops > MAX_HOPS or model.io_created_at is not None:
            return False
        if model.immediates_pending():
            return False
        return all(
            due.time >= ctx.time + IO_TIMER_GAP + slack(due.hops, ctx.hops)
            for due in model.all_dues()
        )

    # -- ops ----------------------------------------------------------------------------

    def label(self, prefix: str) -> str:
        self.labels += 1
        return f"{prefix}{self.labels}"

    def fill(
        self,
        body: list[dict],
        ctx: Context,
        nesting: int,
        inert: bool = False,
        least: int = 0,
    ) -> None:
        """Append a few random ops (at least `least`) to `body`, run by a callback of `ctx`;
        only ops that schedule no callback of the loop if `inert`."""
        for _ in range(max(least, self.rng.choice((0, 1, 1, 2, 2, 3)))):
            if self.budget <= 0:
                return
            op = self.random_op(ctx, nesting, inert)
            if op is not None:
                self.budget -= 1
                body.append(op)

    def random_op(self, ctx: Context, nesting: int, inert: bool) -> dict | None:
        makers: list[tuple[Callable[[Context, int, bool], dict | None], int]] = [
            (self.make_log, 2),
            (self.make_tick, 3),
            (self.make_microtask, 3),
            (self.make_then, 3),
            (self.make_reject_catch, 1),
            (self.make_adopt, 1),
            (self.make_async_return_promise, 1),
            (self.make_async, 3),
            (self.make_chain, 2),
            (self.make_combinator, 2),
        ]
        if not self.promises:
            makers = makers[:3]
        if nesting >= MAX_NESTING:
            makers = makers[:1]
        if not inert:
            makers += [
                (self.make_timeout, 5),
                (self.make_interval, 2),
                (self.make_immediate, 5),
                (self.make_io, 3),
                (self.make_clear, 2),
            ]
        for _ in range(3):  # a few tries; an op that would be unfair is just not made
            maker = self.rng.choices([m for m, _ in makers], [w for _, w in makers])[0]
            op = maker(ctx, nesting, inert)
            if op is not None:
                return op
        return None

    def logged_body(
        self, prefix: str, ctx: Context, nesting: int, inert: bool
    ) -> list[dict]:
        body = [{"op": "log", "msg": self.label(prefix)}]
        self.fill(body, ctx, nesting + 1, inert)
        return body

    def make_log(self, ctx: Context, nesting: int, inert: bool) -> dict:
        return {"op": "log", "msg": self.label("L")}

    def make_tick(self, ctx: Context, nesting: int, inert: bool) -> dict:
        return {"op": "tick", "body": self.logged_body("tk", ctx, nesting, inert)}

    def make_microtask(self, ctx: Context, nesting: int, inert: bool) -> dict:
        return {"op": "microtask", "body": self.logged_body("mt", ctx, nesting, inert)}

    def make_then(self, ctx: Context, nesting: int, inert: bool) -> dict:
        links = self.rng.randint(1, 3)
        return {
            "op": "then",
            "chain": [self.logged_body("p", ctx, nesting, inert) for _ in range(links)],
        }

    def make_chain(self, ctx: Context, nesting: int, inert: bool) -> dict:
        """then / catch / finally links on a settled promise. Only a link that runs gets
        a real body (one that is skipped must schedule nothing the model would count on),
        and a chain that would end rejected gets a last catch."""
        start_rejected = self.rng.random() < 0.5
        rejected = start_rejected
        links: list[dict] = []
        for _ in range(self.rng.randint(1, 3)):
            on = self.rng.choice(("then", "catch", "finally"))
            runs = on == "finally" or (on == "then") != rejected
            if not runs:
                links.append(
                    {"on": on, "body": [{"op": "log", "msg": self.label("sk")}]}
                )
                continue
            link = {"on": on, "body": self.logged_body("ch", ctx, nesting, inert)}
            ending = self.rng.choice(
                ("plain", "plain", "throws", "promise", "thenable", "rejected")
            )
            if ending == "throws":
                link["throws"] = True
            elif ending != "plain":
                link["returns"] = ending  # a promise or thenable is adopted: more ticks
            if ending in ("throws", "rejected"):
                rejected = True
            elif on != "finally":
                rejected = False
            links.append(link)
        if rejected:
            links.append(
                {"on": "catch", "body": self.logged_body("ch", ctx, nesting, inert)}
            )
        return {
            "op": "chain",
            "from": "rejected" if start_rejected else "resolved",
            "links": links,
        }

    def make_combinator(self, ctx: Context, nesting: int, inert: bool) -> dict:
        """all / all_settled / race / any of inputs that settle within the drain (no
        timers: the model knows nothing of them), so its body runs once, in this drain."""
        kind = self.rng.choice(("all", "all_settled", "race", "any"))
        inputs = []
        # An empty race never settles: its body would never run.
        for _ in range(self.rng.randint(1 if kind == "race" else 0, 3)):
            input_kind = self.rng.choice(
                ("value", "resolved", "resolved", "rejected", "thenable")
            )
            spec: dict = {"kind": input_kind, "value": self.label("v")}
            if input_kind in ("resolved", "rejected") and self.rng.random() < 0.5:
                spec["after"] = self.rng.randint(1, 3)
            inputs.append(spec)
        body: list[dict] = []
        self.fill(body, ctx, nesting + 1, inert)
        return {"op": kind, "msg": self.label("c"), "inputs": inputs, "body": body}

    def make_reject_catch(self, ctx: Context, nesting: int, inert: bool) -> dict:
        return {
            "op": "reject_catch",
            "body": self.logged_body("rc", ctx, nesting, inert),
        }

    def make_adopt(self, ctx: Context, nesting: int, inert: bool) -> dict:
        return {"op": "adopt", "body": self.logged_body("ad", ctx, nesting, inert)}

    def make_async_return_promise(
        self, ctx: Context, nesting: int, inert: bool
    ) -> dict:
        return {
            "op": "async_return_promise",
            "body": self.logged_body("ar", ctx, nesting, inert),
        }

    def make_async(self, ctx: Context, nesting: int, inert: bool) -> dict:
        body: list[dict] = [{"op": "log", "msg": self.label("as")}]
        self.continue_async(body, ctx, nesting, inert)
        return {"op": "async", "body": body}

    def continue_async(
        self, body: list[dict], ctx: Context, nesting: int, inert: bool
    ) -> None:
        """Append to an async body, from `ctx`; an await sleep / immediate ends this part,
        and the rest is generated when the model resumes the function."""
        for _ in range(self.rng.randint(1, 3)):
            what = self.rng.choice(
                (
                    "value",
                    "promise",
                    "thenable",
                    "rejected",
                    "sleep",
                    "immediate",
                    "ops",
                )
            )
            if what == "ops":
                self.fill(body, ctx, nesting + 1, inert)
                continue
            if what in ("value", "promise", "thenable", "rejected"):
                body.append({"op": "await", "what": what})
                body.append({"op": "log", "msg": self.label("aw")})
                continue
            if inert or self.budget <= 0:
                continue
            resumed = self.resume_async(body, nesting)
            if what == "sleep":
                delay = self.rng.choice(SLEEP_DELAYS)
                if self.add_timer(ctx, delay, 1, resumed) is not None:
                    body.append({"op": "await", "what": "sleep", "delay": delay})
                    return
            elif self.immediate_allowed(ctx):
                self.add_immediate(ctx, resumed)
                body.append({"op": "await", "what": "immediate"})
                return

    def resume_async(self, body: list[dict], nesting: int) -> Callable[[Context], None]:
        def resumed(ctx: Context) -> None:
            body.append({"op": "log", "msg": self.label("re")})
            self.continue_async(body, ctx, nesting, False)

        return resumed

    def add_timer(
        self, ctx: Context, delay: int, times: int, fire: Callable[[Context], None]
    ) -> Timer | None:
        """Register a timer created now by `ctx`, if that is fair; None if not."""
        effective = max(1, delay)  # Node makes a delay < 1 a 1 ms timer
        list_key = (ctx.id, effective)
        dues = [Due(ctx.time + effective, list_key, ctx.hops + 1)]
        for run in range(2, times + 1):
            # Re-armed by its own callbacks: a list of its own, later by its lateness so far.
            dues.append(Due(ctx.time + run * effective, None, ctx.hops + run))
        if not self.timer_allowed(ctx, dues):
            return None
        timer = Timer(self.model.new_id(), dues, fire)
        self.model.timers[timer.id] = timer
        return timer

    def add_immediate(self, ctx: Context, run: Callable[[Context], None]) -> Immediate:
        immediate = Immediate(self.model.new_id(), ctx.phase, ctx.hops, run)
        self.model.immediates.append(immediate)
        return immediate

    def callback_filler(self, body: list[dict], hops: int) -> Callable[[Context], None]:
        """The body of a timeout, immediate or io is generated when the model runs it."""

        def fire(ctx: Context) -> None:
            ctx.hops = max(ctx.hops, hops)
            self.fill(body, ctx, 0)

        return fire

    def make_timeout(self, ctx: Context, nesting: int, inert: bool) -> dict | None:
        delay = self.rng.choice(TIMEOUT_DELAYS)
        body = [{"op": "log", "msg": self.label("T")}]
        timer = self.add_timer(ctx, delay, 1, self.callback_filler(body, ctx.hops + 1))
        if timer is None:
            return None
        op = {"op": "timeout", "delay": delay, "body": body}
        self.model.handles.append(Handle(op, "timer", timer.id, ctx.serial))
        return op

    def make_interval(self, ctx: Context, nesting: int, inert: bool) -> dict | None:
        delay = self.rng.choice(INTERVAL_DELAYS)
        times = self.rng.randint(1, 3)
        # An interval's body runs `times` times, so it only gets ops that schedule nothing:
        # one body cannot be fair at every run by construction otherwise.
        body = [{"op": "log", "msg": self.label("IV")}]
        self.fill(body, ctx, 1, inert=True)
        timer = self.add_timer(ctx, delay, times, lambda run_ctx: None)
        if timer is None:
            return None
        op = {"op": "interval", "delay": delay, "times": times, "body": body}
        if times > 1 and self.rng.random() < 0.25:
            op["as"] = f"h{timer.id}"
            # It clears itself, so it stops after its first run.
            body.append({"op": "clear", "target": op["as"]})
            timer.stop_after_first = True
        self.model.handles.append(Handle(op, "timer", timer.id, ctx.serial))
        return op

    def make_immediate(self, ctx: Context, nesting: int, inert: bool) -> dict | None:
        if not self.immediate_allowed(ctx):
            return None
        body = [{"op": "log", "msg": self.label("I")}]
        immediate = self.add_immediate(ctx, self.callback_filler(body, ctx.hops + 1))
        op = {"op": "immediate", "body": body}
        self.model.handles.append(Handle(op, "immediate", immediate.id, ctx.serial))
        return op

    def make_io(self, ctx: Context, nesting: int, inert: bool) -> dict | None:
        if not self.io_allowed(ctx):
            return None
        body = [{"op": "log", "msg": self.label("io")}]
        model = self.model
        model.io_created_at, model.io_hops = ctx.time, ctx.hops
        model.io_fire = self.callback_filler(body, ctx.hops + 1)
        return {"op": "io", "body": body}

    def make_clear(self, ctx: Context, nesting: int, inert: bool) -> dict | None:
        model = self.model
        later_immediates = {i.id for i in model.immediates if not i.done}
        candidates = []
        for handle in model.handles:
            if handle.created_serial >= ctx.serial:
                continue  # created in this phase: maybe not yet when this clear runs
            record = handle.record_id
            if record in model.finished:
                if model.finished[record] >= ctx.serial:
                    continue  # ran in this phase: maybe not yet when this clear runs
            elif handle.kind == "timer":
                first = model.timers[record].dues[0]
                if first.time < ctx.time + CLEAR_LEAD + slack(first.hops, ctx.hops):
                    continue  # too close: it might run first
            elif record not in later_immediates:
                continue  # due in this check phase: before or after this clear?
            candidates.append(handle)
        if not candidates:
            return None
        handle = self.rng.choice(candidates)
        if handle.record_id not in model.finished:
            # Cleared: from now on any clear of it does nothing, in any order.
            model.finished[handle.record_id] = -1
            if handle.kind == "timer":
                del model.timers[handle.record_id]
            else:
                for immediate in model.immediates:
                    if immediate.id == handle.record_id:
                        immediate.done = True
        handle.op.setdefault("as", f"h{handle.record_id}")
        return {"op": "clear", "target": handle.op["as"]}


def ordered(value):
    """Ops with their keys in KEY_ORDER, recursively."""
    if isinstance(value, list):
        return [ordered(item) for item in value]
    if isinstance(value, dict):
        keys = sorted(
            value,
            key=lambda k: KEY_ORDER.index(k) if k in KEY_ORDER else len(KEY_ORDER),
        )
        return {key: ordered(value[key]) for key in keys}
    return value


def generate_scenario(seed: int, index: int, promises: bool = True) -> dict:
    """Program `index` of `seed`; without `promises`, one of a separate series that uses
    only the ops the C runner has."""
    rng = random.Random(f"{seed}:{index}" if promises else f"{seed}:c:{index}")
    program = ProgramGenerator(rng, promises).generate()
    return {
        "name": f"fuzz-{seed}-{index:04d}"
        if promises
        else f"fuzz-c-{seed}-{index:04d}",
        "threadpool_size": rng.choice((1, 1, 1, 2, 4)),
        "program": ordered(program),
    }


# -- file layout: the same as node_runner.js's formatScenario ------------------------------

WIDTH = 100
SCENARIO_KEYS = ("name", "threadpool_size", "program", "expect")


def compact_json(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def pretty_json(value, indent: int) -> str:
    """One line if it fits in WIDTH; else an op keeps its scalars on the first line and
    lists its body one op per line."""
    flat = compact_json(value)
    if not isinstance(value, (list, dict)) or indent + len(flat) <= WIDTH:
        return flat
    if isinstance(value, list):
        return expanded_list(value, indent)
    *leading, (last_key, last_value) = value.items()
    if isinstance(last_value, list) and all(
        not isinstance(v, (list, dict)) for _, v in leading
    ):
        head = "".join(f"{compact_json(k)}: {compact_json(v)}, " for k, v in leading)
        return (
            f"{{{head}{compact_json(last_key)}: {expanded_list(last_value, indent)}}}"
        )
    pad = " " * (indent + 2)
    lines = [
        f"{pad}{compact_json(k)}: {pretty_json(v, indent + 2)}"
        for k, v in value.items()
    ]
    return "{\n" + ",\n".join(lines) + "\n" + " " * indent + "}"


def expanded_list(items: list, indent: int) -> str:
    if not items:
        return "[]"
    pad = " " * (indent + 2)
    inner = ",\n".join(pad + pretty_json(item, indent + 2) for item in items)
    return "[\n" + inner + "\n" + " " * indent + "]"


def format_scenario(scenario: dict) -> str:
    """The whole file: one key per line, the program one op per line."""
    lines = []
    for key in SCENARIO_KEYS:
        if key in scenario:
            value = scenario[key]
            text = (
                expanded_list(value, 2) if key == "program" else pretty_json(value, 2)
            )
            lines.append(f"  {compact_json(key)}: {text}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--c-ops",
        action="store_true",
        help="only the ops the C runner has (no promises): files fuzz-c-S-NNNN.json",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for index in range(args.count):
        scenario = generate_scenario(args.seed, index, promises=not args.c_ops)
        (args.out / f"{scenario['name']}.json").write_text(format_scenario(scenario))
    print(f"fuzz_gen: wrote {args.count} scenarios to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
