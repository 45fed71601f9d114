"""Run a worker program over many scenario files, in a few parallel processes.

Every runner here (node_runner.js, run_phaseloop.py --worker, the generated C program) is a
worker: given files on its command line, it runs them one after another and prints one JSON
line per file, in order. Scenarios mostly wait for timers, so a few workers side by side
cost little CPU and cut the wall time; FORMAT.md's margins already allow for a busy machine.

A worker that dies (a crash) or is stuck (no line for SECONDS_PER_FILE) loses only the file
it was running: it is reported as an error, and a new worker carries on with the files after
it.

Python 3.9+, standard library only.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

# Result of one file: {"log": [...]} or {"error": "..."} (plus "name").
Result = dict[str, Any]
# Given the files of one batch, the command line that runs them.
Command = Callable[[Sequence[Path]], list[str]]

# A worker that prints nothing for this long is stuck on the file it is running (Node's
# own runner gives a scenario 60 s; a scenario normally takes under a second or two).
SECONDS_PER_FILE = 90


def _read_lines(stream: IO[str], into: queue.Queue[str | None]) -> None:
    """Copy `stream` line by line into `into`, then None at its end; closes `stream`."""
    with stream:
        for line in stream:
            into.put(line)
    into.put(None)


def _one_worker(
    command: Command, files: Sequence[Path], env: dict[str, str] | None
) -> tuple[list[Result], str]:
    """Run one worker over `files` until it has printed a line per file, ends or is stuck;
    returns the results it printed and, if it stopped short, why."""
    process = subprocess.Popen(
        command(files),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None and process.stderr is not None
    lines: queue.Queue[str | None] = queue.Queue()
    errors: queue.Queue[str | None] = queue.Queue()
    threading.Thread(
        target=_read_lines, args=(process.stdout, lines), daemon=True
    ).start()
    threading.Thread(
        target=_read_lines, args=(process.stderr, errors), daemon=True
    ).start()
    results: list[Result] = []
    why = ""
    while len(results) < len(files):
        try:
            line = lines.get(timeout=SECONDS_PER_FILE)
        except queue.Empty:
            process.kill()
            why = f"stuck for {SECONDS_PER_FILE} s, killed"
            break
        if line is None:
            break
        if not line.strip():
            continue
        try:
            results.append(json.loads(line))
        except ValueError:
            results.append(
                {"name": files[len(results)].stem, "error": f"bad output {line!r}"}
            )
    process.wait()
    if len(results) < len(files):
        stderr = []
        while True:
            try:
                text = errors.get(timeout=1)
            except queue.Empty:
                break
            if text is None:
                break
            stderr.append(text.rstrip())
        why = why or f"exit {process.returncode}"
        why += ": " + " | ".join(stderr[-5:])
    return results, why


def _run_batch(
    command: Command, files: Sequence[Path], env: dict[str, str] | None
) -> list[Result]:
    """Run `files` in one worker, restarting it after the file it died on."""
    results: list[Result] = []
    rest = list(files)
    while rest:
        printed, why = _one_worker(command, rest, env)
        results.extend(printed)
        rest = rest[len(printed) :]
        if rest:
            # The worker stopped before printing this file's line: it died on it.
            results.append({"name": rest[0].stem, "error": f"worker died ({why})"})
            rest = rest[1:]
    return results


def run_sharded(
    command: Command,
    files: Sequence[Path],
    jobs: int,
    env: dict[str, str] | None = None,
) -> dict[Path, Result]:
    """Run `files` in `jobs` parallel workers; file -> its result.

    Files are dealt round-robin, so that slow scenarios (which tend to sit together, by
    name) spread over the workers."""
    jobs = max(1, min(jobs, len(files)))
    shards = [list(files[i::jobs]) for i in range(jobs)]
    outputs: list[list[Result]] = [[] for _ in shards]

    def work(index: int) -> None:
        outputs[index] = _run_batch(command, shards[index], env)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(shards))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results: dict[Path, Result] = {}
    for shard, output in zip(shards, outputs):
        results.update(zip(shard, output))
    return results


def node_command(node: str, runner: Path) -> Command:
    """The worker command of node_runner.js."""
    return lambda files: [node, str(runner), *map(str, files)]
