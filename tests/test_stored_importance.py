"""Which hyperparameters matter, stored by the engine as a run goes (engine.trials, on the
estimates' thread) and printed by `hptui show` from the store, "as of" the trials it was
computed from; a run without one (of an hptui before) has it computed by `show` itself."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from engine.config import RunConfig
from engine.estimates import EstimateThread
from engine.importance import MIN_TRIALS, READ_MAX, record
from engine.profiles import PROFILES
from engine.runner import Engine
from engine.setup import create_run
from engine.space import SearchSpace, default_space
from engine.trials import TrialBook
from storage.store import Store
from tests.conftest import FAKE_TRAINER, REPO
from tests.faults.clitools import hptui, make_run, write
from tests.test_cli_matters import add_search_trials, matters_rows

# Shares no fit of the trials below gives (their score is the learning rate's): printed as
# they are, they show that `show` read them rather than fitting.
PLANTED = {
    "lr": 0.05,
    "batch_size": 0.0,
    "lstm_units": 0.0,
    "dropout": 0.0,
    "embed_dim": 0.875,
    "lstm_layers": 0.0,
    "optimizer": 0.075,
}


def plant(db: Path, run_id: int, *, finished: int, space_version: int = 1) -> None:
    s = Store(db)
    try:
        s.set_importance(
            run_id, space_version=space_version, finished=finished, trials_read=finished,
            metric="score", measured=finished, fitted=finished, shares=PLANTED,
        )  # fmt: skip
    finally:
        s.close()


def show_importing(db: Path, run_id: int) -> tuple[subprocess.CompletedProcess[str], str]:
    """`hptui show` as its own process, and the modules it imported (python -X importtime)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hptui.cli", "show", str(run_id),
         "--db", str(db)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"},
    )  # fmt: skip
    return done, done.stderr


@pytest.fixture
def decided(tmp_path: Path) -> tuple[Path, int]:
    db = tmp_path / "s.db"
    run_id = make_run(db)
    add_search_trials(db, run_id, 40)
    return db, run_id


