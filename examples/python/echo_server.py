"""An echo server and three clients on one loop, with the phase each callback ran in.

    python examples/python/echo_server.py            # serve three clients, print, exit
    python examples/python/echo_server.py --serve    # keep serving (try: nc 127.0.0.1 PORT)

Accepts, connects and reads run in the poll phase; a write the kernel takes whole calls its
callback through the tick queue (as Node's socket.write does); "close" runs in the close
phase, after that iteration's immediates.
"""

from __future__ import annotations

import sys

import phaseloop
from phaseloop.net import Stream


def main() -> None:
    loop = phaseloop.Loop()
    serve = "--serve" in sys.argv

    def on_connection(stream: Stream) -> None:
        print(f"[{loop.phase}] connection from {stream.remote_address}")
        stream.on("data", stream.write)  # echo; write() returns False when we must wait

    server = loop.listen(on_connection, 0, "127.0.0.1")
    print(f"listening on {server.address}")
    if serve:
        loop.run()
        return

    done = 0

    def client(n: int) -> None:
        message = f"hello {n}".encode()
        stream = loop.connect(server.port)

        def on_connect() -> None:
            print(f"[{loop.phase}] client {n} connected")
            stream.write(message, lambda err: print(f"[{loop.phase}] client {n} wrote"))

        def on_data(data: bytes) -> None:
            print(f"[{loop.phase}] client {n} got {data!r}")
            assert data == message
            stream.end()

        def on_close(had_error: bool) -> None:
            nonlocal done
            done += 1
            print(f"[{loop.phase}] client {n} closed")
            if done == 3:
                server.close(lambda: print("server closed"))

        stream.on("connect", on_connect).on("data", on_data).on("close", on_close)

    for n in range(3):
        client(n)
    loop.run()


if __name__ == "__main__":
    main()
