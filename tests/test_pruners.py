"""Learning-curve pruning: the rules against hand-computed curves (and against Optuna's own
pruners where Optuna is installed), the store's migration to the `pruned` status, epoch
budgets of random and grid search, and the engine stopping a trial after an epoch."""

from __future__ import annotations

import dataclasses
import math
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.config import RunConfig
from engine.profiles import PROFILES
from engine.pruners import (
    Curve,
    PrunerSettings,
    asha_promotable,
    asha_prune,
    asha_rungs,
    decide,
    decision_epochs,
    median_prune,
)
from engine.runner import Engine
from engine.setup import create_run
from engine.space import SpaceError, default_space
from engine.strategies.base import Outcome
from engine.strategies.grid import GridSearch
from engine.strategies.random_search import RandomSearch
from engine.trainer import TrialResult, TrialTask
from storage.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION
from storage.store import Store

CURVE_TRAINER = "tests.test_pruners:curve_train"


def curve_accuracy(config: dict[str, Any], epoch: int) -> float:
    """A deterministic learning curve: a level set by lr and dropout, rising by 0.03 an epoch."""
    lr, dropout = float(config["lr"]), float(config["dropout"])
    return 0.85 - 0.06 * (math.log10(lr) + 3) ** 2 - (dropout - 0.3) ** 2 + 0.03 * (epoch - 1)


def curve_train(
    task: TrialTask, data: Any, progress: Any = None, *, vocab_size: int, device: str = "",
    precision: str = "",
) -> TrialResult:  # fmt: skip
    """A trainer double that honours the engine's verdicts: it stops after an epoch when its
    report of that epoch returns true. $HPTUI_FAULT_SLEEP: seconds per epoch (default 0.05);
    $HPTUI_PRUNE_TAIL_S: seconds it lingers after being told to stop (a window to kill in)."""
    progress = progress or (lambda _m: None)
    per_epoch = float(os.environ.get("HPTUI_FAULT_SLEEP", "0.05"))
    history = []
    for e in range(1, task.epochs + 1):
        time.sleep(per_epoch)
        acc = curve_accuracy(task.config, e)
        m = {"loss": 1 - acc, "accuracy": acc, "val_loss": 1 - acc, "val_accuracy": acc}
        history.append(m)
        stop = progress(
            {"kind": "epoch", "trial_id": task.trial_id, "epoch": e, **m, "seconds": per_epoch}
        )
        if stop:
            time.sleep(float(os.environ.get("HPTUI_PRUNE_TAIL_S", "0")))
            break
    last = history[-1]
    return TrialResult(
        trial_id=task.trial_id,
        val_accuracy=last["val_accuracy"],
        val_loss=last["val_loss"],
        seconds=per_epoch * len(history),
        epochs_run=len(history),
        best_epoch=len(history),
        history=history,
        test_accuracy=last["val_accuracy"] if task.evaluate_test else None,
        precision="float32",
        device="cpu",
    )


# Five finished curves. At epoch 1: 0.60 0.65 0.70 0.72 0.80 -> median 0.70.
# At epoch 2: 0.70 0.74 0.75 0.78 0.82 -> median 0.75.
FINISHED = [
    {1: 0.70, 2: 0.75},
    {1: 0.72, 2: 0.78},
    {1: 0.60, 2: 0.70},
    {1: 0.80, 2: 0.82},
    {1: 0.65, 2: 0.74},
]


# --- median stopping -------------------------------------------------------------------------
def test_median_prunes_below_the_median_at_that_epoch() -> None:
    assert median_prune({1: 0.69}, 1, FINISHED).prune
    assert not median_prune({1: 0.70}, 1, FINISHED).prune  # equal to the median: goes on
    assert not median_prune({1: 0.71}, 1, FINISHED).prune
    d = median_prune({1: 0.50}, 1, FINISHED)
    assert d.prune and "0.5000" in d.reason and "median 0.7000" in d.reason


def test_median_compares_the_best_so_far() -> None:
    # best up to epoch 2 is 0.76 (epoch 1) >= 0.75: goes on, although 0.70 < 0.75
    assert not median_prune({1: 0.76, 2: 0.70}, 2, FINISHED).prune
    # best up to epoch 2 is 0.74 < 0.75
    assert median_prune({1: 0.70, 2: 0.74}, 2, FINISHED).prune


