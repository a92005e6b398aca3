"""The SQLite experiment store, on real files in tmp_path."""

from __future__ import annotations

import inspect
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.space import DEFAULT_CONFIG
from storage.schema import APPLICATION_ID, SCHEMA_VERSION
from storage.store import RunStore, Store, StoreError

CONFIG = {**DEFAULT_CONFIG}  # the baseline configuration


def new_run(store: Store, **kw) -> int:
    fields = dict(
        status="running",
        phase="starting",
        strategy="random",
        profile="tiny",
        seed=1,
        workers=2,
        config={"strategy": "random"},
    )
    fields.update(kw)
    return store.create_run(**fields)


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "s.db")
    yield s
    s.close()


def test_migrations_mark_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 1
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "runs",
        "space_versions",
        "trials",
        "epochs",
        "ppo_updates",
        "workers",
        "commands",
        "events",
        "strategy_state",
        "strategy_history",
        "strategy_parts",
    } <= tables
    conn.close()
    # opening again does not re-run migrations (would fail on CREATE TABLE) and keeps data
    s = Store(path)
    rid = new_run(s)
    s.close()
    s = Store(path, readonly=True)
    assert s.run(rid)["strategy"] == "random"
    s.close()


def test_wal_on(store: Store) -> None:
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0


def test_runs_and_space_versions(store: Store) -> None:
    rid = new_run(store)
    other = new_run(store)
    for i in range(3):
        v = store.add_space_version(rid, {"i": i}, [{"r": i}], f"change {i}", "test")
        assert v == i + 1
    assert store.add_space_version(other, {}, [], "other", "engine") == 1
    assert [v["version"] for v in store.space_versions(rid)] == [1, 2, 3]
    cur = store.current_space(rid)
    assert cur["version"] == 3 and cur["space"] == {"i": 2} and cur["rules"] == [{"r": 2}]
    assert store.run(rid)["space_version"] == 3
    assert store.run(other)["space_version"] == 1
    store.update_run(rid, status="paused", final={"a": 1.5})
    run = store.run(rid)
    assert run["status"] == "paused" and run["final"] == {"a": 1.5}
    assert run["config"] == {"strategy": "random"}
    assert store.run(999) is None
    with pytest.raises(sqlite3.IntegrityError):
        store.update_run(rid, status="bogus")


def test_trials_numbering_update_epochs(store: Store) -> None:
    r1, r2 = new_run(store), new_run(store)
    ids = []
    for n in range(1, 4):
        tid, number = store.add_trial(
            r1,
            CONFIG,
            status="running",
            phase="search",
            strategy="random",
            space_version=1,
            rules_fired=["x"],
        )
        assert number == n
        ids.append(tid)
    tid2, number2 = store.add_trial(
        r2,
        {**CONFIG, "optimizer": "sgd"},
        status="queued",
        phase="search",
        strategy="random",
        space_version=1,
    )
    assert number2 == 1
    t = store.trial(ids[0])
    assert t["config"] == CONFIG and "lr" not in t  # the config is the only copy
    assert t["rules_fired"] == ["x"]
    store.update_trial(ids[0], status="finished", val_accuracy=0.8, reward=70.0)
    t = store.trial(ids[0])
    assert (t["status"], t["val_accuracy"], t["reward"]) == ("finished", 0.8, 70.0)
    assert [x["number"] for x in store.trials(r1)] == [1, 2, 3]
    assert [x["id"] for x in store.trials(r1, status="finished")] == [ids[0]]
    assert store.trials(r1, phase="final") == []
    for e in (2, 1):
        store.add_epoch(r1, ids[0], epoch=e, loss=0.5 / e, val_accuracy=0.7 + e / 100)
    store.add_epoch(r1, ids[0], epoch=2, loss=0.1, val_accuracy=0.9)  # replaces epoch 2
    eps = store.epochs(ids[0])
    assert [e["epoch"] for e in eps] == [1, 2]
    assert eps[1]["loss"] == 0.1 and eps[1]["val_accuracy"] == 0.9
    with pytest.raises(sqlite3.IntegrityError):
        store.update_trial(ids[1], status="done")


