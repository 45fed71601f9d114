"""Native jobs for ``Loop.queue_work``: real work that runs on the pool without the GIL.

Pass one in place of a callable, with its arguments after it::

    loop.queue_work(phaseloop.jobs.sha256, b"data", callback=lambda error, digest: ...)

Each can also be called directly (it then runs on the calling thread, also without the GIL).
A failing job hands an ``OSError`` or ``ValueError`` to the callback.
"""

from ._phaseloop import NativeJob

sleep = NativeJob("sleep")
"""``sleep(ms)``: sleeps on a pool thread; result ``None``."""
read_file = NativeJob("read_file")
"""``read_file(path)``: the file's bytes."""
write_file = NativeJob("write_file")
"""``write_file(path, data)``: creates or truncates the file; result ``None``."""
sha256 = NativeJob("sha256")
"""``sha256(data)``: the 32-byte digest."""
pbkdf2 = NativeJob("pbkdf2")
"""``pbkdf2(password, salt, iterations, keylen, digest="sha512")``: the derived key."""
deflate = NativeJob("deflate")
"""``deflate(data, level=6)``: zlib-compressed bytes (as Node's ``zlib.deflate``)."""
inflate = NativeJob("inflate")
"""``inflate(data)``: the decompressed bytes; corrupt input is a ``ValueError``."""

__all__ = ["deflate", "inflate", "pbkdf2", "read_file", "sha256", "sleep", "write_file"]
