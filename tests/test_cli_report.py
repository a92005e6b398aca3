"""What `runs`, `show`, `export`, `--help` and the headless view tell about a run."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from rich.console import Console

from hptui import cli
from hptui.headless import HeadlessView
from hptui.view import elapsed_s
from storage.store import Store
from tests.faults.clitools import hptui, make_run

LONG_SOURCE = "aclImdb:/data/a/rather/long/path/to/the/reviews/aclImdb_v1.tar.gz"


@pytest.fixture
def store_with_trials(tmp_path: Path) -> tuple[Path, int]:
    db = tmp_path / "s.db"
    run_id = make_run(db)
    s = Store(db)
    try:
        s.update_run(
            run_id,
            data_source=LONG_SOURCE,
            precision="float32",
            phase="search",
        )
        rows = [  # (val acc, est acc, score, epochs, status)
            (0.80, 0.71, 39.0, 2, "finished"),  # a penalty: the highest val acc, not the best
            (0.74, 0.78, 41.0, 2, "finished"),  # best by score, the one ranking
            (None, None, None, 1, "failed"),
        ]
        for val, est, score, epochs, status in rows:
            tid, _ = s.add_trial(
                run_id,
                {"lr": 1e-3, "optimizer": "adam"},
                phase="search",
                strategy="random",
                max_epochs=2,
                status="running",
                space_version=1,
            )
            s.update_trial(
                tid,
                status=status,
                val_accuracy=val,
                est_accuracy=est,
                score=score,
                reward=None if val is None else 60 * val,
                epochs_run=epochs,
                seconds=3.0,
            )
    finally:
        s.close()
    return db, run_id


def test_runs_shows_the_best_trial_by_the_one_ranking_whole_in_a_pipe(
    store_with_trials: tuple[Path, int],
) -> None:
    db, run_id = store_with_trials
    out = hptui("runs", "--db", str(db), env={"COLUMNS": "80"})
    assert out.returncode == 0, out.stderr
    head, row = out.stdout.splitlines()[1:3]
    for col in ("best #", "est acc", "val acc", "epochs"):
        assert col in head
    assert "best reward" not in out.stdout
    assert LONG_SOURCE in row and "…" not in out.stdout
    cells = row.split()
    assert cells[8:12] == ["2", "0.7800", "0.7400", "5"], row  # best #2, its numbers, 5 epochs


def test_runs_on_an_80_column_terminal_cuts_nothing(
    store_with_trials: tuple[Path, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, _ = store_with_trials
    buf = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=buf, width=80, force_terminal=True))
    assert cli.main(["runs", "--db", str(db)]) == 0
    text = buf.getvalue()
    flat = "".join(line.rstrip() for line in text.splitlines())
    assert "…" not in text
    assert LONG_SOURCE.replace(" ", "") in flat.replace(" ", "")
    assert all(len(line) <= 80 for line in text.splitlines())


def test_help_does_not_list_the_internal_engine_command() -> None:
    out = hptui("--help")
    assert out.returncode == 0
    assert "SUPPRESS" not in out.stdout
    listed = [line.split()[0] for line in out.stdout.splitlines() if line.startswith("    ")]
    assert "runs" in listed and "engine" not in listed


def test_show_says_epochs_trained_and_what_best_means(store_with_trials: tuple[Path, int]) -> None:
    db, run_id = store_with_trials
    out = hptui("show", str(run_id), "--db", str(db))
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "epochs trained: 5" in text
    assert "best: trial 2" in text and "est acc 0.7800 (measured val acc 0.7400)" in text
    assert "best = highest score (the reward under the run's final weights" in text
    # The phase table's column maxima are not called "best": the run has one best.
    assert "top val" in text and "best val" not in text and "best reward" not in text


def test_export_holds_what_retraining_needs(store_with_trials: tuple[Path, int]) -> None:
    db, run_id = store_with_trials
    out = hptui("export", str(run_id), "--db", str(db))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["trial_number"] == 2
    assert data["est_accuracy"] == pytest.approx(0.78) and data["val_accuracy"] == 0.74
    retrain = data["retrain"]
    assert retrain["vocab_size"] == 2000 and retrain["max_len"] == 40 and retrain["epochs"] == 1
    assert retrain["precision"] == "float32" and retrain["data_source"] == LONG_SOURCE
    assert data["trials"] == {"search": 3, "finished": 2, "failed": 1, "pruned": 0}
    assert data["pruned_trials"] == 0 and data["pruner"] == {"kind": "none"}


def test_headless_elapsed_counts_from_the_stored_start(store_with_trials: tuple[Path, int]) -> None:
    db, run_id = store_with_trials
    s = Store(db, readonly=True)
    try:
        run = s.run(run_id)
    finally:
        s.close()
    # Whatever an engine's own clock says (a resume restarts it), the stored start counts.
    first = elapsed_s(run, time.time())
    second = elapsed_s(run, time.time())
    assert second >= first >= time.time() - run["started_at"] - 1


def test_headless_view_reads_the_run_from_the_store(store_with_trials: tuple[Path, int]) -> None:
    """The headless view draws what the store holds (as the UI does), from any tick."""
    db, run_id = store_with_trials
    s = Store(db)
    try:
        s.update_run(
            run_id,
            status="running",
            phase="search",
            progress={"finished": 2, "failed": 1, "planned": 4, "running": 1, "workers": 2,
                      "eta_s": 125.0},
        )  # fmt: skip
    finally:
        s.close()
    out = io.StringIO()
    with HeadlessView(db, run_id, Console(file=out, width=200)) as view:
        view.update()  # no engine needed
    text = out.getvalue()
    assert f"run {run_id} search 3/4 [running]" in text
    assert "trials 3/4 (1 failed, 1/2 running)" in text
    assert "best #2 score 41.00 (val acc 0.7400)" in text  # the header's words
    assert "remaining ~2:05" in text
    assert f"data {LONG_SOURCE}" in text


def test_headless_view_names_the_chosen_configuration_after_the_confirmation(
    store_with_trials: tuple[Path, int],
) -> None:
    """Once the stage has measured again, the line names what the run recommends (the mean
    of repeated measurements, engine.choice), not the luckiest single measurement."""
    db, run_id = store_with_trials
    s = Store(db)
    try:
        s.update_run(run_id, status="running", phase="confirm")
        lucky = {"lr": 1e-3, "optimizer": "adam"}
        steady = {"lr": 3e-3, "optimizer": "adam"}
        for config, acc, phase in [(steady, 0.73, "search"), (steady, 0.75, "confirm"),
                                   (lucky, 0.60, "confirm")]:  # fmt: skip
            tid, _ = s.add_trial(run_id, config, phase=phase, strategy="random", max_epochs=2,
                                 status="running", space_version=1)  # fmt: skip
            s.update_trial(tid, status="finished", val_accuracy=acc, epochs_run=2, seconds=3.0,
                           **({"score": 60 * acc} if phase == "search" else {}))  # fmt: skip
    finally:
        s.close()
    out = io.StringIO()
    with HeadlessView(db, run_id, Console(file=out, width=200)) as view:
        view.update()
    text = out.getvalue()
    assert "chosen #4 (mean val acc 0.7400 of 2)" in text and "best #2" not in text


@pytest.fixture
def store_with_pruning(tmp_path: Path) -> tuple[Path, int]:
    """A run created with ASHA, switched to median stopping, with two trials pruned."""
    db = tmp_path / "p.db"
    run_id = make_run(db, pruner="asha")
    s = Store(db)
    try:
        s.update_run(run_id, precision="float32", phase="search")
        s.add_pruner_version(run_id, {"kind": "asha"}, "ASHA (rungs from epoch 1)", "engine")
        median = {"kind": "median", "warmup_trials": 2}
        s.add_pruner_version(run_id, median, "median stopping (after 2 finished trials)", "cli")
        for status, epochs in (("finished", 3), ("pruned", 1), ("pruned", 2), ("failed", 1)):
            tid, _ = s.add_trial(
                run_id,
                {"lr": 1e-3, "optimizer": "adam"},
                phase="search",
                strategy="random",
                max_epochs=3,
                status="running",
                space_version=1,
            )
            s.update_trial(
                tid,
                status=status,
                val_accuracy=None if status == "failed" else 0.7 + 0.01 * epochs,
                est_accuracy=0.75 if status == "finished" else None,
                epochs_run=epochs,
                seconds=epochs * 1.0,
            )
    finally:
        s.close()
    return db, run_id


def test_show_prints_the_pruner_pruned_trials_and_epochs_saved(
    store_with_pruning: tuple[Path, int],
) -> None:
    db, run_id = store_with_pruning
    out = hptui("show", str(run_id), "--db", str(db))
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    # 2 pruned trials after 1 and 2 of 3 epochs: 2 + 1 epochs spared
    assert "pruner: median stopping (after 2 finished trials) (version 2)" in text
    assert "2 trials pruned, 3 epochs saved" in text
    assert "pruned" in out.stdout.splitlines()[2]  # the per-phase table counts them too


def test_show_before_the_engine_started_names_the_pruner_asked_for(tmp_path: Path) -> None:
    db = tmp_path / "n.db"
    run_id = make_run(db, pruner="asha")
    out = hptui("show", str(run_id), "--db", str(db))
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "pruner: asha (as the run was created; its engine has not started)" in text
    assert "0 trials pruned, 0 epochs saved" in text


def test_runs_lists_the_pruner_pruned_trials_and_epochs_saved(
    store_with_pruning: tuple[Path, int],
) -> None:
    db, _ = store_with_pruning
    out = hptui("runs", "--db", str(db))
    assert out.returncode == 0, out.stderr
    head, row = out.stdout.splitlines()[1:3]
    names = head.split()
    for col in ("pruner", "pruned", "saved"):
        assert col in names
    # the row has one cell more than the header (the start's date and time are two words)
    cells = row.split()
    assert cells[12:15] == ["median", "2", "3"], row
    assert "pruned: trials the pruner stopped early" in out.stdout


def test_export_holds_the_pruned_trials_and_the_pruner(
    store_with_pruning: tuple[Path, int],
) -> None:
    db, run_id = store_with_pruning
    out = hptui("export", str(run_id), "--db", str(db))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["pruned_trials"] == 2 and data["epochs_saved_by_pruning"] == 3
    assert data["pruner"] == {"kind": "median", "warmup_trials": 2}
    assert data["trials"] == {"search": 4, "finished": 1, "failed": 1, "pruned": 2}
    assert data["trial_number"] == 1  # a pruned trial is never the best


def test_the_best_so_far_line_keeps_only_its_corners() -> None:
    """`show` plots the highest accuracy so far through its corners only: every point lies on
    the per-trial line, and between two points the line is flat or rises in one trial."""
    import random

    from hptui.report import best_so_far

    rng = random.Random(1)
    accs = [rng.random() for _ in range(2000)]
    running = [max(accs[: i + 1]) for i in range(len(accs))]
    xs, ys = best_so_far(accs)
    assert xs[0] == 1 and xs[-1] == len(accs) and len(xs) < 50
    assert all(running[x - 1] == y for x, y in zip(xs, ys, strict=True))
    pairs = zip(zip(xs, ys, strict=True), zip(xs[1:], ys[1:], strict=True), strict=False)
    assert all(y0 == y1 or x1 == x0 + 1 for (x0, y0), (x1, y1) in pairs)
    assert best_so_far([]) == ([], []) and best_so_far([0.0, 0.0]) == ([1, 2], [0.0, 0.0])


@pytest.fixture
def store_with_confirmation(tmp_path: Path) -> tuple[Path, int]:
    """A lucky single measurement (trial 1) and a configuration measured better again and
    again by the confirmation stage (trial 2); the default measured twice."""
    from engine.space import DEFAULT_CONFIG

    db = tmp_path / "c.db"
    run_id = make_run(db)
    lucky, steady = {**DEFAULT_CONFIG, "lr": 3e-3}, {**DEFAULT_CONFIG, "lstm_units": 128}
    rows = [  # (config, phase, val acc)
        (lucky, "search", 0.80),
        (steady, "search", 0.78),
        (lucky, "confirm", 0.74),
        (steady, "confirm", 0.78),
        (DEFAULT_CONFIG, "confirm", 0.75),
        (DEFAULT_CONFIG, "confirm", 0.76),
    ]
    s = Store(db)
    try:
        s.update_run(run_id, phase="done", status="finished")
        for config, phase, val in rows:
            tid, _ = s.add_trial(
                run_id, config, phase=phase, strategy="random", max_epochs=2,
                status="running", space_version=1, penalty=0.0,
            )  # fmt: skip
            score = 60 * val if phase == "search" else None
            s.update_trial(
                tid, status="finished", val_accuracy=val, score=score, epochs_run=2, seconds=3.0
            )
    finally:
        s.close()
    return db, run_id


def test_show_runs_and_export_give_the_configuration_chosen_by_repeated_measurements(
    store_with_confirmation: tuple[Path, int],
) -> None:
    db, run_id = store_with_confirmation
    out = hptui("show", str(run_id), "--db", str(db))
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "confirm" in text  # the phase table has the stage's row
    assert "chosen: trial 2, mean val acc 0.7800 of 2 measurements (default 0.7550 of 2)" in text
    data = json.loads(hptui("export", str(run_id), "--db", str(db)).stdout)
    assert data["trial_number"] == 2 and data["chosen"]["measurements"] == 2
    assert data["hyperparameters"]["lstm_units"] == 128
    assert data["trials"]["search"] == 2  # the stage's trials are not search trials
    row = hptui("runs", "--db", str(db), env={"COLUMNS": "80"}).stdout.splitlines()[2]
    assert row.split()[8:11] == ["2", "-", "0.7800"], row
