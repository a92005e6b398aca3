"""`cancelled` and `interrupted` are two things. A run stopped by a signal (Ctrl+C, SIGTERM) is
`interrupted`: it takes space edits and `hptui resume` carries it on. A run the user
cancelled is over: resume and the engine refuse it, and so does a space edit. Stores from
before keep what they meant: a cancel carried out stays cancelled, the rest were interrupted.
Real engine and `hptui` processes, real stores."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from storage.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION
from tests.conftest import FAKE_TRAINER
from tests.faults.clitools import hptui, make_run
from tests.faults.conftest import Engines, query, wait_until


def running(db: Path) -> int:
    return query(db, "SELECT count(*) FROM trials WHERE status = 'running'")[0][0]


def _text(done: object) -> str:
    return " ".join((done.stdout + done.stderr).split())  # type: ignore[attr-defined]


def test_an_interrupted_run_is_resumable_and_takes_edits(
    tmp_path: Path, fault_env: None, engines: Engines, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "2.0")
    db = tmp_path / "int.db"
    run_id = make_run(db)
    proc = engines.start(db, run_id)
    wait_until(lambda: running(db) > 0, 90, "a running trial")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]
    assert running(db) == 0

    done = hptui("pause", str(run_id), "--db", str(db))
    assert done.returncode == 1 and f"`hptui resume {run_id}` carries it on" in _text(done)
    done = hptui("space", str(run_id), "--set", "dropout=0.1:0.4", "--db", str(db))
    assert done.returncode == 0 and "applied when it resumes" in _text(done), _text(done)

    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "0.1")
    done = hptui("engine", str(run_id), "--db", str(db), "--trainer", FAKE_TRAINER, timeout=240)
    assert done.returncode == 0, _text(done)
    assert query(db, "SELECT status FROM runs") == [("finished",)]
    assert query(db, "SELECT count(*) FROM space_versions") == [(2,)]  # the edit applied


def test_a_cancelled_run_is_over(
    tmp_path: Path, fault_env: None, engines: Engines, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "2.0")
    db = tmp_path / "cancel.db"
    run_id = make_run(db)
    engines.start(db, run_id)
    wait_until(lambda: running(db) > 0, 90, "a running trial")
    assert hptui("cancel", str(run_id), "--db", str(db)).returncode == 0
    wait_until(lambda: query(db, "SELECT engine_pid FROM runs") == [(None,)], 30, "engine end")
    assert query(db, "SELECT status FROM runs") == [("cancelled",)]
    trials = query(db, "SELECT count(*) FROM trials")

    for args in (
        ["resume", str(run_id), "--headless"],
        ["engine", str(run_id), "--trainer", FAKE_TRAINER],
    ):
        done = hptui(*args, "--db", str(db), timeout=120)
        assert done.returncode == 1, _text(done)
        assert "was cancelled (hptui cancel): it is over" in _text(done), _text(done)
    done = hptui("space", str(run_id), "--set", "dropout=0.1:0.4", "--db", str(db))
    assert done.returncode == 1 and "can no longer change" in _text(done)
    assert query(db, "SELECT status FROM runs") == [("cancelled",)]
    assert query(db, "SELECT count(*) FROM trials") == trials  # nothing trained again


def _schema_6_store(db: Path) -> None:
    """Two cancelled runs as hptui wrote them before `interrupted`: run 1 by a user's cancel
    (carried out), run 2 by Ctrl+C; each with a trial, an epoch and an event."""
    conn = sqlite3.connect(db)
    for script in MIGRATIONS[:6]:
        conn.executescript(script)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 6")
    now = time.time()
    for rid in (1, 2):
        conn.execute(
            "INSERT INTO runs (id, created_at, started_at, status, phase, strategy, profile,"
            " seed, workers, config) VALUES (?, ?, ?, 'cancelled', 'search', 'random', 'tiny',"
            " 5, 2, '{}')",
            (rid, now, now),
        )
        conn.execute(
            "INSERT INTO trials (id, run_id, number, status, phase, strategy, space_version,"
            " config, created_at) VALUES (?, ?, 1, 'cancelled', 'search', 'random', 1, '{}', ?)",
            (rid, rid, now),
        )
        conn.execute("INSERT INTO epochs (run_id, trial_id, epoch) VALUES (?, ?, 1)", (rid, rid))
        conn.execute(
            "INSERT INTO events (run_id, created_at, message) VALUES (?, ?, 'x')", (rid, now)
        )
    conn.execute(
        "INSERT INTO commands (run_id, created_at, kind, status) VALUES (1, ?, 'cancel', 'done')",
        (now,),
    )
    conn.commit()
    conn.close()


def test_the_migration_tells_a_users_cancel_from_an_interruption(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    _schema_6_store(db)
    done = hptui("runs", "--db", str(db))
    assert done.returncode == 0 and "migrated" in done.stderr, _text(done)
    assert query(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert query(db, "SELECT id, status FROM runs ORDER BY id") == [
        (1, "cancelled"),
        (2, "interrupted"),
    ]
    assert query(db, "PRAGMA foreign_key_check") == []
    for table in ("trials", "epochs", "events"):
        assert query(db, f"SELECT count(*) FROM {table}") == [(2,)], table
    done = hptui("resume", "1", "--headless", "--db", str(db))
    assert done.returncode == 1 and "it is over" in _text(done)