def test_median_even_count_and_warmup() -> None:
    four = FINISHED[:4]  # 0.70 0.72 0.60 0.80 -> median 0.71
    assert median_prune({1: 0.705}, 1, four, warmup_trials=4).prune
    assert not median_prune({1: 0.71}, 1, four, warmup_trials=4).prune
    # fewer finished trials than the warm-up: never
    assert not median_prune({1: 0.10}, 1, four, warmup_trials=5).prune
    # warm-up epochs: nothing pruned at epoch 1, epoch 2 judged
    assert not median_prune({1: 0.10}, 1, FINISHED, warmup_epochs=1).prune
    assert median_prune({1: 0.10, 2: 0.10}, 2, FINISHED, warmup_epochs=1).prune


def test_median_only_counts_trials_that_reached_the_epoch() -> None:
    # Only two of these reached epoch 2 (0.80, 0.90 -> median 0.85)
    finished = [{1: 0.7}, {1: 0.7}, {1: 0.7, 2: 0.80}, {1: 0.7, 2: 0.90}, {1: 0.7}]
    assert median_prune({1: 0.7, 2: 0.84}, 2, finished).prune
    assert not median_prune({1: 0.7, 2: 0.86}, 2, finished).prune
    # nobody reached epoch 3: no reference, no pruning
    assert not median_prune({1: 0.1, 2: 0.1, 3: 0.1}, 3, finished).prune


def test_median_prunes_a_nan_curve() -> None:
    assert median_prune({1: math.nan}, 1, FINISHED).prune


# --- ASHA ------------------------------------------------------------------------------------
def test_asha_rungs() -> None:
    assert asha_rungs(10) == [1, 3, 9]
    assert asha_rungs(9) == [1, 3]  # the last epoch is never a decision
    assert asha_rungs(2) == [1]
    assert asha_rungs(1) == []
    assert asha_rungs(9, min_epochs=2, reduction_factor=2) == [2, 4, 8]


def test_asha_promotes_the_top_third() -> None:
    rung = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]  # six values: the top 6 // 3 = 2 go on
    assert asha_promotable(0.9, rung)
    assert asha_promotable(0.8, rung)
    assert not asha_promotable(0.7, rung)
    # fewer than 3 values: only the best goes on
    assert asha_promotable(0.7, [0.7])
    assert not asha_promotable(0.7, [0.7, 0.8])
    assert asha_promotable(0.8, [0.7, 0.8])
    # five values: 5 // 3 = 1
    assert not asha_promotable(0.8, [0.9, 0.8, 0.7, 0.6, 0.5])
    assert not asha_promotable(math.nan, [math.nan])


def test_asha_prune_at_rungs_only() -> None:
    others = [{1: 0.9}, {1: 0.8, 2: 0.85}, {1: 0.7}, {1: 0.6}, {1: 0.5}]
    # rung 1: competing = own 0.75 + five others = 6 values, top 2 (0.9, 0.8) go on
    d = asha_prune({1: 0.75}, 1, others)
    assert d.prune and "top 2 of 6" in d.reason
    assert not asha_prune({1: 0.85}, 1, others).prune
    # epoch 2 is no rung with factor 3: never pruned there
    assert not asha_prune({1: 0.1, 2: 0.1}, 2, others).prune
    # epoch 3 is: competing = own + those that reached 3 (none) -> only itself, goes on
    assert not asha_prune({1: 0.9, 2: 0.9, 3: 0.1}, 3, others).prune


def test_decision_epochs() -> None:
    assert decision_epochs(PrunerSettings("none"), 5) == ()
    assert decision_epochs(PrunerSettings("median"), 3) == (1, 2)
    assert decision_epochs(PrunerSettings("median", warmup_epochs=1), 3) == (2,)
    assert decision_epochs(PrunerSettings("median"), 1) == ()
    assert decision_epochs(PrunerSettings("asha"), 2) == (1,)
    assert decision_epochs(PrunerSettings("asha"), 10) == (1, 3, 9)


