"""Run control from the command line against a real engine process: pause, resume, stop,
cancel and space edits are acted on at the engine's next step and leave the store consistent.
Judged by the order of events in the store (when a command was sent and handled against when
trials started), never by how many seconds something took."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from hptui.cli import main
from tests.faults.conftest import Engines, query, wait_until
from tests.faults.test_faults import new_run


def started_engine(db: Path, engines: Engines, run_id: int) -> None:
    engines.start(db, run_id)
    wait_until(
        lambda: query(db, "SELECT count(*) FROM trials WHERE status = 'running'")[0][0] > 0,
        90,
        "a running trial",
    )


WORKERS = 2  # new_run's


def handled(db: Path, kind: str) -> tuple[float, float]:
    """When the latest `kind` command was sent and when the engine handled it (done)."""
    ((created, done_at, status),) = query(
        db,
        "SELECT created_at, handled_at, status FROM commands WHERE kind = ? "
        "ORDER BY id DESC LIMIT 1",
        (kind,),
    )
    assert status == "done"
    assert done_at >= created
    return created, done_at


def started_between(db: Path, after: float, until: float = math.inf) -> int:
    """Trials the engine started after `after` and up to `until`."""
    return query(
        db,
        "SELECT count(*) FROM trials WHERE created_at > ? AND created_at <= ?",
        (after, until if math.isfinite(until) else 1e18),
    )[0][0]


def acted_on_at_next_step(db: Path, kind: str) -> float:
    """The command was handled before the engine started a second round of trials after it
    arrived (one round may already have been under way: at most one trial per worker)."""
    created, done_at = handled(db, kind)
    assert started_between(db, created, done_at) <= WORKERS
    return done_at


def test_pause_resume_stop(
    tmp_path: Path,
    fault_env: None,
    engines: Engines,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "0.6")
    db = tmp_path / "ctl.db"
    run_id = new_run(db)
    started_engine(db, engines, run_id)

    assert main(["pause", str(run_id), "--db", str(db)]) == 0
    assert "paused" in capsys.readouterr().out
    paused_at = acted_on_at_next_step(db, "pause")
    assert query(db, "SELECT status FROM runs")[0][0] == "paused"
    # Running trials finish (an engine that ignored the pause would keep some running).
    wait_until(
        lambda: query(db, "SELECT count(*) FROM trials WHERE status = 'running'")[0][0] == 0,
        30,
        "running trials to finish",
    )

    assert main(["resume", str(run_id), "--db", str(db)]) == 0
    resumed_at = acted_on_at_next_step(db, "resume")
    # None started while paused: every trial after the pause started after the resume.
    assert started_between(db, paused_at, resumed_at) == 0
    wait_until(lambda: started_between(db, resumed_at) > 0, 30, "a trial after resume")

    assert main(["stop", str(run_id), "--db", str(db)]) == 0
    stopped_at = acted_on_at_next_step(db, "stop")
    wait_until(lambda: query(db, "SELECT status FROM runs")[0][0] == "finished", 60, "the end")
    assert started_between(db, stopped_at) == 0, "a trial started after the stop"
    statuses = {s for (s,) in query(db, "SELECT status FROM trials")}
    assert statuses == {"finished"}, "stop lets running trials finish, cancels nothing"
    planned = query(db, "SELECT planned_trials FROM runs")[0][0]
    assert query(db, "SELECT count(*) FROM trials")[0][0] < planned
    assert query(db, "PRAGMA integrity_check") == [("ok",)]


def test_cancel_kills_running_trials(
    tmp_path: Path, fault_env: None, engines: Engines, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "3.0")
    db = tmp_path / "cancel.db"
    run_id = new_run(db, strategy="random")
    started_engine(db, engines, run_id)
    assert main(["cancel", str(run_id), "--db", str(db)]) == 0
    cancelled_at = acted_on_at_next_step(db, "cancel")
    wait_until(lambda: query(db, "SELECT status FROM runs")[0][0] == "cancelled", 10, "cancel")
    rows = query(db, "SELECT status, error, finished_at FROM trials")
    # killed by the cancel, not left to finish: every trial ended as the cancel was handled
    assert rows and all(s == "cancelled" and e == "cancelled by the user" for s, e, _ in rows)
    assert all(end <= cancelled_at for *_, end in rows)
    assert started_between(db, cancelled_at) == 0


def test_space_and_rule_edits_make_versions_and_bad_edits_change_nothing(
    tmp_path: Path,
    fault_env: None,
    engines: Engines,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "0.4")
    db = tmp_path / "edit.db"
    run_id = new_run(db)
    started_engine(db, engines, run_id)
    args = ["space", str(run_id), "--db", str(db)]

    assert main([*args, "--set", "lr=5:1"]) == 1
    assert "lr" in capsys.readouterr().err
    assert main([*args, "--set", "units=8,16"]) == 1
    assert "unknown hyperparameter 'units'" in capsys.readouterr().err
    assert query(db, "SELECT max(version) FROM space_versions")[0][0] == 1

    assert main([*args, "--set", "lr=1e-3:2e-3:log", "--set", "optimizer=adam"]) == 0
    assert "space version 2" in capsys.readouterr().out
    edited_at = query(db, "SELECT handled_at FROM commands WHERE kind = 'edit_space'")[0][0]

    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps([{"name": "wide", "when": {"lstm_units": {">=": 64}}, "penalty": 1.5}])
    )
    assert main([*args, "--rules", str(rules)]) == 0
    assert "space version 3" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text('[{"name": "x", "when": {"lr": {"~": 1}}, "penalty": 1}]')
    assert main([*args, "--rules", str(bad)]) == 1
    assert "unknown operator '~'" in capsys.readouterr().err

    wait_until(lambda: query(db, "SELECT status FROM runs")[0][0] == "finished", 120, "the end")
    later = query(
        db,
        "SELECT space_version, json_extract(config, '$.lr') AS lr, "
        "json_extract(config, '$.optimizer') AS optimizer, "
        "json_extract(config, '$.lstm_units') AS lstm_units, penalty, rules_fired "
        "FROM trials WHERE phase != 'final' AND created_at > ?",
        (edited_at,),
    )
    assert later, "no trial ran after the edit"
    for version, lr, optimizer, units, penalty, fired in later:
        assert version in (2, 3)
        assert 1e-3 <= lr <= 2e-3 and optimizer == "adam"
        if version == 3:
            assert penalty == (1.5 if units >= 64 else 0.0)
            assert json.loads(fired) == (["wide"] if units >= 64 else [])
    assert main(["show", str(run_id), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "search-space versions" in out and "lr: 0.0001..0.01 (log) -> 0.001..0.002 (log)" in out
