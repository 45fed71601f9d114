"""A process pipeline, `printf ... | sort | uniq -c`, wired through the loop: each child's
stdout is a stream whose data is written to the next child's stdin.

    python examples/python/process_pipeline.py

"exit" runs in the poll phase when a child exits; "close" once it has exited and its output
pipes have closed, so the last line printed comes after every byte.
"""

from __future__ import annotations

import phaseloop

WORDS = "pear\napple\npear\nfig\napple\npear\n"


def main() -> None:
    loop = phaseloop.Loop()
    sort = loop.spawn(["sort"])
    uniq = loop.spawn(["uniq", "-c"])
    assert sort.stdin and sort.stdout and uniq.stdin and uniq.stdout
    sort.stdout.on("data", uniq.stdin.write)
    sort.stdout.on("end", uniq.stdin.end)
    output = bytearray()
    uniq.stdout.on("data", output.extend)
    for name, child in (("sort", sort), ("uniq", uniq)):
        child.on(
            "exit",
            lambda code, sig, name=name: print(f"[{loop.phase}] {name} exited {code}"),
        )
    uniq.on("close", lambda code, sig: print(output.decode(), end=""))
    sort.stdin.end(WORDS)
    loop.run()


if __name__ == "__main__":
    main()
