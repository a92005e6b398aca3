"""The SQLite experiment store: the engine writes runs, trials, epochs, PPO updates and
events; the UI and the command line read them and write only `commands`.

Every SQL statement of hptui is here, each scoped to a run: the engine's lock and heartbeat,
its progress counts, and the incremental reads of the UI (hptui.store_reader) included.
WAL mode with a busy timeout, so readers never block the writer and nobody sees
"database is locked". JSON columns are encoded on the way in and decoded on the way out.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from storage import contract
from storage.contract import (
    CONFIRM_PHASE,
    DONE_TRIAL_STATUSES,
    FAILED,
    FINAL_PHASE,
    FINISHED,
    INTERRUPTED,
    OPEN_TRIAL_STATUSES,
    PENDING,
    PRUNED,
    RUNNING,
)
from storage.limits import MAX_MESSAGE, clip
from storage.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

JSON_COLUMNS = {
    "config", "progress", "final", "space", "rules", "rules_fired", "extra", "payload", "shares",
}  # fmt: skip
BUSY_TIMEOUT_MS = 30_000
STALE_S = 15.0  # an engine whose heartbeat is older than this is gone; its lock is taken over
T = TypeVar("T")


def sql_names(names: Iterable[str]) -> str:
    """`('finished', 'failed')`: names of the contract as an SQL list (constants only, never
    user input: those go in as parameters)."""
    return "(" + ", ".join(f"'{n}'" for n in names) + ")"


# A search trial: the stages after the search apart. The first term is the one the partial
# indexes are declared with (WHERE phase != 'final'), so that SQLite still uses them.
def search_sql(table: str = "") -> str:
    col = f"{table}.phase" if table else "phase"
    return f"{col} != '{FINAL_PHASE}' AND {col} != '{CONFIRM_PHASE}'"


SEARCH = search_sql()


class StoreError(Exception):
    """The file cannot be used as a store; the message names the file and the reason."""


class StoreNeedsMigration(StoreError):
    """A read-only open of a store with an older schema: open it writable once to migrate."""


class LockLost(StoreError):
    """This engine no longer holds its run's lock (its fencing token was replaced): it must
    stop and write nothing more."""


def _is_full(exc: sqlite3.OperationalError) -> bool:
    return "full" in str(exc).lower()


def _writes(method: Callable[..., T]) -> Callable[..., T]:
    """Writes run in one transaction each (rolled back on error). When the disk is full the
    whole write is retried after `on_full` (the engine waits and logs): nothing is lost."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> T:
        self.check_fence()
        while True:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.OperationalError as exc:
                if not _is_full(exc) or self.on_full is None:
                    raise
                self.on_full(exc)

    return wrapper


def disk_full(path: str | Path) -> bool:
    """Is the file system holding `path` out of space (for unprivileged writers)?"""
    try:
        st = os.statvfs(Path(path).resolve().parent)
    except OSError:
        return False
    return st.f_bavail == 0


def default_db_path() -> Path:
    return Path(os.environ.get("HPTUI_DB", "hptui.db"))


def _plain(value: Any) -> Any:
    """A value SQLite can bind: a numpy scalar (which has `.item()`) becomes its Python value,
    a dict or list JSON text."""
    if value is None or isinstance(value, (str, bytes, int, float)):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value)
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _encode(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: json.dumps(v) if k in JSON_COLUMNS and v is not None else _plain(v)
        for k, v in row.items()
    }


