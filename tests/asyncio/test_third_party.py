"""Real third-party asyncio programs on phaseloop.asyncio, as a user runs them: aiohttp's
server and client (HTTP, a 900 KB upload, a WebSocket), and uvicorn serving an ASGI app.
Every answer is checked, and the loop underneath is phaseloop's."""

from __future__ import annotations

import asyncio
from typing import Any

import phaseloop.asyncio as pla
import pytest

aiohttp = pytest.importorskip("aiohttp")
web = pytest.importorskip("aiohttp.web")
uvicorn = pytest.importorskip("uvicorn")


async def aiohttp_round_trips() -> dict[str, Any]:
    assert isinstance(asyncio.get_running_loop(), pla.EventLoop)

    async def echo_size(request: Any) -> Any:
        body = await request.read()
        return web.json_response({"path": request.path, "len": len(body)})

    async def shout(request: Any) -> Any:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for message in socket:
            await socket.send_str(message.data.upper())
        return socket

    app = web.Application()
    app.router.add_route("*", "/size/{name}", echo_size)
    app.router.add_get("/ws", shout)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    answers: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession() as session:
            sizes = []
            for i in range(20):
                url = f"http://127.0.0.1:{port}/size/{i}"
                async with session.post(url, data=b"x" * (i * 1000)) as response:
                    sizes.append(await response.json())
            answers["sizes"] = sizes
            url = f"http://127.0.0.1:{port}/size/big"
            async with session.post(url, data=b"y" * 900_000) as response:
                answers["big"] = (await response.json())["len"]
            async with session.ws_connect(f"http://127.0.0.1:{port}/ws") as socket:
                await socket.send_str("hello")
                answers["ws"] = (await socket.receive()).data
    finally:
        await runner.cleanup()
    return answers


def test_aiohttp_server_and_client() -> None:
    answers = pla.run(aiohttp_round_trips())
    assert answers["sizes"] == [
        {"path": f"/size/{i}", "len": i * 1000} for i in range(20)
    ]
    assert answers["big"] == 900_000
    assert answers["ws"] == "HELLO"


async def uvicorn_round_trips() -> list[tuple[int, str]]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"%d" % len(body)})

    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", loop="none", http="h11"
    )
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    got = []
    async with aiohttp.ClientSession() as session:
        for size in (0, 10, 100_000):
            url = f"http://127.0.0.1:{port}/"
            async with session.post(url, data=b"z" * size) as response:
                got.append((response.status, await response.text()))
    server.should_exit = True
    await serving
    return got


def test_uvicorn_serves_an_asgi_app() -> None:
    got = pla.run(uvicorn_round_trips())
    assert got == [(200, "0"), (200, "10"), (200, "100000")]
