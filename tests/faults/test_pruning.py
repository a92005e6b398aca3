"""kill -9 of a real engine in the middle of a pruning decision: the decision is logged, the
worker told to stop, and the engine dies before the pruned trial is stored. Resume loses
nothing: trials stored before the kill are unchanged, the interrupted one runs again and is
pruned again at the same epoch, and no proposal is stored twice."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from storage.contract import FINAL_PHASE
from tests.faults.clitools import make_run
from tests.faults.conftest import REPO, query, wait_until

TRAINER = "tests.test_pruners:curve_train"
SEARCH = f"phase != '{FINAL_PHASE}'"


def start_engine(db: Path, run_id: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "hptui.cli", "engine", str(run_id), "--db", str(db),
         "--trainer", TRAINER],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def stored(db: Path) -> dict[int, tuple]:
    """Trials stored finished or pruned, with their epochs: id -> (key, status, epochs, accs)."""
    out = {}
    for tid, key, status, epochs_run in query(
        db,
        f"SELECT id, json_extract(extra, '$.key'), status, epochs_run FROM trials "
        f"WHERE status IN ('finished', 'pruned') AND {SEARCH}",
    ):
        accs = tuple(
            r[0]
            for r in query(
                db, "SELECT val_accuracy FROM epochs WHERE trial_id = ? ORDER BY epoch", (tid,)
            )  # fmt: skip
        )
        out[tid] = (key, status, epochs_run, accs)
    return out


def decided_not_stored(db: Path) -> int | None:
    """The number of a trial the engine decided to prune that is still running in the store."""
    for (msg,) in query(db, "SELECT message FROM events WHERE message LIKE '%pruning after%'"):
        number = int(re.match(r"trial (\d+):", msg).group(1))
        rows = query(db, "SELECT status FROM trials WHERE number = ?", (number,))
        if rows and rows[0][0] == "running":
            return number
    return None


@pytest.mark.slow
def test_sigkill_during_a_pruning_decision_then_resume_loses_nothing(
    tmp_path: Path, fault_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # bayes-ppo on the tiny profile: 3 one-epoch warm-up trials, then 2-epoch PPO steps, whose
    # first epoch is an ASHA rung. A told worker lingers 3 s before returning its result.
    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "0.2")
    monkeypatch.setenv("HPTUI_PRUNE_TAIL_S", "3")
    db = tmp_path / "prune-kill.db"
    run_id = make_run(db, strategy="bayes-ppo", workers=1, pruner="asha")
    engine = start_engine(db, run_id)
    try:
        number = None

        def caught() -> bool:
            nonlocal number
            number = decided_not_stored(db)
            return number is not None

        wait_until(caught, 180, "a decision to prune whose trial is not stored yet")
        before = stored(db)
        os.kill(engine.pid, signal.SIGKILL)
        engine.wait(timeout=10)
    finally:
        if engine.poll() is None:
            os.killpg(engine.pid, signal.SIGKILL)
            engine.wait(timeout=10)
    (key,) = query(db, "SELECT json_extract(extra, '$.key') FROM trials WHERE number = ?",
                   (number,))[0]  # fmt: skip
    assert query(db, "SELECT status FROM trials WHERE number = ?", (number,)) == [("running",)]

    resumed = start_engine(db, run_id)
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out.decode()[-3000:]

    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    after = stored(db)
    for tid, row in before.items():
        assert after.get(tid) == row, f"trial {tid} changed or vanished across the kill"
    assert query(db, "SELECT status FROM trials WHERE number = ?", (number,)) == [("interrupted",)]
    # the interrupted proposal ran again, under the same seed: pruned again at the same epoch
    again = [row for tid, row in after.items() if row[0] == key]
    assert len(again) == 1 and again[0][1] == "pruned" and again[0][2] == 1, again
    # every planned step stored once: 3 warm-up + 2 x 1 + 2 x 2 PPO steps (then the
    # confirmation stage's trainings, each once too)
    keys = [row[0] for row in after.values()]
    assert len(keys) == len(set(keys))
    searched = query(
        db,
        "SELECT count(*), count(DISTINCT json_extract(extra, '$.key')) FROM trials "
        "WHERE phase IN ('warmup', 'ppo') AND status != 'interrupted'",
    )
    assert searched == [(9, 9)]
    assert query(db, "SELECT status, phase FROM runs WHERE id = ?", (run_id,)) == [
        ("finished", "done")
    ]
