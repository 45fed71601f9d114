"""A UDP ping: a socket answers "pong" to every "ping", another sends three and times them.

    python examples/python/udp_ping.py

A datagram arrives in the poll phase; the send callback of a datagram the kernel took at once
runs through the tick queue, as in Node's dgram.
"""

from __future__ import annotations

import phaseloop


def main() -> None:
    loop = phaseloop.Loop()

    def answer(data: bytes, sender: tuple[str, int]) -> None:
        server.send(b"pong " + data, sender[1], sender[0])

    server = loop.udp(answer).bind(0, "127.0.0.1")
    client = loop.udp()
    sent_at: dict[int, int] = {}

    def on_pong(data: bytes, sender: tuple[str, int]) -> None:
        n = int(data.split()[-1])
        micros = (loop.hrtime() - sent_at[n]) / 1000
        print(
            f"[{loop.phase}] {data.decode()} from {sender[0]}:{sender[1]} in {micros:.0f} us"
        )
        if n < 3:
            ping(n + 1)
        else:
            client.close()
            server.close(lambda: print("closed"))

    client.on("message", on_pong)

    def ping(n: int) -> None:
        sent_at[n] = loop.hrtime()
        client.send(f"ping {n}", server.address[1], "127.0.0.1")

    ping(1)
    loop.run()


if __name__ == "__main__":
    main()
