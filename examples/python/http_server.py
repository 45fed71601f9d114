"""A tiny HTTP/1.1 server: ``/fast`` answers at once, ``/slow`` after a 50 ms timer, as the
server of Node's event-loop guides does. Both requests go out together; ``/fast`` comes back
first, because waiting on a timer blocks nobody.

    python examples/python/http_server.py            # send /slow then /fast, print, exit
    python examples/python/http_server.py --serve    # keep serving (curl 127.0.0.1:PORT/fast)
"""

from __future__ import annotations

import sys

import phaseloop
from phaseloop.net import Stream

SLOW_MS = 50


def respond(stream: Stream, body: str) -> None:
    data = body.encode()
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    stream.end(head.encode() + data)


def main() -> None:
    loop = phaseloop.Loop()

    def on_connection(stream: Stream) -> None:
        request = bytearray()

        def on_data(data: bytes) -> None:
            request.extend(data)
            if b"\r\n\r\n" not in request:
                return  # the head is not complete yet
            path = request.split(b" ", 2)[1].decode()
            print(f"[{loop.phase}] server: GET {path}")
            if path == "/slow":
                loop.set_timeout(respond, SLOW_MS, stream, f"slow after {SLOW_MS} ms\n")
            else:
                respond(stream, "fast\n")

        stream.on("data", on_data)

    server = loop.listen(on_connection)
    print(f"listening on http://{server.address[0]}:{server.address[1]}/")
    if "--serve" in sys.argv:
        loop.run()
        return

    answers: list[str] = []

    def get(path: str) -> None:
        stream = loop.connect(server.port)
        response = bytearray()
        stream.on(
            "connect", lambda: stream.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
        )
        stream.on("data", response.extend)

        def on_end() -> None:
            body = bytes(response).split(b"\r\n\r\n", 1)[1].decode().strip()
            print(f"[{loop.phase}] client: {path} -> {body!r}")
            answers.append(path)
            if len(answers) == 2:
                server.close()

        stream.on("end", on_end)

    get("/slow")
    get("/fast")
    loop.run()
    print("answered in order:", " ".join(answers))


if __name__ == "__main__":
    main()