def _decode(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for k in JSON_COLUMNS & out.keys():
        if isinstance(out[k], str):
            try:
                out[k] = json.loads(out[k])
            except (ValueError, RecursionError):
                raise StoreError(
                    f"a damaged value in column {k} (not JSON: {clip(out[k], 40)}); restore "
                    "the store from a copy"
                ) from None
    return out


def _as_bytes(value: Any) -> bytes:
    """A BLOB column's value as bytes, whatever a hand-edited row put there (text, a number)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode()


def engine_alive(run: Mapping[str, Any], now: float | None = None) -> bool:
    """Is an engine running this run now? On this host its pid says so, whatever the age of
    its heartbeat (a stopped process, or a long step, beats late but still holds the run; an
    engine that lost its lock anyway stops at its next write). On another host, a fresh
    heartbeat."""
    pid, beat = run.get("engine_pid"), run.get("heartbeat")
    if not pid:
        return False
    if run.get("engine_host") == socket.gethostname():
        return _pid_alive(pid)
    return bool(beat) and (now or time.time()) - beat < STALE_S


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process not yet reaped by its parent (a zombie) runs nothing
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


@functools.cache
def _expected_tables() -> dict[str, frozenset[str]]:
    """Tables and columns of a store at SCHEMA_VERSION: the migrations run in memory."""
    conn = sqlite3.connect(":memory:")
    try:
        for script in MIGRATIONS:
            conn.executescript(script)
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {n: frozenset(r[1] for r in conn.execute(f"PRAGMA table_info({n})")) for n in names}
    finally:
        conn.close()


_CODE = ("trigger", "view")  # objects that run: their text must be the schema's own, too


def _objects(conn: sqlite3.Connection) -> frozenset[tuple[str, str, str | None]]:
    """(type, name, text) of a store's objects; the text only for those that run (a trigger
    of the schema's name with another body is as foreign as a new one)."""
    return frozenset(
        (kind, name, sql if kind in _CODE else None)
        for kind, name, sql in conn.execute("SELECT type, name, sql FROM sqlite_master")
    )


@functools.cache
def _expected_objects(version: int) -> frozenset[tuple[str, str, str | None]]:
    """Every object a store at schema `version` holds: the migrations up to it run in
    memory."""
    conn = sqlite3.connect(":memory:")
    try:
        for script in MIGRATIONS[:version]:
            conn.executescript(script)
        return _objects(conn)
    finally:
        conn.close()


class Store:
    """One connection to a store file. `readonly=True` for the UI and reporting commands."""

    def __init__(
        self,
        path: str | Path,
        *,
        readonly: bool = False,
        create: bool = True,
        on_full: Callable[[Exception], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.on_full = on_full
        self.fence: tuple[int, str] | None = None  # (run id, token) an engine writes under
        self.fenced_out = False
        self.readonly = readonly
        if not self.path.exists() and (readonly or not create):
            raise StoreError(f"{self.path}: no such store file (check --db or $HPTUI_DB)")
        if self.path.exists() and self.path.is_dir():
            raise StoreError(f"{self.path}: is a directory, not a store file")
        # A read-only connection creates a WAL store's -wal and -shm files and cannot
        # remove them: note whether they were there, to leave none behind (close()).
        self._wal_files_were_there = any(p.exists() for p in self._wal_files())
        conn = None
        try:
            conn = self._connect()
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._check_and_migrate(conn)
        except (StoreError, sqlite3.DatabaseError) as exc:
            if conn is not None:
                conn.close()
            self._tidy_wal_files()
            if isinstance(exc, StoreError):
                raise
            if _is_full(exc) or disk_full(self.path):
                raise StoreError(
                    f"{self.path}: the disk holding the store is full, so it cannot be opened "
                    "for writing; nothing was written (a running engine waits for space and "
                    "loses nothing). Free some space, then try again."
                ) from None
            raise StoreError(f"{self.path}: not a usable hptui store ({exc})") from None
        self.conn = conn

    def _connect(self) -> sqlite3.Connection:
        if not self.readonly:
            return sqlite3.connect(str(self.path), check_same_thread=False)
        # Quoted: '#', '?' and '%' in a path are URI syntax, and unquoted they read another
        # file or create stray ones (mode=ro lost after a '#').
        return sqlite3.connect(
            f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
        )

    def _wal_files(self) -> tuple[Path, Path]:
        return (Path(f"{self.path}-wal"), Path(f"{self.path}-shm"))

    def _tidy_wal_files(self) -> None:
        """After a read-only use, remove the -wal and -shm files it created. SQLite removes
        them when its last connection closes, but only from a writable one: so open one that
        reads and closes. SQLite's own locks decide, so the files of a store an engine has
        open stay; and a writable open creates no file that is not there already."""
        if not self.readonly or self._wal_files_were_there:
            return
        if not any(p.exists() for p in self._wal_files()):
            return
        try:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=rw", uri=True)
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                conn.close()
        except (sqlite3.Error, OSError):
            pass  # a read-only folder or file: nothing can be removed there

    def _check_and_migrate(self, conn: sqlite3.Connection) -> None:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
        if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables):
            raise StoreError(f"{self.path}: a SQLite file that is not an hptui store; refusing it")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: store schema {version} is newer than this hptui ({SCHEMA_VERSION});"
                " upgrade hptui"
            )
        self._check_objects(conn, version)
        if self.readonly:
            if version < SCHEMA_VERSION:
                raise StoreNeedsMigration(
                    f"{self.path}: store schema {version} is older than this hptui's "
                    f"({SCHEMA_VERSION}); open it writable once to migrate it"
                )
            self._check_tables(conn)
            return
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(
            "PRAGMA synchronous = NORMAL"
        )  # durable at checkpoints; WAL keeps it consistent
        # Off while migrations rebuild tables that others refer to (SQLite's procedure for
        # altering a table); on for every write after them.
        conn.execute("PRAGMA foreign_keys = OFF")
        for v in range(version, SCHEMA_VERSION):
            with conn:
                conn.executescript(
                    "BEGIN;" + MIGRATIONS[v] + f"; PRAGMA user_version = {v + 1};COMMIT;"
                )
        conn.execute("PRAGMA foreign_keys = ON")
        if app_id == 0:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.commit()
        self._check_tables(conn)

    def _check_objects(self, conn: sqlite3.Connection, version: int) -> None:
        """Refuse a store holding objects its schema version never makes. A trigger runs
        inside hptui's own writes (it can forge a result as the engine commits it) and a view
        in place of a table runs on every read, so such a store is refused by every command,
        before any migration or read, rather than cleaned up: nothing in it has run."""
        found = {
            obj
            for obj in _objects(conn)
            # SQLite's own tables and indexes (autoindexes, statistics); never a trigger/view
            if not (obj[0] in ("table", "index") and obj[1].startswith("sqlite_"))
        }
        extra = sorted(found - _expected_objects(version), key=lambda o: o[:2])
        if extra:
            named = ", ".join(f"{kind} {clip(name, 60)}" for kind, name, _ in extra[:5])
            more = f" and {len(extra) - 5} more" if len(extra) > 5 else ""
            raise StoreError(
                f"{self.path}: holds {named}{more}, which no hptui store has (a tampered or "
                "hand-edited file: a trigger or view would run inside hptui's reads and "
                "writes); refusing it. Drop them with sqlite3 if you trust the rest, or use "
                "another --db"
            )

    def _check_tables(self, conn: sqlite3.Connection) -> None:
        """Refuse a store whose tables or columns were dropped or renamed (a damaged or
        hand-edited file), naming what is missing, rather than failing later mid-query."""
        missing = []
        for table, cols in _expected_tables().items():
            have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            if not have:
                missing.append(f"table {table}")
            elif cols - have:
                missing.append(f"{table}.{', {table}.'.join(sorted(cols - have))}")
        if missing:
            raise StoreError(
                f"{self.path}: a damaged hptui store (schema {SCHEMA_VERSION} without "
                f"{'; '.join(missing)}); restore it from a copy or use another --db"
            )

    def for_run(self, run_id: int) -> RunStore:
        """This store bound to one run (RunStore): its run-scoped methods without the id."""
        return RunStore(self, run_id)

    def close(self) -> None:
        self.conn.close()
        self._tidy_wal_files()

    def check_fence(self) -> None:
        """An engine's store: raise LockLost unless the run still carries our token."""
        if self.fence is None:
            return
        run_id, token = self.fence
        row = self.conn.execute("SELECT engine_token FROM runs WHERE id = ?", [run_id]).fetchone()
        if self.fenced_out or row is None or row[0] != token:
            self.fenced_out = True  # for good: not one more write, even if the token came back
            raise LockLost(
                f"run {run_id}: this engine lost its lock (another engine took the run over); "
                "stopping without writing"
            )

    # --- low level ------------------------------------------------------------------
    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, list(params))
        cols = [c[0] for c in cur.description]
        return [_decode(dict(zip(cols, r, strict=True))) for r in cur]

    def _one(self, sql: str, params: Iterable[Any] = ()) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _insert_row(self, table: str, row: Mapping[str, Any], *, replace: bool = False) -> int:
        """INSERT one row (JSON columns encoded) inside the caller's transaction."""
        row = _encode(row)
        cols = ", ".join(f'"{k}"' for k in row)
        marks = ", ".join("?" for _ in row)
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        cur = self.conn.execute(
            f'{verb} INTO "{table}" ({cols}) VALUES ({marks})', list(row.values())
        )
        return int(cur.lastrowid or 0)

    @_writes
    def _insert(self, table: str, row: Mapping[str, Any]) -> int:
        with self.conn:
            return self._insert_row(table, row)

    @_writes
    def _update(self, table: str, pk: int, fields: Mapping[str, Any]) -> None:
        if fields:
            row = _encode(fields)
            sets = ", ".join(f'"{k}" = ?' for k in row)
            with self.conn:
                self.conn.execute(f'UPDATE "{table}" SET {sets} WHERE id = ?', [*row.values(), pk])

    # --- runs --------------------------------------------------------------------------
    @_writes
    def create_run(self, **fields: Any) -> int:
        now = time.time()
        return self._insert("runs", {"created_at": now, "started_at": now, **fields})

    @_writes
    def update_run(self, run_id: int, **fields: Any) -> None:
        self._update("runs", run_id, fields)

    def run(self, run_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM runs WHERE id = ?", [run_id])

    def runs(self) -> list[dict[str, Any]]:
        """Every run, with its search trials done (contract.DONE_TRIAL_STATUSES), its best
        trial's number, estimate, score and validation accuracy (the one ranking, BEST_ORDER)
        and the epochs its search trained."""
        best = (
            f"(SELECT {{col}} FROM trials t WHERE t.run_id = r.id AND t.status = '{FINISHED}'"
            f" AND {search_sql('t')} ORDER BY {self.BEST_ORDER} LIMIT 1)"
        )
        search = f"FROM trial_totals tt WHERE tt.run_id = r.id AND {search_sql('tt')}"
        return self._rows(
            f"""SELECT r.*, (SELECT coalesce(sum(trials), 0) {search}
                              AND tt.status IN {sql_names(DONE_TRIAL_STATUSES)}) AS done_trials,
                      (SELECT coalesce(sum(epochs_run), 0) {search}) AS epochs_trained,
                      {best.format(col="number")} AS best_number,
                      {best.format(col="est_accuracy")} AS best_est_accuracy,
                      {best.format(col="score")} AS best_score,
                      {best.format(col="val_accuracy")} AS best_val_accuracy
               FROM runs r ORDER BY r.id"""
        )

    def epochs_trained(self, run_id: int) -> int:
        """Epochs the run's search trials trained (final validation not included)."""
        row = self.conn.execute(
            f"SELECT coalesce(sum(epochs_run), 0) FROM trial_totals WHERE run_id = ? AND {SEARCH}",
            [run_id],
        ).fetchone()
        return int(row[0])

    def search_counts(self, run_id: int) -> dict[str, int]:
        """The run's search trials (final validation not included): how many in all
        (`search`) and how many `finished`, `failed` and `pruned`."""
        by_status = dict(
            self.conn.execute(
                "SELECT status, sum(trials) FROM trial_totals "
                f"WHERE run_id = ? AND {SEARCH} GROUP BY status",
                [run_id],
            ).fetchall()
        )
        out = {"search": sum(by_status.values())}
        return out | {k: by_status.get(k, 0) for k in DONE_TRIAL_STATUSES}

    def phase_summary(self, run_id: int) -> list[dict[str, Any]]:
        """A line per phase of the run, in the order the run reached them: its trials, how
        many finished, failed and were pruned, and of the finished ones the highest
        validation accuracy and reward and their seconds. One aggregate query over the index
        `trials_run_phase`, which holds every column it needs, so that `show` reads no trial
        however long the run."""
        return self._rows(
            "SELECT phase, count(*) AS trials, "
            f"count(*) FILTER (WHERE status = '{FINISHED}') AS finished, "
            f"count(*) FILTER (WHERE status = '{FAILED}') AS failed, "
            f"count(*) FILTER (WHERE status = '{PRUNED}') AS pruned, "
            f"max(val_accuracy) FILTER (WHERE status = '{FINISHED}') AS top_val_accuracy, "
            f"max(reward) FILTER (WHERE status = '{FINISHED}') AS top_reward, "
            f"coalesce(sum(seconds) FILTER (WHERE status = '{FINISHED}'), 0) AS seconds "
            "FROM trials WHERE run_id = ? GROUP BY phase ORDER BY min(number)",
            [run_id],
        )

    def search_accuracies(self, run_id: int) -> list[float]:
        """Validation accuracies of the run's finished search trials, by trial number (read
        from the index `trials_run_phase` and sorted here: ordered by number in SQL, they
        would be looked up row by row in the table)."""
        rows = self.conn.execute(
            f"SELECT number, val_accuracy FROM trials WHERE run_id = ? AND status = '{FINISHED}' "
            f"AND {SEARCH} AND val_accuracy IS NOT NULL",
            [run_id],
        ).fetchall()
        return [acc for _, acc in sorted(rows)]

    def search_points(self, run_id: int) -> list[dict[str, Any]]:
        """The finished and pruned search trials that have an accuracy, by number: what the
        UI's accuracy plot draws one mark each for (only a few columns: read from the index
        `trials_run_phase`)."""
        rows = self.conn.execute(
            "SELECT number, phase, status, val_accuracy FROM trials WHERE run_id = ? "
            f"AND status IN ('{FINISHED}', '{PRUNED}') AND {SEARCH} AND val_accuracy IS NOT NULL",
            [run_id],
        ).fetchall()
        keys = ("number", "phase", "status", "val_accuracy")
        return [dict(zip(keys, r, strict=True)) for r in sorted(rows)]

    def search_results(self, run_id: int, newest: int) -> list[dict[str, Any]]:
        """The `newest` finished search trials, by number, with only what "which
        hyperparameters mattered" needs: number, space version, configuration, score and
        validation accuracy."""
        rows = self._rows(
            "SELECT number, space_version, config, score, val_accuracy FROM trials "
            f"WHERE run_id = ? AND status = '{FINISHED}' AND {SEARCH} "
            "ORDER BY number DESC LIMIT ?",
            [run_id, newest],
        )
        return rows[::-1]

    def search_accuracy_bins(self, run_id: int, width: int) -> list[dict[str, Any]]:
        """The finished search trials' accuracies in bins of `width` trial numbers: per bin its
        first and last number, how many, the highest and the mean accuracy. One aggregate
        query over the index `trials_run_phase`: the plot of a long run reads no trial."""
        return self._rows(
            "SELECT (number - 1) / ? AS bin, min(number) AS first, max(number) AS last, "
            "count(*) AS trials, max(val_accuracy) AS top, avg(val_accuracy) AS mean "
            f"FROM trials WHERE run_id = ? AND status = '{FINISHED}' AND {SEARCH} "
            "AND val_accuracy IS NOT NULL GROUP BY bin ORDER BY bin",
            [max(1, width), run_id],
        )

    def rule_firings(self, run_id: int) -> list[dict[str, Any]]:
        """Per space version and rule, how many search trials the rule fired in and the sum of
        those trials' penalty shared evenly among the rules each fired: what the UI's
        penalty pane counts, in one aggregate query rather than reading every trial. A
        `rules_fired` that is not a JSON array (a damaged row) counts for nothing."""
        return self._rows(
            "SELECT t.space_version AS version, j.value AS rule, count(*) AS fired, "
            "sum(coalesce(t.penalty, 0) / json_array_length(t.rules_fired)) AS even_share "
            "FROM trials t, json_each(t.rules_fired) j "
            f"WHERE t.run_id = ? AND t.{SEARCH} AND json_valid(t.rules_fired) "
            "AND json_type(t.rules_fired) = 'array' GROUP BY t.space_version, j.value",
            [run_id],
        )

    def phase_starts(self, run_id: int) -> list[tuple[str, int]]:
        """(phase, its first finished search trial's number), in the order the run reached
        them."""
        rows = self.conn.execute(
            "SELECT phase, min(number) FROM trials WHERE run_id = ? "
            f"AND status = '{FINISHED}' AND {SEARCH} GROUP BY phase ORDER BY min(number)",
            [run_id],
        ).fetchall()
        return [(str(p), int(n)) for p, n in rows]

    # --- the engine's lock, heartbeat and progress ------------------------------------------
    def take_lock(self, run_id: int, seen: Mapping[str, Any]) -> bool:
        """Take run_id's lock for this process, only if nobody took it since `seen` (the run
        row the caller decided on): a compare-and-set of pid, heartbeat and token, with a
        fresh fencing token that every later write through this store checks. False: another
        engine took the run in between."""
        token = secrets.token_hex(16)
        with self.conn:
            cur = self.conn.execute(
                "UPDATE runs SET engine_pid = ?, engine_host = ?, heartbeat = ?, engine_token = ? "
                "WHERE id = ? AND engine_pid IS ? AND heartbeat IS ? AND engine_token IS ?",
                [os.getpid(), socket.gethostname(), time.time(), token, run_id,
                 seen.get("engine_pid"), seen.get("heartbeat"), seen.get("engine_token")],
            )  # fmt: skip
        if cur.rowcount != 1:
            return False
        self.fence = (run_id, token)
        return True

    def heartbeat(self, run_id: int, token: str) -> bool:
        """The run's heartbeat, written if `token` still holds its lock. Never raises (False:
        not written, e.g. on a full disk) and never commits a write that is under way."""
        if self.conn.in_transaction:
            return False
        try:
            with self.conn:
                cur = self.conn.execute(
                    "UPDATE runs SET heartbeat = ? WHERE id = ? AND engine_token = ?",
                    [time.time(), run_id, token],
                )
        except sqlite3.Error:
            return False
        return cur.rowcount == 1

    def progress_counts(self, run_id: int) -> dict[str, Any]:
        """What the engine's progress and remaining-time estimate (engine.eta) are made of.
        Search trials (final validation apart): `finished`, `failed`, `pruned`;
        `first_started`; `epochs_spent`, the epoch budget the ended ones took (a pruned trial
        its epochs run, any other its planned epochs); `measured_seconds` and
        `measured_epochs`, wall seconds and epochs of those that trained to a result;
        `running`, the running ones, the epochs they were given (`running_epochs`) and those
        they have still to train (`running_epochs_left`). Final validation:
        `final_epochs_done`, the epochs its trials trained (ended or running).

        Read on every heartbeat, so nothing here visits every trial: the ended trials are
        counted from `trial_totals` (kept by triggers), the first start is an index's first
        entry and only the running trials are read."""
        totals = self._rows("SELECT * FROM trial_totals WHERE run_id = ?", [run_id])
        search = [t for t in totals if contract.is_search_phase(t["phase"])]

        def total(column: str, *statuses: str, rows: list[dict[str, Any]] = search) -> Any:
            return sum(t[column] for t in rows if t["status"] in statuses)

        out: dict[str, Any] = {
            **{status: total("trials", status) for status in DONE_TRIAL_STATUSES},
            "first_started": self.conn.execute(
                f"SELECT min(started_at) FROM trials WHERE run_id = ? AND {SEARCH}",
                [run_id],
            ).fetchone()[0],
            # a pruned trial took the epochs it ran from the budget, any other its planned ones
            "epochs_spent": (total("epochs_run", PRUNED) + total("max_epochs", FINISHED, FAILED)),
            "measured_seconds": total("measured_seconds", FINISHED, PRUNED),
            "measured_epochs": total("measured_epochs", FINISHED, PRUNED),
        }
        running = self.conn.execute(
            "SELECT t.phase, coalesce(t.max_epochs, 0), "
            "(SELECT count(*) FROM epochs e WHERE e.trial_id = t.id) "
            f"FROM trials t WHERE t.run_id = ? AND t.status = '{RUNNING}'",
            [run_id],
        ).fetchall()
        final = [t for t in totals if t["phase"] == FINAL_PHASE]
        final_ended = total("epochs_run", FINISHED, rows=final)
        confirm = [t for t in totals if t["phase"] == CONFIRM_PHASE]
        in_search = [(p, d) for phase, p, d in running if contract.is_search_phase(phase)]
        out["running"] = len(in_search)
        out["running_epochs"] = sum(planned for planned, _ in in_search)
        out["running_epochs_left"] = sum(max(0, planned - done) for planned, done in in_search)
        out["final_epochs_done"] = int(final_ended) + sum(
            d for phase, _, d in running if phase == FINAL_PHASE
        )
        # The confirmation stage's epochs trained (ended or running), for the remaining time.
        out["confirm_epochs_done"] = int(total("epochs_run", FINISHED, FAILED, rows=confirm)) + sum(
            d for phase, _, d in running if phase == CONFIRM_PHASE
        )
        return out

    def seconds_per_epoch(self, run_id: int) -> list[float]:
        """Wall seconds per epoch of each finished trial of the run (for the automatic trial
        time limit)."""
        rows = self.conn.execute(
            "SELECT (finished_at - started_at) / max(1, epochs_run) FROM trials "
            f"WHERE run_id = ? AND status = '{FINISHED}' AND started_at IS NOT NULL",
            [run_id],
        ).fetchall()
        return [float(r[0]) for r in rows]

    # --- search-space versions -----------------------------------------------------------
    @_writes
    def add_space_version(
        self, run_id: int, space: dict, rules: list, change: str, source: str
    ) -> int:
        with self.conn:
            cur = self.conn.execute(
                "SELECT coalesce(max(version), 0) + 1 FROM space_versions WHERE run_id = ?",
                [run_id],
            )
            version = int(cur.fetchone()[0])
            self.conn.execute(
                "INSERT INTO space_versions (run_id, version, created_at, space, rules, change,"
                " source) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    version,
                    time.time(),
                    json.dumps(space),
                    json.dumps(rules),
                    change,
                    source,
                ],
            )
            self.conn.execute("UPDATE runs SET space_version = ? WHERE id = ?", [version, run_id])
        return version

    def space_versions(self, run_id: int) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT * FROM space_versions WHERE run_id = ? ORDER BY version", [run_id]
        )

    def current_space(self, run_id: int) -> dict[str, Any] | None:
        return self._one(
            "SELECT * FROM space_versions WHERE run_id = ? ORDER BY version DESC LIMIT 1", [run_id]
        )

    # --- trials ----------------------------------------------------------------------------
    @_writes
    def add_trial(self, run_id: int, config: Mapping[str, Any], **fields: Any) -> tuple[int, int]:
        """Insert a trial; returns (trial id, its number within the run)."""
        with self.conn:
            number = int(
                self.conn.execute(
                    "SELECT coalesce(max(number), 0) + 1 FROM trials WHERE run_id = ?", [run_id]
                ).fetchone()[0]
            )
            row = {
                "run_id": run_id,
                "number": number,
                "created_at": time.time(),
                "config": dict(config),
                **fields,
            }
            trial_id = self._insert_row("trials", row)
        return trial_id, number

    @_writes
    def update_trial(self, trial_id: int, **fields: Any) -> None:
        self._update("trials", trial_id, fields)

    def trials_since(
        self, run_id: int, after_id: int, also: Iterable[int] = ()
    ) -> list[dict[str, Any]]:
        """The run's trials with an id above `after_id`, and those in `also` (read again: they
        may have changed), by id."""
        also = sorted(also)
        sql, params = "SELECT * FROM trials WHERE run_id = ? AND (id > ?", [run_id, after_id]
        if also:
            sql += f" OR id IN ({', '.join('?' * len(also))})"
            params += also
        return self._rows(sql + ") ORDER BY id", params)

    def trials_window(
        self,
        run_id: int,
        newest: int,
        best: int = 0,
        *,
        phase: str | None = None,
        status: str | None = None,
    ) -> list[dict[str, Any]]:
        """What a view of a long run starts from, rather than every trial: the `newest`
        trials (of a `phase` and `status` when given), the `best` first in the store's
        ranking (BEST_ORDER) and every queued or running trial, by number. Each part is an
        index's first entries (the run's numbers, `trials_run_best`, `trials_run_status`)."""
        where, params = "run_id = ?", [run_id]
        if phase:
            where, params = where + " AND phase = ?", params + [phase]
        if status:
            where, params = where + " AND status = ?", params + [status]
        open_ = ", ".join(f"'{s}'" for s in contract.OPEN_TRIAL_STATUSES)
        parts = [
            self._rows(f"SELECT * FROM trials WHERE {where} ORDER BY number DESC LIMIT ?",
                       [*params, newest]),
            self._rows(
                f"SELECT * FROM trials WHERE run_id = ? AND status = '{FINISHED}' AND {SEARCH}"
                f" ORDER BY {self.BEST_ORDER} LIMIT ?", [run_id, best]) if best else [],
            self._rows(f"SELECT * FROM trials WHERE run_id = ? AND status IN ({open_})",
                       [run_id]),
        ]  # fmt: skip
        by_id = {t["id"]: t for part in parts for t in part}
        return sorted(by_id.values(), key=lambda t: t["number"])

    def trial_count(self, run_id: int) -> int:
        """How many trials the run has, final validation included (from `trial_totals`)."""
        row = self.conn.execute(
            "SELECT coalesce(sum(trials), 0) FROM trial_totals WHERE run_id = ?", [run_id]
        ).fetchone()
        return int(row[0])

    def trial_by_number(self, run_id: int, number: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM trials WHERE run_id = ? AND number = ?", [run_id, number])

    def trial(self, trial_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM trials WHERE id = ?", [trial_id])

    def trials(
        self, run_id: int, *, status: str | None = None, phase: str | None = None
    ) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM trials WHERE run_id = ?", [run_id]
        if status:
            sql, params = sql + " AND status = ?", params + [status]
        if phase:
            sql, params = sql + " AND phase = ?", params + [phase]
        return self._rows(sql + " ORDER BY number", params)

    # The one ranking of trials, used by the engine, `show`, `runs`, the UI and the export: the
    # highest score (the reward under the run's final weights, engine.reward.score). On the
    # surrogate benchmark (BENCHMARKS.md, section 5) it chose as well as or better than the
    # highest measured accuracy and than a GP's estimate (`est_accuracy`, stored and shown
    # beside it for information).
    BEST_ORDER = "score IS NULL, score DESC, val_accuracy DESC, number"

    def best_trial(self, run_id: int) -> dict[str, Any] | None:
        """The finished search trial ranked first (see BEST_ORDER): the first entry of the
        index `trials_run_best`, which holds the finished search trials in that order."""
        return self._one(
            f"SELECT * FROM trials WHERE run_id = ? AND status = '{FINISHED}' AND {SEARCH}"
            f" ORDER BY {self.BEST_ORDER} LIMIT 1",
            [run_id],
        )

    @_writes
    def set_estimates(
        self, run_id: int, estimates: Mapping[int, float], *, tolerance: float = 0.0
    ) -> int:
        """Store the estimated accuracy of trials (trial id -> estimate) in one transaction,
        writing only the rows whose stored estimate differs by more than `tolerance` (0: any
        change): every row written costs its page in the write-ahead log, and the engine
        passes every finished trial after every result. Returns the rows written."""
        if not tolerance >= 0:
            raise ValueError(f"set_estimates: tolerance must be >= 0, not {tolerance!r}")
        with self.conn:
            cur = self.conn.executemany(
                "UPDATE trials SET est_accuracy = :est WHERE id = :id AND run_id = :run "
                "AND (est_accuracy IS NULL OR abs(est_accuracy - :est) > :tol)",
                [
                    {"est": float(v), "id": int(k), "run": run_id, "tol": tolerance}
                    for k, v in estimates.items()
                ],
            )
        return cur.rowcount

    @_writes
    def set_importance(
        self,
        run_id: int,
        *,
        space_version: int,
        finished: int,
        trials_read: int,
        metric: str,
        measured: int | None = None,
        fitted: int | None = None,
        shares: Mapping[str, float] | None = None,
    ) -> None:
        """Store which hyperparameters matter (engine.importance) as computed from the newest
        `trials_read` of the run's `finished` search trials in space version `space_version`,
        replacing the run's last one. `shares`: name -> share, in the space's order (None:
        there were none to give: a flat metric, too few measured trials)."""
        text = None if shares is None else json.dumps({k: float(v) for k, v in shares.items()})
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO importance (run_id, updated_at, space_version, finished, "
                "trials_read, metric, measured, fitted, shares) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id, time.time(), int(space_version), int(finished), int(trials_read),
                    metric, measured, fitted, text,
                ],
            )  # fmt: skip

    def importance(self, run_id: int) -> dict[str, Any] | None:
        """The run's stored importance (set_importance), or None: its engine stored none yet
        (too few trials, or a run of an hptui before it did)."""
        return self._one("SELECT * FROM importance WHERE run_id = ?", [run_id])

    @_writes
    def mark_running_interrupted(self, run_id: int) -> int:
        with self.conn:
            cur = self.conn.execute(
                f"UPDATE trials SET status = '{INTERRUPTED}', finished_at = ? "
                f"WHERE run_id = ? AND status IN {sql_names(OPEN_TRIAL_STATUSES)}",
                [time.time(), run_id],
            )
        return cur.rowcount

    # --- epochs, PPO updates, workers -----------------------------------------------------
    @_writes
    def add_epoch(self, run_id: int, trial_id: int, **fields: Any) -> None:
        row = {"run_id": run_id, "trial_id": trial_id, **fields}
        with self.conn:
            self._insert_row("epochs", row, replace=True)

    @_writes
    def clear_epochs(self, trial_id: int) -> None:
        """Forget a trial's epochs (its attempt was lost and it runs again)."""
        with self.conn:
            self.conn.execute("DELETE FROM epochs WHERE trial_id = ?", [trial_id])

    def epochs(self, trial_id: int) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM epochs WHERE trial_id = ? ORDER BY epoch", [trial_id])

    @_writes
    def add_ppo_update(self, run_id: int, **fields: Any) -> None:
        self._insert("ppo_updates", {"run_id": run_id, "created_at": time.time(), **fields})

    def ppo_updates(self, run_id: int) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM ppo_updates WHERE run_id = ? ORDER BY ppo_epoch", [run_id])

    def ppo_updates_since(self, run_id: int, after_id: int) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT * FROM ppo_updates WHERE run_id = ? AND id > ? ORDER BY id", [run_id, after_id]
        )

    @_writes
    def set_worker(self, run_id: int, slot: int, **fields: Any) -> None:
        row = {"run_id": run_id, "slot": slot, "updated_at": time.time(), **fields}
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        sets = ", ".join(f"{k} = excluded.{k}" for k in row if k not in ("run_id", "slot"))
        with self.conn:
            self.conn.execute(
                f"INSERT INTO workers ({cols}) VALUES ({marks}) "
                f"ON CONFLICT (run_id, slot) DO UPDATE SET {sets}",
                list(row.values()),
            )

    def workers(self, run_id: int) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM workers WHERE run_id = ? ORDER BY slot", [run_id])

    # --- commands and events ---------------------------------------------------------------
    @_writes
    def add_command(self, run_id: int, kind: str, payload: Mapping[str, Any] | None = None) -> int:
        return self._insert(
            "commands",
            {"run_id": run_id, "created_at": time.time(), "kind": kind, "payload": payload or {}},
        )

    def pending_commands(self, run_id: int) -> list[dict[str, Any]]:
        return self._rows(
            f"SELECT * FROM commands WHERE run_id = ? AND status = '{PENDING}' ORDER BY id",
            [run_id],
        )

    def command(self, command_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM commands WHERE id = ?", [command_id])

    def handled_commands(self, run_id: int, ids: Iterable[int]) -> list[dict[str, Any]]:
        """Those of the commands `ids` of the run that the engine has handled (done, refused)."""
        ids = list(ids)
        if not ids:
            return []
        return self._rows(
            f"SELECT * FROM commands WHERE run_id = ? AND status != '{PENDING}' AND id IN "
            f"({', '.join('?' * len(ids))}) ORDER BY id",
            [run_id, *ids],
        )

    def stop_carried_out(self, run_id: int) -> bool:
        """Did the engine carry out a user's stop of the run?"""
        return bool(
            self.conn.execute(
                "SELECT 1 FROM commands WHERE run_id = ? "
                f"AND kind = '{contract.STOP}' AND status = '{contract.DONE}' LIMIT 1",
                [run_id],
            ).fetchone()
        )

    @_writes
    def finish_command(self, command_id: int, status: str, message: str = "") -> None:
        self._update(
            "commands",
            command_id,
            {"status": status, "handled_at": time.time(), "message": clip(message, MAX_MESSAGE)},
        )

    @_writes
    def log(self, run_id: int, message: str, level: str = "info") -> None:
        self._insert(
            "events",
            {
                "run_id": run_id,
                "created_at": time.time(),
                "level": level,
                "message": clip(message, MAX_MESSAGE),
            },
        )

    def events(self, run_id: int, after_id: int = 0, limit: int = 500) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT * FROM events WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?",
            [run_id, after_id, limit],
        )

    def events_tail(self, run_id: int, limit: int, after_id: int = 0) -> list[dict[str, Any]]:
        """The run's last `limit` events with an id above `after_id`, oldest first (read
        backwards on `events_run`): a view that starts, or falls behind, shows the latest."""
        rows = self._rows(
            "SELECT * FROM events WHERE run_id = ? AND id > ? ORDER BY id DESC LIMIT ?",
            [run_id, after_id, limit],
        )
        return rows[::-1]

    # --- strategy state (for resume) ------------------------------------------------------
    @_writes
    def save_strategy_state(
        self,
        run_id: int,
        blob: bytes,
        history: Iterable[tuple[str, int, bytes | None]] = (),
        parts: Iterable[tuple[str, bytes]] = (),
    ) -> None:
        """The strategy's state as bytes (the engine writes JSON, see engine.state); the store
        never interprets them. `history`: (log, seq, chunk) of its append-only logs, each
        written over the log's rows from `seq` on (None: those rows dropped, nothing added);
        `parts`: (name, state) of parts written apart, each replacing the one of its name.
        All in one transaction with `blob` (which says how much of each log is valid), so a
        kill leaves the last save whole or the one before it."""
        with self.conn:
            for name, part in parts:
                self.conn.execute(
                    "INSERT INTO strategy_parts (run_id, name, state) VALUES (?, ?, ?) "
                    "ON CONFLICT (run_id, name) DO UPDATE SET state = excluded.state",
                    [run_id, name, part],
                )
            for log, seq, chunk in history:
                self.conn.execute(
                    "DELETE FROM strategy_history WHERE run_id = ? AND log = ? AND seq >= ?",
                    [run_id, log, seq],
                )
                if chunk is not None:
                    self.conn.execute(
                        "INSERT INTO strategy_history (run_id, log, seq, chunk)"
                        " VALUES (?, ?, ?, ?)",
                        [run_id, log, seq, chunk],
                    )
            self.conn.execute(
                "INSERT INTO strategy_state (run_id, updated_at, state) VALUES (?, ?, ?) "
                "ON CONFLICT (run_id) DO UPDATE SET updated_at = excluded.updated_at,"
                " state = excluded.state",
                [run_id, time.time(), blob],
            )

    def load_strategy_state(self, run_id: int) -> bytes | None:
        row = self.conn.execute(
            "SELECT state FROM strategy_state WHERE run_id = ?", [run_id]
        ).fetchone()
        return _as_bytes(row[0]) if row else None

    def load_strategy_history(self, run_id: int, log: str) -> list[tuple[Any, bytes]]:
        """(seq, chunk) of one of the run's saved logs, in order."""
        rows = self.conn.execute(
            "SELECT seq, chunk FROM strategy_history WHERE run_id = ? AND log = ? ORDER BY seq",
            [run_id, log],
        ).fetchall()
        # As stored, whatever a hand-edited row holds: the engine's reader refuses what is off.
        return [(seq, _as_bytes(chunk)) for seq, chunk in rows]

    def load_strategy_part(self, run_id: int, name: str) -> bytes | None:
        row = self.conn.execute(
            "SELECT state FROM strategy_parts WHERE run_id = ? AND name = ?", [run_id, name]
        ).fetchone()
        return _as_bytes(row[0]) if row else None

    def orphan_strategy_states(self) -> list[int]:
        """Run ids that have saved strategy state (or a part of one) but no run row."""
        rows = self.conn.execute(
            " UNION ".join(
                f"SELECT run_id FROM {table} WHERE run_id NOT IN (SELECT id FROM runs)"
                for table in ("strategy_state", "strategy_history", "strategy_parts")
            )
            + " ORDER BY run_id"
        ).fetchall()
        return [int(r[0]) for r in rows]

    # --- learning-curve pruning (engine.pruners) --------------------------------------------
    @_writes
    def add_pruner_version(
        self, run_id: int, settings: Mapping[str, Any], change: str, source: str
    ) -> int:
        """A new version of the run's pruner settings; returns its number (1, 2, ...)."""
        with self.conn:
            version = int(
                self.conn.execute(
                    "SELECT coalesce(max(version), 0) + 1 FROM pruner_settings WHERE run_id = ?",
                    [run_id],
                ).fetchone()[0]
            )
            self.conn.execute(
                "INSERT INTO pruner_settings (run_id, version, created_at, settings, change,"
                " source) VALUES (?, ?, ?, ?, ?, ?)",
                [run_id, version, time.time(), json.dumps(dict(settings)), change, source],
            )
        return version

    def pruner_versions(self, run_id: int) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT * FROM pruner_settings WHERE run_id = ? ORDER BY version", [run_id]
        )
        for r in rows:
            r["settings"] = json.loads(r["settings"])
        return rows

    def current_pruner(self, run_id: int) -> dict[str, Any] | None:
        """The latest pruner settings version of the run (None: the run has none yet)."""
        rows = self.pruner_versions(run_id)
        return rows[-1] if rows else None

    def search_curves(
        self, run_id: int, statuses: Iterable[str]
    ) -> list[tuple[int, str, int, float | None]]:
        """(trial id, status, epoch, validation accuracy) of every epoch of the run's search
        trials (final validation not included) whose status is in `statuses`."""
        statuses = list(statuses)
        marks = ", ".join("?" for _ in statuses)
        return self.conn.execute(
            "SELECT t.id, t.status, e.epoch, e.val_accuracy FROM epochs e "
            "JOIN trials t ON t.id = e.trial_id "
            f"WHERE t.run_id = ? AND {search_sql('t')} AND t.status IN ({marks}) "
            "ORDER BY t.id, e.epoch",
            [run_id, *statuses],
        ).fetchall()

    def pruning_summary(self, run_id: int) -> dict[str, int]:
        """Pruned search trials and the epochs they ran and were spared, for show and export."""
        row = self.conn.execute(
            "SELECT count(*), coalesce(sum(epochs_run), 0), "
            "coalesce(sum(max(0, max_epochs - coalesce(epochs_run, 0))), 0) FROM trials "
            f"WHERE run_id = ? AND status = '{PRUNED}' AND {SEARCH}",
            [run_id],
        ).fetchone()
        return {"pruned": int(row[0]), "epochs_run": int(row[1]), "epochs_saved": int(row[2])}