def test_ppo_updates_and_workers(store: Store) -> None:
    rid = new_run(store)
    for e in (2, 1):
        store.add_ppo_update(
            rid,
            ppo_epoch=e,
            traj_len=1,
            n_steps=2,
            mean_reward=10.0 * e,
            actor_loss=0.1,
            critic_loss=0.2,
            approx_kl=0.01,
            mean_std=0.3,
        )
    ups = store.ppo_updates(rid)
    assert [u["ppo_epoch"] for u in ups] == [1, 2]
    assert ups[1]["mean_reward"] == 20.0
    store.set_worker(rid, 0, pid=11, trial_id=None)
    store.set_worker(rid, 0, trial_id=5, epoch=1)
    store.set_worker(rid, 1, pid=12)
    ws = store.workers(rid)
    assert [(w["slot"], w["pid"], w["trial_id"]) for w in ws] == [(0, 11, 5), (1, 12, None)]


def test_commands_lifecycle(store: Store) -> None:
    rid = new_run(store)
    c1 = store.add_command(rid, "pause")
    c2 = store.add_command(rid, "edit_space", {"changes": {"lr": [1e-3]}})
    c3 = store.add_command(rid, "resume")
    assert [c["id"] for c in store.pending_commands(rid)] == [c1, c2, c3]
    assert store.command(c2)["payload"] == {"changes": {"lr": [1e-3]}}
    assert store.command(c1)["status"] == "pending"
    store.finish_command(c1, "done", "paused")
    store.finish_command(c2, "refused", "lr: bad")
    assert [c["id"] for c in store.pending_commands(rid)] == [c3]
    c = store.command(c2)
    assert (c["status"], c["message"]) == ("refused", "lr: bad") and c["handled_at"] > 0
    with pytest.raises(sqlite3.IntegrityError):
        store.finish_command(c3, "exploded")


def test_events_after_id(store: Store) -> None:
    r1, r2 = new_run(store), new_run(store)
    for i in range(5):
        store.log(r1, f"m{i}", "warning" if i == 3 else "info")
    store.log(r2, "other")
    ev = store.events(r1)
    assert [e["message"] for e in ev] == ["m0", "m1", "m2", "m3", "m4"]
    assert ev[3]["level"] == "warning"
    assert [e["message"] for e in store.events(r1, after_id=ev[2]["id"])] == ["m3", "m4"]
    assert store.events(r1, after_id=ev[-1]["id"]) == []
    assert [e["message"] for e in store.events(r1, limit=2)] == ["m0", "m1"]


def add(store: Store, rid: int, status="finished", phase="search", **kw) -> int:
    tid, _ = store.add_trial(
        rid, CONFIG, status=status, phase=phase, strategy="x", space_version=1, **kw
    )
    return tid


def test_best_trial_ordering(store: Store) -> None:
    rid = new_run(store)
    assert store.best_trial(rid) is None
    add(store, rid, score=50.0, reward=70.0, val_accuracy=0.9)  # ranked by score, not reward
    t_b = add(store, rid, score=60.0, reward=40.0, val_accuracy=0.6)
    t_c = add(store, rid, score=60.0, reward=40.0, val_accuracy=0.7)  # same score, better acc
    add(store, rid, phase="final", score=99.0, val_accuracy=0.99)
    add(store, rid, status="failed", score=98.0, val_accuracy=0.98)
    add(store, rid, status="running", score=97.0, val_accuracy=0.97)
    add(store, rid, status="interrupted", score=96.0, val_accuracy=0.96)
    add(store, rid, score=None, val_accuracy=0.95)
    assert store.best_trial(rid)["id"] == t_c
    assert t_b != t_c
    other = new_run(store)
    assert store.best_trial(other) is None
    runs = {r["id"]: r for r in store.runs()}
    assert runs[rid]["done_trials"] == 5  # finished, failed or pruned search trials
    # the listing shows the best trial's own numbers, not each column's maximum
    assert runs[rid]["best_score"] == 60.0
    assert runs[rid]["best_val_accuracy"] == 0.7
    assert runs[rid]["best_number"] == store.trial(t_c)["number"]


