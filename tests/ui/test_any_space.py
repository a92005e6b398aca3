"""A run of a user's objective: a space of any names (unicode too) and kinds, and a metric to
minimize with bounds. The panes, the space editor, `show`, `runs`, `space` and `export` follow
that space and show the metric itself (the store holds its utility), under its own name; the
built-in LSTM's run keeps its columns and words."""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button, Input, Label

from engine.metric import Metric
from hptui.app import HptuiApp
from hptui.screens.space_editor import SpaceEditor
from hptui.view import MetricWords, config_text, metric_words, objective_label
from hptui.widgets.reward_plot import RewardPlot
from hptui.widgets.run_header import RunHeader
from hptui.widgets.trainers_pane import TrainersPane
from hptui.widgets.trial_detail import TrialDetail
from hptui.widgets.trials_table import TrialsTable, trial_cells
from storage.store import Store
from tests.faults.clitools import hptui

from .conftest import Filled, refresh

SPEC = "/home/someone/models/boost.py"  # an objective file, as a run stores its spec
METRIC = {"name": "val_loss", "direction": "minimize", "bounds": [0.0, 2.0]}
SPACE = {
    "学习率": {"type": "real", "low": 1e-4, "high": 1e-1, "log": True, "default": 1e-3},
    "n_trees": {"type": "integer", "low": 10, "high": 500, "log": False, "default": 100},
    "kind": {"type": "categorical", "choices": ["gbm", "rf"], "default": "gbm"},
}
# number: (学习率, n_trees, kind, val_loss or None while it runs)
TRIALS = {
    1: (1e-3, 100, "gbm", 0.9),
    2: (3.2e-2, 250, "rf", 0.5),  # the best: the lowest loss
    3: (2e-4, 40, "gbm", 1.3),
    4: (5e-3, 480, "rf", None),
}
LOSS = Metric.from_dict(METRIC)


@dataclass
class AnyRun:
    db: Path
    run_id: int
    ids: dict[int, int]  # number -> trial id

    def commands(self) -> list[dict[str, Any]]:
        s = Store(self.db, readonly=True)
        try:
            return s._rows("SELECT * FROM commands WHERE run_id = ? ORDER BY id", [self.run_id])
        finally:
            s.close()


@pytest.fixture
def any_run(tmp_path: Path) -> AnyRun:
    """A running run of the space above, written as the engine writes one."""
    db = tmp_path / "any.db"
    s = Store(db)
    now = time.time()
    run_id = s.create_run(
        status="running",
        phase="search",
        strategy="random",
        profile="quick",
        seed=1,
        workers=1,
        config={"strategy": "random", "objective": SPEC, "metric": METRIC},
        data_source="objective",
        data_reason="the objective loads its own data",
        device="cpu",
        precision="",
        planned_trials=8,
        engine_pid=os.getpid(),
        heartbeat=now,
        started_at=now - 30,
        progress={"finished": 3, "planned": 8, "running": 1, "workers": 1},
    )
    s.add_space_version(run_id, SPACE, [], "initial", "engine")
    ids = {}
    for number, (lr, trees, kind, loss) in TRIALS.items():
        tid, n = s.add_trial(
            run_id,
            {"学习率": lr, "n_trees": trees, "kind": kind},
            status="running",
            phase="search",
            strategy="random",
            space_version=1,
            max_epochs=2,
            alpha=0.9,
            beta=0.1,
            penalty=0.0,
            rules_fired=[],
            worker=0,
        )
        assert n == number
        ids[number] = tid
        if loss is not None:
            u = LOSS.utility(loss)
            s.update_trial(
                tid, status="finished", val_accuracy=u, est_accuracy=u - 0.01, seconds=1.0,
                reward=90 * u - 0.01, score=60 * u - 0.04, epochs_run=2, finished_at=now,
            )  # fmt: skip
            for epoch, e_loss in ((1, loss + 0.2), (2, loss)):
                s.add_epoch(
                    run_id, tid, epoch=epoch, val_accuracy=LOSS.utility(e_loss), seconds=0.5
                )
    s.set_worker(run_id, 0, trial_id=ids[4], epoch=1, epochs=2, batch=0, batches=1)
    s.close()
    return AnyRun(db, run_id, ids)


def _labels(table: TrialsTable) -> list[str]:
    return [str(c.label) for c in table.ordered_columns]


