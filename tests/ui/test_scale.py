"""A run longer than the UI's window: the app holds the newest and the best trials, puts new
ones in place without sorting every row, lets the oldest go, starts the log at its tail, plots
bins instead of points past a threshold and works out only new PPO epochs. Small windows and
thresholds stand in for the real ones, on real store files, so the tests stay fast."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import hptui.app
import hptui.store_reader
import hptui.trial_window
from hptui.app import HptuiApp
from hptui.widgets.event_log import EventLog
from hptui.widgets.penalty_pane import PenaltyPane
from hptui.widgets.proposer_pane import ProposerPane
from hptui.widgets.reward_plot import RewardPlot
from hptui.widgets.trials_table import TrialsTable
from storage.store import Store

from .conftest import CFG, Filled, refresh
from .test_proposer import add_steps

WINDOW, BEST, SLACK, TRIALS = 10, 2, 3, 40
OLD_BEST = (5, 9)  # numbers of the two best trials, far older than the window


@pytest.fixture
def small_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hptui.app, "WINDOW", WINDOW)
    monkeypatch.setattr(hptui.store_reader, "WINDOW", WINDOW)
    monkeypatch.setattr(hptui.store_reader, "BEST_KEPT", BEST)
    monkeypatch.setattr(hptui.trial_window, "SLACK", SLACK)


def add_trial(s: Store, run_id: int, acc: float, status: str = "finished") -> int:
    """One search trial, written as the engine writes it (started, then its result)."""
    tid, _ = s.add_trial(
        run_id, CFG, status="running", phase="search", strategy="random", space_version=1
    )
    if status != "running":
        s.update_trial(tid, status=status, val_accuracy=acc, score=100 * acc, reward=100 * acc)
    return tid


def long_run(tmp_path: Path, trials: int = TRIALS, events: int = 0) -> tuple[Path, int]:
    """A finished random search of `trials` trials whose best two are old, and `events`."""
    db = tmp_path / "long.db"
    s = Store(db)
    run_id = s.create_run(status="finished", phase="done", strategy="random", profile="quick",
                          seed=1, workers=1, config={}, planned_trials=trials)  # fmt: skip
    s.add_space_version(run_id, {}, [], "initial", "engine")
    for n in range(1, trials + 1):
        acc = 0.9 - n / 1000 if n in OLD_BEST else 0.5 + (n % 7) / 100
        add_trial(s, run_id, acc)
    for i in range(1, events + 1):
        s.log(run_id, f"event {i}")
    s.close()
    return db, run_id


def numbers(table: TrialsTable) -> list[int]:
    """The trial numbers of the table's rows, top to bottom."""
    return [int(table.get_row_at(i)[0].plain) for i in range(table.row_count)]


def test_the_table_holds_the_newest_and_the_best(tmp_path: Path, small_window: None) -> None:
    db, run_id = long_run(tmp_path)

    async def go() -> None:
        app = HptuiApp(str(db), run_id)
        async with app.run_test(size=(80, 24)) as pilot:
            await refresh(app, pilot)
            table = app.query_one(TrialsTable)
            newest = list(range(TRIALS, TRIALS - WINDOW, -1))
            assert numbers(table) == [*newest, *sorted(OLD_BEST, reverse=True)]
            assert f"{WINDOW + BEST}/{TRIALS} shown" in str(table.border_subtitle)

    asyncio.run(go())


def test_a_new_trial_is_put_in_place_and_the_oldest_go(tmp_path: Path, small_window: None) -> None:
    db, run_id = long_run(tmp_path)

    async def go() -> None:
        app = HptuiApp(str(db), run_id)
        async with app.run_test(size=(80, 24)) as pilot:
            await refresh(app, pilot)
            table = app.query_one(TrialsTable)
            table.set_sort("acc", True)  # by val acc, highest first: a whole sort, once
            sorts = table.full_sorts
            s = Store(db)
            add_trial(s, run_id, 0.535)  # between the window's accuracies
            s.close()
            await refresh(app, pilot)
            accs = [float(table.get_row_at(i)[4].plain) for i in range(table.row_count)]
            assert accs == sorted(accs, reverse=True) and 0.535 in accs
            assert table.full_sorts == sorts  # put in place, not sorted again

            s = Store(db)
            for i in range(3 * WINDOW):
                add_trial(s, run_id, 0.5 + i / 1000)
            s.close()
            await refresh(app, pilot)
            assert table.full_sorts == sorts
            assert table.row_count <= WINDOW + BEST + SLACK + 1  # + the selected trial
            assert len(app.trials) == table.row_count
            last = TRIALS + 1 + 3 * WINDOW
            assert set(range(last - WINDOW + 1, last + 1)) <= set(numbers(table))
            assert set(OLD_BEST) <= set(numbers(table))  # the best stay however old

    asyncio.run(go())


def test_the_filter_reads_its_own_newest(tmp_path: Path, small_window: None) -> None:
    db, run_id = long_run(tmp_path)
    s = Store(db)
    failed = [add_trial(s, run_id, 0.0, status="failed") for _ in range(2)]
    for _ in range(2 * WINDOW):
        add_trial(s, run_id, 0.6)
    s.close()

    async def go() -> None:
        app = HptuiApp(str(db), run_id)
        async with app.run_test(size=(80, 24)) as pilot:
            await refresh(app, pilot)
            table = app.query_one(TrialsTable)
            assert not set(failed) & set(app.trials)  # older than the window
            table.set_filter(None, "failed")
            for _ in range(100):
                await pilot.pause(0.02)
                if table.row_count == 2:
                    break
            assert table.row_count == 2 and set(failed) <= set(app.trials)

    asyncio.run(go())