def test_estimates_are_stored_but_do_not_rank(store: Store) -> None:
    """The GP's estimates are information beside the score: the score alone ranks (the
    surrogate benchmark found no selection rule better than it, BENCHMARKS.md section 5)."""
    rid = new_run(store)
    high = add(store, rid, score=70.0, val_accuracy=0.9, seconds=5.0)
    low = add(store, rid, score=50.0, val_accuracy=0.8, seconds=9.0)
    store.set_estimates(rid, {high: 0.7, low: 0.85})
    assert store.trial(low)["est_accuracy"] == 0.85
    assert store.best_trial(rid)["id"] == high
    runs = {r["id"]: r for r in store.runs()}
    assert runs[rid]["best_est_accuracy"] == 0.7
    assert runs[rid]["epochs_trained"] == 0  # these trials recorded no epochs


def test_estimates_of_another_run_are_not_written(store: Store) -> None:
    rid, other = new_run(store), new_run(store)
    t = add(store, rid, score=1.0, val_accuracy=0.5)
    store.set_estimates(other, {t: 0.99})
    assert store.trial(t)["est_accuracy"] is None


def test_mark_running_interrupted(store: Store) -> None:
    rid, other = new_run(store), new_run(store)
    a = add(store, rid, status="running")
    b = add(store, rid, status="queued")
    c = add(store, rid, status="finished")
    d = add(store, other, status="running")
    assert store.mark_running_interrupted(rid) == 2
    assert [store.trial(t)["status"] for t in (a, b, c, d)] == [
        "interrupted",
        "interrupted",
        "finished",
        "running",
    ]
    assert store.trial(a)["finished_at"] is not None
    assert store.mark_running_interrupted(rid) == 0


def test_foreign_sqlite_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "foreign.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    for ro in (False, True):
        with pytest.raises(StoreError) as exc:
            Store(path, readonly=ro)
        assert str(path) in str(exc.value) and "not an hptui store" in str(exc.value)
    conn = sqlite3.connect(path)  # untouched
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    assert conn.execute("PRAGMA application_id").fetchone()[0] == 0
    conn.close()


def test_random_bytes_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    data = os.urandom(8192)
    path.write_bytes(data)
    for ro in (False, True):
        with pytest.raises(StoreError) as exc:
            Store(path, readonly=ro)
        assert str(path) in str(exc.value)
    assert path.read_bytes() == data


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such store file"):
        Store(tmp_path / "nope.db", readonly=True)
    with pytest.raises(StoreError, match="is a directory"):
        Store(tmp_path)


def test_newer_schema_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this hptui"):
        Store(path)


def test_readonly_reads_while_writer_writes(tmp_path: Path) -> None:
    path = tmp_path / "rw.db"
    writer = Store(path)
    rid = new_run(writer)
    reader = Store(path, readonly=True)
    errors: list[BaseException] = []
    counts: list[int] = []

    def read() -> None:
        try:
            for _ in range(40):
                counts.append(len(reader.trials(rid)))
                time.sleep(0.002)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    th = threading.Thread(target=read)
    th.start()
    # the writer holds an open transaction while the reader reads
    with writer.conn:
        add(writer, rid)
        time.sleep(0.05)
    for _ in range(30):
        add(writer, rid)
    th.join()
    assert not errors
    assert counts == sorted(counts)  # monotone snapshots
    assert len(reader.trials(rid)) == 31
    assert reader.run(rid)["id"] == rid
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.log(rid, "from the reader")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.add_command(rid, "pause")
    reader.close()
    writer.close()


def test_strategy_state_blob(store: Store) -> None:
    rid = new_run(store)
    assert store.load_strategy_state(rid) is None
    blob = bytes(range(256)) * 10
    store.save_strategy_state(rid, blob)
    assert store.load_strategy_state(rid) == blob
    store.save_strategy_state(rid, b"\x00second")
    assert store.load_strategy_state(rid) == b"\x00second"


