"""The proposer pane on a store filled in advance with PPO steps as the engine writes them:
the policy's beliefs in the space's units, the last update's statistics, one step's state,
action, screening and reward parts, and the keys that move between steps."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from typing import Any

import pytest

from hptui.app import HptuiApp
from hptui.widgets.proposer_pane import ProposerPane
from hptui.widgets.trials_table import TrialsTable

from .conftest import CFG, Filled, refresh

# Actions in [-1, 1]; in the default space lr spans 1e-4..1e-2 on a log scale, so action 0.5
# is 10**-2.5 = 3.162e-3 (4 significant digits) and -1 is 1e-4.
ACTION_A = [0.5, 1.0, 0.0, -1.0, 1.0, 1.0, -1.0]  # lr 3.162e-3, batch 64, units 64, ...
STATE_A = [-1.0, -1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 0.5523]  # lr 1e-4, ..., prev reward 55.23
SCREEN_A = {
    "by": "max EI of 64 (policy)",
    "from": "policy",
    "ei": 0.0123,
    "est_acc": 0.7412,
    "est_sd": 0.0201,
    "incumbent": 0.7345,
    "policy_mean": [0.0] * 7,  # lr 1e-3
    "policy_std": [0.5] * 7,  # lr 10**-3.5 .. 10**-2.5 = 3.162e-4 .. 3.162e-3
}
ALPHA, BETA, ACC, SEC, PEN = 0.8, 0.2, 0.7421, 12.5, 5.0
# 100*0.8*0.7421 = 59.368, -0.1*0.2*12.5 = -0.25, -5: the engine's reward 54.118
REWARD_A = 54.118
KL = 0.0123


def add_steps(filled: Filled) -> dict[str, int]:
    """Three PPO steps as the engine stores them (one finished with a full screening record,
    one failed with the policy's belief only, one running from an older run without any) and
    the update of PPO epoch 3."""
    s = filled.store()
    ids: dict[str, int] = {}

    def step(key: str, epoch: int, traj: int, n: int, extra: dict[str, Any], **f: Any) -> None:
        ids[key], _ = s.add_trial(
            filled.run_id,
            CFG,
            status=f.pop("status", "running"),
            phase="ppo",
            strategy="bayes-ppo",
            ppo_epoch=epoch,
            trajectory=traj,
            step=n,
            space_version=1,
            max_epochs=2,
            alpha=ALPHA,
            beta=BETA,
            extra={"key": f"p{epoch}.{traj}.{n}", **extra},
            **f,
        )

    step(
        "a",
        2,
        2,
        1,
        {"state": STATE_A, "action": ACTION_A, "logprob": -6.31, "value": 52.4, "screen": SCREEN_A},
        status="finished",
        val_accuracy=ACC,
        seconds=SEC,
        penalty=PEN,
        rules_fired=["batch64_deep"],
        reward=REWARD_A,
    )
    step(
        "b",
        3,
        1,
        1,
        {
            "state": [0.0] * 7 + [0.5],
            "action": [-0.5] + [0.0] * 6,
            "screen": {"by": "policy sample", "policy_mean": [0.2] * 7, "policy_std": [0.1] * 7},
        },
        status="failed",
        penalty=10.0,
        rules_fired=["sgd_high_lr"],
        error="boom",
    )
    step("c", 3, 1, 2, {"state": [0.0] * 8, "action": [1.0] * 7})
    s.add_ppo_update(
        filled.run_id,
        ppo_epoch=3,
        traj_len=2,
        n_steps=4,
        mean_reward=50.0,
        best_reward=54.1,
        actor_loss=-0.0456,
        critic_loss=0.789,
        entropy=4.321,
        approx_kl=KL,
        clip_fraction=0.0812,
        mean_std=0.512,
    )
    s.close()
    return ids


def flat(pane: ProposerPane) -> str:
    """The pane's text, then its lines beside the table alone (at 160 columns they sit beside
    it), with line breaks and runs of spaces as single spaces."""
    return " ".join(f"{pane.text}\n{pane.notes}".split())


def table_row(text: str, name: str) -> list[str]:
    """The cells of one hyperparameter's row in the pane's plain text."""
    for line in text.splitlines():
        cells = line.split()
        if cells and cells[0] == name:
            return cells[1:]
    raise AssertionError(f"no row {name} in:\n{text}")


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_proposer_shows_beliefs_update_and_the_selected_step(
    filled: Filled, size: tuple[int, int]
) -> None:
    ids = add_steps(filled)

    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=size) as pilot:
            await refresh(app, pilot)
            pane = app.query_one(ProposerPane)
            await pilot.press("7")
            await pilot.pause()
            shown = [p.id for p in app.query(".pane") if p.display and p.region.area > 0]
            if size == (80, 24):
                assert shown == ["pane-proposer"]
            else:  # in the grid, in the log's place
                assert "pane-proposer" in shown and "pane-log" not in shown
                assert "pane-trials" in shown and len(shown) == 6
            assert app.focused is pane

            # nothing cut off: the pane needs no horizontal scrolling at either size
            assert pane.virtual_size.width <= pane.scrollable_content_region.width
            # the whole pane fits without scrolling at 160x48; at 80x24 nearly
            if size == (160, 48):
                assert pane.max_scroll_y == 0

            # the latest update's statistics
            assert pane.last_update is not None and pane.last_update["ppo_epoch"] == 3
            assert f"KL {KL:.4f}" in flat(pane) and "clip 0.081" in flat(pane)
            assert "entropy 4.321" in flat(pane) and "mean std 0.512" in flat(pane)

            # the table's cursor is on the newest trial, step c: a step without screening
            assert pane.step is not None and pane.step["id"] == ids["c"]
            assert "no screening recorded" in flat(pane)
            assert "reward not yet (running)" in flat(pane)
            # lr: μ ep2, μ ep3, ep3's μ±σ (0.2 ± 0.1 -> 10**-2.9 .. 10**-2.7), state, action
            row = ["1.00e-03", "1.59e-03", "1.26e-03..1.99e-03", "1.000e-03", "1.000e-02"]
            assert table_row(pane.text, "lr")[:5] == row

            # the policy's mean per epoch in units, and epoch 3's spread
            assert pane.beliefs[2]["lr"] == (1e-3, 3.162e-4, 3.162e-3)
            assert pane.beliefs[3]["lr"][0] == 1.585e-3  # 10**-2.8
            assert table_row(pane.text, "optimizer")[:5] == ["adam", "sgd", "sgd", "adam", "sgd"]

            # select step a in the trials table: the pane follows the selection
            table = app.query_one(TrialsTable)
            table.move_cursor(row=table.get_row_index(str(ids["a"])))
            await pilot.pause()
            assert pane.step is not None and pane.step["id"] == ids["a"]
            assert pane.state_cfg is not None and pane.action_cfg is not None
            assert pane.action_cfg["lr"] == 3.162e-3 and pane.state_cfg["lr"] == 1e-4
            assert pane.action_cfg["batch_size"] == 64 and pane.action_cfg["optimizer"] == "adam"
            assert table_row(pane.text, "lr")[3:5] == ["1.000e-04", "3.162e-03"]
            assert table_row(pane.text, "batch_size")[3:5] == ["16", "64"]
            assert table_row(pane.text, "prev")[:2] == ["reward", "55.23"]
            assert pane.prev_reward == pytest.approx(55.23)
            text = flat(pane)
            assert "max EI of 64 (policy) · from policy · EI 0.0123" in text
            assert "GP 0.7412 ± 0.0201 vs incumbent 0.7345 (+0.0067)" in text

            # the reward's parts, each shown, sum to the stored reward
            assert pane.terms is not None
            (acc_t, time_t, pen_t), total, failed = pane.terms
            assert (acc_t, time_t, pen_t) == pytest.approx((59.368, -0.25, -5.0))
            assert total == pytest.approx(REWARD_A) and not failed
            m = re.search(
                r"reward (\S+) \(100·α·acc\) (\S+) \(−0\.1·β·T\) (\S+) \(−P\) = (\S+)", text
            )
            assert m is not None, text
            parts = [float(g) for g in m.groups()]
            assert parts == [59.37, -0.25, -5.0, 54.12]
            assert sum(parts[:3]) == pytest.approx(parts[3], abs=0.015)
            assert "stored" not in text  # the stored reward agrees with the formula
            assert "α 0.80 β 0.20 · P: batch64_deep · critic expected 52.40" in text

            # the arrows move between PPO steps (by number), End follows the table again
            await pilot.press("right")
            assert pane.step is not None and pane.step["id"] == ids["b"]
            text = flat(pane)
            assert "chosen: policy sample" in text
            assert "reward 0.00 (100·α·acc) +0.00 (−0.1·β·T) -10.00 (−P) = -10.00" in text
            assert "failed: told as accuracy 0" in text
            assert table_row(pane.text, "lr")[4] == "3.162e-04"  # action -0.5: 10**-3.5
            await pilot.press("left")
            assert pane.step is not None and pane.step["id"] == ids["a"]
            await pilot.press("home")
            assert pane.step is not None and pane.step["number"] == 4  # the first PPO step
            assert "no screening recorded" in flat(pane)
            await pilot.press("end")
            assert pane.step is not None and pane.step["id"] == ids["a"]  # the table's

            # a warm-up trial selected: the latest PPO step is shown
            table.move_cursor(row=table.get_row_index(str(filled.trial_ids[1])))
            await pilot.pause()
            assert pane.step is not None and pane.step["id"] == ids["c"]

            if size == (160, 48):  # 6 brings the log back into the bottom row
                await pilot.press("6")
                await pilot.pause()
                shown = [p.id for p in app.query(".pane") if p.display and p.region.area > 0]
                assert "pane-log" in shown and "pane-proposer" not in shown

    asyncio.run(go())


def test_proposer_before_any_ppo_step(filled: Filled) -> None:
    """The conftest store's PPO trials carry no policy record (an older run): the pane says
    what it lacks instead of failing."""

    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(80, 24)) as pilot:
            await refresh(app, pilot)
            pane = app.query_one(ProposerPane)
            assert pane.text == ""  # hidden behind another tab: not drawn on every read
            await pilot.press("7")
            await pilot.pause()
            assert pane.beliefs == {}
            assert pane.step is not None and pane.step["number"] == 6
            assert pane.action_cfg is None and "no screening recorded" in flat(pane)
            assert "update after ep 2 (4 steps) · KL - · clip -" in flat(pane)

    asyncio.run(go())


def test_the_ui_imports_neither_tensorflow_nor_skopt() -> None:
    code = (
        "import sys, hptui.app, hptui.widgets.proposer_pane\n"
        "bad = [m for m in ('tensorflow', 'skopt', 'sklearn') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