def test_decide_uses_the_right_curves() -> None:
    curves = {
        i: Curve("finished", c) for i, c in enumerate(FINISHED, start=1)
    }  # median at epoch 1: 0.70
    curves[10] = Curve("running", {1: 0.69})
    curves[11] = Curve("failed", {1: 0.99})  # failed, interrupted: not references
    curves[12] = Curve("interrupted", {1: 0.99})
    assert decide(PrunerSettings("median"), 10, 1, curves).prune
    assert not decide(PrunerSettings("none"), 10, 1, curves).prune
    # pruned and running trials are no reference for the median (Optuna: completed ones)...
    curves[13] = Curve("pruned", {1: 0.1})
    assert decide(PrunerSettings("median"), 10, 1, curves).prune
    # ... but compete at an ASHA rung: own 0.69 among 0.60..0.80, 0.1 -> 7 values, top 2 go on
    assert decide(PrunerSettings("asha"), 10, 1, curves).prune
    curves[10] = Curve("running", {1: 0.71})  # top 2 of 7: 0.80, 0.72
    assert decide(PrunerSettings("asha"), 10, 1, curves).prune
    # factor 2: the top 7 // 2 = 3 (0.80, 0.72, 0.71) go on
    assert not decide(PrunerSettings("asha", reduction_factor=2), 10, 1, curves).prune


def test_settings_are_checked() -> None:
    assert PrunerSettings.from_dict("asha") == PrunerSettings("asha")
    assert PrunerSettings.from_dict(None) == PrunerSettings("none")
    s = PrunerSettings("median", warmup_trials=3)
    assert PrunerSettings.from_dict(s.to_dict()) == s
    with pytest.raises(SpaceError, match="unknown pruner"):
        PrunerSettings("hyperband")
    with pytest.raises(SpaceError, match="reduction_factor"):
        PrunerSettings("asha", reduction_factor=1)
    with pytest.raises(SpaceError, match="unknown pruner setting"):
        PrunerSettings.from_dict({"kind": "asha", "eta": 3})
    assert "median stopping" in PrunerSettings("median").describe()
    assert "reduction factor 3" in PrunerSettings("asha").describe()


# --- the same decisions as Optuna's pruners ------------------------------------------------------
def _optuna_study(pruner):
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna, optuna.create_study(direction="maximize", pruner=pruner)


def test_median_agrees_with_optuna() -> None:
    optuna = pytest.importorskip("optuna")
    rng = np.random.default_rng(0)
    for case in range(60):
        n_done = int(rng.integers(0, 8))
        finished = [
            {e: float(v) for e, v in enumerate(rng.uniform(0.5, 0.9, 3).round(3), start=1)}
            for _ in range(n_done)
        ]
        curve = {e: float(v) for e, v in enumerate(rng.uniform(0.5, 0.9, 2).round(3), start=1)}
        _, study = _optuna_study(optuna.pruners.MedianPruner(n_startup_trials=3))
        for c in finished:
            study.add_trial(
                optuna.trial.create_trial(
                    value=c[3], intermediate_values=c, params={}, distributions={}
                )
            )
        trial = study.ask()
        for e, v in curve.items():
            trial.report(v, e)
            want = trial.should_prune()
            got = median_prune({k: curve[k] for k in curve if k <= e}, e, finished, 3).prune
            assert got == want, (case, e, curve, finished)


def test_asha_agrees_with_optuna() -> None:
    optuna = pytest.importorskip("optuna")
    rng = np.random.default_rng(1)
    for case in range(60):
        rung_values = [float(v) for v in rng.uniform(0.5, 0.9, int(rng.integers(0, 9))).round(3)]
        value = round(float(rng.uniform(0.5, 0.9)), 3)
        pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
        _, study = _optuna_study(pruner)
        for v in rung_values:
            study.add_trial(
                optuna.trial.create_trial(
                    value=v,
                    intermediate_values={1: v},
                    params={},
                    distributions={},
                    system_attrs={"completed_rung_0": v},
                )
            )
        trial = study.ask()
        trial.report(value, 1)
        got = asha_prune({1: value}, 1, [{1: v} for v in rung_values]).prune
        assert got == trial.should_prune(), (case, value, rung_values)


# --- epoch budgets: pruning buys random and grid search more trials ------------------------------
def _drain(strategy, epochs_of) -> list[int]:
    """Ask and tell until done; epochs_of(i) -> epochs the i-th trial ran (pruned if fewer)."""
    ran = []
    while not strategy.done():
        p = strategy.ask()
        assert p is not None
        e = epochs_of(len(ran))
        strategy.tell(p, Outcome(True, 0.7, 1.0, 0.0, pruned=e < p.epochs, epochs_run=e))
        ran.append(e)
    return ran


