"""A timeline drawn as an SVG picture: phases as lanes, iterations left to right.

Every macrotask is a box in the lane of the phase that ran it (the main script has a lane of
its own), in the order the callbacks ran, so the picture reads left to right like the log. The
ticks and microtasks drained after a box hang from it on a line, as small tags in the same
lane, before the next box. Alternate shading marks the iterations, numbered at the top; a
legend at the bottom says what the colours and shapes mean; hovering shows a callback's full
label, log and times. Long labels are cut in the picture, never in the hover text.
"""

from __future__ import annotations

from typing import NamedTuple
from xml.sax.saxutils import escape, quoteattr

from .timeline import PHASES, Step, Timeline, Turn, short_label

#: Draw at most this many turns by default (a macrotask with its drain); the rest is counted.
DEFAULT_LIMIT = 400

_FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
_LEFT = 128  # the lane labels' column
_TOP = 80  # title, subtitle and iteration numbers above the lanes
_LANE_USED = 70
_LANE_EMPTY = 24
_BOX_H = 56
_TAG_H = 36
_GAP_TAG = 6
_GAP_TURN = 14
_PAD = 16

# Kind -> (fill, stroke) and the legend's groups of kinds.
_GROUPS = [
    ("timers", ("timeout", "interval"), "#dbe8fa", "#2f6fbf"),
    ("I/O and pool", ("io", "work", "threadsafe", "signal"), "#dcf2e1", "#2e8b57"),
    ("check and immediates", ("immediate", "check"), "#fde6cc", "#c8641c"),
    ("pending, idle, prepare", ("pending", "idle", "prepare"), "#ebebeb", "#6f6f6f"),
    ("close", ("close",), "#f7d8d8", "#b22222"),
]
_COLOURS = {
    kind: (fill, stroke) for _, kinds, fill, stroke in _GROUPS for kind in kinds
}
_SCRIPT = ("#f2f2f2", "#333333")
_DRAINED = {"tick": ("#f1e6fb", "#7b3fb3"), "microtask": ("#dff3f3", "#0f7f81")}


def _text_width(text: str, size: float) -> float:
    """An estimate of the width of ``text`` in the sans font at ``size`` px (no layout engine)."""
    return len(text) * size * 0.6


def _fit(text: str, width: float, size: float) -> str:
    """``text`` cut with an ellipsis so that it fits in ``width`` px."""
    if _text_width(text, size) <= width:
        return text
    keep = max(1, int(width / (size * 0.6)) - 1)
    return text[:keep] + "…"


class _Box(NamedTuple):
    x: float
    width: float


def _box_width(turn: Turn) -> float:
    lines = [_label(turn.callback), *turn.log[:2]]
    widest = max(_text_width(line, 11.5) for line in lines)
    return max(112.0, min(210.0, widest + 20))


def _tag_width(step: Step, count: int) -> float:
    widest = max(
        _text_width(_tag_title(step, count), 9.5), _text_width(_tag_text(step), 10.5)
    )
    return max(76.0, min(200.0, widest + 30))


def _label(step: Step | None) -> str:
    if step is None:
        return "main script"
    return short_label(step.event.label)


def _tag_title(step: Step, count: int) -> str:
    return step.event.kind + (f" ×{count}" if count > 1 else "")


