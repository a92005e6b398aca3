"""A store filled in advance with one bayes-ppo run, written through storage.store.Store as
the engine would, and helpers to drive the app with Textual's Pilot."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.reward import DEFAULT_RULES
from engine.space import DEFAULT_CONFIG, default_space
from storage.store import Store

CFG = {**DEFAULT_CONFIG}  # the baseline configuration


@dataclass
class Filled:
    db: Path
    run_id: int
    trial_ids: dict[int, int]  # number -> id
    ppo: list[dict[str, Any]]

    def store(self) -> Store:
        return Store(self.db)

    def commands(self) -> list[dict[str, Any]]:
        s = Store(self.db, readonly=True)
        try:
            return s._rows("SELECT * FROM commands WHERE run_id = ? ORDER BY id", [self.run_id])
        finally:
            s.close()


@pytest.fixture
def filled(tmp_path: Path) -> Filled:
    return make_filled(tmp_path)


def make_filled(tmp_path: Path) -> Filled:
    """The store behind `filled`, also for looking at the app by hand."""
    db = tmp_path / "filled.db"
    s = Store(db)
    now = time.time()
    run_id = s.create_run(
        status="running",
        phase="ppo",
        strategy="bayes-ppo",
        profile="tiny",
        seed=1,
        workers=2,
        config={"strategy": "bayes-ppo"},
        data_source="sample",
        device="cpu",
        precision="float32",
        planned_trials=9,
        engine_pid=os.getpid(),
        heartbeat=now,
        progress={
            "finished": 4,
            "failed": 1,
            "planned": 9,
            "running": 1,
            "workers": 2,
            "eta_s": 65.0,
            "elapsed_s": 30.0,
            "warmup_done": 3,
            "warmup_total": 3,
            "ppo_epoch": 2,
            "ppo_epochs": 2,
            "ppo_epochs_done": 1,
            "traj_len": 2,
            "len_switch_epoch": 2,
        },
    )
    s.add_space_version(
        run_id, default_space().to_dict(), [r.to_dict() for r in DEFAULT_RULES], "initial", "engine"
    )
    spec = [
        # number: (phase, status, val acc, rules fired, penalty, ppo (epoch, traj, step), error)
        (1, "warmup", "finished", 0.6123, ["sgd_high_lr"], 10.0, None, None),
        (2, "warmup", "finished", 0.7012, ["batch64_deep", "embed64_deep"], 8.0, None, None),
        (3, "warmup", "failed", None, ["sgd_high_lr"], 10.0, None, "ResourceExhaustedError: OOM"),
        (4, "ppo", "finished", 0.7345, [], 0.0, (1, 1, 1), None),
        (5, "ppo", "finished", 0.6500, ["batch64_deep"], 5.0, (1, 2, 1), None),
        (6, "ppo", "running", None, [], 0.0, (2, 1, 1), None),
    ]
    ids: dict[int, int] = {}
    for number, phase, status, acc, fired, pen, ppo, err in spec:
        tid, n = s.add_trial(
            run_id,
            {**CFG, "lr": 1e-3 * number},
            status="running",
            phase=phase,
            strategy="bayes-ppo",
            ppo_epoch=ppo[0] if ppo else None,
            trajectory=ppo[1] if ppo else None,
            step=ppo[2] if ppo else None,
            space_version=1,
            max_epochs=2,
            alpha=0.9,
            beta=0.1,
            penalty=pen,
            rules_fired=fired,
            worker=0,
            started_at=now - 10 + number,
        )
        assert n == number
        ids[number] = tid
        if status == "finished":
            s.update_trial(
                tid,
                status="finished",
                val_accuracy=acc,
                seconds=2.0 * number,
                reward=100 * 0.9 * acc - 0.1 * 0.1 * 2.0 * number - pen,
                score=100 * 0.6 * acc - 0.1 * 0.4 * 2.0 * number - pen,
                finished_at=now,
            )
        elif status == "failed":
            s.update_trial(tid, status="failed", error=err, finished_at=now)
    for epoch, va in ((1, 0.6543), (2, 0.7012)):
        s.add_epoch(
            run_id,
            ids[2],
            epoch=epoch,
            loss=0.69,
            accuracy=0.6,
            val_loss=0.68,
            val_accuracy=va,
            seconds=1.5,
        )
    ppo_rows = [
        dict(ppo_epoch=1, traj_len=1, n_steps=2, mean_reward=55.5, best_reward=60.25),
        dict(ppo_epoch=2, traj_len=2, n_steps=4, mean_reward=58.0, best_reward=63.5),
    ]
    for row in ppo_rows:
        s.add_ppo_update(run_id, **row)
    s.set_worker(run_id, 0, trial_id=ids[6], epoch=1, epochs=2, batch=3, batches=10)
    s.set_worker(run_id, 1, trial_id=None)
    s.log(run_id, "run created")
    s.log(run_id, "trial 3 (warmup) failed: ResourceExhaustedError: OOM", "error")
    s.log(run_id, "PPO epoch 1 update: mean reward 55.50")
    s.close()
    return Filled(db, run_id, ids, ppo_rows)


async def refresh(app: Any, pilot: Any) -> None:
    """One complete read of the store shown on screen (waits out a read in flight)."""
    for _ in range(200):
        if not app._polling:
            break
        await pilot.pause(0.01)
    await app.poll()
    await pilot.pause()


def add_finished(filled: Filled, n: int, phase: str = "ppo", acc: float = 0.7) -> None:
    """`n` finished search trials of one accuracy, each written as the engine writes it."""
    s = filled.store()
    for i in range(n):
        tid, _ = s.add_trial(
            filled.run_id,
            {**CFG, "lstm_units": 128, "batch_size": 128},
            status="running",
            phase=phase,
            strategy="bayes-ppo",
            space_version=1,
            alpha=0.8,
            beta=0.2,
            penalty=0.0,
            rules_fired=[],
        )
        s.update_trial(
            tid, status="finished", val_accuracy=acc, seconds=1.0, reward=50.0, score=40.0 + i / 100
        )
    s.close()
