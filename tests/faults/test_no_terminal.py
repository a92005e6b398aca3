"""Without a terminal (output to a pipe, input from nothing), `hptui resume` without --headless
shows the headless view, says so in one line, and returns when the run ends; it opened the
full-screen UI, which never returned. `attach` says it needs a terminal. Real `hptui`
processes with pipes, not terminals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.faults.clitools import REPO, make_run, write
from tests.faults.conftest import query


def _piped(*args: str, tmp: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hptui.cli", *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(REPO), "HPTUI_CACHE_DIR": str(tmp / "cache")},
    )


def test_resume_without_a_terminal_shows_the_headless_view_and_returns(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    run_id = make_run(db, workers=1, final_validation=False)
    # A stop waiting for the engine: it ends the run at its first step, without training.
    write(db, "INSERT INTO commands (run_id, created_at, kind) VALUES (?, 0, 'stop')", (run_id,))
    done = _piped("resume", str(run_id), "--db", str(db), tmp=tmp_path, timeout=90)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "no terminal" in out and "headless view" in out, out[-3000:]
    assert "\x1b[?1049h" not in out  # never switched to the full-screen UI's screen
    assert query(db, "SELECT status, engine_pid FROM runs") == [("finished", None)]


def test_attach_without_a_terminal_says_so(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    run_id = make_run(db)
    done = _piped("attach", str(run_id), "--db", str(db), tmp=tmp_path, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no terminal here" in " ".join(done.stderr.split())
