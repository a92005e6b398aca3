"""The engine's log (table events), new lines appended."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.widgets import RichLog

# Each line is kept as a rendered Strip; the full log stays in the store (`hptui show`).
MAX_LINES = 400
LEVEL_STYLE = {"warning": "yellow", "error": "bold red", "info": ""}


class EventLog(RichLog):
    """Appends events; `last_id` is the newest shown and `lines_shown` how many."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_lines=MAX_LINES, wrap=True, markup=False, highlight=False, **kwargs)
        self.last_id = 0
        self.lines_shown = 0

    def add_events(self, events: list[dict[str, Any]]) -> None:
        # One write for the whole batch: each write costs a layout pass of the screen.
        batch = Text()
        for e in events:
            if e["id"] <= self.last_id:
                continue
            self.last_id = e["id"]
            if batch:
                batch.append("\n")
            batch.append(time.strftime("%H:%M:%S ", time.localtime(e["created_at"])), style="dim")
            batch.append(e["message"], style=LEVEL_STYLE.get(e.get("level", "info"), ""))
            self.lines_shown += 1
        if batch:
            self.write(batch)
