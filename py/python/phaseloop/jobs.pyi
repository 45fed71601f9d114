"""Type stubs for phaseloop.jobs: native jobs for ``Loop.queue_work``."""

from . import NativeJob

sleep: NativeJob
read_file: NativeJob
write_file: NativeJob
sha256: NativeJob
pbkdf2: NativeJob
deflate: NativeJob
inflate: NativeJob

__all__ = ["deflate", "inflate", "pbkdf2", "read_file", "sha256", "sleep", "write_file"]