def test_strategy_history_chunks_are_appended_and_written_over(store: Store) -> None:
    rid = new_run(store)
    assert store.load_strategy_history(rid, "log") == []
    store.save_strategy_state(rid, b"h1", [("log", 0, b"[1,2]"), ("other", 0, b"[9]")])
    store.save_strategy_state(rid, b"h2", [("log", 2, b"[3]")])
    assert store.load_strategy_history(rid, "log") == [(0, b"[1,2]"), (2, b"[3]")]
    assert store.load_strategy_history(rid, "other") == [(0, b"[9]")]
    # From a seq on, the rows there are written over: those after it are dropped.
    store.save_strategy_state(rid, b"h3", [("log", 2, b"[4,5]")])
    assert store.load_strategy_history(rid, "log") == [(0, b"[1,2]"), (2, b"[4,5]")]
    store.save_strategy_state(rid, b"h4", [("log", 0, None)])
    assert store.load_strategy_history(rid, "log") == []
    assert store.load_strategy_state(rid) == b"h4"
    assert store.load_strategy_history(rid, "other") == [(0, b"[9]")]


def test_strategy_parts_are_replaced_by_name(store: Store) -> None:
    rid = new_run(store)
    assert store.load_strategy_part(rid, "agent") is None
    store.save_strategy_state(rid, b"h1", parts=[("agent", b"{}"), ("other", b"{1}")])
    store.save_strategy_state(rid, b"h2", parts=[("agent", b"{2}")])
    store.save_strategy_state(rid, b"h3")
    assert store.load_strategy_part(rid, "agent") == b"{2}"
    assert store.load_strategy_part(rid, "other") == b"{1}"


def test_strategy_state_and_history_are_written_together(store: Store) -> None:
    """A save that fails half-way (here, between two chunks) leaves the one before whole."""
    rid = new_run(store)
    store.save_strategy_state(rid, b"before", [("log", 0, b"[1]")])

    def chunks():
        yield ("log", 1, b"[2]")
        raise OSError("stopped half-way")

    with pytest.raises(OSError):
        store.save_strategy_state(rid, b"after", chunks())
    assert store.load_strategy_state(rid) == b"before"
    assert store.load_strategy_history(rid, "log") == [(0, b"[1]")]


