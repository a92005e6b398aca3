"""Command handling on its own (engine.commands): a fake run stands in for the engine, and
a real store holds the commands table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.commands import apply_command, handle_pending
from engine.space import SpaceError
from storage import contract
from storage.store import Store


class FakeRun:
    """What a command acts on, recording what was done to it."""

    def __init__(self, status: str = "running", running: int = 2) -> None:
        self.status = status
        self.running = running
        self.done: list[str] = []

    def running_count(self) -> int:
        return self.running

    def set_status(self, status: str) -> None:
        self.status = status
        self.done.append(f"status {status}")

    def cancel_running(self) -> None:
        self.running = 0
        self.done.append("cancel running")

    def edit(self, kind: str, payload: dict[str, Any]) -> str:
        if payload.get("changes") == {}:
            raise SpaceError("the edit changes nothing")
        self.done.append(kind)
        return f"{kind} applied"


def test_pause_and_resume_only_from_the_matching_status() -> None:
    run = FakeRun()
    assert apply_command(contract.PAUSE, {}, run).startswith("paused")
    assert run.status == "paused"
    assert apply_command(contract.PAUSE, {}, run) == "pause ignored: run is paused"
    assert apply_command(contract.RESUME, {}, run) == "resumed"
    assert apply_command(contract.RESUME, {}, run) == "resume ignored: run is running"
    assert run.done == ["status paused", "status running"]


def test_stop_lets_running_trials_finish_and_cancel_kills_them() -> None:
    run = FakeRun(running=3)
    assert "3 running trial(s) will finish" in apply_command(contract.STOP, {}, run)
    assert run.status == "stopping" and run.running == 3
    run = FakeRun(running=2)
    assert apply_command(contract.CANCEL, {}, run) == "cancelled: 2 running trial(s) killed"
    assert run.done == ["cancel running", "status cancelled"]


def test_edits_go_to_the_run_and_unknown_kinds_are_refused() -> None:
    run = FakeRun()
    payload = contract.space_edit({"lr": "1e-4:1e-2:log"}, "cli")
    assert apply_command(contract.EDIT_SPACE, payload, run) == "edit_space applied"
    with pytest.raises(SpaceError, match="unknown command 'explode'"):
        apply_command("explode", {}, run)
    with pytest.raises(SpaceError, match="not a JSON object"):
        apply_command(contract.EDIT_RULES, ["not", "a", "dict"], run)  # type: ignore[arg-type]
    assert run.done == ["edit_space"] and run.status == "running"


def test_handle_pending_answers_every_command_in_order(tmp_path: Path) -> None:
    store = Store(tmp_path / "c.db")
    try:
        rid = store.create_run(
            status="running", phase="search", strategy="random", profile="tiny", seed=1,
            workers=2, config={},
        )  # fmt: skip
        ids = [
            store.add_command(rid, contract.PAUSE),
            store.add_command(rid, contract.EDIT_SPACE, contract.space_edit({}, "ui")),
            store.add_command(rid, contract.RESUME),
            store.add_command(rid, "explode"),
        ]
        run = FakeRun()
        assert handle_pending(store, rid, run) == 4
        assert store.pending_commands(rid) == []
        rows = [store.command(i) for i in ids]
        assert [r["status"] for r in rows] == ["done", "refused", "done", "refused"]
        assert rows[1]["message"] == "the edit changes nothing"
        assert rows[2]["message"] == "resumed"
        assert run.status == "running"
        events = [e["message"] for e in store.events(rid)]
        assert events[0].startswith("paused") and "edit_space refused" in events[1]
        assert handle_pending(store, rid, run) == 0  # nothing answered twice
    finally:
        store.close()
