"""Scrolling panes whose new content changes their scroll range, not their size on screen.

Textual lays the whole screen out again whenever a widget's virtual (scrollable) size changes:
every pane is arranged and repainted, 10-30 ms on a quiet machine, on every read while trials
stream in (a new table row, a new log line). For a pane whose size the layout fixes, the
scrollbars are all that follow from it; they are updated in place here. A scrollbar that comes
or goes still lays the screen out (its own reactive asks for that).
"""

from __future__ import annotations

from textual.geometry import Size
from textual.reactive import Reactive
from textual.scroll_view import ScrollView


class SteadyScrollView(ScrollView):
    """Mixed in after a ScrollView widget: `class Log(RichLog, SteadyScrollView)` (Textual
    reads CSS and component classes along the first base)."""

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def watch_virtual_size(self, size: Size) -> None:
        self._scroll_update(size)
