"""Incremental, read-only reads of one run for the terminal UI (off the UI thread). The
queries are the store's; this keeps the bookkeeping of what was read already.

A long run is never read whole: the first read takes a window of trials (the newest, the
best, the running ones) and the log's last lines; later reads take what is new. The accuracy
plot reads its own few columns, or per-bin aggregates once there are many points."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from hptui.report import chosen_trial
from storage.contract import OPEN_TRIAL_STATUSES
from storage.store import Store

WINDOW = 500  # the newest trials the UI holds (and those of the table's filter)
BEST_KEPT = 20  # the best-ranked trials it holds too, however old
LOG_TAIL = 400  # the log's lines read at most at once: the last ones
PLOT_POINTS_MAX = 1000  # above, per-bin aggregates: 1,000 marks take ~0.1 s to draw
PLOT_BINS = 200
PLOT_READ_S = 2.0  # while trials stream in, the plot's data is read again at most this often


@dataclass
class PlotSource:
    """What the accuracy plot draws: one point per trial (`points`, few trials) or, for a
    long run, `bins` of trial numbers with their highest and mean accuracy."""

    finished: int  # finished search trials
    points: list[dict[str, Any]] | None = None
    bins: list[dict[str, Any]] | None = None
    phase_starts: list[tuple[str, int]] = field(default_factory=list)


def read_plot_source(store: Store, run_id: int) -> PlotSource:
    counts = store.search_counts(run_id)
    finished = counts["finished"]
    if finished + counts["pruned"] <= PLOT_POINTS_MAX:
        return PlotSource(finished, points=store.search_points(run_id))
    last = store.conn.execute(
        "SELECT coalesce(max(number), 1) FROM trials WHERE run_id = ?", [run_id]
    ).fetchone()[0]
    width = -(-int(last) // PLOT_BINS)  # ceiling: at most PLOT_BINS bins
    return PlotSource(
        finished, bins=store.search_accuracy_bins(run_id, width),
        phase_starts=store.phase_starts(run_id),
    )  # fmt: skip


@dataclass
class Snapshot:
    """What changed in the store since the previous read."""

    run: dict[str, Any]
    trials: list[dict[str, Any]] = field(default_factory=list)  # new or changed
    ppo_updates: list[dict[str, Any]] = field(default_factory=list)  # new
    versions: list[dict[str, Any]] | None = None  # all, when the space version changed
    workers: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # new
    commands: list[dict[str, Any]] = field(default_factory=list)  # ours, newly handled
    epochs: tuple[int, list[dict[str, Any]]] | None = None  # of the selected trial
    # The best trial (hptui.report.chosen_trial: the configuration chosen by repeated
    # measurements after the confirmation stage, `Store.best_trial` before), read again
    # whenever trials changed (None: unchanged since the previous read). The one source of
    # "best" in the UI.
    best: dict[str, Any] | None = None
    best_read: bool = False
    stopped: bool = False  # a user's stop was carried out (the run did not complete)
    total: int = 0  # the run's trials in the store (the UI holds a window of them)
    best_ids: list[int] = field(default_factory=list)  # the best-ranked, on the first read
    plot: PlotSource | None = None  # read again (None: not this time)
    rule_firings: list[dict[str, Any]] | None = None  # read with the plot's data


class StoreReader:
    """Incremental reads of one run. Used from one thread at a time (the poll worker)."""

    def __init__(self, path: str, run_id: int) -> None:
        self.store = Store(path, readonly=True)
        self.run_id = run_id
        self.max_trial_id = 0
        self.open_ids: set[int] = set()  # trials last seen queued/running: read them again
        self.max_ppo_id = 0
        self.max_event_id = 0
        self.space_version = 0
        self.first = True
        self.plot_read_at = float("-inf")
        self.plot_owed = True  # trials changed since the plot's data was read
        self.plot_binned = False  # the last plot data read was per-bin aggregates
        # A read runs in a worker thread; closing the connection under it is undefined
        # behaviour in SQLite (it can crash the process), so reads and close take this lock.
        self.lock = threading.Lock()
        self.closed = False

    def fetch(self, commands: list[int], epochs_for: int | None) -> Snapshot:
        """One consistent read (a single read transaction). The reader's bookkeeping changes
        only when the whole read succeeded, so a failed read is simply repeated."""
        with self.lock:
            if self.closed:
                raise sqlite3.ProgrammingError("the store reader is closed")
            conn = self.store.conn
            conn.execute("BEGIN")
            try:
                return self._fetch(commands, epochs_for)
            finally:
                conn.rollback()  # read-only: ends the read transaction

    def _fetch(self, commands: list[int], epochs_for: int | None) -> Snapshot:
        rid, store = self.run_id, self.store
        run = store.run(rid)
        if run is None:
            raise LookupError(f"no run {rid} in {store.path}")
        best_ids: list[int] = []
        if self.first:
            trials = store.trials_window(rid, WINDOW, BEST_KEPT)
            best_ids = [t["id"] for t in store.trials_window(rid, 0, BEST_KEPT)]
        else:
            trials = store.trials_since(rid, self.max_trial_id, self.open_ids)
        ppo = store.ppo_updates_since(rid, self.max_ppo_id)
        versions = None
        if run["space_version"] != self.space_version:
            versions = store.space_versions(rid)
        workers = store.workers(rid)
        evs = store.events_tail(rid, LOG_TAIL, self.max_event_id)
        handled = store.handled_commands(rid, commands)
        epochs = None
        if epochs_for is not None:
            epochs = (epochs_for, store.epochs(epochs_for))
        best, best_read = None, False
        if trials or self.first:
            best, best_read = chosen_trial(store, rid), True
        stopped = store.stop_carried_out(rid)
        plot, firings = None, None
        owed = self.plot_owed or bool(trials)
        # The plot's data and the rules' counts are aggregates over the whole run.
        # A long run's aggregates cost a scan of the index: read them at most every
        # PLOT_READ_S; a few thousand points are read again whenever trials changed.
        wait = PLOT_READ_S if self.plot_binned else 0.0
        if owed and time.monotonic() - self.plot_read_at >= wait:
            plot = read_plot_source(store, rid)
            firings = store.rule_firings(rid)
        total = store.trial_count(rid)
        # all read: now move the bookkeeping on
        self.first = False
        self.plot_owed = owed and plot is None
        if plot is not None:
            self.plot_read_at = time.monotonic()
            self.plot_binned = plot.bins is not None
        for t in trials:
            self.max_trial_id = max(self.max_trial_id, t["id"])
            if t["status"] in OPEN_TRIAL_STATUSES:
                self.open_ids.add(t["id"])
            else:
                self.open_ids.discard(t["id"])
        if ppo:
            self.max_ppo_id = ppo[-1]["id"]
        if evs:
            self.max_event_id = evs[-1]["id"]
        if versions is not None:
            self.space_version = run["space_version"]
        snap = Snapshot(run, trials, ppo, versions, workers, evs, handled, epochs)
        snap.best, snap.best_read, snap.stopped = best, best_read, stopped
        snap.total, snap.best_ids, snap.plot = total, best_ids, plot
        snap.rule_firings = firings
        return snap

    def window(self, phase: str | None, status: str | None) -> list[dict[str, Any]]:
        """The newest trials of a phase and status (the table's filter), read when the filter
        changes: the window the UI holds may have few of them."""
        with self.lock:
            if self.closed:
                raise sqlite3.ProgrammingError("the store reader is closed")
            return self.store.trials_window(self.run_id, WINDOW, phase=phase, status=status)

    def epochs(self, trial_id: int) -> list[dict[str, Any]]:
        """One trial's epochs: the light read done at once when a trial is selected."""
        with self.lock:
            if self.closed:
                raise sqlite3.ProgrammingError("the store reader is closed")
            return self.store.epochs(trial_id)

    def search_results(self, newest: int) -> list[dict[str, Any]]:
        """The newest finished search trials, a few columns each (what matters, read in a
        worker thread when the pane is shown)."""
        with self.lock:
            if self.closed:
                raise sqlite3.ProgrammingError("the store reader is closed")
            return self.store.search_results(self.run_id, newest)

    def close(self) -> None:
        """Waits for a read in flight (milliseconds), then closes."""
        with self.lock:
            self.closed = True
            self.store.close()
