"""The trainers pane: one progress bar per worker slot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textual.containers import VerticalScroll
from textual.widgets import Label

from hptui.widgets.worker_bar import WorkerBar


class TrainersPane(VerticalScroll):
    """Holds a WorkerBar per slot, added as slots appear in the store."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bars: dict[int, WorkerBar] = {}

    def on_mount(self) -> None:
        self.mount(Label("no workers yet", id="no-workers"))

    def show(
        self,
        workers: list[dict[str, Any]],
        trials: dict[int, dict[str, Any]],
        space: Mapping[str, Any] | None = None,
    ) -> None:
        """Each slot's trial; `space` (the run's current one, JSON form) shows its values by
        their dimensions' kinds."""
        for w in workers:
            slot = int(w["slot"])
            bar = self.bars.get(slot)
            if bar is None:
                if not self.bars:
                    self.query("#no-workers").remove()
                bar = self.bars[slot] = WorkerBar(slot)
                self.mount(bar)
                # show() needs the children, which exist once mounted
                self.call_after_refresh(bar.show, w, trials.get(w.get("trial_id") or -1), space)
                continue
            bar.show(w, trials.get(w.get("trial_id") or -1), space)
