"""phaseloop.dgram (Loop.udp) and phaseloop.dns (Loop.lookup): Node's dgram and dns.lookup,
with the ticks Node puts between their calls and their callbacks (docs/net.md)."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from typing import Any

import phaseloop
import pytest


@pytest.fixture
def net_loop() -> Iterator[phaseloop.Loop]:
    with phaseloop.Loop(threadpool_size=1) as lp:
        yield lp


def test_a_udp_round_trip_in_nodes_order(net_loop: phaseloop.Loop) -> None:
    log: list[str] = []
    loop = net_loop

    def on_server(data: bytes, sender: Any) -> None:
        log.append(f"server got {data.decode()} from {sender[0]} in {loop.phase}")
        server.send(
            b"pong", sender[1], sender[0], lambda err: log.append(f"server sent {err}")
        )
        loop.next_tick(lambda: log.append("tick after send"))

    server = loop.udp(on_server).bind(0, "127.0.0.1", lambda: log.append("listening"))
    client = loop.udp()

    def on_client(data: bytes, sender: Any) -> None:
        log.append(f"client got {data.decode()} in {loop.phase}")
        client.close(lambda: log.append("client closed"))
        server.close()

    client.on("message", on_client)
    client.send(
        "ping",
        server.address[1],
        "127.0.0.1",
        lambda err: log.append(f"client sent {err}"),
    )
    loop.next_tick(lambda: log.append("tick after client send"))
    loop.run()
    # The order node prints for the same program (dgram, v20).
    assert log == [
        "listening",
        "tick after client send",
        "client sent None",
        "server got ping from 127.0.0.1 in poll",
        "tick after send",
        "server sent None",
        "client got pong in poll",
        "client closed",
    ]
    assert not loop.alive


def test_bind_errors_raise_at_once_and_bad_arguments_name_themselves(
    net_loop: phaseloop.Loop,
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        sock = net_loop.udp()
        with pytest.raises(OSError) as info:
            sock.bind(taken.getsockname()[1], "127.0.0.1")
        assert info.value.errno == errno.EADDRINUSE
    with pytest.raises(ValueError, match="host"):
        sock.bind(0, "localhost")
    with pytest.raises(ValueError, match="family"):
        net_loop.udp(family=5)
    with pytest.raises(TypeError, match="data"):
        sock.send(3.5, 9)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ttl"):
        sock.set_ttl(0)
    with pytest.raises(ValueError, match="group"):
        sock.add_membership("not an address")
    sock.close()
    with pytest.raises(OSError) as closed:
        sock.send(b"x", 9)
    assert closed.value.errno == errno.EBADF
    net_loop.run()
    assert net_loop.handles() == []


def test_connected_udp_hears_that_nobody_listens(net_loop: phaseloop.Loop) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log: list[Any] = []
    sock = net_loop.udp()
    sock.on("error", lambda err: (log.append((type(err), err.errno)), sock.close()))
    sock.connect(port, "127.0.0.1", lambda: sock.send(b"anyone?"))
    assert sock.remote_address == ("127.0.0.1", port)
    net_loop.run()
    assert log == [(ConnectionRefusedError, errno.ECONNREFUSED)]


def test_sending_to_a_port_nobody_listens_on_succeeds_unconnected(
    net_loop: phaseloop.Loop,
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log: list[Any] = []
    sock = net_loop.udp()
    sock.send(
        b"into the void", port, callback=lambda err: (log.append(err), sock.close())
    )
    net_loop.run()
    assert log == [None]


def test_an_unrefed_receiving_socket_lets_the_loop_end(
    net_loop: phaseloop.Loop,
) -> None:
    sock = net_loop.udp().bind().unref()
    assert not sock.has_ref()
    net_loop.run()
    assert sock.address[1] > 0
    sock.close()
    net_loop.run()


def test_a_lookup_runs_on_the_pool_and_an_address_through_the_tick_queue(
    net_loop: phaseloop.Loop,
) -> None:
    log: list[Any] = []
    work = net_loop.lookup(
        "localhost",
        lambda err, found: log.append(("name", err, net_loop.phase, found)),
        family=4,
    )
    assert isinstance(work, phaseloop.Work)
    literal = net_loop.lookup(
        "::1", lambda err, found: log.append(("literal", err, net_loop.phase, found))
    )
    assert literal is None
    net_loop.run()
    # The literal is answered in the drain after the main script, before any phase.
    assert log[0] == ("literal", None, None, [(6, "::1")])
    name = log[1]
    assert name[:3] == ("name", None, "poll")
    assert ("127.0.0.1" in [a for f, a in name[3]]) and all(f == 4 for f, a in name[3])
    assert len(log) == 2


def test_a_name_that_does_not_resolve_is_a_gaierror_with_nodes_code(
    net_loop: phaseloop.Loop,
) -> None:
    log: list[Any] = []
    net_loop.lookup("no-such-host.invalid", lambda err, found: log.append((err, found)))
    net_loop.run()
    ((err, found),) = log
    assert found is None
    assert isinstance(err, socket.gaierror)
    assert err.errno in (
        socket.EAI_NONAME,
        socket.EAI_AGAIN,
        getattr(socket, "EAI_NODATA", -5),
    )
    assert err.code in ("ENOTFOUND", "EAI_AGAIN")  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="family"):
        net_loop.lookup("localhost", print, family=5)
    with pytest.raises(TypeError, match="callback"):
        net_loop.lookup("localhost", None)  # type: ignore[arg-type]


# ----- the per-datagram paths (py/src/udp_dispatch.rs) --------------------------------------


def test_a_send_whose_socket_closed_before_its_tick_tells_its_callback_ebadf(
    net_loop: phaseloop.Loop,
) -> None:
    errors: list[int] = []
    sock = net_loop.udp().bind(0, "127.0.0.1")
    target = net_loop.udp().bind(0, "127.0.0.1")
    sock.send(
        b"x", target.address[1], "127.0.0.1", lambda err: errors.append(err.errno)
    )
    sock.send(b"y", target.address[1], "127.0.0.1")  # no callback: nothing to tell
    sock.close()
    target.close()
    net_loop.run()
    assert errors == [errno.EBADF]


def test_message_listeners_are_those_of_the_moment_the_datagram_arrived(
    net_loop: phaseloop.Loop,
) -> None:
    heard: list[str] = []
    server = net_loop.udp().bind(0, "127.0.0.1")

    def first(data: bytes, sender: Any) -> None:
        heard.append(f"first {data.decode()}")
        server.off("message", second)  # the datagram at hand still reaches second
        if data == b"2":
            server.close()
            client.close()

    def second(data: bytes, sender: Any) -> None:
        heard.append(f"second {data.decode()}")
        client.send(b"2", server.address[1], "127.0.0.1")

    server.on("message", first)
    server.on("message", second)
    client = net_loop.udp()
    client.send(b"1", server.address[1], "127.0.0.1")
    net_loop.run()
    assert heard == ["first 1", "second 1", "first 2"]


def test_a_send_callback_runs_in_the_context_send_was_called_in(
    net_loop: phaseloop.Loop,
) -> None:
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    seen: list[str] = []
    server = net_loop.udp().bind(0, "127.0.0.1")
    client = net_loop.udp()

    def send_in_context() -> None:
        var.set("sender's")
        client.send(
            b"x", server.address[1], "127.0.0.1", lambda err: seen.append(var.get())
        )

    contextvars.copy_context().run(send_in_context)
    net_loop.set_timeout(lambda: (server.close(), client.close()), 20)
    net_loop.run()
    assert seen == ["sender's"]
    assert var.get() == "unset"


def test_a_listener_that_raises_reaches_on_error_and_the_loop_goes_on() -> None:
    caught: list[str] = []
    with phaseloop.Loop() as lp:
        lp.on_error = lambda exc: caught.append(str(exc))
        server = lp.udp().bind(0, "127.0.0.1")
        client = lp.udp()

        def boom(data: bytes, sender: Any) -> None:
            lp.set_timeout(lambda: (server.close(), client.close()), 0)
            raise RuntimeError(f"listener saw {data.decode()}")

        server.on("message", boom)
        client.send(b"x", server.address[1], "127.0.0.1")
        lp.run()
    assert caught == ["listener saw x"]


def test_the_message_dispatch_called_directly_emits_as_the_loop_would(
    net_loop: phaseloop.Loop,
) -> None:
    # A trace hook is shown the dispatch as the datagram's callback; calling it is emitting.
    from phaseloop import _phaseloop  # type: ignore[attr-defined]

    heard: list[object] = []
    sock = net_loop.udp(lambda data, sender: heard.append((data, sender)))
    sock.on("error", lambda err: heard.append(err.errno))
    dispatch = _phaseloop._MessageDispatch(sock, sock._listeners)
    dispatch(None, (b"x", ("127.0.0.1", 9)))
    dispatch(OSError(errno.EMSGSIZE, "too long"), None)
    dispatch(None, None)  # nothing to emit
    sock.close()
    net_loop.run()
    assert heard == [(b"x", ("127.0.0.1", 9)), errno.EMSGSIZE]
