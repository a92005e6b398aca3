"""Edits that used to kill a run for good: rules are checked against the hyperparameters'
types and a penalty bound before they are accepted (by the command line and again by the
engine), and a run that died of a bad edit takes a corrected one and resumes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from storage.store import Store
from tests.conftest import FAKE_TRAINER
from tests.faults.clitools import hptui, make_run
from tests.faults.conftest import Engines, query, wait_until

GOOD = [{"name": "sgd_fast", "when": {"optimizer": {"==": "sgd"}, "lr": {">": 5e-3}}, "penalty": 5}]


def rules_file(tmp_path: Path, rules: list, name: str = "rules.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(rules))
    return p


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            [{"name": "x", "when": {"optimizer": {">": 5}}, "penalty": 1}],
            "optimizer is a category; > cannot compare it",
        ),
        ([{"name": "x", "when": {"lr": {">": 1e-3}}, "penalty": 1e308}], "penalty must be in"),
        ([{"name": "x", "when": {"lr": {"==": "fast"}}, "penalty": 1}], "lr == needs a number"),
        ([{"name": "x", "when": {"optimizer": {"in": ["sgd", 3]}}, "penalty": 1}], "needs text"),
    ],
)
def test_rules_of_the_wrong_type_or_a_huge_penalty_are_refused(
    tmp_path: Path, rules: list, message: str
) -> None:
    db = tmp_path / "r.db"
    run_id = make_run(db)
    done = hptui("space", str(run_id), "--db", str(db), "--rules", str(rules_file(tmp_path, rules)))
    assert done.returncode == 1, done.stdout + done.stderr
    assert message in done.stderr
    assert query(db, "SELECT count(*) FROM space_versions") == [(1,)]
    assert query(db, "SELECT count(*) FROM commands") == [(0,)]


def test_the_engine_refuses_a_bad_rules_command_and_the_run_finishes(
    tmp_path: Path, fault_env: None, engines: Engines
) -> None:
    db = tmp_path / "e.db"
    run_id = make_run(db)
    proc = engines.start(db, run_id)
    wait_until(lambda: query(db, "SELECT count(*) FROM trials")[0][0] > 0, 90, "a trial")
    bad = [{"name": "x", "when": {"optimizer": {">": 5}}, "penalty": 1}]
    store = Store(db)
    try:  # what the UI (or a hand-written command) could send, past the command line's check
        cid = store.add_command(run_id, "edit_rules", {"rules": bad, "source": "ui"})
    finally:
        store.close()
    wait_until(
        lambda: query(db, "SELECT status FROM commands WHERE id = ?", (cid,))[0][0] != "pending",
        30,
        "the engine to answer",
    )
    ((status, message),) = query(db, "SELECT status, message FROM commands WHERE id = ?", (cid,))
    assert status == "refused" and "optimizer is a category" in message
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out.decode()[-2000:]
    assert query(db, "SELECT status FROM runs") == [("finished",)]
    assert query(db, "SELECT count(*) FROM trials WHERE status != 'finished'") == [(0,)]


def test_a_run_killed_by_an_old_bad_edit_takes_a_corrected_one_and_resumes(
    tmp_path: Path, fault_env: None
) -> None:
    db = tmp_path / "k.db"
    run_id = make_run(db)
    bad = [{"name": "cmp", "when": {"optimizer": {">": 5}}, "penalty": 1}]
    store = Store(db)
    try:  # as a version that accepted it left the run: the rules stored, the engine dead
        store.add_space_version(run_id, store.current_space(run_id)["space"], bad, "bad", "cli")
        store.update_run(
            run_id,
            status="failed",
            error="TypeError: '>' not supported between instances of 'str' and 'int'",
            finished_at=time.time(),
        )
    finally:
        store.close()

    done = hptui("space", str(run_id), "--db", str(db), "--rules", str(rules_file(tmp_path, GOOD)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "applied when it resumes" in done.stdout

    done = hptui("engine", str(run_id), "--db", str(db), "--trainer", FAKE_TRAINER, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert query(db, "SELECT status, error FROM runs") == [("finished", None)]
    assert query(db, "SELECT count(*) FROM trials WHERE status != 'finished'") == [(0,)]
    ((rules,),) = query(db, "SELECT rules FROM space_versions ORDER BY version DESC LIMIT 1")
    assert json.loads(rules) == GOOD
    changes = [c for (c,) in query(db, "SELECT change FROM space_versions ORDER BY version")]
    assert any("rules of version 2 cannot be used" in c for c in changes)
