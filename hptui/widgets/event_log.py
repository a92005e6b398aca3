"""The engine's log (table events), new lines appended, wrapped to the pane's width."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from rich.text import Text
from textual import events
from textual.widgets import RichLog

from hptui.widgets.steady_scroll import SteadyScrollView

# Each line is kept as a rendered Strip; the full log stays in the store (`hptui show`).
MAX_LINES = 400
LEVEL_STYLE = {"warning": "yellow", "error": "bold red", "info": ""}


def event_line(e: dict[str, Any]) -> Text:
    line = Text(time.strftime("%H:%M:%S ", time.localtime(e["created_at"])), style="dim")
    line.append(e["message"], style=LEVEL_STYLE.get(e.get("level", "info"), ""))
    return line


class EventLog(RichLog, SteadyScrollView):
    """Appends events; `last_id` is the newest shown and `lines_shown` how many.

    Lines are wrapped at the width the pane has now (the scrollbar's gutter is always kept,
    app.tcss), and wrapped again when it changes: RichLog alone wraps at the width of the
    moment of writing, at least 78 columns, which cut characters under a scrollbar that
    appeared later and left half of a wide pane empty."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            max_lines=MAX_LINES, wrap=True, markup=False, highlight=False, min_width=1, **kwargs
        )
        self.last_id = 0
        self.lines_shown = 0
        self.kept: deque[Text] = deque(maxlen=MAX_LINES)
        self.wrap_width = 0  # the width the lines are wrapped at now; 0 before the first

    def _width(self) -> int:
        return self.scrollable_content_region.width

    def add_events(self, events: list[dict[str, Any]]) -> None:
        new = [e for e in events if e["id"] > self.last_id]
        if not new:
            return
        self.last_id = new[-1]["id"]
        lines = [event_line(e) for e in new]
        self.kept.extend(lines)
        self.lines_shown += len(lines)
        if self.wrap_width:
            # one write for the whole batch: each write costs a layout pass of the screen
            self.write(Text("\n").join(lines), width=self.wrap_width)

    def on_resize(self, event: events.Resize) -> None:
        super().on_resize(event)
        width = self._width()
        if width > 0 and width != self.wrap_width:
            self.wrap_width = width
            self.clear()
            if self.kept:
                self.write(Text("\n").join(self.kept), width=width)
