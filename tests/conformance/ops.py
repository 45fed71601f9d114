"""The op vocabulary of the scenario format, as the Python tools of this folder see it.

FORMAT.md (shared/conformance/FORMAT.md) defines the base ops; README.md here defines the
extension for promise combinators, then/catch/finally chains and awaiting a rejection. This
module knows each op's fields, which fields hold nested bodies, and which ops the C runner
can express; it validates a program the way node_runner.js does, so that a malformed
scenario fails the same way on every side.

Python 3.9+, standard library only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Op = dict[str, Any]
Body = list[Op]

# op -> (required fields, optional fields), beyond "op" itself; node_runner.js has the same.
OP_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "log": (("msg",), ()),
    "timeout": (("delay", "body"), ("as",)),
    "interval": (("delay", "times", "body"), ("as",)),
    "immediate": (("body",), ("as",)),
    "tick": (("body",), ()),
    "microtask": (("body",), ()),
    "then": (("chain",), ()),
    "reject_catch": (("body",), ()),
    "adopt": (("body",), ()),
    "async": (("body",), ()),
    "await": (("what",), ("delay",)),
    "async_return_promise": (("body",), ()),
    "io": (("body",), ()),
    "clear": (("target",), ()),
    # The extension (README.md, "Extension ops").
    "ref": (("target",), ()),
    "unref": (("target",), ()),
    "refresh": (("target",), ()),
    "block": (("ms",), ()),
    "all": (("msg", "inputs", "body"), ()),
    "all_settled": (("msg", "inputs", "body"), ()),
    "race": (("msg", "inputs", "body"), ()),
    "any": (("msg", "inputs", "body"), ()),
    "chain": (("from", "links"), ()),
    # Network ops on loopback (README.md, "Network ops"): `body` runs in one event.
    "net_connection": (("body",), ()),
    "net_connect": (("body",), ()),
    "net_write": (("body",), ()),
    "net_data": (("body",), ()),
    "net_end": (("body",), ()),
    "net_close": (("body",), ()),
    "net_refused": (("body",), ()),
    "net_server_close": (("body",), ()),
    "udp_message": (("body",), ()),
    "udp_send": (("body",), ()),
    "lookup": (("body",), ()),
    "spawn_exit": (("body",), ()),
    "spawn_close": (("body",), ()),
}
NET_OPS = frozenset(
    name
    for name in OP_FIELDS
    if name.startswith(("net_", "udp_", "spawn_")) or name == "lookup"
)
AWAIT_KINDS = ("value", "promise", "thenable", "sleep", "immediate", "rejected")
COMBINATORS = ("all", "all_settled", "race", "any")
# Input kinds of a combinator: the fields each takes beyond "kind" and "value".
INPUT_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "value": ((), ()),
    "resolved": ((), ("after",)),
    "rejected": ((), ("after",)),
    "thenable": ((), ()),
    "sleep": (("delay",), ()),
    "sleep_reject": (("delay",), ()),
    "immediate": ((), ()),
    "never": ((), ()),
}
LINK_KINDS = ("then", "catch", "finally")
# What a chain link's handler may return: a resolved promise, a thenable, a rejected promise.
RETURN_KINDS = ("promise", "thenable", "rejected")
SCENARIO_KEYS = ("name", "threadpool_size", "program", "expect")

# What the C API can express: promises are Python-only (the C API has none).
C_OPS = frozenset(
    (
        "log",
        "timeout",
        "interval",
        "immediate",
        "tick",
        "microtask",
        "io",
        "clear",
        "ref",
        "unref",
        "refresh",
        "block",
        # Network ops the C runner translates with the pl_tcp_* calls (c_program.py).
        "net_connection",
        "net_connect",
        "net_write",
        "net_data",
        "net_close",
        "net_refused",
    )
)
# Ops that name a handle created by an op with `as`.
TARGET_OPS = ("clear", "ref", "unref", "refresh")


class InvalidScenario(ValueError):
    """A scenario that does not follow the format; the message says where."""


def child_bodies(op: Op) -> Iterator[Body]:
    """Every body nested directly in `op`, in the order they appear in the file."""
    if op["op"] == "then":
        yield from op["chain"]
    elif op["op"] == "chain":
        for link in op["links"]:
            yield link["body"]
    elif "body" in op:
        yield op["body"]


def walk(body: Body) -> Iterator[Op]:
    """Every op in `body` and in the bodies nested in it, depth first, in file order."""
    for op in body:
        yield op
        for child in child_bodies(op):
            yield from walk(child)


def uses_only(program: Body, allowed: frozenset[str]) -> bool:
    """Whether every op in `program`, nested ones included, is one of `allowed`."""
    return all(op["op"] in allowed for op in walk(program))


def chain_ends_handled(op: Op) -> bool:
    """Whether a `chain` op's last promise is not rejected (else Node reports it unhandled).

    A `then` link runs on fulfilment and passes a rejection on; `catch` the reverse;
    `finally` runs either way and passes the state on; a link that runs and `throws`, or
    `returns` a rejected promise, rejects."""
    rejected = op["from"] == "rejected"
    for link in op["links"]:
        runs = (
            link["on"] == "finally"
            or (link["on"] == "then" and not rejected)
            or (link["on"] == "catch" and rejected)
        )
        if runs:
            if link.get("throws", False) or link.get("returns") == "rejected":
                rejected = True
            elif link["on"] != "finally":
                rejected = False
    return not rejected


def _check_fields(
    item: dict[str, Any],
    fields: tuple[tuple[str, ...], tuple[str, ...]],
    kind: str,
    where: str,
    extra: tuple[str, ...],
) -> None:
    required, optional = fields
    for key in required:
        if key not in item:
            raise InvalidScenario(f'{where}: {kind} needs "{key}"')
    for key in item:
        if key not in extra and key not in required and key not in optional:
            raise InvalidScenario(f'{where}: {kind} has no field "{key}"')


def validate_body(body: object, where: str, inside_async: bool = False) -> None:
    """Raise InvalidScenario naming `where` unless `body` is a list of well-formed ops."""
    if not isinstance(body, list):
        raise InvalidScenario(f"{where}: a body must be a list of ops")
    for index, op in enumerate(body):
        here = f"{where}[{index}]"
        name = op.get("op") if isinstance(op, dict) else None
        if name not in OP_FIELDS:
            raise InvalidScenario(f"{here}: unknown op {name!r}")
        _check_fields(op, OP_FIELDS[name], name, here, ("op",))
        if name == "await":
            if not inside_async:
                raise InvalidScenario(f"{here}: await outside an async body")
            if op["what"] not in AWAIT_KINDS:
                raise InvalidScenario(f"{here}: cannot await {op['what']!r}")
            if (op["what"] == "sleep") != ("delay" in op):
                raise InvalidScenario(
                    f'{here}: "delay" goes with (and only with) await sleep'
                )
        elif name == "then":
            if not isinstance(op["chain"], list) or not op["chain"]:
                raise InvalidScenario(f"{here}: then needs a non-empty chain")
            for i, link in enumerate(op["chain"]):
                validate_body(link, f"{here}.chain[{i}]")
        elif name == "chain":
            _validate_chain(op, here)
        elif name in COMBINATORS:
            _validate_inputs(op["inputs"], here)
            validate_body(op["body"], f"{here}.body")
        elif "body" in op:
            validate_body(op["body"], f"{here}.body", inside_async=name == "async")


def _validate_chain(op: Op, where: str) -> None:
    if op["from"] not in ("resolved", "rejected"):
        raise InvalidScenario(f'{where}: chain "from" is "resolved" or "rejected"')
    if not isinstance(op["links"], list) or not op["links"]:
        raise InvalidScenario(f"{where}: chain needs a non-empty links list")
    for i, link in enumerate(op["links"]):
        here = f"{where}.links[{i}]"
        if not isinstance(link, dict):
            raise InvalidScenario(f"{here}: a link is an object")
        _check_fields(link, (("on", "body"), ("throws", "returns")), "link", here, ())
        if link["on"] not in LINK_KINDS:
            raise InvalidScenario(f"{here}: a link is on then, catch or finally")
        if link.get("returns", "promise") not in RETURN_KINDS:
            raise InvalidScenario(f"{here}: a link returns {', '.join(RETURN_KINDS)}")
        if "returns" in link and link.get("throws", False):
            raise InvalidScenario(f"{here}: a link throws or returns, not both")
        validate_body(link["body"], f"{here}.body")
    if not chain_ends_handled(op):
        raise InvalidScenario(f"{where}: the chain ends rejected (unhandled)")


def _validate_inputs(inputs: object, where: str) -> None:
    if not isinstance(inputs, list):
        raise InvalidScenario(f"{where}: inputs must be a list")
    for i, item in enumerate(inputs):
        here = f"{where}.inputs[{i}]"
        kind = item.get("kind") if isinstance(item, dict) else None
        if kind not in INPUT_FIELDS:
            raise InvalidScenario(f"{here}: unknown input kind {kind!r}")
        _check_fields(item, INPUT_FIELDS[kind], kind, here, ("kind", "value"))
        if not isinstance(item.get("value"), str):
            raise InvalidScenario(f'{here}: an input needs a string "value"')


def validate_scenario(scenario: object, where: str) -> None:
    """Raise InvalidScenario unless `scenario` is a well-formed scenario object."""
    if not isinstance(scenario, dict):
        raise InvalidScenario(f"{where}: a scenario is a JSON object")
    for key in scenario:
        if key not in SCENARIO_KEYS:
            raise InvalidScenario(f'{where}: unknown key "{key}"')
    if not isinstance(scenario.get("name"), str):
        raise InvalidScenario(f'{where}: "name" must be a string')
    validate_body(scenario.get("program"), f"{where}: program")
    handles: set[str] = set()
    for op in walk(scenario["program"]):
        if "as" in op:
            handles.add(op["as"])
    for op in walk(scenario["program"]):
        if op["op"] in TARGET_OPS and op["target"] not in handles:
            raise InvalidScenario(
                f"{where}: {op['op']} names no handle {op['target']!r}"
            )