def _tag_text(step: Step) -> str:
    return step.log[0] if step.log else _label(step)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _ms(value: float) -> str:
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def render(timeline: Timeline, *, title: str = "", limit: int = DEFAULT_LIMIT) -> str:
    """The SVG document (a string) of ``timeline``; at most ``limit`` turns are drawn."""
    turns = timeline.turns[:limit]
    used = {"script"} | {turn.phase or "script" for turn in turns[1:]}
    lanes = ["script", *PHASES]
    lane_y: dict[str, float] = {}
    y = float(_TOP)
    for lane in lanes:
        lane_y[lane] = y
        y += _LANE_USED if lane in used else _LANE_EMPTY
    lanes_bottom = y

    # Horizontal layout: each turn's box, then its tags, in execution order.
    placed: list[tuple[Turn, _Box, list[tuple[Step, int, _Box]]]] = []
    x = float(_LEFT + _PAD)
    for turn in turns:
        box = _Box(x, _box_width(turn))
        x += box.width
        tags = []
        for step, count in turn.drained_runs():
            x += _GAP_TAG
            tag = _Box(x, _tag_width(step, count))
            tags.append((step, count, tag))
            x += tag.width
        placed.append((turn, box, tags))
        x += _GAP_TURN
    width = max(x + _PAD, 960.0)

    out: list[str] = []
    legend, legend_height = _legend(width, lanes_bottom + 28)
    left_out = len(timeline.turns) - len(turns)
    height = lanes_bottom + 28 + legend_height + (22 if left_out else 0) + _PAD
    out.append(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'font-family="{_FONT}">'
    )
    out.append(f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>')
    facts = (
        f"{_count(len(timeline.events), 'callback')} in "
        f"{_count(timeline.iterations, 'iteration')} · clock: {timeline.clock} · "
        f"drain: {timeline.drain} · time runs left to right, one box per callback"
    )
    out.append(
        f'<text class="title" x="{_PAD}" y="24" font-size="15" font-weight="bold" '
        f'fill="#222">{escape(title or "phaseloop timeline")}</text>'
    )
    out.append(
        f'<text x="{_PAD}" y="43" font-size="11.5" fill="#555">{escape(facts)}</text>'
    )
    out += _iteration_bands(placed, lanes_bottom)
    out += _lanes(lanes, lane_y, used, width, lanes_bottom)
    for turn, box, tags in placed:
        out += _turn(timeline, turn, box, tags, lane_y)
    if left_out:
        out.append(
            f'<text x="{_PAD}" y="{lanes_bottom + 20:.0f}" font-size="12" fill="#b22222">'
            f"… and {left_out} more turns not drawn (the JSON and the text timeline have "
            "them all)</text>"
        )
    out += legend
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _iteration_bands(
    placed: list[tuple[Turn, _Box, list[tuple[Step, int, _Box]]]], bottom: float
) -> list[str]:
    spans: dict[int, list[float]] = {}
    for turn, box, tags in placed:
        key = -1 if turn.callback is None else turn.iteration
        end = tags[-1][2].x + tags[-1][2].width if tags else box.x + box.width
        span = spans.setdefault(key, [box.x, end])
        span[0], span[1] = min(span[0], box.x), max(span[1], end)
    out = ['<g class="iterations">']
    for n, (iteration, (start, end)) in enumerate(spans.items()):
        x0, x1 = start - _GAP_TURN / 2, end + _GAP_TURN / 2
        fill = "#eef3fa" if n % 2 else "#f8f8f8"
        name = "main script" if iteration < 0 else f"iteration {iteration}"
        short = "script" if iteration < 0 else f"it. {iteration}"
        text = name if _text_width(name, 11) < x1 - x0 - 6 else short
        if _text_width(text, 11) >= x1 - x0 - 4:
            text = "" if iteration < 0 else str(iteration)
        data = "script" if iteration < 0 else str(iteration)
        out.append(
            f'<g class="iteration" data-iteration="{data}">'
            f'<rect x="{x0:.1f}" y="{_TOP - 24}" width="{x1 - x0:.1f}" '
            f'height="{bottom - _TOP + 24:.1f}" fill="{fill}"/>'
            f'<line x1="{x0:.1f}" y1="{_TOP - 24}" x2="{x0:.1f}" y2="{bottom:.1f}" '
            'stroke="#c9d3e0" stroke-dasharray="3,3"/>'
            f'<text x="{(x0 + x1) / 2:.1f}" y="{_TOP - 8}" font-size="11" '
            f'text-anchor="middle" fill="#44546a" font-weight="bold">{escape(text)}</text>'
            "</g>"
        )
    out.append("</g>")
    return out


def _lanes(
    lanes: list[str],
    lane_y: dict[str, float],
    used: set[str],
    width: float,
    bottom: float,
) -> list[str]:
    out = ['<g class="lanes">']
    for number, lane in enumerate(lanes):
        y = lane_y[lane]
        height = _LANE_USED if lane in used else _LANE_EMPTY
        name = "main script" if lane == "script" else f"{number} {lane}"
        colour = "#222" if lane in used else "#9a9a9a"
        weight = "bold" if lane in used else "normal"
        out.append(
            f'<g class="lane" data-phase="{lane}">'
            f'<line x1="0" y1="{y:.1f}" x2="{width:.0f}" y2="{y:.1f}" stroke="#d0d0d0"/>'
            f'<text x="{_PAD}" y="{y + height / 2 + 4:.1f}" font-size="12.5" '
            f'fill="{colour}" font-weight="{weight}">{escape(name)}</text>'
            "</g>"
        )
    out.append(
        f'<line x1="0" y1="{bottom:.1f}" x2="{width:.0f}" y2="{bottom:.1f}" '
        'stroke="#d0d0d0"/>'
    )
    out.append(
        f'<line x1="{_LEFT}" y1="{_TOP - 24}" x2="{_LEFT}" y2="{bottom:.1f}" '
        'stroke="#b0b0b0"/>'
    )
    out.append("</g>")
    return out


def _turn(
    timeline: Timeline,
    turn: Turn,
    box: _Box,
    tags: list[tuple[Step, int, _Box]],
    lane_y: dict[str, float],
) -> list[str]:
    lane = turn.phase or "script"
    top = lane_y[lane] + (_LANE_USED - _BOX_H) / 2
    mid = top + _BOX_H / 2
    out: list[str] = []
    if tags:
        # The line the drained tags hang from: from this box to its last tag.
        end = tags[-1][2].x + tags[-1][2].width / 2
        out.append(
            f'<line class="drain" x1="{box.x + box.width:.1f}" y1="{mid:.1f}" '
            f'x2="{end:.1f}" y2="{mid:.1f}" stroke="#8a8a8a" stroke-width="1.5"/>'
        )
    out.append(_macrotask(timeline, turn, box, top))
    after = "script" if turn.callback is None else str(turn.callback.position)
    for step, count, tag in tags:
        out.append(_drained(timeline, step, count, tag, mid, after))
    return out


def _macrotask(timeline: Timeline, turn: Turn, box: _Box, top: float) -> str:
    step = turn.callback
    if step is None:
        fill, stroke = _SCRIPT
        head = "main script"
        label = ""
        attrs = 'class="script" data-kind="script"'
        hover = ["main script", *turn.log]
    else:
        event = step.event
        fill, stroke = _COLOURS.get(event.kind, _SCRIPT)
        took = event.duration_ns / 1e6
        head = f"#{step.position} {event.kind}"
        if timeline.clock == "real":  # on the virtual clock the times say little
            head += f" · at {_ms(timeline.ms(event))}"
        if took >= 1:
            head += f" · took {_ms(took)}"
        label = _label(step)
        attrs = (
            f'class="callback" data-index="{step.position}" data-kind="{event.kind}" '
            f'data-iteration="{event.iteration}" data-phase="{event.phase or "script"}" '
            f"data-label={quoteattr(event.label or '')}"
        )
        hover = [
            f"#{step.position} {event.kind} {event.label or '?'}",
            f"iteration {event.iteration}, phase {event.phase or 'main script'}",
            f"at {timeline.ms(event):.3f} ms, took {took:.3f} ms",
            *turn.log,
        ]
    inner = box.width - 14
    first = (
        f'<text x="{box.x + 7:.1f}" y="{top + 14:.1f}" font-size="9.5" fill="{stroke}" '
        f'font-weight="bold">{escape(_fit(head, inner, 9.5))}</text>'
    )
    lines = [first]
    y = top + 28
    if label:
        lines.append(
            f'<text x="{box.x + 7:.1f}" y="{y:.1f}" font-size="11.5" fill="#111">'
            f"{escape(_fit(label, inner, 11.5))}</text>"
        )
        y += 13
    shown = turn.log[: 2 if label else 3]
    for n, text in enumerate(shown):
        if n == len(shown) - 1 and len(turn.log) > len(shown):
            text = f"{text} (+{len(turn.log) - len(shown)})"
        lines.append(
            f'<text x="{box.x + 7:.1f}" y="{y:.1f}" font-size="10.5" fill="#333" '
            f'font-style="italic">{escape(_fit("› " + text, inner, 10.5))}</text>'
        )
        y += 12
    return (
        f"<g {attrs}><title>{escape(chr(10).join(hover))}</title>"
        f'<rect x="{box.x:.1f}" y="{top:.1f}" width="{box.width:.1f}" height="{_BOX_H}" '
        f'rx="5" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
        + "".join(lines)
        + "</g>"
    )


def _drained(
    timeline: Timeline, step: Step, count: int, tag: _Box, mid: float, after: str
) -> str:
    event = step.event
    fill, stroke = _DRAINED.get(event.kind, _SCRIPT)
    top = mid - _TAG_H / 2
    hover = [
        f"#{step.position} {event.kind} {event.label or '?'}"
        + (f" (×{count} in a row)" if count > 1 else ""),
        f"drained after {'the main script' if after == 'script' else '#' + after}",
        f"at {timeline.ms(event):.3f} ms",
        *step.log,
    ]
    cx, cy = tag.x + 11, top + 12
    if event.kind == "tick":
        mark = f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4.5" fill="{stroke}"/>'
    else:
        mark = (
            f'<rect x="{cx - 3.8:.1f}" y="{cy - 3.8:.1f}" width="7.6" height="7.6" '
            f'fill="{stroke}" transform="rotate(45 {cx:.1f} {cy:.1f})"/>'
        )
    inner = tag.width - 26
    return (
        f'<g class="callback drained" data-index="{step.position}" data-kind="{event.kind}" '
        f'data-after="{after}" data-count="{count}" '
        f"data-label={quoteattr(event.label or '')}>"
        f"<title>{escape(chr(10).join(hover))}</title>"
        f'<rect x="{tag.x:.1f}" y="{top:.1f}" width="{tag.width:.1f}" height="{_TAG_H}" '
        f'rx="{_TAG_H / 2:.0f}" fill="{fill}" stroke="{stroke}" stroke-width="1.2"/>'
        f"{mark}"
        f'<text x="{tag.x + 20:.1f}" y="{top + 15:.1f}" font-size="9.5" fill="{stroke}" '
        f'font-weight="bold">{escape(_fit(_tag_title(step, count), inner, 9.5))}</text>'
        f'<text x="{tag.x + 12:.1f}" y="{top + 29:.1f}" font-size="10.5" fill="#222">'
        f"{escape(_fit(_tag_text(step), tag.width - 20, 10.5))}</text>"
        "</g>"
    )


def _legend(width: float, top: float) -> tuple[list[str], float]:
    """The legend's elements, wrapped to ``width``, and the height they take."""
    items: list[tuple[str, str]] = []
    for name, kinds, fill, stroke in _GROUPS:
        swatch = (
            f'<rect x="0" y="-10" width="22" height="13" rx="3" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="1.5"/>'
        )
        items.append((swatch, f"{name} ({', '.join(kinds)})"))
    for kind, (fill, stroke) in _DRAINED.items():
        if kind == "tick":
            mark = f'<circle cx="11" cy="-3.5" r="4.5" fill="{stroke}"/>'
            text = "tick (next_tick), hung from the callback it drained after"
        else:
            mark = (
                f'<rect x="7.2" y="-7.3" width="7.6" height="7.6" fill="{stroke}" '
                'transform="rotate(45 11 -3.5)"/>'
            )
            text = "microtask (queue_microtask, promise jobs), hung the same way"
        swatch = (
            f'<rect x="0" y="-11" width="22" height="15" rx="7" fill="{fill}" '
            f'stroke="{stroke}"/>{mark}'
        )
        items.append((swatch, text))
    items.append(("", "#n: the callback's place in the timeline; ×n: n in a row"))

    out = [f'<g class="legend" transform="translate(0 {top:.1f})">']
    x, y = float(_PAD), 0.0
    for swatch, text in items:
        item_width = (30 if swatch else 0) + _text_width(text, 11) + 26
        if x + item_width > width - _PAD and x > _PAD:
            x, y = float(_PAD), y + 22
        out.append(
            f'<g transform="translate({x:.1f} {y:.1f})">{swatch}'
            f'<text x="{30 if swatch else 0}" y="0" font-size="11" fill="#333">'
            f"{escape(text)}</text></g>"
        )
        x += item_width
    out.append("</g>")
    return out, y + 22


__all__ = [
    "DEFAULT_LIMIT",
    "render",
]
