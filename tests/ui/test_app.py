"""The app on a store filled in advance: what it shows, and the commands it writes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from textual.widgets import Button, Checkbox, Input, Label

from hptui.app import HptuiApp
from hptui.report import export_payload
from hptui.screens.confirm import ConfirmScreen
from hptui.screens.export_prompt import ExportPrompt
from hptui.screens.quit_prompt import QuitPrompt
from hptui.screens.space_editor import SpaceEditor
from hptui.widgets.event_log import EventLog
from hptui.widgets.penalty_pane import PenaltyPane
from hptui.widgets.reward_plot import RewardPlot
from hptui.widgets.run_header import RunHeader
from hptui.widgets.trainers_pane import TrainersPane
from hptui.widgets.trial_detail import TrialDetail
from hptui.widgets.trials_table import TrialsTable
from storage.store import Store

from .conftest import Filled, refresh


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_panes_show_the_store(filled: Filled, size: tuple[int, int]) -> None:
    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=size) as pilot:
            await refresh(app, pilot)
            assert app.first_paint_s is not None and app.first_paint_s < 5
            header = app.query_one(RunHeader).text
            assert "run 1" in header and "PPO epoch 2/2 (trajectory length 2)" in header
            assert "cpu float32" in header and "data sample" in header
            best = Store(filled.db, readonly=True).best_trial(filled.run_id)
            assert best is not None and best["number"] == 4
            assert f"best #4 score {best['score']:.2f} (val acc 0.7345)" in header

            table = app.query_one(TrialsTable)
            assert table.row_count == 6
            row = table.get_row(str(filled.trial_ids[4]))
            assert "0.7345" in [str(c) for c in row]
            assert str(table.get_row_at(0)[0]) == "6"  # newest first

            plot = app.query_one(RewardPlot)
            assert plot.mode == "ppo"
            assert plot.xs == [1.0, 2.0, 4.0, 5.0]  # finished search trials, in order
            assert plot.series["val acc"] == [0.6123, 0.7012, 0.7345, 0.65]
            assert plot.series["best so far"] == [0.6123, 0.7012, 0.7345, 0.7345]
            assert plot.boundaries == [(3.0, "ppo")]  # warm-up ends after trial 2

            pen = app.query_one(PenaltyPane)
            assert pen.counts == {"sgd_high_lr": 2, "batch64_deep": 2, "embed64_deep": 1}
            assert pen.totals == {"sgd_high_lr": 20.0, "batch64_deep": 10.0, "embed64_deep": 3.0}
            assert (pen.alpha, pen.beta) == (0.9, 0.1)

            bars = app.query_one(TrainersPane).bars
            assert sorted(bars) == [0, 1]
            await pilot.pause(0.1)
            assert bars[0].state[:5] == (filled.trial_ids[6], 1, 2, 3, 10)
            assert app.query_one(EventLog).lines_shown == 3

            shown = [p.id for p in app.query(".pane") if p.display and p.region.area > 0]
            if size == (80, 24):
                assert app.narrow and shown == ["pane-trials"]
                await pilot.press("3")  # reward pane instead
                shown = [p.id for p in app.query(".pane") if p.region.area > 0]
                assert shown == ["pane-reward"]
            else:
                assert not app.narrow and len(shown) == 6

            # new rows land on the next read, and only they are read
            s = filled.store()
            s.update_trial(filled.trial_ids[6], status="finished", val_accuracy=0.8, reward=71.9)
            s.add_trial(
                filled.run_id,
                {},
                status="running",
                phase="ppo",
                strategy="bayes-ppo",
                space_version=1,
                rules_fired=["sgd_high_lr"],
                penalty=10.0,
            )
            s.close()
            await refresh(app, pilot)
            assert table.row_count == 7
            assert "0.8000" in [str(c) for c in table.get_row(str(filled.trial_ids[6]))]
            assert pen.counts["sgd_high_lr"] == 3

    asyncio.run(go())


def test_select_trial_shows_epochs_error_and_sorts(filled: Filled) -> None:
    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(80, 24)) as pilot:
            await refresh(app, pilot)
            table = app.query_one(TrialsTable)
            detail = app.query_one(TrialDetail)
            # rows are 6, 5, 4, 3, 2, 1: four downs reach trial 2
            await pilot.press("down", "down", "down", "down")
            await refresh(app, pilot)
            assert table.current_trial_id() == filled.trial_ids[2]
            assert detail.trial is not None and detail.trial["number"] == 2
            assert [e["val_accuracy"] for e in detail.epochs] == [0.6543, 0.7012]
            assert "0.6543" in detail.text and "0.7012" in detail.text
            assert "-8.00 (−P)" in detail.text  # reward breakdown shows the penalty
            await pilot.press("up")
            await refresh(app, pilot)
            assert detail.trial["number"] == 3
            assert "ResourceExhaustedError: OOM" in detail.text
            await pilot.press("enter")  # at 80x24: opens the trial pane
            await pilot.pause()
            assert app.current_pane == "detail"
            await pilot.press("1")
            await pilot.press("o", "o", "o")  # sort by val acc, highest first
            await pilot.pause()
            assert table.sort_column == "acc"
            assert str(table.get_row_at(0)[0]) == "4"
            await pilot.press("O")
            await pilot.pause()
            assert str(table.get_row_at(0)[0]) == "1"  # lowest known accuracy first

    asyncio.run(go())


def test_pause_then_resume_when_paused(filled: Filled) -> None:
    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(80, 24)) as pilot:
            await refresh(app, pilot)
            await pilot.press("p")
            assert [c["kind"] for c in filled.commands()] == ["pause"]
            s = filled.store()  # the engine's part: it pauses
            s.finish_command(filled.commands()[0]["id"], "done", "paused: no new trials start")
            s.update_run(filled.run_id, status="paused")
            s.close()
            await refresh(app, pilot)
            assert "PAUSED" in app.query_one(RunHeader).text
            assert ("information", "paused: no new trials start") in app.notices
            await pilot.press("p")
            assert [c["kind"] for c in filled.commands()] == ["pause", "resume"]

    asyncio.run(go())


def test_space_editor_checks_and_writes_one_edit(filled: Filled) -> None:
    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(80, 24)) as pilot:
            await refresh(app, pilot)
            await pilot.press("e")
            await pilot.pause()
            editor = app.screen
            assert isinstance(editor, SpaceEditor)
            apply = editor.query_one("#apply", Button)
            assert apply.disabled  # nothing changed yet
            editor.query_one("#low-lr", Input).value = "0.1"
            editor.query_one("#high-lr", Input).value = "0.001"
            await pilot.pause()
            err = str(editor.query_one("#error-lr").render())
            assert "empty range" in err and "low (0.1) must be below high (0.001)" in err
            assert apply.disabled
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert filled.commands() == []
            assert isinstance(app.screen, SpaceEditor)

            editor.query_one("#low-lr", Input).value = "1e-3"
            editor.query_one("#high-lr", Input).value = "abc"
            await pilot.pause()
            assert "not a number" in str(editor.query_one("#error-lr").render())
            assert apply.disabled
            editor.query_one("#high-lr", Input).value = "2e-3"
            editor.query_one("#log-lr", Checkbox).value = True
            await pilot.pause()
            assert not editor.query_one("#error-lr").display
            assert not apply.disabled
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert not isinstance(app.screen, SpaceEditor)
            cmds = filled.commands()
            assert [c["kind"] for c in cmds] == ["edit_space"]
            assert cmds[0]["payload"] == {
                "changes": {"lr": {"type": "real", "low": 0.001, "high": 0.002, "log": True}},
                "source": "ui",
            }
            # the engine refuses it: the user is told why
            s = filled.store()
            s.finish_command(cmds[0]["id"], "refused", "lr: nope")
            s.close()
            await refresh(app, pilot)
            assert ("error", "edit_space refused: lr: nope") in app.notices

            # rules: invalid JSON disables Apply, a valid change writes edit_rules
            await pilot.press("e")
            await pilot.pause()
            editor = app.screen
            area = editor.query_one("#rules")
            area.text = "[{"
            await pilot.pause()
            assert editor.query_one("#apply", Button).disabled
            assert "not valid JSON" in str(editor.query_one("#error-rules").render())
            area.text = json.dumps([{"name": "r", "when": {"lr": {">": 0.005}}, "penalty": 2}])
            await pilot.pause()
            assert not editor.query_one("#apply", Button).disabled
            await pilot.press("ctrl+s")
            await pilot.pause()
            cmds = filled.commands()
            assert [c["kind"] for c in cmds] == ["edit_space", "edit_rules"]
            assert cmds[1]["payload"]["rules"][0]["name"] == "r"

    asyncio.run(go())


def test_export_writes_what_hptui_export_prints(
    filled: Filled, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(80, 24)) as pilot:
            await refresh(app, pilot)
            await pilot.press("x")
            await pilot.pause()
            prompt = app.screen
            assert isinstance(prompt, ExportPrompt)
            # absolute, and the dialog names the trial it writes and how it was ranked
            assert prompt.query_one(Input).value == str(tmp_path / "hptui-run-1-best.json")
            what = str(prompt.query_one("#export-what", Label).render())
            assert "best trial, #4 score " in what
            hint = str(prompt.query_one("#export-hint", Label).render())
            assert f"relative to {tmp_path}" in hint and "·T − P: the reward under one set" in hint
            await pilot.press("enter")
            await pilot.pause()

    asyncio.run(go())
    s = Store(filled.db, readonly=True)
    expected = json.dumps(export_payload(s, filled.run_id), indent=2, ensure_ascii=False) + "\n"
    s.close()
    written = (tmp_path / "hptui-run-1-best.json").read_text()
    assert written == expected
    assert json.loads(written)["trial_number"] == 4


def test_stop_and_cancel_ask_first(filled: Filled) -> None:
    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(80, 24)) as pilot:
            await refresh(app, pilot)
            await pilot.press("c")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("s")  # the main screen's keys are off while asking
            await pilot.press("n")
            await pilot.pause()
            assert filled.commands() == []
            await pilot.press("c")
            await pilot.press("y")
            await pilot.press("s")
            await pilot.press("y")
            await pilot.pause()
            assert [c["kind"] for c in filled.commands()] == ["cancel", "stop"]

    asyncio.run(go())


def test_quit_asks_detach_or_stop_while_active(filled: Filled) -> None:
    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(80, 24)) as pilot:
            await refresh(app, pilot)
            await pilot.press("q")
            await pilot.pause()
            assert isinstance(app.screen, QuitPrompt)
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, QuitPrompt) and app.is_running
            await pilot.press("q")
            await pilot.press("s")
            await pilot.pause()
        assert [c["kind"] for c in filled.commands()] == ["stop"]

        s = filled.store()
        s.update_run(filled.run_id, status="finished", phase="done")
        s.close()
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(80, 24)) as pilot:
            await refresh(app, pilot)
            assert "FINISHED" in app.query_one(RunHeader).text
            await pilot.press("q")  # a finished run: no question
            await pilot.pause()
            assert not app.is_running
        assert [c["kind"] for c in filled.commands()] == ["stop"]

    asyncio.run(go())


def test_plot_ticks_are_whole_trial_numbers() -> None:
    from hptui.widgets.reward_plot import trial_ticks

    assert trial_ticks(1, 5) == [1, 2, 3, 4, 5]
    assert trial_ticks(1, 2) == [1, 2]  # plotext's own ticks were 1, 1.25, ... 2
    assert trial_ticks(3, 3) == [3]
    ticks = trial_ticks(1, 44)
    assert len(ticks) <= 6 and ticks[0] == 1 and ticks[-1] <= 44
    assert all(isinstance(t, int) for t in ticks)
