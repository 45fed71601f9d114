"""``python -m phaseloop``: run an experiment or the demo puzzles (see `phaseloop.cli`)."""

import os
import sys

from .cli import main

if __name__ == "__main__":
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`python -m phaseloop demo | head`): stop quietly, as Unix
        # tools do, without a second error when Python flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 1
    sys.exit(status)
