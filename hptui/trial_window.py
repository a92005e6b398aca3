"""The trials the UI holds of a run: a window, not the whole history.

A run of 50,000 trials held whole cost the UI 13 s to open and 12.5 kB of memory a trial. The
window holds the newest trials, the newest of those the table's filter selects, the best
ranked and whatever the user looks at; the store keeps the rest (`hptui show` and `export`
read it all). As new trials arrive the oldest are let go, in batches, so that the window's
size, and the table's rows, stay bounded however long the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from storage.contract import OPEN_TRIAL_STATUSES

Trial = dict[str, Any]
# Let go only once this many trials beyond the window came: one sort per batch, not per trial.
SLACK = 50


class TrialWindow:
    """`trials` by id; `wanted` is the table's filter (None: every trial)."""

    def __init__(self, size: int, slack: int | None = None) -> None:
        self.size = size
        self.slack = SLACK if slack is None else slack
        self.trials: dict[int, Trial] = {}
        self.kept: set[int] = set()  # kept however old: the best ranked seen so far
        self.wanted: Callable[[Trial], bool] | None = None

    def add(self, trials: Iterable[Trial]) -> None:
        for t in trials:
            self.trials[t["id"]] = t

    def keep(self, ids: Iterable[int]) -> None:
        self.kept.update(ids)

    def evict(self, also_keep: Iterable[int | None] = ()) -> list[int]:
        """Let the oldest trials go once the window overflows; returns their ids. Kept:
        the newest `size`, the newest `size` the filter wants, queued and running trials,
        the `kept` ones and `also_keep` (e.g. the selected trial)."""
        if len(self.trials) <= self.size + self.slack + len(self.kept):
            return []
        newest = sorted(self.trials.values(), key=lambda t: t["number"], reverse=True)
        keep = {t["id"] for t in newest[: self.size]}
        if self.wanted is not None:
            keep.update(t["id"] for t in [t for t in newest if self.wanted(t)][: self.size])
        keep.update(t["id"] for t in newest if t["status"] in OPEN_TRIAL_STATUSES)
        keep.update(self.kept)
        keep.update(i for i in also_keep if i is not None)
        gone = [tid for tid in self.trials if tid not in keep]
        for tid in gone:
            del self.trials[tid]
        return gone
