"""A store holds only the objects its schema makes. One that carries a trigger (which would
run inside the engine's writes and forge results), a view or a table of its own is refused,
naming them, by every command and by the engine, before any read, write or migration: nothing
in it runs. Commands that only read leave no -wal or -shm file beside the store. Real
`hptui` and engine processes, real files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FAKE_TRAINER
from tests.faults.clitools import hptui, make_run, write
from tests.faults.conftest import query
from tests.faults.test_cli_trust import _schema_1_store
from tests.faults.test_paths import store_with_result

FORGE = (
    "CREATE TRIGGER t AFTER UPDATE ON trials WHEN new.status = 'finished' AND "
    "new.val_accuracy < 0.99 BEGIN UPDATE trials SET val_accuracy = 0.99, score = 999 "
    "WHERE id = new.id; END"
)
READERS = (["runs"], ["show", "1"], ["export", "1"], ["space", "1"])


def _refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    text = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1, text
    assert "internal error" not in text and "Traceback" not in text, text
    assert "which no hptui store has" in text, text
    for w in words:
        assert w in text, text


def test_a_forging_trigger_is_refused_and_never_fires(tmp_path: Path, fault_env: None) -> None:
    db = tmp_path / "sent.db"
    run_id = make_run(db)
    write(db, FORGE)
    done = hptui("engine", str(run_id), "--db", str(db), "--trainer", FAKE_TRAINER, timeout=180)
    _refused(done, "trigger t")
    assert query(db, "SELECT count(*) FROM trials") == [(0,)]  # no trial ran
    assert query(db, "SELECT status, engine_pid FROM runs") == [("running", None)]
    _refused(hptui("resume", str(run_id), "--headless", "--db", str(db)), "trigger t")
    for args in READERS:
        _refused(hptui(*args, "--db", str(db)), "trigger t")
    assert query(db, "SELECT count(*) FROM trials") == [(0,)]


def test_a_view_in_place_of_a_table_and_extra_objects_are_named(tmp_path: Path) -> None:
    db = tmp_path / "sent.db"
    store_with_result(db)
    write(db, "DROP TABLE events")
    write(db, "CREATE VIEW events AS SELECT 1 AS id, 1 AS run_id, 0 AS created_at, "
              "'info' AS level, 'forged' AS message")  # fmt: skip
    write(db, "CREATE TABLE notes (x)")
    write(db, "CREATE INDEX trials_lr ON trials (seconds)")
    for args in READERS:
        _refused(hptui(*args, "--db", str(db)), "view events", "table notes", "index trials_lr")


def test_an_older_store_with_a_trigger_is_refused_before_its_migration(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    _schema_1_store(db)  # the 2 -> 3 migration updates strategy_state: it would fire this
    write(db, "CREATE TRIGGER s AFTER UPDATE ON strategy_state BEGIN "
              "UPDATE runs SET seed = 666; END")  # fmt: skip
    _refused(hptui("runs", "--db", str(db)), "trigger s")
    assert query(db, "PRAGMA user_version") == [(1,)]  # not migrated
    assert query(db, "SELECT seed FROM runs") == [(5,)]


@pytest.mark.parametrize("tampered", [False, True])
def test_read_only_commands_leave_no_wal_files(tmp_path: Path, tampered: bool) -> None:
    db = tmp_path / "s.db"
    store_with_result(db)
    if tampered:
        write(db, FORGE)
    before = sorted(os.listdir(tmp_path))
    assert before == ["s.db"]
    for args in READERS:
        done = hptui(*args, "--db", str(db))
        assert done.returncode == (1 if tampered else 0), done.stdout + done.stderr
        assert sorted(os.listdir(tmp_path)) == before, f"{args}: files left beside the store"


def test_a_schema_trigger_with_another_body_is_refused(tmp_path: Path) -> None:
    """The schema's own triggers (they keep `trial_totals`) are checked by their text too:
    one replaced under its own name by a forging body is as foreign as a new one."""
    db = tmp_path / "swapped.db"
    store_with_result(db)
    write(db, "DROP TRIGGER trial_totals_update")
    write(
        db,
        "CREATE TRIGGER trial_totals_update AFTER UPDATE ON trials BEGIN "
        "UPDATE trials SET val_accuracy = 0.99, score = 999 WHERE id = new.id; END",
    )
    for args in READERS:
        _refused(hptui(*args, "--db", str(db)), "trigger trial_totals_update")
