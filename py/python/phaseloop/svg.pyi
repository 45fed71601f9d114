"""Type stubs for phaseloop.svg: a timeline drawn as an SVG picture."""

from .timeline import Timeline

DEFAULT_LIMIT: int

def render(timeline: Timeline, *, title: str = "", limit: int = ...) -> str:
    """The SVG document of ``timeline``; at most ``limit`` turns are drawn."""

__all__ = ["DEFAULT_LIMIT", "render"]
