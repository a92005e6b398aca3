"""`hptui.search()` with real engines: its run is an ordinary run (other commands read it
while it goes on), and Ctrl-C in the calling script interrupts the run, resumable, and
reaches the caller as KeyboardInterrupt."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.faults.clitools import REPO, hptui
from tests.faults.conftest import query, wait_until

SCRIPT = """
import signal
import sys
import time

# As in a terminal: a script started in the background of a non-interactive shell (a CI job)
# inherits SIGINT ignored, and Python then never raises KeyboardInterrupt.
signal.signal(signal.SIGINT, signal.default_int_handler)

import hptui
from hptui import Objective


def train(params, report):
    for epoch in range(1, report.epochs + 1):
        time.sleep(30)  # long: the run must still be going when the test interrupts it
        report(epoch, params["x"])
    return {{"value": params["x"], "test": params["x"]}}


objective = Objective(
    space={{"x": {{"type": "real", "low": 0.0, "high": 1.0, "default": 0.5}}}}, train=train
)

if __name__ == "__main__":
    try:
        hptui.search(objective, strategy="random", profile="tiny", db={db!r}, quiet=True)
    except KeyboardInterrupt:
        print("KeyboardInterrupt reached the caller")
        sys.exit(130)
    print("search returned")
"""


def test_ctrl_c_interrupts_the_run_and_reaches_the_caller(tmp_path: Path, fault_env: None) -> None:
    db = tmp_path / "api.db"
    script = tmp_path / "slow_search.py"
    script.write_text(SCRIPT.format(db=str(db)))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:

        def running() -> bool:
            try:
                return bool(query(db, "SELECT 1 FROM trials WHERE status = 'running'"))
            except sqlite3.Error:  # not created yet
                return False

        wait_until(running, 120, "a running trial")
        # another command reads the run while search() waits on it
        shown = hptui("show", "1", "--db", str(db))
        assert shown.returncode == 0 and "run 1" in shown.stdout, shown.stderr
        os.kill(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out
    assert "KeyboardInterrupt reached the caller" in out
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]
    assert query(db, "SELECT count(*) FROM trials WHERE status = 'running'") == [(0,)]
    ((engine_pid,),) = query(db, "SELECT engine_pid FROM runs")
    assert engine_pid is None  # the engine ended, it was not left behind
