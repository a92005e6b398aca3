"""A hung trainer no longer holds its worker forever: past the trial time limit the trial is
killed, stored failed with the reason, its worker replaced, and the run goes on. The limit
counts from when the worker started the trial, not from its launch: a worker's start-up
(TensorFlow's import, seconds) is not the trial's time; a worker that never starts its trial
has an allowance of its own (engine.trials.WORKER_START_S)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.space import DEFAULT_CONFIG
from engine.strategies.base import Proposal
from engine.trials import WORKER_START_S, TrialBook
from storage.store import Store
from tests.faults.clitools import hptui, make_run
from tests.faults.conftest import query

HANG = "tests.helpers.fake_trainer:hang_on_sgd"
SLOW_START = "tests.helpers.slow_start_trainer:train"


def test_hung_trial_is_killed_failed_and_its_worker_replaced(
    tmp_path: Path, fault_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "0.05")
    db = tmp_path / "hang.db"
    run_id = make_run(db, strategy="random", seed=11, trial_timeout=2.0, final_validation=False)
    done = hptui("engine", str(run_id), "--db", str(db), "--trainer", HANG, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert query(db, "SELECT status FROM runs") == [("finished",)]
    rows = query(
        db,
        "SELECT json_extract(config, '$.optimizer'), status, error FROM trials "
        "WHERE phase = 'search' ORDER BY number",
    )
    assert len(rows) == 4 and {r[0] for r in rows} == {"adam", "sgd"}
    for optimizer, status, error in rows:
        if optimizer == "sgd":
            assert status == "failed" and "timed out after 2 s (--trial-timeout)" in error
        else:
            assert status == "finished" and error is None
    events = [m for (m,) in query(db, "SELECT message FROM events")]
    assert any("replaced" in m for m in events)


def test_trial_timeout_option_is_checked(tmp_path: Path) -> None:
    done = hptui("run", "--db", str(tmp_path / "x.db"), "--trial-timeout", "0")
    assert done.returncode == 2 and "must be in" in done.stderr


def test_a_slow_worker_start_up_is_not_counted_in_the_trial_time_limit(
    tmp_path: Path, fault_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every worker takes 4 s to start (as a TensorFlow import does), longer than the 2 s
    # limit; each trial itself takes well under it. Counted from the launch, every trial was
    # killed before it began, each replacement worker started as slowly, and the run failed.
    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "0.05")
    monkeypatch.setenv("HPTUI_FAULT_START_SLEEP", "4")
    db = tmp_path / "slow.db"
    run_id = make_run(db, strategy="random", seed=11, trial_timeout=2.0, final_validation=False)
    done = hptui("engine", str(run_id), "--db", str(db), "--trainer", SLOW_START, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert query(db, "SELECT status FROM runs") == [("finished",)]
    assert query(db, "SELECT status, count(*) FROM trials GROUP BY status") == [("finished", 6)]
    # the search's 4 trials, and the confirmation stage's (tiny profile: 1 candidate, default)
    assert query(db, "SELECT count(*) FROM trials WHERE phase = 'confirm'") == [(2,)]


def _launched(tmp_path: Path) -> tuple[TrialBook, int]:
    db = tmp_path / "book.db"
    run_id = make_run(db)
    book = TrialBook(Store(db), run_id)
    tid = book.launch(Proposal(dict(DEFAULT_CONFIG), "search", 1), 0, "random", 1, [])
    return book, tid


def test_the_limit_counts_from_the_trial_start_not_its_launch(tmp_path: Path) -> None:
    book, tid = _launched(tmp_path)
    book.running[tid].launched -= 100.0  # its worker took 100 s to start
    assert book.overdue(5.0) == []  # not started: only the start-up allowance applies
    book.started(tid)
    assert book.overdue(5.0) == []  # started just now: 100 s of start-up are not counted
    book.running[tid].started = time.monotonic() - 6.0
    assert book.overdue(5.0) == [(tid, 0, "timed out after 5 s (--trial-timeout)")]
    book.store.close()


def test_a_worker_that_never_starts_its_trial_is_given_up_on(tmp_path: Path) -> None:
    book, tid = _launched(tmp_path)
    book.running[tid].launched -= WORKER_START_S - 10.0
    assert book.overdue(5.0) == [] and book.overdue(None) == []
    book.running[tid].launched -= 20.0
    why = f"its worker did not start it within {WORKER_START_S:.0f} s"
    assert book.overdue(5.0) == [(tid, 0, why)] and book.overdue(None) == [(tid, 0, why)]
    book.store.close()