class RunStore:
    """One run's view of a Store: its run-scoped methods (those of Store whose first
    argument is the run's id) without the id, so a holder of one run passes one thing.

    `store` and `run_id` stay at hand for the rest (trials, epochs and commands by their
    own ids, check_fence, other runs). Each method is a thin call into the Store: the SQL
    and its checks live there only.
    """

    __slots__ = ("store", "run_id")

    def __init__(self, store: Store, run_id: int) -> None:
        self.store = store
        self.run_id = run_id

    @classmethod
    def of(cls, store: Store | RunStore, run_id: int | None = None) -> RunStore:
        """`store` bound to `run_id`, or a RunStore as it is (then without a run id): for
        constructors that take either `(store, run_id)` or one run's handle."""
        if isinstance(store, RunStore):
            if run_id is not None and run_id != store.run_id:
                raise ValueError(f"a handle on run {store.run_id} given for run {run_id}")
            return store
        if run_id is None:
            raise TypeError("a Store needs the run id beside it")
        return cls(store, run_id)

    def __repr__(self) -> str:
        return f"RunStore(run_id={self.run_id}, path={str(self.store.path)!r})"

    def update_run(self, **fields: Any) -> None:
        self.store.update_run(self.run_id, **fields)

    def run(self) -> dict[str, Any] | None:
        return self.store.run(self.run_id)

    def epochs_trained(self) -> int:
        return self.store.epochs_trained(self.run_id)

    def search_counts(self) -> dict[str, int]:
        return self.store.search_counts(self.run_id)

    def phase_summary(self) -> list[dict[str, Any]]:
        return self.store.phase_summary(self.run_id)

    def search_accuracies(self) -> list[float]:
        return self.store.search_accuracies(self.run_id)

    def search_points(self) -> list[dict[str, Any]]:
        return self.store.search_points(self.run_id)

    def search_results(self, newest: int) -> list[dict[str, Any]]:
        return self.store.search_results(self.run_id, newest)

    def search_accuracy_bins(self, width: int) -> list[dict[str, Any]]:
        return self.store.search_accuracy_bins(self.run_id, width)

    def rule_firings(self) -> list[dict[str, Any]]:
        return self.store.rule_firings(self.run_id)

    def phase_starts(self) -> list[tuple[str, int]]:
        return self.store.phase_starts(self.run_id)

    def take_lock(self, seen: Mapping[str, Any]) -> bool:
        return self.store.take_lock(self.run_id, seen)

    def heartbeat(self, token: str) -> bool:
        return self.store.heartbeat(self.run_id, token)

    def progress_counts(self) -> dict[str, Any]:
        return self.store.progress_counts(self.run_id)

    def seconds_per_epoch(self) -> list[float]:
        return self.store.seconds_per_epoch(self.run_id)

    def add_space_version(self, space: dict, rules: list, change: str, source: str) -> int:
        return self.store.add_space_version(self.run_id, space, rules, change, source)

    def space_versions(self) -> list[dict[str, Any]]:
        return self.store.space_versions(self.run_id)

    def current_space(self) -> dict[str, Any] | None:
        return self.store.current_space(self.run_id)

    def add_trial(self, config: Mapping[str, Any], **fields: Any) -> tuple[int, int]:
        return self.store.add_trial(self.run_id, config, **fields)

    def trials_since(self, after_id: int, also: Iterable[int] = ()) -> list[dict[str, Any]]:
        return self.store.trials_since(self.run_id, after_id, also)

    def trials_window(
        self, newest: int, best: int = 0, *, phase: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        return self.store.trials_window(self.run_id, newest, best, phase=phase, status=status)

    def trial_count(self) -> int:
        return self.store.trial_count(self.run_id)

    def trial_by_number(self, number: int) -> dict[str, Any] | None:
        return self.store.trial_by_number(self.run_id, number)

    def trials(
        self, *, status: str | None = None, phase: str | None = None
    ) -> list[dict[str, Any]]:
        return self.store.trials(self.run_id, status=status, phase=phase)

    def best_trial(self) -> dict[str, Any] | None:
        return self.store.best_trial(self.run_id)

    def set_estimates(self, estimates: Mapping[int, float], *, tolerance: float = 0.0) -> int:
        return self.store.set_estimates(self.run_id, estimates, tolerance=tolerance)

    def set_importance(
        self,
        *,
        space_version: int,
        finished: int,
        trials_read: int,
        metric: str,
        measured: int | None = None,
        fitted: int | None = None,
        shares: Mapping[str, float] | None = None,
    ) -> None:
        self.store.set_importance(
            self.run_id, space_version=space_version, finished=finished,
            trials_read=trials_read, metric=metric, measured=measured, fitted=fitted,
            shares=shares,
        )  # fmt: skip

    def importance(self) -> dict[str, Any] | None:
        return self.store.importance(self.run_id)

    def mark_running_interrupted(self) -> int:
        return self.store.mark_running_interrupted(self.run_id)

    def add_epoch(self, trial_id: int, **fields: Any) -> None:
        self.store.add_epoch(self.run_id, trial_id, **fields)

    def add_ppo_update(self, **fields: Any) -> None:
        self.store.add_ppo_update(self.run_id, **fields)

    def ppo_updates(self) -> list[dict[str, Any]]:
        return self.store.ppo_updates(self.run_id)

    def ppo_updates_since(self, after_id: int) -> list[dict[str, Any]]:
        return self.store.ppo_updates_since(self.run_id, after_id)

    def set_worker(self, slot: int, **fields: Any) -> None:
        self.store.set_worker(self.run_id, slot, **fields)

    def workers(self) -> list[dict[str, Any]]:
        return self.store.workers(self.run_id)

    def add_command(self, kind: str, payload: Mapping[str, Any] | None = None) -> int:
        return self.store.add_command(self.run_id, kind, payload)

    def pending_commands(self) -> list[dict[str, Any]]:
        return self.store.pending_commands(self.run_id)

    def handled_commands(self, ids: Iterable[int]) -> list[dict[str, Any]]:
        return self.store.handled_commands(self.run_id, ids)

    def stop_carried_out(self) -> bool:
        return self.store.stop_carried_out(self.run_id)

    def log(self, message: str, level: str = "info") -> None:
        self.store.log(self.run_id, message, level)

    def events(self, after_id: int = 0, limit: int = 500) -> list[dict[str, Any]]:
        return self.store.events(self.run_id, after_id, limit)

    def events_tail(self, limit: int, after_id: int = 0) -> list[dict[str, Any]]:
        return self.store.events_tail(self.run_id, limit, after_id)

    def save_strategy_state(
        self,
        blob: bytes,
        history: Iterable[tuple[str, int, bytes | None]] = (),
        parts: Iterable[tuple[str, bytes]] = (),
    ) -> None:
        self.store.save_strategy_state(self.run_id, blob, history, parts)

    def load_strategy_state(self) -> bytes | None:
        return self.store.load_strategy_state(self.run_id)

    def load_strategy_history(self, log: str) -> list[tuple[Any, bytes]]:
        return self.store.load_strategy_history(self.run_id, log)

    def load_strategy_part(self, name: str) -> bytes | None:
        return self.store.load_strategy_part(self.run_id, name)

    def add_pruner_version(self, settings: Mapping[str, Any], change: str, source: str) -> int:
        return self.store.add_pruner_version(self.run_id, settings, change, source)

    def pruner_versions(self) -> list[dict[str, Any]]:
        return self.store.pruner_versions(self.run_id)

    def current_pruner(self) -> dict[str, Any] | None:
        return self.store.current_pruner(self.run_id)

    def search_curves(self, statuses: Iterable[str]) -> list[tuple[int, str, int, float | None]]:
        return self.store.search_curves(self.run_id, statuses)

    def pruning_summary(self) -> dict[str, int]:
        return self.store.pruning_summary(self.run_id)