def test_the_panes_show_the_space_and_the_metric(any_run: AnyRun) -> None:
    async def go() -> None:
        app = HptuiApp(str(any_run.db), any_run.run_id)
        async with app.run_test(size=(200, 48)) as pilot:
            await refresh(app, pilot)
            table = app.query_one(TrialsTable)
            labels = _labels(table)
            assert labels[:9] == [
                "#", "★", "status", "phase", "val_loss", "score", "reward", "pen", "sec",
            ]  # fmt: skip
            assert labels[9:12] == ["学习率", "n_trees", "kind"]
            assert "units" not in labels and "opt" not in labels
            row = [str(c) for c in table.get_row(str(any_run.ids[2]))]
            # the loss itself, not its utility (0.75), and each value by its kind
            assert row[4] == "0.5000" and "0.7500" not in row
            assert row[9:12] == ["3.20e-02", "250", "rf"]
            running = [str(c) for c in table.get_row(str(any_run.ids[4]))]
            assert running[4] == "-" and running[9:12] == ["5.00e-03", "480", "rf"]

            # sorted by the metric shown: the lowest loss first
            table.set_sort("acc", False)
            await pilot.pause()
            assert str(table.get_row_at(0)[4]) == "0.5000"
            assert "sorted by val_loss ↑" in str(table.border_subtitle)

            header = app.query_one(RunHeader).text
            assert "boost.py · random" in header and "best #2 score" in header
            assert "(val_loss 0.5000)" in header

            plot = app.query_one(RewardPlot)
            assert plot.plot_title.startswith("val_loss per trial")
            assert plot.series["val acc"] == pytest.approx([0.9, 0.5, 1.3])  # the losses
            assert plot.series["best so far"] == pytest.approx([0.9, 0.5, 0.5])  # the lowest
            assert plot.best_y == pytest.approx(0.5)
            assert plot.ylim[0] <= 0.5 and plot.ylim[1] >= 1.3
            assert "val_loss" in str(app.panes["reward"].border_title)

            table.move_cursor(row=table.get_row_index(str(any_run.ids[2])))
            await pilot.pause(0.2)
            detail = app.query_one(TrialDetail).text
            assert "学习率" in detail and "3.20e-02" in detail and "250" in detail
            assert "val_loss" in detail and "0.5000" in detail and "0.7000" in detail
            assert "val acc" not in detail and "100·α·u" in detail

            bars = app.query_one(TrainersPane).bars
            await pilot.pause(0.1)
            conf = str(bars[0].query_one(".worker-config", Label).render())
            assert conf == "学习率=5.00e-03 · n_trees=480 · kind=rf"

    asyncio.run(go())


def test_the_space_editor_edits_a_unicode_dimension(any_run: AnyRun) -> None:
    async def go() -> None:
        app = HptuiApp(str(any_run.db), any_run.run_id)
        async with app.run_test(size=(100, 36)) as pilot:
            await refresh(app, pilot)
            await pilot.press("e")
            await pilot.pause()
            editor = app.screen
            assert isinstance(editor, SpaceEditor)
            # 学习率 is no widget id: its fields go by its place; the others by their names
            assert editor.query_one("#dim-dim0").dim_name == "学习率"
            assert editor.query_one("#type-n_trees").value == "integer"
            assert editor.query_one("#low-n_trees", Input).value == "10"
            assert editor.query_one("#type-kind").value == "categorical"
            apply = editor.query_one("#apply", Button)
            assert apply.disabled

            editor.query_one("#high-dim0", Input).value = "1e-5"  # below low
            await pilot.pause()
            err = str(editor.query_one("#error-dim0").render())
            assert "学习率" in err and "empty range" in err and apply.disabled

            editor.query_one("#high-dim0", Input).value = "0.05"
            editor.query_one("#high-n_trees", Input).value = "2.5"  # not whole
            await pilot.pause()
            assert "n_trees" in str(editor.query_one("#error-n_trees").render())
            assert apply.disabled
            editor.query_one("#high-n_trees", Input).value = "300"
            await pilot.pause()
            assert not editor.query_one("#error-dim0").display
            assert not apply.disabled
            status = str(editor.query_one("#editor-status", Label).render())
            assert status == "will change: 学习率, n_trees"
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert not isinstance(app.screen, SpaceEditor)
            cmds = any_run.commands()
            assert [c["kind"] for c in cmds] == ["edit_space"]
            assert cmds[0]["payload"]["changes"] == {
                "学习率": {"type": "real", "low": 1e-4, "high": 0.05, "log": True},
                "n_trees": {"type": "integer", "low": 10, "high": 300, "log": False},
            }

    asyncio.run(go())


