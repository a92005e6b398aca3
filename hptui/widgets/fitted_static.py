"""A Static whose updates lay the screen out again only when its size would change.

Textual's `Static.update` asks for a layout pass of the whole screen by default: every pane
is arranged and repainted, 10-30 ms on a quiet machine. The trial and penalty panes change on
most reads, mostly within their height (they are at least as tall as their pane: app.tcss), so
new content is measured first (the lines it wraps to at the widget's width) and only content
that would change the widget's height pays for a layout pass.
"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from textual.widgets import Static


def needs_layout(shown: int, new: int, height: int) -> bool:
    """Whether the widget's height changes when `new` lines replace `shown` lines in a widget
    `height` lines tall (its laid-out height: at least its content, more when a minimum
    height holds it open)."""
    if new == shown:
        return False
    if shown < height:  # the minimum height set it, not the content: it still does if `new` fits
        return new > height
    return True


class FittedStatic(Static):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fit: tuple[int, int] | None = None  # (width, lines) of what was shown last

    def _measure(self, renderable: RenderableType) -> tuple[int, int] | None:
        width = self.content_region.width
        if width <= 0 or not self.is_attached:
            return None  # not laid out yet, or hidden: Textual lays it out
        console = self.app.console
        options = console.options.update_width(width)
        return width, len(console.render_lines(renderable, options, pad=False))

    def show_content(self, renderable: RenderableType) -> bool:
        """Show `renderable`; returns whether the screen is laid out again for it."""
        fit, last = self._measure(renderable), self._fit
        layout = (
            fit is None
            or last is None
            or fit[0] != last[0]
            or needs_layout(last[1], fit[1], self.content_region.height)
        )
        self._fit = fit
        self.update(renderable, layout=layout)
        return layout
