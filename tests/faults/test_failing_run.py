"""A run whose every trial fails stops after N failures in a row and ends `failed` with the
first error in words, before the strategy learns anything from rewards of nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.clitools import hptui, make_run
from tests.faults.conftest import query

ALWAYS_FAIL = "tests.helpers.fake_trainer:always_nan"


@pytest.mark.parametrize(("limit", "expected"), [(None, 4), (3, 3)])
def test_all_failing_run_stops_failed_with_the_first_error(
    tmp_path: Path, fault_env: None, limit: int | None, expected: int
) -> None:
    db = tmp_path / "fail.db"
    run_id = make_run(db, strategy="bayes-ppo", workers=2, max_consecutive_failures=limit)
    done = hptui("engine", str(run_id), "--db", str(db), "--trainer", ALWAYS_FAIL, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    ((status, error),) = query(db, "SELECT status, error FROM runs")
    assert status == "failed"
    assert f"{expected} trials in a row failed" in error
    assert "the first: loss became NaN or infinite at epoch 1" in error
    assert query(db, "SELECT count(*) FROM trials WHERE status = 'failed'") == [(expected,)]
    assert query(db, "SELECT count(*) FROM trials WHERE status = 'running'") == [(0,)]
    assert query(db, "SELECT count(*) FROM ppo_updates") == [(0,)]
    assert query(db, "SELECT count(*) FROM trials WHERE phase = 'final'") == [(0,)]

    shown = hptui("show", str(run_id), "--db", str(db))
    assert "trials in a row failed" in shown.stdout


def test_max_consecutive_failures_must_be_positive(tmp_path: Path) -> None:
    done = hptui("run", "--db", str(tmp_path / "x.db"), "--max-consecutive-failures", "0")
    assert done.returncode == 2 and "must be at least 1" in done.stderr
    assert not (tmp_path / "x.db").exists()
