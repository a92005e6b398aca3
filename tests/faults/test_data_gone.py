"""Resuming a run whose data source is gone says which path is missing and that `hptui resume`
works once it is back; the run stays resumable (never `failed`, no trial left `running`),
and carries on when the file is back. Real engine and `hptui` processes, a real archive."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest

from engine.config import RunConfig
from engine.setup import create_run
from storage.store import Store
from tests.conftest import FAKE_TRAINER
from tests.faults.clitools import REPO, hptui
from tests.faults.conftest import Engines, query, wait_until

SAMPLE = REPO / "engine" / "sample" / "imdb_sample.tar.xz"


def _run_on(db: Path, data: Path) -> int:
    store = Store(db)
    try:
        cfg = RunConfig(strategy="random", profile="tiny", data=str(data), workers=2, seed=5)
        return create_run(store, cfg)
    finally:
        store.close()


def _text(done: object) -> str:
    return " ".join((done.stdout + done.stderr).split())  # type: ignore[attr-defined]


def test_resume_with_the_data_gone_names_it_and_stays_resumable(
    tmp_path: Path, fault_env: None, engines: Engines, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "2.0")
    data, away = tmp_path / "reviews.tar.xz", tmp_path / "elsewhere.tar.xz"
    shutil.copy2(SAMPLE, data)
    db = tmp_path / "s.db"
    run_id = _run_on(db, data)
    proc = engines.start(db, run_id)
    wait_until(lambda: query(db, "SELECT count(*) FROM trials WHERE status = 'running'")[0][0],
               120, "a running trial")  # fmt: skip
    proc.send_signal(signal.SIGKILL)  # the engine dies mid-trial
    proc.wait(timeout=10)
    data.rename(away)

    for args in (
        ["resume", str(run_id), "--headless"],
        ["engine", str(run_id), "--trainer", FAKE_TRAINER],
    ):
        done = hptui(*args, "--db", str(db), timeout=120)
        text = _text(done)
        assert done.returncode == 1, text
        assert "internal error" not in text, text
        assert f"its data {data} is missing" in text, text
        assert f"`hptui resume {run_id}` carries on" in text, text
    # The engine, which holds the run, leaves it interrupted: resumable, nothing running.
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]
    assert query(db, "SELECT count(*) FROM trials WHERE status = 'running'") == [(0,)]
    assert "is missing" in _text(hptui("show", str(run_id), "--db", str(db)))

    away.rename(data)
    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "0.1")
    done = hptui("engine", str(run_id), "--db", str(db), "--trainer", FAKE_TRAINER, timeout=240)
    assert done.returncode == 0, _text(done)
    assert query(db, "SELECT status, error FROM runs") == [("finished", None)]
