"""The UI tells one true story: one test per defect found by using it as a new user would
(the store's best everywhere, a plot that does not mislead, whole table columns, a log that
fits its pane, honest time and status, keys that can be found)."""

from __future__ import annotations

import asyncio
import time

import pytest
from textual.widgets import Checkbox, Label
from textual.widgets._footer import FooterKey

from hptui.app import PANES, HptuiApp
from hptui.screens.export_prompt import ExportPrompt
from hptui.screens.quit_prompt import QuitPrompt
from hptui.screens.space_editor import SpaceEditor
from hptui.widgets.event_log import EventLog
from hptui.widgets.reward_plot import BEST_MARK, RUNNING_BEST_MARK, TRIAL_MARK, RewardPlot
from hptui.widgets.run_header import RunHeader
from hptui.widgets.trainers_pane import TrainersPane
from hptui.widgets.trial_detail import TrialDetail
from hptui.widgets.trials_table import BEST_MARK as STAR
from hptui.widgets.trials_table import TrialsTable
from storage.store import Store

from .conftest import CFG, Filled, add_finished, refresh


def _best_number(filled: Filled) -> int:
    s = Store(filled.db, readonly=True)
    try:
        best = s.best_trial(filled.run_id)
    finally:
        s.close()
    assert best is not None
    return int(best["number"])


def _starred(table: TrialsTable) -> list[int]:
    return [
        int(table.get_row(str(tid))[0].plain)
        for tid, cells in table.rows_by_id.items()
        if cells["best"].plain == STAR
    ]


# 1 -------------------------------------------------------------------------------------------
def test_best_comes_from_the_store_everywhere_with_its_score(filled: Filled) -> None:
    """Header, table ★, plot, trial pane and export dialog all name the trial the store ranks
    best, and follow it when the ranking changes in the store."""

    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(160, 48)) as pilot:
            await refresh(app, pilot)
            table, plot = app.query_one(TrialsTable), app.query_one(RewardPlot)
            assert _best_number(filled) == 4
            assert "best #4 score " in app.query_one(RunHeader).text
            assert _starred(table) == [4] and plot.best_x == 4.0
            # the store now ranks trial 5 first, though trial 4 has the higher accuracy
            s = filled.store()
            s.update_trial(filled.trial_ids[5], score=99.5)
            s.close()
            await refresh(app, pilot)  # no trial changed: the ranking is read anyway
            assert _best_number(filled) == 5
            assert "best #5 score 99.50 (val acc 0.6500)" in app.query_one(RunHeader).text
            assert _starred(table) == [5] and plot.best_x == 5.0
            app.select_trial(filled.trial_ids[5])
            await pilot.pause()
            detail = app.query_one(TrialDetail).text
            assert "score 99.50  ★ best trial" in detail and ": the reward under one set" in detail
            await pilot.press("x")
            await pilot.pause()
            assert isinstance(app.screen, ExportPrompt)
            what = str(app.screen.query_one("#export-what", Label).render())
            assert "#5 score 99.50" in what

    asyncio.run(go())


# 2 and 16 -------------------------------------------------------------------------------------
def test_plot_shows_every_trial_accuracy_with_phases_and_marks_without_colour(
    filled: Filled,
) -> None:
    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(160, 48)) as pilot:
            await refresh(app, pilot)
            plot = app.query_one(RewardPlot)
            # every finished search trial's accuracy, not a reward that α drags down
            assert plot.series["val acc"] == [0.6123, 0.7012, 0.7345, 0.65]
            assert plot.series["best so far"][-1] == 0.7345
            assert plot.boundaries == [(3.0, "ppo")]
            assert "warm-up → PPO" in plot.plot_title and "best val" not in plot.plot_title
            # markers differ in shape, and the legend is out of the data (in the border)
            assert len({TRIAL_MARK, RUNNING_BEST_MARK, BEST_MARK}) == 3
            assert TRIAL_MARK in str(plot.border_subtitle)
            assert BEST_MARK in str(plot.border_subtitle)
            assert plot.ylim[0] < 0.6123 and plot.ylim[1] > 0.7345 and plot.ylim[1] <= 1.0

    asyncio.run(go())


def test_plot_range_is_sensible_with_one_trial(filled: Filled) -> None:
    s = filled.store()
    for tid in filled.trial_ids.values():
        if tid != filled.trial_ids[1]:
            s.update_trial(tid, status="failed")
    s.close()

    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(160, 48)) as pilot:
            await refresh(app, pilot)
            plot = app.query_one(RewardPlot)
            assert plot.xs == [1.0]
            lo, hi = plot.ylim
            assert lo < 0.6123 < hi and hi - lo >= 0.04 and 0.0 <= lo and hi <= 1.0

    asyncio.run(go())


