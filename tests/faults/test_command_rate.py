"""Commands at the UI's pace against a live run are all answered, in the order sent
(bench/command_rate.py does the same for 30 s). A real engine with real worker processes
runs a search too long to end by itself; a second connection writes commands 5 a second,
then a cancel. Judged by the store's command rows, never by seconds."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from engine.config import RunConfig
from engine.profiles import PROFILES
from engine.runner import Engine
from engine.setup import create_run
from storage import contract
from storage.store import Store
from tests.conftest import FAKE_TRAINER

CYCLE = [
    (contract.PAUSE, {}),
    (contract.EDIT_PRUNER, contract.pruner_edit("median", "ui")),
    (contract.RESUME, {}),
    (contract.EDIT_SPACE, contract.space_edit({"batch_size": [16, 32]}, "ui")),
    (contract.EDIT_PRUNER, contract.pruner_edit("none", "ui")),
    (contract.EDIT_SPACE, contract.space_edit({"batch_size": [16, 32, 64]}, "ui")),
]
RATE, COUNT = 5.0, 12  # two rounds of the cycle in about 2.4 s


def send(db: Path, run_id: int, sent: list[int]) -> None:
    """Once a trial runs, COUNT commands at RATE a second, then a cancel (as the UI writes)."""
    store = Store(db, create=False)
    try:
        while not store.trials(run_id, status="running"):
            time.sleep(0.05)
        start = time.monotonic()
        for i in range(COUNT):
            time.sleep(max(0.0, start + i / RATE - time.monotonic()))
            kind, payload = CYCLE[i % len(CYCLE)]
            sent.append(store.add_command(run_id, kind, payload))
        sent.append(store.add_command(run_id, contract.CANCEL))
    finally:
        store.close()


def test_five_commands_a_second_are_all_answered_in_order(
    tmp_path: Path, fault_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    long = replace(PROFILES["tiny"], name="rate-test", trials_override=10_000)
    monkeypatch.setitem(PROFILES, "rate-test", long)
    db = tmp_path / "rate.db"
    store = Store(db)
    cfg = RunConfig(strategy="random", profile="rate-test", data="sample", workers=2,
                    final_validation=False)  # fmt: skip
    run_id = create_run(store, cfg)
    store.close()
    sent: list[int] = []
    sender = threading.Thread(target=send, args=(db, run_id, sent), daemon=True)
    sender.start()
    try:
        assert Engine(db, run_id, trainer=FAKE_TRAINER).run() == "cancelled"
    finally:
        sender.join(timeout=60)
    store = Store(db, readonly=True)
    try:
        rows = [store.command(i) for i in sent]
        assert len(rows) == COUNT + 1
        assert store.pending_commands(run_id) == []
        assert [r["status"] for r in rows] == ["done"] * len(rows), [r["message"] for r in rows]
        handled = [r["handled_at"] for r in rows]
        assert handled == sorted(handled), "answered out of order"
        assert rows[0]["message"].startswith("paused") and rows[2]["message"] == "resumed"
        edits = COUNT // len(CYCLE) * 2
        assert len(store.space_versions(run_id)) == 1 + edits
        assert len(store.pruner_versions(run_id)) == 1 + edits
        assert store.run(run_id)["status"] == "cancelled"
    finally:
        store.close()
