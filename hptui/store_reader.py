"""Incremental, read-only reads of one run for the terminal UI (off the UI thread)."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any

from storage.contract import OPEN_TRIAL_STATUSES
from storage.store import JSON_COLUMNS, Store

OPEN_STATUSES = OPEN_TRIAL_STATUSES  # the app imports it from here


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
    # The best trial as `Store.best_trial` ranks them, read again whenever trials changed
    # (None: unchanged since the previous read). The one source of "best" in the UI.
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

    def _rows(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        cur = self.store.conn.execute(sql, params)
        cols = [d[0] for d in cur.description]
        out = []
        for r in cur.fetchall():
            row = dict(zip(cols, r, strict=False))
            for k in JSON_COLUMNS & row.keys():
                if isinstance(row[k], str):
                    row[k] = json.loads(row[k])
            out.append(row)
        return out

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
        rid = self.run_id
        runs = self._rows("SELECT * FROM runs WHERE id = ?", [rid])
        if not runs:
            raise LookupError(f"no run {rid} in {self.store.path}")
        run = runs[0]
        sql, params = "SELECT * FROM trials WHERE run_id = ? AND (id > ?", [rid, self.max_trial_id]
        if self.open_ids:
            sql += f" OR id IN ({', '.join('?' * len(self.open_ids))})"
            params += sorted(self.open_ids)
        trials = self._rows(sql + ") ORDER BY id", params)
        ppo = self._rows(
            "SELECT * FROM ppo_updates WHERE run_id = ? AND id > ? ORDER BY id",
            [rid, self.max_ppo_id],
        )
        versions = None
        if run["space_version"] != self.space_version:
            versions = self._rows(
                "SELECT * FROM space_versions WHERE run_id = ? ORDER BY version", [rid]
            )
        workers = self._rows("SELECT * FROM workers WHERE run_id = ? ORDER BY slot", [rid])
        evs = self._rows(
            "SELECT * FROM events WHERE run_id = ? AND id > ? ORDER BY id LIMIT 500",
            [rid, self.max_event_id],
        )
        handled: list[dict[str, Any]] = []
        if commands:
            handled = self._rows(
                f"SELECT * FROM commands WHERE status != 'pending' AND id IN "
                f"({', '.join('?' * len(commands))})",
                list(commands),
            )
        epochs = None
        if epochs_for is not None:
            epochs = (
                epochs_for,
                self._rows("SELECT * FROM epochs WHERE trial_id = ? ORDER BY epoch", [epochs_for]),
            )
        best, best_read = None, False
        if trials or self.first:
            best, best_read = self.store.best_trial(rid), True
        stopped = bool(
            self.store.conn.execute(
                "SELECT 1 FROM commands WHERE run_id = ? AND kind = 'stop' AND status = 'done'"
                " LIMIT 1",
                [rid],
            ).fetchone()
        )
        # all read: now move the bookkeeping on
        self.first = False
        for t in trials:
            self.max_trial_id = max(self.max_trial_id, t["id"])
            if t["status"] in OPEN_STATUSES:
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
            return self._rows("SELECT * FROM epochs WHERE trial_id = ? ORDER BY epoch", [trial_id])

    def close(self) -> None:
        """Waits for a read in flight (milliseconds), then closes."""
        with self.lock:
            self.closed = True
            self.store.close()