def test_the_store_keeps_one_importance_per_run(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    run_id = make_run(db)
    s = Store(db)
    try:
        assert s.importance(run_id) is None
        s.set_importance(run_id, space_version=1, finished=9, trials_read=9, metric="score")
        row = s.importance(run_id)
        assert row is not None and row["shares"] is None and row["finished"] == 9
        s.for_run(run_id).set_importance(
            space_version=2, finished=20, trials_read=20, metric="val_accuracy", measured=19,
            fitted=19, shares=PLANTED,
        )  # fmt: skip
        row = s.for_run(run_id).importance()
        assert row is not None and (row["space_version"], row["finished"]) == (2, 20)
        assert row["shares"] == PLANTED and list(row["shares"]) == list(PLANTED)
        assert (row["metric"], row["measured"], row["fitted"]) == ("val_accuracy", 19, 19)
        assert s.conn.execute("SELECT count(*) FROM importance").fetchone()[0] == 1
    finally:
        s.close()


def test_show_prints_the_stored_importance_without_fitting(decided: tuple[Path, int]) -> None:
    db, run_id = decided
    plant(db, run_id, finished=40)
    out, imports = show_importing(db, run_id)
    assert out.returncode == 0, out.stderr[-3000:]
    title = " ".join(out.stdout.split())
    assert "share of the score's variation, 40 trials" in title
    assert "as of 40 finished search trials" in title and "(now" not in title
    rows = matters_rows(out.stdout)
    # the planted shares, not the fit's (which puts lr first, above 60%)
    assert [(r[0], r[2]) for r in rows[:3]] == [
        ("embed_dim", "87.5%"), ("optimizer", "7.5%"), ("lr", "5.0%")
    ]  # fmt: skip
    assert rows[0][3] == "{64, 128, 256}"
    assert "sklearn" not in imports and "scipy" not in imports and "tensorflow" not in imports


def test_show_says_how_many_trials_finished_since(decided: tuple[Path, int]) -> None:
    db, run_id = decided
    plant(db, run_id, finished=30)
    out = hptui("show", str(run_id), "--db", str(db))
    assert out.returncode == 0, out.stderr
    assert "as of 30 finished search trials (now 40)" in " ".join(out.stdout.split())
    assert matters_rows(out.stdout)[0][0] == "embed_dim"


def test_show_computes_it_where_the_stored_one_is_of_another_space_version(
    decided: tuple[Path, int],
) -> None:
    db, run_id = decided
    plant(db, run_id, finished=40, space_version=0)
    out = hptui("show", str(run_id), "--db", str(db))
    assert out.returncode == 0, out.stderr
    assert "as of" not in out.stdout
    rows = matters_rows(out.stdout)
    assert rows[0][0] == "lr" and float(rows[0][2].rstrip("%")) > 60  # fitted here


def test_show_slices_with_a_stored_importance(decided: tuple[Path, int]) -> None:
    db, run_id = decided
    plant(db, run_id, finished=40)
    out = hptui("show", str(run_id), "--slices", "--db", str(db), env={"COLUMNS": "90"})
    assert out.returncode == 0, out.stderr
    assert matters_rows(out.stdout)[0][0] == "embed_dim"
    plots = [n for n in default_space().names if f"score against {n}, now" in out.stdout]
    assert sorted(plots) == sorted(default_space().names)
    # in the table's order: most important first
    assert out.stdout.index("against embed_dim") < out.stdout.index("against lr")


def test_an_old_store_without_the_table_migrates_and_show_computes_it(
    decided: tuple[Path, int],
) -> None:
    db, run_id = decided
    write(db, "DROP TABLE importance")  # as an hptui before this table wrote it
    write(db, "PRAGMA user_version = 11")
    out, imports = show_importing(db, run_id)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "migrated to schema" in out.stderr
    assert "share of the score's variation, 40 trials" in " ".join(out.stdout.split())
    assert "as of" not in out.stdout
    rows = matters_rows(out.stdout)
    assert rows[0][0] == "lr" and float(rows[0][2].rstrip("%")) > 60
    assert "sklearn" in imports  # fitted here: the one case that loads it
    s = Store(db, readonly=True)
    try:
        assert s.importance(run_id) is None  # `show` writes nothing
    finally:
        s.close()


def _finish_trial(s: Store, run_id: int, cfg: dict, acc: float) -> None:
    tid, _ = s.add_trial(
        run_id, cfg, phase="search", strategy="random", status="running", space_version=1,
        max_epochs=1,
    )  # fmt: skip
    s.update_trial(
        tid, status="finished", val_accuracy=acc, score=60 * acc, seconds=1.0, epochs_run=1
    )


class CountingThread(EstimateThread):
    """The estimates' thread, noting the finished trials of each importance asked for."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.asked: list[int] = []

    def request_importance(self, space: SearchSpace, trials: list[Any], **context: Any) -> None:
        self.asked.append(context["finished"])
        super().request_importance(space, trials, **context)


def test_the_engine_computes_it_as_trials_finish_and_whole_at_the_end(tmp_path: Path) -> None:
    import numpy as np

    db = tmp_path / "s.db"
    run_id = make_run(db)
    space = default_space()
    rng = np.random.default_rng(1)
    s = Store(db)
    book = TrialBook(s, run_id)
    book._estimates = counting = CountingThread(seed=0)  # it still computes what it is asked
    try:
        for _ in range(30):
            cfg = space.sample(rng)
            _finish_trial(s, run_id, cfg, 0.6 + 0.1 * float(np.log10(cfg["lr"] / 1e-4)))
            book.update_estimates(space, 0, 1)
            book.write_estimates()
        # from MIN_TRIALS on, after each result while a tenth of them is under one, then
        # once they grew by a tenth
        assert counting.asked == [*range(MIN_TRIALS, 21), 22, 24, 26, 28, 30]
        book.close(wait=True)  # the search's end: the importance of every finished trial
        row = s.importance(run_id)
        assert row is not None and (row["finished"], row["space_version"]) == (30, 1)
        want = record(s.search_results(run_id, READ_MAX), space)
        assert row["shares"] == pytest.approx(want["shares"])
        assert max(row["shares"], key=row["shares"].get) == "lr"
        assert (row["metric"], row["trials_read"], row["fitted"]) == ("score", 30, 30)
    finally:
        book.close()
        s.close()


def test_a_finished_run_has_it_stored_and_show_prints_that(
    tmp_path: Path, cache_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = PROFILES["tiny"]
    monkeypatch.setitem(PROFILES, "tiny", replace(tiny, trials_override=10, confirm_candidates=0))
    db = tmp_path / "e.db"
    s = Store(db)
    run_id = create_run(
        s,
        RunConfig(strategy="random", profile="tiny", data="sample", workers=2, seed=3,
                  final_validation=False),
    )  # fmt: skip
    s.close()
    assert Engine(db, run_id, trainer=FAKE_TRAINER).run() == "finished"
    s = Store(db, readonly=True)
    try:
        finished = s.search_counts(run_id)["finished"]
        assert finished == 10
        row = s.importance(run_id)
        assert row is not None and (row["finished"], row["space_version"]) == (10, 1)
        cur = s.current_space(run_id)
        assert cur is not None
        want = record(s.search_results(run_id, READ_MAX), SearchSpace.from_dict(cur["space"]))
        assert want["shares"] is not None and row["shares"] == pytest.approx(want["shares"])
    finally:
        s.close()
    out, imports = show_importing(db, run_id)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "as of 10 finished search trials" in " ".join(out.stdout.split())
    top = max(want["shares"], key=want["shares"].get)
    assert matters_rows(out.stdout)[0][0] == top
    assert "sklearn" not in imports
