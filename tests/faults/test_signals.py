"""Signals to a real engine: a hang-up leaves it running to the end; Ctrl+C (SIGINT) ends it
with the running trials marked interrupted and says how to carry on."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.faults.clitools import make_run
from tests.faults.conftest import Engines, query, wait_until


def running(db: Path) -> int:
    return query(db, "SELECT count(*) FROM trials WHERE status = 'running'")[0][0]


def test_hangup_leaves_the_engine_running_to_the_end(
    tmp_path: Path, fault_env: None, engines: Engines
) -> None:
    db = tmp_path / "hup.db"
    run_id = make_run(db)
    proc = engines.start(db, run_id)
    wait_until(lambda: running(db) > 0, 90, "a running trial")
    proc.send_signal(signal.SIGHUP)
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out.decode()[-2000:]
    assert query(db, "SELECT status FROM runs") == [("finished",)]


def test_ctrl_c_interrupts_and_says_how_to_resume(
    tmp_path: Path, fault_env: None, engines: Engines, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "2.0")
    db = tmp_path / "int.db"
    run_id = make_run(db)
    proc = engines.start(db, run_id)
    wait_until(lambda: running(db) > 0, 90, "a running trial")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    text = out.decode()
    assert f"hptui resume {run_id}" in text and "interrupted" in text
    assert running(db) == 0
    assert query(db, "SELECT count(*) FROM trials WHERE status = 'interrupted'")[0][0] > 0
    assert query(db, "SELECT engine_pid FROM runs") == [(None,)]
