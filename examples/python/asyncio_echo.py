"""An asyncio echo server and client, unchanged asyncio code, run on phaseloop.asyncio.

    python examples/python/asyncio_echo.py
    python -m phaseloop run --asyncio examples/python/asyncio_echo.py   # with its timeline

In the timeline: the fd watcher that sees each socket ready runs in the poll phase, and the
task it wakes (labelled with the task's name) runs in the check phase of the same iteration.
"""

from __future__ import annotations

import asyncio


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    data = await reader.read(100)
    writer.write(data)
    await writer.drain()
    writer.close()


async def main() -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def client() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello")
        reply = await reader.read(100)
        writer.close()
        await writer.wait_closed()
        return reply

    reply = await asyncio.create_task(client(), name="client")
    print(f"echoed {reply!r}")
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    # Under `python -m phaseloop run --asyncio`, asyncio.run already uses phaseloop; run
    # directly, use phaseloop.asyncio.run (as uvloop.run).
    import phaseloop.asyncio

    if isinstance(asyncio.get_event_loop_policy(), phaseloop.asyncio.EventLoopPolicy):
        asyncio.run(main())
    else:
        phaseloop.asyncio.run(main())
