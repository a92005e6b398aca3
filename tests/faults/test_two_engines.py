"""One engine per run: on this host a live pid holds the run however old its heartbeat (a
stopped engine, a long step), and an engine whose lock was taken over stops at its next write
instead of training and writing beside the new one (the fencing token)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.faults.clitools import make_run, write
from tests.faults.conftest import Engines, query, wait_until


def test_a_stopped_engine_keeps_its_run_and_stops_without_writing_once_taken_over(
    tmp_path: Path, fault_env: None, engines: Engines, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "1.0")
    db = tmp_path / "two.db"
    run_id = make_run(db)
    first = engines.start(db, run_id)
    wait_until(
        lambda: query(db, "SELECT count(*) FROM trials WHERE status = 'running'")[0][0] > 0,
        90,
        "a running trial",
    )
    first.send_signal(signal.SIGSTOP)
    # As after 17 s stopped, or seen from a clock 60 s ahead: the heartbeat looks stale.
    write(db, "UPDATE runs SET heartbeat = ? WHERE id = ?", (time.time() - 60, run_id))
    second = engines.start(db, run_id)
    out, _ = second.communicate(timeout=60)
    assert second.returncode == 1, out.decode()[-2000:]
    assert f"already being run by engine pid {first.pid}" in out.decode()

    # Another engine (on another host) takes the run over while the first is stopped.
    write(
        db,
        "UPDATE runs SET engine_token = 'theirs', engine_pid = 4242, engine_host = 'elsewhere' "
        "WHERE id = ?",
        (run_id,),
    )
    trials = query(db, "SELECT id, status, val_accuracy FROM trials ORDER BY id")
    events = query(db, "SELECT count(*) FROM events")
    first.send_signal(signal.SIGCONT)
    out, _ = first.communicate(timeout=60)
    assert first.returncode == 1, out.decode()[-2000:]
    assert "lost its lock" in out.decode()
    assert query(db, "SELECT id, status, val_accuracy FROM trials ORDER BY id") == trials
    assert query(db, "SELECT count(*) FROM events") == events
    assert query(db, "SELECT engine_token, engine_pid FROM runs") == [("theirs", 4242)]