def test_show_space_runs_and_export_name_the_space_and_the_metric(
    any_run: AnyRun, tmp_path: Path
) -> None:
    db, rid = str(any_run.db), str(any_run.run_id)
    out = hptui("show", rid, "--db", db)
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert f"objective: {SPEC}; metric val_loss (minimize, bounds 0..2)" in text
    assert "best val_loss" in text and "top val acc" not in text  # the phase table's column
    assert "best: trial 2 (space v1), est val_loss 0.5200 (measured val_loss 0.5000)" in text
    assert '{"学习率": 0.032, "n_trees": 250, "kind": "rf"}' in text
    assert "60·u − 0.04·T − P" in text and "u = the utility of val_loss v: (2 − v)" in text
    assert "best val_loss so far" in out.stdout  # the plot, where no PPO ran

    out = hptui("space", rid, "--db", db)
    assert out.returncode == 0, out.stderr
    rows = {line.split("│")[1].strip(): line for line in out.stdout.splitlines() if "│" in line}
    assert "real, log" in rows["学习率"] and "1.00e-03" in rows["学习率"]
    assert "integer" in rows["n_trees"] and "10..500" in rows["n_trees"]
    assert "categorical (text)" in rows["kind"] and "{gbm, rf}" in rows["kind"]

    out = hptui("runs", "--db", db)
    assert out.returncode == 0, out.stderr
    head, row = out.stdout.splitlines()[1:3]
    assert "est acc" not in head and "value" in head and "objective" in head
    assert "0.5200" in row and "0.5000" in row and "boost.py" in row
    assert "val_loss (minimize, bounds 0..2)" in row

    out = hptui("export", rid, "--db", db)
    assert out.returncode == 0, out.stderr
    assert '"学习率": 0.032' in out.stdout  # written as it is, not escaped
    data = json.loads(out.stdout)
    assert data["objective"] == SPEC
    assert data["hyperparameters"] == {"学习率": 0.032, "n_trees": 250, "kind": "rf"}
    assert data["metric"]["name"] == "val_loss" and data["metric"]["direction"] == "minimize"
    assert data["metric"]["bounds"] == [0.0, 2.0]
    assert data["metric"]["value"] == pytest.approx(0.5)
    assert data["val_accuracy"] == pytest.approx(0.75)  # the utility, as stored
    assert data["retrain"]["vocab_size"] is None  # the objective loads its own data

    target = tmp_path / "best.json"
    out = hptui("export", rid, "--db", db, "-o", str(target))
    assert out.returncode == 0, out.stderr
    assert json.loads(target.read_text(encoding="utf-8")) == data


def test_the_lstm_run_keeps_its_columns(filled: Filled) -> None:
    async def go() -> None:
        app = HptuiApp(str(filled.db), filled.run_id)
        async with app.run_test(size=(200, 48)) as pilot:
            await refresh(app, pilot)
            table = app.query_one(TrialsTable)
            assert _labels(table) == [
                "#", "★", "status", "phase", "val acc", "score", "reward", "pen", "sec",
                "lr", "batch", "units", "lay", "drop", "emb", "opt", "ep/tr/st", "v",
            ]  # fmt: skip
            row = [str(c) for c in table.get_row(str(filled.trial_ids[4]))]
            assert row[4:9] == ["0.7345", "43.75", "66.03", "0", "8.0"]
            assert row[9:16] == ["4.00e-03", "32", "64", "1", "0.30", "128", "adam"]
            assert str(app.panes["reward"].border_title) == "3 Accuracy"
            conf = app.query_one(TrainersPane).bars[0].query_one(".worker-config", Label)
            await pilot.pause(0.1)
            assert str(conf.render()).startswith("lr 6.0e-03 · batch 32 · 1×64 LSTM · drop 0.30")

    asyncio.run(go())


def test_words_of_a_metric() -> None:
    acc = metric_words({"config": {}})
    assert acc.is_accuracy and acc.short == "val acc" and acc.fmt(0.7345) == "0.7345"
    loss = metric_words({"config": {"metric": METRIC}})
    assert (loss.short, loss.est, loss.test, loss.symbol) == (
        "val_loss", "est val_loss", "test val_loss", "u",
    )  # fmt: skip
    assert loss.fmt(0.75) == "0.5000" and loss.fmt(None) == "-"
    big = MetricWords(Metric("neg_rmse", "maximize", (-5000.0, 0.0)))
    assert big.fmt(0.5) == "-2500.0" and big.fmt(1.0) == "0.0"
    damaged = metric_words({"config": {"metric": {"name": "x", "direction": "minimize",
                                                  "bounds": [1, 1]}}})  # fmt: skip
    assert damaged.is_accuracy  # an empty range cannot be shown: as the accuracy
    assert objective_label("/a/b/model.py:build") == "model.py:build"
    assert objective_label("/a/b/model.py:objective") == "model.py"
    assert objective_label("pkg.mod:obj") == "pkg.mod:obj" and objective_label("digits") == "digits"
    assert config_text({"b": 2, "a": 0.5}, {"a": {"type": "real"}, "b": {}}) == "a=0.5 · b=2"


def test_a_row_of_a_trial_written_without_its_configuration() -> None:
    """Rows written by hand (as some tests do) carry the LSTM's values as columns."""
    cells = trial_cells({"number": 1, "lr": 1e-3, "optimizer": "sgd", "val_accuracy": 0.5})
    assert cells["lr"].plain == "1.00e-03" and cells["opt"].plain == "sgd"
    assert cells["acc"].plain == "0.5000" and cells["units"].plain == "-"
