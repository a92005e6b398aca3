"""Incremental, read-only reads of one run for the terminal UI (off the UI thread). The
queries are the store's; this keeps the bookkeeping of what was read already."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any

from hptui.report import chosen_trial
from storage.contract import OPEN_TRIAL_STATUSES
from storage.store import Store


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
        trials = store.trials_since(rid, self.max_trial_id, self.open_ids)
        ppo = store.ppo_updates_since(rid, self.max_ppo_id)
        versions = None
        if run["space_version"] != self.space_version:
            versions = store.space_versions(rid)
        workers = store.workers(rid)
        evs = store.events(rid, self.max_event_id, limit=500)
        handled = store.handled_commands(rid, commands)
        epochs = None
        if epochs_for is not None:
            epochs = (epochs_for, store.epochs(epochs_for))
        best, best_read = None, False
        if trials or self.first:
            best, best_read = chosen_trial(store, rid), True
        stopped = store.stop_carried_out(rid)
        # all read: now move the bookkeeping on
        self.first = False
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
        return snap

    def epochs(self, trial_id: int) -> list[dict[str, Any]]:
        """One trial's epochs: the light read done at once when a trial is selected."""
        with self.lock:
            if self.closed:
                raise sqlite3.ProgrammingError("the store reader is closed")
            return self.store.epochs(trial_id)

    def close(self) -> None:
        """Waits for a read in flight (milliseconds), then closes."""
        with self.lock:
            self.closed = True
            self.store.close()
