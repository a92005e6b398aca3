"""A hung trainer no longer holds its worker forever: past the trial time limit the trial is
killed, stored failed with the reason, its worker replaced, and the run goes on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.clitools import hptui, make_run
from tests.faults.conftest import query

HANG = "tests.helpers.fake_trainer:hang_on_sgd"


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
        db, "SELECT optimizer, status, error FROM trials WHERE phase = 'search' ORDER BY number"
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