def test_orphan_strategy_history_is_found(store: Store) -> None:
    rid = new_run(store)
    store.conn.execute("PRAGMA foreign_keys = OFF")
    store.save_strategy_state(rid, b"x", [("log", 0, b"[1]")])
    with store.conn:
        store.conn.execute(
            "INSERT INTO strategy_history (run_id, log, seq, chunk) VALUES (?, 'log', 0, '[]')",
            [rid + 1],
        )
        store.conn.execute(
            "INSERT INTO strategy_parts (run_id, name, state) VALUES (?, 'agent', '{}')",
            [rid + 2],
        )
    assert store.orphan_strategy_states() == [rid + 1, rid + 2]
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_one_query_answers_finished_trials_of_run(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    s = Store(path)
    r1, r2 = new_run(s), new_run(s)
    want = [add(s, r1), add(s, r1)]
    add(s, r1, status="failed")
    add(s, r2)
    s.close()
    conn = sqlite3.connect(path)  # what anyone with sqlite3 would do
    rows = conn.execute(
        "SELECT id, number, json_extract(config, '$.lr') AS lr, "
        "json_extract(config, '$.optimizer') AS optimizer FROM trials "
        "WHERE run_id = ? AND status = 'finished' "
        "ORDER BY number",
        [r1],
    ).fetchall()
    assert [r[0] for r in rows] == want
    assert rows[0][2:] == (1e-3, "adam")
    conn.close()


def test_migration_from_schema_1_fills_the_score(tmp_path: Path) -> None:
    """A store written by the first schema is migrated in place, data kept, score computed."""
    from storage.schema import MIGRATIONS

    db = tmp_path / "v1.db"
    conn = sqlite3.connect(db)
    conn.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(
        "INSERT INTO runs (id, created_at, strategy, profile, seed, workers, config) "
        "VALUES (1, 0, 'random', 'tiny', 1, 2, '{}')"
    )
    conn.execute(
        "INSERT INTO trials (run_id, number, status, phase, strategy, space_version, "
        "config, val_accuracy, seconds, penalty, created_at) "
        "VALUES (1, 1, 'finished', 'search', 'random', 1, '{}', 0.8, 10.0, 5.0, 0)"
    )
    conn.commit()
    conn.close()
    store = Store(db)
    try:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        # 100·0.6·0.8 − 0.1·0.4·10 − 5 = 42.6
        assert store.best_trial(1)["score"] == pytest.approx(42.6)
    finally:
        store.close()


def test_take_lock_is_a_compare_and_set(store: Store) -> None:
    rid = new_run(store)
    seen = store.run(rid)
    assert store.take_lock(rid, seen)
    assert store.fence is not None and store.fence[0] == rid
    row = store.run(rid)
    assert row["engine_pid"] == os.getpid() and row["engine_token"] == store.fence[1]
    # Another engine that looked before we took it finds the row changed: refused.
    other = Store(store.path)
    try:
        assert not other.take_lock(rid, seen)
        assert other.fence is None
    finally:
        other.close()


def test_heartbeat_needs_the_token_and_never_raises(store: Store) -> None:
    rid = new_run(store)
    assert store.take_lock(rid, store.run(rid))
    run_id, token = store.fence
    before = store.run(rid)["heartbeat"]
    time.sleep(0.01)
    assert store.heartbeat(run_id, token)
    assert store.run(rid)["heartbeat"] > before
    assert not store.heartbeat(run_id, "another engine's token")
    store.conn.execute("BEGIN")  # a write under way is never committed by a heartbeat
    assert not store.heartbeat(run_id, token)
    store.conn.rollback()


def test_progress_counts(store: Store) -> None:
    rid = new_run(store)

    def trial(status: str, max_epochs: int, epochs_run: int | None, phase: str = "search") -> int:
        tid, _ = store.add_trial(
            rid, CONFIG, status="running", phase=phase, strategy="random", space_version=1,
            max_epochs=max_epochs, started_at=100.0,
        )  # fmt: skip
        if status != "running":
            store.update_trial(tid, status=status, epochs_run=epochs_run, finished_at=130.0)
        return tid

    trial("finished", 3, 3)  # 30 s for 3 epochs
    trial("pruned", 3, 1)  # 30 s for 1 epoch, 1 epoch of budget
    trial("failed", 3, None)  # 3 epochs of budget, nothing measured
    running = trial("running", 3, None)
    for e in (1, 2):
        store.add_epoch(rid, running, epoch=e, val_accuracy=0.5)
    final = trial("running", 2, None, phase="final")
    store.add_epoch(rid, final, epoch=1, val_accuracy=0.5)
    trial("finished", 2, 2, phase="final")
    c = store.progress_counts(rid)
    assert (c["finished"], c["failed"], c["pruned"], c["running"]) == (1, 1, 1, 1)
    assert c["epochs_spent"] == 3 + 1 + 3
    assert (c["measured_seconds"], c["measured_epochs"]) == (60.0, 4)
    assert (c["running_epochs"], c["running_epochs_left"]) == (3, 1)
    assert c["final_epochs_done"] == 1 + 2
    assert c["first_started"] == 100.0
    assert store.seconds_per_epoch(rid) == [10.0, 15.0]  # final validation too


def test_incremental_reads(store: Store) -> None:
    rid, other = new_run(store), new_run(store)
    t1, _ = store.add_trial(rid, CONFIG, status="running", phase="search", strategy="random",
                            space_version=1)  # fmt: skip
    t2, _ = store.add_trial(rid, CONFIG, status="finished", phase="search", strategy="random",
                            space_version=1)  # fmt: skip
    store.add_trial(other, CONFIG, status="finished", phase="search", strategy="random",
                    space_version=1)  # fmt: skip
    assert [t["id"] for t in store.trials_since(rid, t2)] == []
    assert [t["id"] for t in store.trials_since(rid, t2, also={t1})] == [t1]
    assert [t["id"] for t in store.trials_since(rid, 0)] == [t1, t2]
    assert store.trials_since(rid, 0)[0]["config"] == CONFIG  # JSON decoded
    c1, c2 = store.add_command(rid, "pause"), store.add_command(rid, "stop")
    c3 = store.add_command(other, "stop")
    assert store.handled_commands(rid, [c1, c2, c3]) == []
    store.finish_command(c2, "done", "stopping")
    store.finish_command(c3, "done", "stopping")
    assert [c["id"] for c in store.handled_commands(rid, [c1, c2, c3])] == [c2]
    assert store.stop_carried_out(rid) and store.stop_carried_out(other)
    assert not store.stop_carried_out(new_run(store))


def test_writes_take_numpy_scalars_without_importing_numpy_into_the_store(store: Store) -> None:
    np = pytest.importorskip("numpy")
    rid = new_run(store, workers=np.int64(3))
    assert store.run(rid)["workers"] == 3
    store.update_run(rid, planned_trials=np.int64(7))
    assert store.run(rid)["planned_trials"] == 7


# --- the schema file and the reads that must not grow with the run ----------------------------


def test_schema_file_is_the_migrations_applied() -> None:
    """storage/schema.sql is the whole current schema; it must be regenerated whenever a
    migration changes (the command is in its header), and it builds the same tables."""
    from storage.schema import schema_sql

    path = Path(__file__).resolve().parents[1] / "storage" / "schema.sql"
    assert path.read_text() == schema_sql(), (
        "storage/schema.sql is out of date: python -m storage.schema > storage/schema.sql"
    )
    conn = sqlite3.connect(":memory:")
    conn.executescript(path.read_text())
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert {"trials", "trial_totals", "trials_run_best", "trial_totals_update"} <= names


def _plans(store: Store, call: Callable[[], object]) -> list[str]:
    """The query plan of each statement `call` runs through the store's connection."""
    statements: list[str] = []  # as run, with the values in place
    store.conn.set_trace_callback(statements.append)
    try:
        call()
    finally:
        store.conn.set_trace_callback(None)
    plans = []
    for sql in statements:
        rows = store.conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
        plans.append(" / ".join(r[-1] for r in rows))
    return plans


def test_best_trial_and_shows_reads_are_index_lookups(store: Store) -> None:
    rid = new_run(store)
    for i in range(30):
        add(store, rid, score=float(i % 7), val_accuracy=0.5 + i / 100, started_at=float(i))
    (best,) = _plans(store, lambda: store.best_trial(rid))
    assert "USING INDEX trials_run_best" in best and "TEMP B-TREE" not in best, best
    assert store.best_trial(rid)["score"] == 6.0
    first = [p for p in _plans(store, lambda: store.progress_counts(rid)) if "started" in p]
    assert first == ["SEARCH trials USING INDEX trials_run_search_started (run_id=?)"]
    assert store.progress_counts(rid)["first_started"] == 0.0
    # show's summary per phase and its plot: the covering index alone, not the table
    for call in (lambda: store.phase_summary(rid), lambda: store.search_accuracies(rid)):
        for plan in _plans(store, call):
            assert "USING COVERING INDEX trials_run_phase" in plan, plan


def _totals_by_scan(store: Store) -> set[tuple]:
    """What trial_totals must hold, computed from the trials themselves."""
    rows = store.conn.execute(
        "SELECT run_id, phase, status, count(*), coalesce(sum(epochs_run), 0), "
        "coalesce(sum(max_epochs), 0), "
        "round(coalesce(sum(finished_at - started_at) "
        "FILTER (WHERE started_at IS NOT NULL AND epochs_run > 0), 0), 6), "
        "coalesce(sum(epochs_run) FILTER (WHERE started_at IS NOT NULL AND epochs_run > 0), 0) "
        "FROM trials GROUP BY run_id, phase, status"
    ).fetchall()
    return set(rows)


def _totals_kept(store: Store) -> set[tuple]:
    rows = store.conn.execute(
        "SELECT run_id, phase, status, trials, epochs_run, max_epochs, "
        "round(measured_seconds, 6), measured_epochs FROM trial_totals WHERE trials != 0"
    ).fetchall()
    return set(rows)


def test_trial_totals_follow_every_change_of_the_trials(store: Store) -> None:
    """The triggers keep trial_totals equal to a scan of the trials through inserts, updates
    of any counted column (status, phase, epochs, times, even the run) and deletes."""
    import random

    rng = random.Random(3)
    runs = [new_run(store), new_run(store)]
    ids: list[int] = []
    for step in range(300):
        op = rng.random()
        if op < 0.4 or not ids:
            ids.append(add(store, rng.choice(runs), status="running",
                           phase=rng.choice(["warmup", "search", "final"]),
                           max_epochs=rng.choice([None, 1, 2, 3]),
                           started_at=rng.choice([None, 100.0 + step])))  # fmt: skip
        elif op < 0.9:
            change = {
                "status": rng.choice(["finished", "failed", "pruned", "interrupted", "running"]),
                "epochs_run": rng.choice([None, 0, 1, 2]),
                "finished_at": rng.choice([None, 150.0 + rng.random()]),
                "phase": rng.choice(["warmup", "search", "final"]),
                "val_accuracy": rng.random(),  # not counted: the totals stay as they are
            }
            store.update_trial(rng.choice(ids), **dict(rng.sample(sorted(change.items()), 3)))
        elif op < 0.93:
            store.mark_running_interrupted(rng.choice(runs))
        elif op < 0.96:  # moved to another run (a fresh number there)
            store.update_trial(rng.choice(ids), run_id=rng.choice(runs), number=1000 + step)
        else:
            with store.conn:
                store.conn.execute("DELETE FROM trials WHERE id = ?", [ids.pop()])
    assert _totals_kept(store) == _totals_by_scan(store)


def test_progress_counts_read_no_trial_that_has_ended(store: Store) -> None:
    """The counts come from trial_totals: edited behind the triggers' back, they show it."""
    rid = new_run(store)
    add(store, rid, status="finished", max_epochs=2, epochs_run=2, started_at=0.0)
    assert store.progress_counts(rid)["finished"] == 1
    with store.conn:
        store.conn.execute("UPDATE trial_totals SET trials = 5 WHERE status = 'finished'")
    assert store.progress_counts(rid)["finished"] == 5


def test_migration_to_7_fills_the_totals_and_keeps_the_counts(tmp_path: Path) -> None:
    """A store at schema 6 with trials: the totals are filled from them, so its progress
    counts are what they were, and the new indexes serve it."""
    from storage.schema import MIGRATIONS

    db = tmp_path / "v6.db"
    conn = sqlite3.connect(db)
    for m in MIGRATIONS[:6]:
        conn.executescript("BEGIN;" + m + ";COMMIT;")
    conn.execute("PRAGMA user_version = 6")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(
        "INSERT INTO runs (id, created_at, strategy, profile, seed, workers, config) "
        "VALUES (1, 0, 'random', 'tiny', 1, 2, '{}')"
    )
    for n, status, epochs in ((1, "finished", 2), (2, "pruned", 1), (3, "failed", None)):
        conn.execute(
            "INSERT INTO trials (run_id, number, status, phase, strategy, space_version, config,"
            " max_epochs, epochs_run, val_accuracy, score, started_at, finished_at, created_at)"
            " VALUES (1, ?, ?, 'search', 'random', 1, '{}', 2, ?, 0.7, ?, 10.0, 40.0, 0)",
            [n, status, epochs, 40.0 + n],
        )
    conn.commit()
    conn.close()
    store = Store(db)
    try:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        c = store.progress_counts(1)
        assert (c["finished"], c["failed"], c["pruned"]) == (1, 1, 1)
        assert (c["epochs_spent"], c["measured_seconds"], c["measured_epochs"]) == (5, 60.0, 3)
        assert store.best_trial(1)["number"] == 1
        assert store.epochs_trained(1) == 3
        assert _totals_kept(store) == _totals_by_scan(store)
    finally:
        store.close()


def test_set_estimates_writes_only_the_estimates_that_moved(store: Store) -> None:
    rid = new_run(store)
    a, b, c = (add(store, rid, score=1.0, val_accuracy=0.5) for _ in range(3))
    assert store.set_estimates(rid, {a: 0.7, b: 0.8, c: 0.9}) == 3
    assert store.set_estimates(rid, {a: 0.7, b: 0.8, c: 0.91}) == 1  # only c changed
    assert store.set_estimates(rid, {a: 0.70001, b: 0.9}, tolerance=1e-4) == 1  # a kept
    assert [store.trial(t)["est_accuracy"] for t in (a, b, c)] == [0.7, 0.9, 0.91]
    with pytest.raises(ValueError, match="tolerance"):
        store.set_estimates(rid, {a: 0.5}, tolerance=-1.0)


def test_phase_summary_and_search_counts(store: Store) -> None:
    rid = new_run(store)
    add(store, rid, phase="warmup", val_accuracy=0.6, reward=50.0, seconds=3.0)
    add(store, rid, phase="warmup", status="failed")
    add(store, rid, phase="search", val_accuracy=0.7, reward=None, seconds=2.0)
    add(store, rid, phase="search", status="pruned", val_accuracy=0.9)
    add(store, rid, phase="final", val_accuracy=0.8, seconds=9.0)
    summary = {p["phase"]: p for p in store.phase_summary(rid)}
    assert list(summary) == ["warmup", "search", "final"]  # in the order the run went
    assert summary["warmup"] | {"phase": None} == {
        "phase": None, "trials": 2, "finished": 1, "failed": 1, "pruned": 0,
        "top_val_accuracy": 0.6, "top_reward": 50.0, "seconds": 3.0,
    }  # fmt: skip
    assert summary["search"]["top_val_accuracy"] == 0.7  # the pruned one is not finished
    assert summary["search"]["top_reward"] is None
    assert store.search_counts(rid) == {"search": 4, "finished": 2, "failed": 1, "pruned": 1}
    assert store.search_accuracies(rid) == [0.6, 0.7]
    assert store.search_counts(new_run(store)) == {
        "search": 0, "finished": 0, "failed": 0, "pruned": 0
    }  # fmt: skip


def test_run_store_binds_its_run(store: Store) -> None:
    a, b = new_run(store), new_run(store)
    rs = store.for_run(a)
    assert isinstance(rs, RunStore) and rs.store is store and rs.run_id == a
    rs.log("through the handle", level="warning")
    assert [(e["message"], e["level"]) for e in store.events(a)] == [
        ("through the handle", "warning")
    ]
    assert store.events(b) == []
    rs.update_run(status="finished", phase="done")
    assert (store.run(a)["status"], store.run(a)["phase"]) == ("finished", "done")
    assert (store.run(b)["status"], store.run(b)["phase"]) == ("running", "starting")
    assert rs.run() == store.run(a)
    tid, number = rs.add_trial(
        CONFIG, status="queued", phase="search", strategy="x", space_version=1
    )
    assert [t["id"] for t in rs.trials()] == [tid] and store.trials(b) == []
    assert rs.trial_by_number(number)["id"] == tid


def test_run_store_covers_every_run_scoped_method() -> None:
    """Each Store method whose first argument is the run id has a RunStore twin taking
    the same other arguments, so a new one cannot be forgotten."""
    for name, method in vars(Store).items():
        if name.startswith("_") or name == "for_run" or not callable(method):
            continue
        params = list(inspect.signature(method).parameters.values())
        if len(params) < 2 or params[1].name != "run_id":
            continue
        assert hasattr(RunStore, name), name
        twin = list(inspect.signature(getattr(RunStore, name)).parameters.values())
        assert [p.name for p in twin] == [p.name for p in [params[0], *params[2:]]], name