@pytest.mark.parametrize("make", [RandomSearch, GridSearch])
def test_without_pruning_the_trial_count_is_unchanged(make) -> None:
    s = make(default_space(), 6, 2, 0)
    assert s.planned_trials == 6
    assert _drain(s, lambda i: 2) == [2] * 6
    assert s.progress()["epochs"] == 12


@pytest.mark.parametrize("make", [RandomSearch, GridSearch])
def test_pruned_trials_buy_more_trials(make) -> None:
    s = make(default_space(), 6, 2, 0)  # a budget of 12 epochs
    ran = _drain(s, lambda i: 1 if i % 2 == 0 else 2)  # every other trial pruned after 1
    assert sum(ran) <= 12 and 12 - sum(ran) < 2
    assert len(ran) == 8  # 1+2+1+2+1+2+1+2 = 12
    assert s.planned_trials == 8


def test_failed_trials_cost_their_epochs() -> None:
    s = RandomSearch(default_space(), 3, 2, 0)
    n = 0
    while not s.done():
        s.tell(s.ask(), Outcome(False, error="boom"))
        n += 1
    assert n == 3


def test_in_flight_trials_count_at_full_length() -> None:
    s = RandomSearch(default_space(), 3, 2, 0)
    a, b, c = s.ask(), s.ask(), s.ask()
    assert s.ask() is None  # 3 x 2 committed
    s.tell(a, Outcome(True, 0.6, 1.0, pruned=True, epochs_run=1))
    assert s.ask() is None  # 1 + 2 x 2 = 5, one epoch left: not enough for a trial
    s.tell(b, Outcome(True, 0.6, 1.0, pruned=True, epochs_run=1))
    d = s.ask()  # 1 + 1 + 2 (c) = 4: room for one more
    assert d is not None and d.progress == pytest.approx(4 / 6)
    for p in (c, d):
        s.tell(p, Outcome(True, 0.7, 1.0, epochs_run=2))
    assert s.done() and s.planned_trials == 4


def test_state_without_spent_epochs_loads() -> None:
    s = RandomSearch(default_space(), 4, 2, 0)
    p = s.ask()
    s.tell(p, Outcome(True, 0.7, 1.0, epochs_run=2))
    state = s.state_dict()
    del state["spent"]  # saved by an older version
    t = RandomSearch(default_space(), 4, 2, 0)
    t.load_state_dict(state)
    assert t.spent == 2 and t.planned_trials == 4


# --- the store: migration to schema 6 and the pruner's versions ---------------------------------
def test_migration_to_pruned_keeps_trials_epochs_and_indexes(tmp_path: Path) -> None:
    db = tmp_path / "v5.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA foreign_keys = ON")
    for m in MIGRATIONS[:5]:
        conn.executescript("BEGIN;" + m + ";COMMIT;")
    conn.execute("PRAGMA user_version = 5")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(
        "INSERT INTO runs (id, created_at, strategy, profile, seed, workers, config) "
        "VALUES (1, 0, 'random', 'tiny', 1, 2, '{}')"
    )
    for n in (1, 2):
        conn.execute(
            "INSERT INTO trials (id, run_id, number, status, phase, strategy, space_version, "
            "config, val_accuracy, seconds, penalty, created_at, score, est_accuracy) "
            "VALUES (?, 1, ?, 'finished', 'search', 'random', 1, '{\"lr\": 0.001}', 0.8, 10.0,"
            " 0, 0, 47.6, 0.79)",
            [10 + n, n],
        )
        conn.execute(
            "INSERT INTO epochs (run_id, trial_id, epoch, val_accuracy) VALUES (1, ?, 1, 0.8)",
            [10 + n],
        )
    conn.commit()
    conn.close()

    store = Store(db)
    try:
        c = store.conn
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 6
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert c.execute("PRAGMA foreign_key_check").fetchall() == []
        t = store.trial(11)
        assert t["number"] == 1 and t["config"] == {"lr": 0.001} and t["est_accuracy"] == 0.79
        assert [e["val_accuracy"] for e in store.epochs(12)] == [0.8]
        indexes = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"trials_run_status", "trials_run_score", "trials_run_est", "epochs_run"} <= indexes
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "trials_new" not in tables and "epochs_saved" not in tables
        # the new status is allowed, an unknown one still refused, foreign keys still enforced
        store.update_trial(12, status="pruned", epochs_run=1, max_epochs=2)
        with pytest.raises(sqlite3.IntegrityError):
            store.update_trial(12, status="nonsense")
        with pytest.raises(sqlite3.IntegrityError):
            store.add_epoch(1, 999, epoch=1, val_accuracy=0.5)
        assert store.pruning_summary(1) == {"pruned": 1, "epochs_run": 1, "epochs_saved": 1}
        # new trials keep numbering after the copied ones
        assert store.add_trial(1, {"lr": 0.002}, status="running", phase="search",
                               strategy="random", space_version=1)[1] == 3  # fmt: skip
    finally:
        store.close()