# 3 --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_table_shows_only_whole_columns_and_keeps_the_number(
    filled: Filled, size: tuple[int, int]
) -> None:
    add_finished(filled, 30)  # more rows than fit: a vertical scrollbar

    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=size) as pilot:
            await refresh(app, pilot)
            table = app.query_one(TrialsTable)
            used = sum(c.get_render_width(table) for c in table.columns.values())
            assert used <= table.scrollable_content_region.width
            assert table.max_scroll_x == 0  # nothing to scroll to: no column cut at the edge
            assert table.fixed_columns == 1  # and `#` stays were it scrolled
            if size == (160, 48):
                assert "units" in table.shown_columns

    asyncio.run(go())


# 4 --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_log_lines_fit_the_pane(filled: Filled, size: tuple[int, int]) -> None:
    s = filled.store()
    s.log(filled.run_id, "w" * 60 + " seed 42")
    s.log(filled.run_id, "a" * 100 + " seed 43")
    for i in range(30):  # enough lines for a scrollbar
        s.log(filled.run_id, f"line {i}")
    s.close()

    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=size) as pilot:
            await refresh(app, pilot)
            await pilot.press("6")
            await pilot.pause()
            log = app.query_one(EventLog)
            width = log.scrollable_content_region.width
            assert width > 0 and log.wrap_width == width
            assert max(line.cell_length for line in log.lines) <= width
            text = " ".join(line.text.rstrip() for line in log.lines)
            assert "seed 42" in text and "seed 43" in text
            if size == (160, 48):  # a 117-character line stays one line
                assert any("a" * 100 + " seed 43" in line.text for line in log.lines)

    asyncio.run(go())


# 5 and 6 -------------------------------------------------------------------------------------
def test_elapsed_never_goes_back_and_a_young_run_waits_for_its_engine(filled: Filled) -> None:
    now = time.time()
    s = filled.store()
    run = s.run(filled.run_id)
    assert run is not None
    s.update_run(
        filled.run_id,
        started_at=now - 100,
        created_at=now - 100,
        progress=run["progress"],
    )
    s.close()

    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(160, 48)) as pilot:
            await refresh(app, pilot)
            header = app.query_one(RunHeader)
            assert "elapsed 1:4" in header.text
            s = filled.store()  # the engine's own figure drops once its first trial starts
            s.update_run(filled.run_id, progress={**run["progress"], "elapsed_s": 1.0})
            s.close()
            await refresh(app, pilot)
            assert "elapsed 1:4" in header.text

            # a fresh run whose engine has not beaten yet is starting, not gone
            s = filled.store()
            s.update_run(filled.run_id, heartbeat=None, created_at=time.time())
            s.close()
            await refresh(app, pilot)
            assert "engine starting" in header.text and "no engine" not in header.text
            s = filled.store()
            s.update_run(filled.run_id, created_at=time.time() - 120)
            s.close()
            await refresh(app, pilot)
            assert "no engine: hptui resume" in header.text

    asyncio.run(go())


def test_header_lines_do_not_wrap_at_80_columns(filled: Filled) -> None:
    """A dead engine's badge made the first line wrap and pushed the time and best out."""

    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(80, 24)) as pilot:
            await refresh(app, pilot)
            header = app.query_one(RunHeader)
            header.show({**app.run_row, "heartbeat": time.time() - 60}, app.best, time.time())
            await pilot.pause()
            lines = [header.render_line(y).text for y in range(header.size.height)]
            assert "no engine" in header.text
            assert lines[0].startswith("run 1") and lines[1].startswith("data sample")
            assert "no engine: hptui resume" in lines[0]  # the badge is not what gets cut
            assert lines[2].startswith("elapsed") and "best #4" in lines[2]

    asyncio.run(go())


# 7 --------------------------------------------------------------------------------------------
def test_a_stopped_run_does_not_look_completed(filled: Filled) -> None:
    s = filled.store()
    cid = s.add_command(filled.run_id, "stop")
    s.finish_command(cid, "done", "stopping")
    s.update_run(filled.run_id, status="finished", phase="done", finished_at=time.time())
    s.close()

    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(80, 24)) as pilot:
            await refresh(app, pilot)
            header = app.query_one(RunHeader)
            assert "STOPPED" in header.text and "FINISHED" not in header.text
            assert "stopped by the user" in header.text
            assert header.has_class("-result")

    asyncio.run(go())


# 9 --------------------------------------------------------------------------------------------
def test_quit_and_help_fit_the_footer_and_tab_stays_visible(filled: Filled) -> None:
    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(80, 24)) as pilot:
            await refresh(app, pilot)
            await pilot.pause()
            keys = {k.key: k for k in app.screen.query(FooterKey)}
            for key in ("q", "question_mark"):
                assert key in keys and keys[key].region.right <= 80 and keys[key].region.width
            seen = set()
            for _ in range(len(PANES) + 1):
                await pilot.press("tab")
                await pilot.pause()
                focused = app.focused
                assert focused is not None and focused.region.area > 0  # never a hidden pane
                seen.add(app.current_pane)
            assert len(seen) == len(PANES)  # Tab goes through every pane

    asyncio.run(go())


