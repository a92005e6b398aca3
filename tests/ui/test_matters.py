"""What matters: the pane on a store whose score one hyperparameter decides."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest
from textual.widgets import Input

from engine.space import default_space
from hptui.app import HptuiApp
from hptui.screens.space_editor import SpaceEditor
from hptui.widgets.matters_pane import MattersPane, SlicePlot

from .conftest import Filled, refresh

DECIDER = "dropout"  # a real dimension, not the first of the space
OLD = 12  # trials drawn under version 1, before the edit


def fill_decided(filled: Filled, n: int = 48, seed: int = 0) -> None:
    """`n` finished search trials whose score is decided by `dropout` (plus a little noise),
    `lstm_layers` adding a smaller part; the first OLD under version 1, the rest under
    version 2, whose dropout range is narrower."""
    space = default_space()
    rng = np.random.default_rng(seed)
    s = filled.store()
    try:
        v2 = {**space.to_dict(), "dropout": {"type": "real", "low": 0.25, "high": 0.4}}
        for i in range(n):
            version = 1 if i < OLD else 2
            cfg = space.sample(rng)
            if version == 2:
                cfg["dropout"] = round(float(rng.uniform(0.25, 0.4)), 4)
            acc = 0.5 + 1.2 * (float(cfg["dropout"]) - 0.2) + 0.02 * (cfg["lstm_layers"] - 1)
            acc += float(rng.normal(0.0, 0.003))
            if i == OLD:
                s.add_space_version(filled.run_id, v2, [], "dropout: 0.2..0.4 -> 0.25..0.4", "ui")
            tid, _ = s.add_trial(
                filled.run_id, cfg, status="running", phase="search", strategy="bayes-ppo",
                space_version=version, alpha=0.6, beta=0.4, penalty=0.0, rules_fired=[],
            )  # fmt: skip
            s.update_trial(
                tid, status="finished", val_accuracy=acc, seconds=1.0, reward=60 * acc,
                score=60 * acc - 0.04,
            )  # fmt: skip
    finally:
        s.close()


async def wait_for(pilot: object, cond: object, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if cond():  # type: ignore[operator]
            return
        await pilot.pause(0.05)  # type: ignore[attr-defined]
    raise AssertionError("timed out")


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_bars_in_order_and_the_key_opens_the_pane(filled: Filled, size: tuple[int, int]) -> None:
    fill_decided(filled)

    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=size) as pilot:
            await refresh(app, pilot)
            pane = app.query_one(MattersPane)
            assert pane.region.area == 0 and pane.shows == 0  # hidden: nothing computed
            await pilot.press("m")
            assert pane.region.area > 0
            assert app.focused is pane.bars
            await wait_for(pilot, lambda: pane.shows > 0)
            m = pane.data
            assert m is not None and m.result is not None
            assert pane.order[0] == DECIDER
            assert pane.order == [n for n, _ in m.result.ranked()]
            shares = m.result.shares
            assert shares[DECIDER] > 0.5
            assert math.isclose(sum(shares.values()), 1.0)
            assert pane.bars.option_count == len(default_space().dims)
            first = str(pane.bars.get_option_at_index(0).prompt)
            assert first.startswith(DECIDER) and f"{100 * shares[DECIDER]:.1f}%" in first
            # 6 finished search trials come with the filled store, 48 here
            assert m.trials == 4 + 48 and m.metric == "score"

            # the slice plot of the selected (first) dimension, older versions apart
            plot = app.query_one(SlicePlot)
            assert plot.view is not None and plot.view.name == DECIDER
            assert len(plot.view.old_xs) == OLD + 4 and len(plot.view.xs) == 48 - OLD
            assert plot.view.bounds == [0.25, 0.4]  # the current range
            assert min(plot.view.xlim) < 0.25  # older trials outside it still in view
            # down: the next dimension, a categorical, categories side by side
            await pilot.press("down")
            await wait_for(pilot, lambda: pane.selected == pane.order[1])
            assert plot.view.name == pane.order[1]
            # lr, a log dimension: plotted on a log axis
            await pilot.press("home")
            for _ in range(pane.order.index("lr")):
                await pilot.press("down")
            await wait_for(pilot, lambda: pane.selected == "lr")
            assert plot.view.log and plot.view.bounds == [-4.0, -2.0]
            assert plot.view.labels == ["0.0001", "0.001", "0.01"]

    asyncio.run(go())


def test_e_opens_the_editor_at_the_selected_dimension(filled: Filled) -> None:
    fill_decided(filled)

    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(80, 24)) as pilot:
            await refresh(app, pilot)
            await pilot.press("m")
            pane = app.query_one(MattersPane)
            await wait_for(pilot, lambda: pane.shows > 0)
            i = pane.order.index("embed_dim")
            await pilot.press("home", *["down"] * i)
            await wait_for(pilot, lambda: pane.selected == "embed_dim")
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, SpaceEditor))
            await wait_for(pilot, lambda: isinstance(app.focused, Input))
            assert app.focused is not None and app.focused.id == "choices-embed_dim"
            await pilot.press("escape")
            # the dropout range from the bars: its low bound
            await wait_for(pilot, lambda: not isinstance(app.screen, SpaceEditor))
            await pilot.press("home", *["down"] * pane.order.index(DECIDER))
            await wait_for(pilot, lambda: pane.selected == DECIDER)
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.focused, Input))
            assert app.focused is not None and app.focused.id == f"low-{DECIDER}"

    asyncio.run(go())


def test_recomputed_when_trials_finish_not_otherwise(filled: Filled) -> None:
    fill_decided(filled, n=20)

    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(160, 48)) as pilot:
            await refresh(app, pilot)
            await pilot.press("m")
            pane = app.query_one(MattersPane)
            await wait_for(pilot, lambda: pane.shows == 1)
            assert pane.data is not None and pane.data.trials == 24
            for _ in range(3):  # reads with nothing new: no new computation
                await refresh(app, pilot)
            await pilot.pause(0.2)
            assert pane.shows == 1
            fill_decided(filled, n=8, seed=1)
            await refresh(app, pilot)
            await wait_for(pilot, lambda: pane.shows == 2)
            assert pane.data is not None and pane.data.trials == 32

    asyncio.run(go())


def test_the_key_is_in_the_footer_and_the_help(filled: Filled) -> None:
    from textual.widgets._footer import FooterKey

    from hptui.screens.help import help_text

    assert "| `m` | what matters" in help_text()

    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(160, 48)) as pilot:
            await refresh(app, pilot)
            keys = {k.key: k for k in app.screen.query(FooterKey)}
            assert "m" in keys and keys["m"].region.right <= 160
            assert "matters" in str(keys["m"].render())

    asyncio.run(go())