def test_pruner_versions(tmp_path: Path) -> None:
    store = Store(tmp_path / "p.db")
    try:
        rid = store.create_run(
            status="running", phase="starting", strategy="random", profile="tiny", seed=1,
            workers=1, config={},
        )  # fmt: skip
        assert store.current_pruner(rid) is None
        assert store.add_pruner_version(rid, {"kind": "none"}, "no pruning", "engine") == 1
        assert store.add_pruner_version(rid, {"kind": "asha"}, "ASHA", "user") == 2
        assert store.current_pruner(rid)["settings"] == {"kind": "asha"}
        assert [v["version"] for v in store.pruner_versions(rid)] == [1, 2]
    finally:
        store.close()


# --- the engine: a worker told to stop after an epoch -------------------------------------------
@pytest.fixture
def three_epoch_tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiny profile with 3-epoch search trials (8 x 3 = 24 epochs), so there is an epoch
    to stop after."""
    tiny = dataclasses.replace(PROFILES["tiny"], search_epochs=3, trials_override=8)
    monkeypatch.setitem(PROFILES, "tiny", tiny)


def _run(db: Path, strategy: str, pruner: str | dict, workers: int = 1) -> tuple[int, Store]:
    s = Store(db)
    rid = create_run(
        s,
        RunConfig(strategy=strategy, profile="tiny", data="sample", workers=workers, seed=4,
                  pruner=pruner),
    )  # fmt: skip
    s.close()
    assert Engine(db, rid, trainer=CURVE_TRAINER).run() == "finished"
    return rid, Store(db, readonly=True)


@pytest.mark.parametrize("pruner", ["asha", {"kind": "median", "warmup_trials": 2}])
def test_engine_prunes_and_spends_the_saved_epochs_on_more_trials(
    tmp_path: Path, cache_env, three_epoch_tiny, pruner: str | dict
) -> None:
    rid, store = _run(tmp_path / "p.db", "random", pruner)
    kind = pruner if isinstance(pruner, str) else pruner["kind"]
    try:
        search = [t for t in store.trials(rid) if t["phase"] not in ("final", "confirm")]
        pruned = [t for t in search if t["status"] == "pruned"]
        assert pruned, [(t["status"], t["epochs_run"]) for t in search]
        assert {t["status"] for t in search} <= {"finished", "pruned"}
        for t in pruned:
            eps = store.epochs(t["id"])
            assert [e["epoch"] for e in eps] == list(range(1, t["epochs_run"] + 1))
            assert t["epochs_run"] < t["max_epochs"] == 3
            assert t["val_accuracy"] == pytest.approx(eps[-1]["val_accuracy"])
            assert t["extra"]["pruned"]["pruner"] == kind
            assert t["extra"]["pruned"]["epoch"] == t["epochs_run"]
            assert t["reward"] is not None and t["seconds"] < 3 * 0.05 + 1
        spent = sum(t["epochs_run"] for t in search)
        # the budget of 24 epochs is spent to within a trial; the epochs saved buy trials
        assert 24 - 3 < spent <= 24 and len(search) >= 8
        if kind == "asha":  # prunes most trials after 1 epoch of 3: many more trials
            assert len(search) > 8
        assert store.run(rid)["planned_trials"] == len(search)
        # a pruned trial is never the best, and the header counts them
        assert store.best_trial(rid)["status"] == "finished"
        assert store.run(rid)["progress"]["pruned"] == len(pruned)
        assert store.pruning_summary(rid)["pruned"] == len(pruned)
        assert store.current_pruner(rid)["settings"]["kind"] == kind
        msgs = [e["message"] for e in store.events(rid)]
        assert any("pruning after epoch" in m for m in msgs)
        # final validation is never pruned
        final = [t for t in store.trials(rid) if t["phase"] == "final"]
        assert final and all(t["status"] == "finished" for t in final)
    finally:
        store.close()


def test_engine_without_pruner_runs_every_epoch(
    tmp_path: Path, cache_env, three_epoch_tiny
) -> None:
    rid, store = _run(tmp_path / "n.db", "random", "none")
    try:
        search = [t for t in store.trials(rid) if t["phase"] not in ("final", "confirm")]
        assert len(search) == 8 and all(t["epochs_run"] == 3 for t in search)
        assert all(t["status"] == "finished" for t in search)
    finally:
        store.close()


def test_pruner_edited_mid_run_and_bad_edit_refused(
    tmp_path: Path, cache_env, three_epoch_tiny
) -> None:
    db = tmp_path / "e.db"
    s = Store(db)
    rid = create_run(s, RunConfig(strategy="grid", profile="tiny", data="sample", workers=1,
                                  seed=2, pruner="none"))  # fmt: skip
    s.add_command(rid, "edit_pruner", {"pruner": {"kind": "asha", "reduction_factor": 1}})
    s.add_command(rid, "edit_pruner", {"pruner": {"kind": "asha"}})
    s.close()
    assert Engine(db, rid, trainer=CURVE_TRAINER).run() == "finished"
    store = Store(db, readonly=True)
    try:
        cmds = store.conn.execute("SELECT status FROM commands ORDER BY id").fetchall()
        assert [c[0] for c in cmds] == ["refused", "done"]
        assert [v["settings"]["kind"] for v in store.pruner_versions(rid)] == ["none", "asha"]
        assert any(t["status"] == "pruned" for t in store.trials(rid))
    finally:
        store.close()


@pytest.mark.slow
def test_real_training_is_pruned_after_an_epoch(
    tmp_path: Path, cache_env, three_epoch_tiny
) -> None:
    """TensorFlow trainers on the bundled reviews: Keras ends a told trial's fit after the
    epoch, and the trial is stored pruned with the epochs it trained."""
    db = tmp_path / "real.db"
    s = Store(db)
    rid = create_run(
        s,
        RunConfig(strategy="random", profile="tiny", data="sample", workers=1, seed=4,
                  pruner="asha", final_validation=False),
    )  # fmt: skip
    s.close()
    assert Engine(db, rid).run() == "finished"
    store = Store(db, readonly=True)
    try:
        search = store.trials(rid)
        pruned = [t for t in search if t["status"] == "pruned"]
        assert pruned, [(t["status"], t["epochs_run"], t["error"]) for t in search]
        for t in pruned:
            assert t["epochs_run"] == 1 and t["max_epochs"] == 3  # ASHA's only rung: epoch 1
            assert [e["epoch"] for e in store.epochs(t["id"])] == [1]
            assert t["val_accuracy"] == pytest.approx(store.epochs(t["id"])[0]["val_accuracy"])
        assert {t["status"] for t in search} <= {"finished", "pruned"}
        assert sum(t["epochs_run"] for t in search) <= 24 and len(search) > 8
    finally:
        store.close()


# --- the UI shows pruned trials and the pruner ----------------------------------------------------
def test_ui_shows_pruned_trials_and_the_pruner() -> None:
    from hptui.widgets.run_header import RunHeader
    from hptui.widgets.trial_detail import TrialDetail
    from hptui.widgets.trials_table import STATUS_FILTERS, trial_cells

    run = {
        "id": 1, "status": "finished", "strategy": "random", "profile": "quick", "phase": "done",
        "created_at": 0.0, "finished_at": 10.0, "started_at": 0.0,
        "progress": {"finished": 5, "failed": 0, "pruned": 3, "planned": 8, "pruner": "asha"},
    }  # fmt: skip
    text = RunHeader.render_run(run, None, now=20.0).plain
    assert "pruner asha" in text and "trials 8/8" in text and "(3 pruned)" in text
    trial = {
        "number": 4, "status": "pruned", "phase": "search", "max_epochs": 3, "epochs_run": 1,
        "config": {"lr": 0.001}, "space_version": 1, "val_accuracy": 0.61,
        "extra": {"pruned": {"pruner": "asha", "epoch": 1, "reason": "not in the top 1 of 4"}},
    }  # fmt: skip
    assert trial_cells(trial)["status"].plain == "pruned" and "pruned" in STATUS_FILTERS
    detail = TrialDetail.render_trial(trial, [])
    from rich.console import Console

    console = Console(width=120, record=True)
    console.print(detail)
    assert "pruned by asha after epoch 1 of 3: not in the top 1 of 4" in console.export_text()