def test_the_log_opens_on_its_latest_lines(tmp_path: Path) -> None:
    db, run_id = long_run(tmp_path, trials=3, events=1000)

    async def go() -> None:
        app = HptuiApp(str(db), run_id)
        async with app.run_test(size=(160, 48)) as pilot:
            await refresh(app, pilot)
            log = app.query_one(EventLog)
            tail = hptui.store_reader.LOG_TAIL
            assert log.lines_shown == tail
            assert log.kept[-1].plain.endswith("event 1000")
            assert log.kept[0].plain.endswith(f"event {1000 - tail + 1}")

            s = Store(db)  # more than a read takes arrive at once: the latest are shown
            for i in range(1001, 1001 + 2 * tail):
                s.log(run_id, f"event {i}")
            s.close()
            await refresh(app, pilot)
            assert log.kept[-1].plain.endswith(f"event {1000 + 2 * tail}")

    asyncio.run(go())


def _store_max_per_bin(db: Path, run_id: int, width: int) -> list[float]:
    s = Store(db, readonly=True)
    accs = [(t["number"], t["val_accuracy"]) for t in s.trials(run_id, status="finished")]
    s.close()
    bins: dict[int, float] = {}
    for n, a in accs:
        bins[(n - 1) // width] = max(bins.get((n - 1) // width, 0.0), a)
    return [bins[b] for b in sorted(bins)]


def test_the_plot_draws_bins_past_the_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, run_id = long_run(tmp_path)
    monkeypatch.setattr(hptui.store_reader, "PLOT_BINS", 8)

    async def plotted(points_max: int) -> RewardPlot:
        monkeypatch.setattr(hptui.store_reader, "PLOT_POINTS_MAX", points_max)
        app = HptuiApp(str(db), run_id)
        async with app.run_test(size=(160, 48)) as pilot:
            await refresh(app, pilot)
            return app.query_one(RewardPlot)

    plot = asyncio.run(plotted(TRIALS))  # at the threshold: one point per trial
    assert plot.form == "points" and plot.xs == [float(n) for n in range(1, TRIALS + 1)]

    plot = asyncio.run(plotted(TRIALS - 1))  # above: bins of 5 numbers
    assert plot.form == "bins" and len(plot.xs) == 8
    assert plot.xs[:2] == [3.0, 8.0]  # each bin's middle
    tops = _store_max_per_bin(db, run_id, 5)
    assert plot.series["top"] == tops
    assert plot.series["best so far"] == [max(tops[: i + 1]) for i in range(len(tops))]
    assert all(m <= t for m, t in zip(plot.series["mean"], tops, strict=True))
    assert "40 trials in bins" in plot.plot_title


def test_the_proposer_works_out_only_new_epochs(filled: Filled) -> None:
    add_steps(filled)

    def step(s: Store, epoch: int, mean: float) -> None:
        screen: dict[str, Any] = {"policy_mean": [mean] * 7, "policy_std": [0.1] * 7}
        s.add_trial(filled.run_id, CFG, status="running", phase="ppo", strategy="bayes-ppo",
                    ppo_epoch=epoch, trajectory=1, step=1, space_version=1,
                    extra={"screen": screen})  # fmt: skip

    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(80, 24)) as pilot:
            await refresh(app, pilot)
            await pilot.press("7")  # the proposer: drawn when shown
            pane = app.query_one(ProposerPane)
            assert sorted(pane.beliefs) == [2, 3]
            computed = pane.belief_cache.computed
            assert computed == 2

            s = filled.store()
            step(s, 4, 0.1)
            s.close()
            await refresh(app, pilot)
            assert sorted(pane.beliefs) == [2, 3, 4]
            assert pane.belief_cache.computed == computed + 1  # epoch 4 alone

            s = filled.store()
            step(s, 4, 0.3)  # a second step of epoch 4: that epoch again, no other
            s.close()
            await refresh(app, pilot)
            assert pane.belief_cache.computed == computed + 2

    asyncio.run(go())


def test_the_rules_are_counted_over_the_whole_run(tmp_path: Path, small_window: None) -> None:
    db, run_id = long_run(tmp_path)
    s = Store(db)
    s.conn.execute("UPDATE trials SET rules_fired = '[\"sgd_high_lr\"]', penalty = 10.0")
    s.conn.execute("UPDATE trials SET rules_fired = 'not json' WHERE number = 1")  # damaged
    s.conn.commit()
    s.close()

    async def go() -> None:
        app = HptuiApp(str(db), run_id)
        async with app.run_test(size=(160, 48)) as pilot:
            await refresh(app, pilot)
            pen = app.query_one(PenaltyPane)
            assert len(app.trials) < TRIALS  # a window, yet every trial is counted
            assert pen.counts == {"sgd_high_lr": TRIALS - 1}
            assert pen.totals == {"sgd_high_lr": 10.0 * (TRIALS - 1)}

    asyncio.run(go())
