"""The app against a real engine process training the tiny profile (TensorFlow): panes fill,
pause/resume, a space edit, export, and detach/attach. One test, so the engine starts once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Checkbox, Input

from engine.config import RunConfig
from engine.setup import create_run
from hptui.app import HptuiApp
from hptui.cli import spawn_engine
from hptui.screens.quit_prompt import QuitPrompt
from hptui.screens.space_editor import SpaceEditor
from hptui.widgets.event_log import EventLog
from hptui.widgets.reward_plot import RewardPlot
from hptui.widgets.run_header import RunHeader
from hptui.widgets.trials_table import TrialsTable
from storage.store import Store

from .conftest import refresh

REPO = Path(__file__).resolve().parents[2]


def _rows(db: Path, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    s = Store(db, readonly=True)
    try:
        return s._rows(sql, params)
    finally:
        s.close()


async def wait_for(app: Any, pilot: Any, cond: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await refresh(app, pilot)
        value = cond()
        if value:
            return value
        await pilot.pause(0.3)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _command(db: Path, run_id: int, kind: str) -> dict[str, Any] | None:
    rows = _rows(
        db, "SELECT * FROM commands WHERE run_id = ? AND kind = ? ORDER BY id DESC", [run_id, kind]
    )
    return rows[0] if rows and rows[0]["status"] != "pending" else None


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_app_steers_a_real_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPTUI_CACHE_DIR", str(tmp_path / "cache"))
    db = tmp_path / "run.db"
    store = Store(db)
    run_id = create_run(
        store, RunConfig(strategy="bayes-ppo", profile="tiny", data="sample", workers=2, seed=1)
    )
    store.close()
    pid = spawn_engine(db, run_id)
    try:
        asyncio.run(_steer(db, run_id, pid, tmp_path))
    finally:
        try:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


async def _steer(db: Path, run_id: int, pid: int, tmp_path: Path) -> None:
    app = HptuiApp(str(db), run_id)
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(TrialsTable)
        # 1. a trial starts: edit the lr range right away, so most trials see version 2
        await wait_for(app, pilot, lambda: table.row_count >= 1, 120, "a first trial")
        await pilot.press("e")
        await pilot.pause()
        editor = app.screen
        assert isinstance(editor, SpaceEditor)
        editor.query_one("#low-lr", Input).value = "1e-3"
        editor.query_one("#high-lr", Input).value = "2e-3"
        editor.query_one("#log-lr", Checkbox).value = True
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(
            app, pilot, lambda: "space v2" in app.query_one(RunHeader).text, 30, "space v2"
        )
        # the engine answers the command just after writing the version: the user is told
        await wait_for(
            app,
            pilot,
            lambda: any("space version 2" in n for _, n in app.notices),
            10,
            "the edit's answer as a notification",
        )

        # 2. the panes fill as trials land
        await wait_for(
            app,
            pilot,
            lambda: any(t["status"] == "finished" for t in app.trials.values()),
            120,
            "a finished trial",
        )
        assert app.query_one(RewardPlot).mode in ("warmup", "ppo")
        assert app.query_one(EventLog).lines_shown >= 3

        # 3. pause: running trials finish, none starts
        await pilot.press("p")
        paused = await wait_for(
            app, pilot, lambda: _command(db, run_id, "pause"), 20, "the pause handled"
        )
        assert paused["status"] == "done"
        await wait_for(app, pilot, lambda: "PAUSED" in app.query_one(RunHeader).text, 10, "PAUSED")
        await wait_for(
            app,
            pilot,
            lambda: not [t for t in app.trials.values() if t["status"] == "running"],
            120,
            "running trials to finish while paused",
        )
        await pilot.pause(2.0)
        started = _rows(db, "SELECT number, created_at FROM trials WHERE run_id = ?", [run_id])
        assert all(t["created_at"] <= paused["handled_at"] for t in started), started

        # 4. export while paused (the best trial cannot change): equals `hptui export`
        out = tmp_path / "best.json"
        await pilot.press("x")
        await pilot.pause()
        app.screen.query_one(Input).value = str(out)
        await pilot.press("enter")
        await pilot.pause()
        cli = subprocess.run(
            [sys.executable, "-m", "hptui.cli", "export", str(run_id), "--db", str(db)],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=True,
        )
        assert out.read_text() == cli.stdout
        assert json.loads(cli.stdout)["run_id"] == run_id

        # 5. resume: trials start again
        await pilot.press("p")
        resumed = await wait_for(
            app, pilot, lambda: _command(db, run_id, "resume"), 20, "the resume handled"
        )
        await wait_for(
            app,
            pilot,
            lambda: any(
                (t["created_at"] or 0) > resumed["handled_at"] for t in app.trials.values()
            ),
            30,
            "a trial started after resume",
        )

        # 6. trials drawn under version 2 respect the new lr range
        await wait_for(
            app,
            pilot,
            lambda: any(
                t["space_version"] == 2 and t["status"] == "finished" for t in app.trials.values()
            ),
            120,
            "a finished trial of space version 2",
        )
        v2 = _rows(
            db,
            "SELECT number, json_extract(config, '$.lr') AS lr FROM trials "
            "WHERE run_id = ? AND space_version = 2 "
            "AND phase != 'final'",
            [run_id],
        )
        assert v2 and all(1e-3 <= t["lr"] <= 2e-3 for t in v2), v2

        # 7. quit, leaving the run going
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitPrompt)
        await pilot.press("d")
        await pilot.pause()
    assert not app.is_running
    assert not _rows(db, "SELECT * FROM commands WHERE kind = 'stop'", [])
    os.kill(pid, 0)  # the engine is alive (raises if not)
    beat = _rows(db, "SELECT heartbeat FROM runs WHERE id = ?", [run_id])[0]["heartbeat"]

    # 8. attach: a new app instance finds the run again
    app2 = HptuiApp(str(db), run_id)
    async with app2.run_test(size=(80, 24)) as pilot:
        await refresh(app2, pilot)
        n = len(_rows(db, "SELECT id FROM trials WHERE run_id = ?", [run_id]))
        assert app2.query_one(TrialsTable).row_count >= n
        await wait_for(
            app2,
            pilot,
            lambda: (
                (app2.run_row or {}).get("heartbeat", 0) > beat
                or app2.run_row.get("status") == "finished"
            ),
            20,
            "the heartbeat to advance",
        )
        assert f"run {run_id}" in app2.query_one(RunHeader).text
