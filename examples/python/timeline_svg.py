"""The timeline of a loop you run yourself, as text and as an SVG picture.

    python examples/python/timeline_svg.py [OUT.svg]

`phaseloop.timeline.Timeline` groups any recorded `loop.timeline()` into macrotasks with the
ticks and microtasks drained after them; `phaseloop.svg.render` draws it (phases as lanes,
iterations left to right). Open the SVG in a browser; hovering a box shows its details.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import phaseloop
from phaseloop.svg import render
from phaseloop.timeline import Timeline


def main() -> None:
    with phaseloop.Loop(clock="virtual") as loop:
        loop.record()
        loop.set_interval(lambda: None, 10, label="poll sensor").unref()
        loop.set_timeout(lambda: loop.next_tick(lambda: None, label="flush"), 25)
        loop.set_immediate(lambda: None, label="start up")
        loop.run()
        timeline = Timeline(loop.timeline(), clock=loop.clock)

    print(timeline.text())
    default = Path(tempfile.gettempdir()) / "phaseloop-timeline.svg"
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    out.write_text(render(timeline, title="a loop of my own"), "utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