# 10 -------------------------------------------------------------------------------------------
def test_detach_says_the_run_goes_on_and_how_to_come_back(filled: Filled) -> None:
    async def go() -> HptuiApp:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(80, 24)) as pilot:
            await refresh(app, pilot)
            await pilot.press("q")
            await pilot.press("d")
            await pilot.pause()
        return app

    app = asyncio.run(go())
    assert app.farewell == (
        f"run {filled.run_id} continues in the background; come back with: "
        f"hptui attach {filled.run_id} --db {filled.db.resolve()}"
    )


# 11 -------------------------------------------------------------------------------------------
def test_the_result_is_shown_and_final_rows_are_labelled(filled: Filled) -> None:
    s = filled.store()
    for role, acc, sec in (("best", 0.81, 30.0), ("default", 0.79, 40.0)):
        tid, _ = s.add_trial(
            filled.run_id,
            CFG,
            status="running",
            phase="final",
            strategy="bayes-ppo",
            space_version=1,
            extra={"role": role, "best_trial": 4},
        )
        s.update_trial(tid, status="finished", val_accuracy=acc, test_accuracy=acc, seconds=sec)
    final = {
        "best_trial": 4,
        "best_config": CFG,
        "best_test_accuracy": 0.81,
        "best_seconds": 30.0,
        "default_test_accuracy": 0.79,
        "default_seconds": 40.0,
        "accuracy_gain": (0.81 - 0.79) / 0.79,
        "time_saving": 0.25,
        "time_saving_interval": 0.05,
        "epochs": 3,
    }
    s.update_run(filled.run_id, status="finished", phase="done", final=final)
    s.close()

    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(80, 24)) as pilot:
            await refresh(app, pilot)
            header = app.query_one(RunHeader)
            assert header.has_class("-result") and header.size.height == 4
            # the verdict, whole at 80 columns: no accuracy interval, a time saving clear of 0
            assert "test: #4 0.810 vs default 0.790: +2.0 pts, within noise, 25 % faster" in (
                header.text
            )
            table = app.query_one(TrialsTable)
            phases = sorted(str(table.get_row_at(i)[3]) for i in range(table.row_count))
            assert "fin best" in phases and "fin dflt" in phases
            # the best stays the best search trial, not a final-validation row
            assert _starred(table) == [4]

    asyncio.run(go())


# 14 -------------------------------------------------------------------------------------------
def test_trainers_keys_and_palette(filled: Filled) -> None:
    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(160, 48)) as pilot:
            await refresh(app, pilot)
            await pilot.pause()
            bar = app.query_one(TrainersPane).bars[0]
            for label in bar.query(".worker-title, .worker-progress").results(Label):
                text = str(label.render())
                assert len(text) <= label.content_region.width, text  # nothing cut off
            assert "batch 3/10" in str(bar.query_one(".worker-progress", Label).render())

            await pilot.press("space")
            await pilot.pause()
            assert isinstance(app.screen, SpaceEditor)
            box = app.screen.query_one("#log-lr", Checkbox)
            before = str(box.label)
            box.value = not box.value
            await pilot.pause()
            assert str(box.label) != before and {before, str(box.label)} == {
                "log: on",
                "log: off",
            }
            await pilot.press("escape")
            await pilot.pause()

            quit_cmd = [c for c in app.get_system_commands(app.screen) if c.title == "Quit"]
            assert len(quit_cmd) == 1
            quit_cmd[0].callback()
            await pilot.pause()
            assert isinstance(app.screen, QuitPrompt) and app.is_running

    asyncio.run(go())


# 16 -------------------------------------------------------------------------------------------
def test_trials_filter_by_phase_and_status(filled: Filled) -> None:
    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(80, 24)) as pilot:
            await refresh(app, pilot)
            table = app.query_one(TrialsTable)

            def numbers() -> list[int]:
                return sorted(int(table.get_row_at(i)[0].plain) for i in range(table.row_count))

            await pilot.press("f")  # phase: warmup
            await pilot.pause()
            assert numbers() == [1, 2, 3]
            await pilot.press("F")  # and status: finished
            await pilot.pause()
            assert numbers() == [1, 2]
            assert "phase warmup" in str(table.border_subtitle)
            await pilot.press("f")  # phase: ppo
            await pilot.pause()
            assert numbers() == [4, 5]
            s = filled.store()  # a trial that now passes the filter appears
            s.update_trial(filled.trial_ids[6], status="finished", val_accuracy=0.7, score=1.0)
            s.close()
            await refresh(app, pilot)
            assert numbers() == [4, 5, 6]

    asyncio.run(go())
