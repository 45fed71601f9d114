"""The echo benchmark's Python servers, one per process: ``python servers.py KIND`` prints
``port N`` and echoes until killed. KIND: ``phaseloop`` (the phaseloop.net stream API),
``asyncio-streams``, ``asyncio-protocol``, ``uvloop-protocol``, ``uvloop-streams``,
``phaseloop-asyncio-protocol`` (an asyncio protocol on phaseloop.asyncio)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any


def phaseloop_server() -> None:
    import phaseloop

    loop = phaseloop.Loop()

    def on_connection(stream: Any) -> None:
        stream.set_no_delay()
        stream.on("data", stream.write)

    server = loop.listen(on_connection, 0, "127.0.0.1", backlog=1024)
    print("port", server.port, flush=True)
    loop.run()


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


async def protocol_server() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(EchoProtocol, "127.0.0.1", 0, backlog=1024)
    print("port", server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


async def streams_server() -> None:
    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while data := await reader.read(102400):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print("port", server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


def main(kind: str) -> None:
    if kind == "phaseloop":
        phaseloop_server()
        return
    runner: Any
    if kind.startswith("uvloop"):
        import uvloop

        runner = uvloop.run
    elif kind.startswith("phaseloop-asyncio"):
        import phaseloop.asyncio

        runner = phaseloop.asyncio.run
    else:
        runner = asyncio.run
    runner(protocol_server() if kind.endswith("protocol") else streams_server())


if __name__ == "__main__":
    main(sys.argv[1])
