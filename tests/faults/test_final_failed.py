"""A final validation whose trainings fail or time out no longer leaves a `finished` run with
no result and no word about it: the run stores an explicit record (status, reason, the
trials), `show`, the export and the UI's header say "final validation failed: ...", and
`resume` says it retries final validation (the search is not run again) before doing so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.final import format_final
from engine.final_stage import record_final
from engine.profiles import PROFILES
from engine.space import DEFAULT_CONFIG, default_space
from engine.strategies.final import FinalValidation
from hptui import cli
from hptui.view import result_text
from storage.store import Store
from tests.conftest import FAKE_TRAINER
from tests.faults.clitools import hptui, make_run
from tests.faults.conftest import query

FAIL_FINAL = "tests.helpers.fake_trainer:fail_final"
HANG_FINAL = "tests.helpers.fake_trainer:hang_final"


def run_engine(db: Path, run_id: int, trainer: str) -> None:
    done = hptui("engine", str(run_id), "--db", str(db), "--trainer", trainer, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr


def final_record(db: Path) -> dict:
    (final,) = query(db, "SELECT final FROM runs")[0]
    assert final is not None, "a finished run with no word about its final validation"
    return json.loads(final)


def test_failed_final_validation_is_said_and_resume_retries_it(
    tmp_path: Path,
    fault_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "0.05")
    db = tmp_path / "final.db"
    run_id = make_run(db, strategy="random", seed=3)
    run_engine(db, run_id, FAIL_FINAL)
    assert query(db, "SELECT status FROM runs") == [("finished",)]
    final = final_record(db)
    assert final["status"] == "failed"
    # the chosen configuration and the default; the default alone when it was chosen
    assert "configuration) failed: out of memory (fake: final validation)" in final["reason"]
    roles = sorted({f["role"] for f in final["failed_trials"]})
    assert roles in (["best", "default"], ["default"]), roles
    said = "final validation failed: trial"
    # the UI's header takes its result line from view.result_text; the log's line
    assert result_text(final).startswith(said) and format_final(final).startswith(said)
    events = [m for (m,) in query(db, "SELECT message FROM events WHERE level = 'error'")]
    assert any(m.startswith(said) for m in events)
    shown = hptui("show", str(run_id), "--db", str(db))
    assert shown.returncode == 0 and said in shown.stdout, shown.stdout + shown.stderr
    exported = hptui("export", str(run_id), "--db", str(db))
    payload = json.loads(exported.stdout)
    assert payload["final_validation_status"] == "failed"
    assert payload["final_validation"]["reason"] == final["reason"]

    # `resume` says what it does with a finished run; the engine is stubbed here, then run
    # for real below with a trainer that works.
    started: list[int] = []
    monkeypatch.setattr(cli, "run_headless", lambda db, rid: started.append(rid) or 0)
    assert cli.main(["resume", str(run_id), "--headless", "--db", str(db)]) == 0
    out = capsys.readouterr().out.replace("\n", "")
    assert f"run {run_id} is finished, but final validation failed: trial" in out
    assert "the search is not run again" in out and started == [run_id]
    search = query(db, "SELECT count(*) FROM trials WHERE phase != 'final'")
    run_engine(db, run_id, FAKE_TRAINER)
    assert query(db, "SELECT status FROM runs") == [("finished",)]
    assert final_record(db)["status"] == "done"
    assert query(db, "SELECT count(*) FROM trials WHERE phase != 'final'") == search
    # a complete final validation is not resumed again
    done = hptui("resume", str(run_id), "--headless", "--db", str(db))
    assert done.returncode == 1 and "is finished: nothing to resume" in done.stderr


def test_timed_out_final_validation_is_said(
    tmp_path: Path, fault_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "0.05")
    db = tmp_path / "hang.db"
    run_id = make_run(db, strategy="random", seed=3, trial_timeout=2.0)
    run_engine(db, run_id, HANG_FINAL)
    assert query(db, "SELECT status FROM runs") == [("finished",)]
    final = final_record(db)
    assert final["status"] == "failed"
    assert "timed out after 2 s (--trial-timeout)" in final["reason"]
    shown = hptui("show", str(run_id), "--db", str(db))
    assert "final validation failed: trial" in shown.stdout.replace("\n", "")


def test_some_pairs_finished_is_a_partial_result_that_says_what_failed(tmp_path: Path) -> None:
    """Of two repeats, the second pair's best training failed: the result is the first
    pair's, marked partial, with the failure named (in the record, `show`'s line, the UI's)."""
    db = tmp_path / "partial.db"
    run_id = make_run(db)
    store = Store(db)
    best = {"number": 1, "config": dict(DEFAULT_CONFIG)}
    trainings = [
        ("best", 0, "finished", None),
        ("default", 0, "finished", None),
        ("best", 1, "failed", "loss became NaN"),
        ("default", 1, "finished", None),
    ]
    for role, repeat, status, error in trainings:
        store.add_trial(
            run_id, DEFAULT_CONFIG, phase="final", strategy="final", status=status, error=error,
            extra={"role": role, "repeat": repeat}, space_version=1, test_accuracy=0.8,
            val_accuracy=0.8, seconds=10.0,
        )  # fmt: skip
    stage = FinalValidation(default_space(), best, DEFAULT_CONFIG, 1, repeats=2)
    record_final(store.for_run(run_id), stage, PROFILES["tiny"])
    final = store.run(run_id)["final"]
    store.close()
    assert final["status"] == "partial" and final["repeats"] == 1
    assert final["reason"] == "trial 3 (best configuration) failed: loss became NaN"
    assert result_text(final).endswith(
        "; 1 of 2 pairs did not finish: trial 3 (best configuration) failed: loss became NaN"
    )
