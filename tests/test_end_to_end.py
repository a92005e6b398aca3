"""The engine's run loop end to end.

Fast tests: the real Engine, store and spawned process pool, with the trainer double
(tests/helpers/fake_trainer.py) instead of TensorFlow trainers.
Slow tests (`-m slow`): `hptui run --headless` as a subprocess with real TensorFlow trainers.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from engine.choice import choose
from engine.config import RunConfig
from engine.profiles import PROFILES
from engine.reward import DEFAULT_RULES, adaptive_weights, apply_rules, reward
from engine.runner import Engine
from engine.setup import create_run
from storage.store import Store
from tests.conftest import FAKE_TRAINER, FAKE_TRAINER_FAIL_SGD, REPO

TINY = PROFILES["tiny"]


def start(
    db: Path,
    strategy: str,
    seed: int = 3,
    trainer: str = FAKE_TRAINER,
    on_tick=None,
    **config,
):
    s = Store(db)
    rid = create_run(
        s,
        RunConfig(strategy=strategy, profile="tiny", data="sample", workers=2, seed=seed, **config),
    )
    s.close()
    status = Engine(db, rid, trainer=trainer, on_tick=on_tick).run()
    return rid, status, Store(db, readonly=True)


def check_common(store: Store, rid: int, n_search: int) -> list[dict]:
    run = store.run(rid)
    assert run["status"] == "finished" and run["phase"] == "done"
    assert run["planned_trials"] == n_search
    assert run["data_source"] == "sample" and run["engine_pid"] is None
    assert run["device"] == "cpu" and run["finished_at"] >= run["started_at"]
    trials = store.trials(rid)
    search = [t for t in trials if t["phase"] not in ("final", "confirm")]
    confirm = [t for t in trials if t["phase"] == "confirm"]
    final = [t for t in trials if t["phase"] == "final"]
    assert len(search) == n_search
    assert [t["number"] for t in trials] == list(range(1, len(trials) + 1))
    # the confirmation stage: the top candidate and the default, once more each, no test set
    assert sorted(t["extra"]["role"] for t in confirm) == ["candidate 1", "default"]
    assert all(t["test_accuracy"] is None and t["score"] is None for t in confirm)
    choice = choose(trials)
    assert choice is not None and choice.confirmed
    roles = ["default"] if choice.default_is_best else ["best", "default"]
    assert sorted(t["extra"]["role"] for t in final) == roles
    for t in trials:
        assert t["status"] == "finished", t
        assert t["space_version"] == 1 and t["worker"] in (0, 1)
        eps = store.epochs(t["id"])
        assert [e["epoch"] for e in eps] == list(range(1, t["epochs_run"] + 1))
        assert eps[-1]["val_accuracy"] == pytest.approx(t["val_accuracy"])
        penalty, fired = apply_rules(t["config"], DEFAULT_RULES)
        assert t["penalty"] == penalty and t["rules_fired"] == fired
    for t in search:
        assert t["alpha"] + t["beta"] == pytest.approx(1.0)
        assert t["reward"] == pytest.approx(
            reward(t["val_accuracy"], t["seconds"], t["penalty"], t["alpha"], t["beta"])
        )
    for t in final:
        assert t["reward"] is None and 0 <= t["test_accuracy"] <= 1
        assert t["epochs_run"] == TINY.final_epochs
    best = store.best_trial(rid)
    # every finished search trial carries the engine's estimate; the best has the top score
    finished = [t for t in search if t["status"] == "finished"]
    assert all(t["est_accuracy"] is not None for t in finished)
    assert best["score"] == pytest.approx(max(t["score"] for t in finished))
    if choice.default_is_best:
        assert run["final"]["default_is_best"] and "beat the default" in run["final"]["verdict"]
    else:
        assert run["final"]["best_trial"] == choice.best.trial
        chosen = [t for t in final if t["extra"]["role"] == "best"][0]
        assert chosen["config"] == choice.best.config
    messages = [e["message"] for e in store.events(rid, limit=10_000)]
    assert messages[-1] == "run finished"
    assert sum("finished: val acc" in m for m in messages) == len(trials)
    assert any(m.startswith("final validation (") for m in messages)
    assert store.load_strategy_state(rid) is not None
    assert len(store.workers(rid)) == 2
    return search


@pytest.mark.parametrize("strategy", ["random", "grid", "bayes"])
def test_engine_single_stage_strategies(tmp_path: Path, cache_env, strategy: str) -> None:
    rid, status, store = start(tmp_path / "e.db", strategy)
    assert status == "finished"
    search = check_common(store, rid, TINY.search_trials)
    assert {t["strategy"] for t in search} == {strategy}
    assert {t["phase"] for t in search} == {"search"}
    assert len({json.dumps(t["config"], sort_keys=True) for t in search}) == len(search)
    assert all(t["max_epochs"] == TINY.search_epochs for t in search)
    # progress = (trial - 1) / 4 -> 0, .25, .5, .75 -> alpha 0.9, 0.9, 0.9, 0.75
    expected = [w for i in range(4) for w in adaptive_weights(i / 4)]
    assert [w for t in search for w in (t["alpha"], t["beta"])] == pytest.approx(expected)
    assert expected[-2:] == pytest.approx([0.75, 0.25])
    store.close()


def test_engine_bayes_ppo_with_asynchronous_warmup(tmp_path: Path, cache_env) -> None:
    rid, status, store = start(tmp_path / "a.db", "bayes-ppo", bayes_async=True)
    assert status == "finished"
    search = check_common(store, rid, 3 + 2 * 1 + 2 * 2)
    warm = [t for t in search if t["phase"] == "warmup"]
    assert len(warm) == 3 and len({json.dumps(t["config"], sort_keys=True) for t in warm}) == 3
    assert store.run(rid)["config"]["bayes_async"] is True
    store.close()


def test_engine_failed_trials_recorded_run_finishes(tmp_path: Path, cache_env) -> None:
    rid, status, store = start(tmp_path / "f.db", "random", seed=5, trainer=FAKE_TRAINER_FAIL_SGD)
    assert status == "finished"
    trials = store.trials(rid)
    sgd = [t for t in trials if t["config"]["optimizer"] == "sgd"]
    assert sgd, "seed 5 should draw some sgd configurations"
    assert len(sgd) < TINY.search_trials
    for t in trials:
        if t["config"]["optimizer"] == "sgd":
            assert t["status"] == "failed" and "NaN" in t["error"]
            assert t["reward"] is None and store.epochs(t["id"]) == []
        else:
            assert t["status"] == "finished" and t["error"] is None
    run = store.run(rid)
    assert run["status"] == "finished" and run["final"] is not None
    errors = [e for e in store.events(rid, limit=10_000) if e["level"] == "error"]
    assert len(errors) == len(sgd)
    assert len([t for t in trials if t["phase"] == "search"]) == TINY.search_trials
    store.close()


def test_engine_bayes_ppo_with_double(tmp_path: Path, cache_env) -> None:
    rid, status, store = start(tmp_path / "p.db", "bayes-ppo")
    assert status == "finished"
    n_ppo = TINY.ppo.trajectories * (TINY.ppo.len_early + TINY.ppo.len_late)
    search = check_common(store, rid, TINY.warmup_calls + n_ppo)
    warm = [t for t in search if t["phase"] == "warmup"]
    ppo = [t for t in search if t["phase"] == "ppo"]
    assert len(warm) == TINY.warmup_calls == 3 and len(ppo) == n_ppo == 6
    assert all(t["epochs_run"] == TINY.warmup_epochs for t in warm)
    steps = sorted((t["ppo_epoch"], t["trajectory"], t["step"]) for t in ppo)
    assert steps == [(1, 1, 1), (1, 2, 1), (2, 1, 1), (2, 1, 2), (2, 2, 1), (2, 2, 2)]
    # a step starts only after the step before it in its trajectory finished
    by = {(t["ppo_epoch"], t["trajectory"], t["step"]): t for t in ppo}
    for (e, k, st), t in by.items():
        if st > 1:
            assert t["started_at"] >= by[(e, k, st - 1)]["finished_at"]
    # all warm-up trials finished before the first PPO trial started
    assert max(t["finished_at"] for t in warm) <= min(t["started_at"] for t in ppo)
    ups = store.ppo_updates(rid)
    assert [(u["ppo_epoch"], u["traj_len"], u["n_steps"]) for u in ups] == [(1, 1, 2), (2, 2, 4)]
    # explained variance is stored with the other update statistics (at most 1)
    assert all(u["explained_variance"] is not None and u["explained_variance"] <= 1 for u in ups)
    # progress 0 (epoch 1) and 0.5 (epoch 2): alpha 0.9 both
    assert all(t["alpha"] == pytest.approx(0.9) for t in ppo)
    messages = [e["message"] for e in store.events(rid, limit=10_000)]
    assert any("warm-up done" in m for m in messages)
    assert sum("update: mean reward" in m for m in messages) == 2
    assert sum("explained variance" in m for m in messages) == 2
    store.close()


def test_engine_applies_space_edit_and_refuses_bad_one(tmp_path: Path, cache_env) -> None:
    db = tmp_path / "c.db"
    sent: dict[str, int] = {}

    def on_tick(engine: Engine) -> None:
        if not sent:
            sent["bad"] = engine.store.add_command(
                engine.run_id,
                "edit_space",
                {"changes": {"lr": {"type": "real", "low": 5, "high": 1}}},
            )
            sent["good"] = engine.store.add_command(
                engine.run_id,
                "edit_space",
                {"changes": {"optimizer": ["adam"], "batch_size": [16]}},
            )

    s = Store(db)
    rid = create_run(
        s, RunConfig(strategy="random", profile="tiny", data="sample", workers=2, seed=11)
    )
    s.close()
    assert Engine(db, rid, trainer=FAKE_TRAINER, on_tick=on_tick).run() == "finished"
    store = Store(db, readonly=True)
    bad, good = store.command(sent["bad"]), store.command(sent["good"])
    assert bad["status"] == "refused" and "lr" in bad["message"]
    assert good["status"] == "done" and "space version 2" in good["message"]
    versions = store.space_versions(rid)
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[1]["space"]["optimizer"]["choices"] == ["adam"]
    later = [
        t
        for t in store.trials(rid)
        if t["space_version"] == 2 and t["phase"] not in ("final", "confirm")
    ]
    assert later, "some trials should be drawn after the edit"
    assert all(
        t["config"]["optimizer"] == "adam" and t["config"]["batch_size"] == 16 for t in later
    )
    store.close()


# --- real TensorFlow trainers, subprocess ---------------------------------------------------


def run_cli(args: list[str], tmp_path: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "HPTUI_CACHE_DIR": str(tmp_path / "cache"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-m", "hptui.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def check_real_run(db: Path, data_source: str) -> None:
    conn = sqlite3.connect(db)
    q = lambda sql, *a: conn.execute(sql, a).fetchall()  # noqa: E731
    [(rid, status, source, final)] = q("SELECT id, status, data_source, final FROM runs")
    assert status == "finished" and source == data_source
    counts = dict(q("SELECT phase, count(*) FROM trials WHERE run_id = ? GROUP BY phase", rid))
    # the confirmation stage: a candidate and the default (tiny profile, 1 x 1); final
    # validation: the chosen and the default, or the default alone when it was chosen
    assert counts.pop("confirm") in (1, 2) and counts.pop("final") in (1, 2)
    assert counts == {"warmup": 3, "ppo": 2 * 1 + 2 * 2}
    assert q("SELECT count(*) FROM trials WHERE status != 'finished'") == [(0,)]
    per_trial = q(
        "SELECT t.phase, t.epochs_run, count(e.id) FROM trials t "
        "LEFT JOIN epochs e ON e.trial_id = t.id GROUP BY t.id"
    )
    for phase, epochs_run, n in per_trial:
        assert n == epochs_run
        assert (n == 1) if phase in ("warmup", "final") else (1 <= n <= 2)
    assert q("SELECT count(*) FROM ppo_updates WHERE run_id = ?", rid) == [(2,)]
    f = json.loads(final)
    assert 0 <= f["best_test_accuracy"] <= 1 and 0 <= f["default_test_accuracy"] <= 1
    vals = q("SELECT val_accuracy, reward FROM trials WHERE phase NOT IN ('final', 'confirm')")
    assert all(0 <= v <= 1 and r is not None for v, r in vals)
    conn.close()


@pytest.mark.slow
def test_real_run_on_the_sample(tmp_path: Path) -> None:
    db = tmp_path / "real.db"
    proc = run_cli(
        [
            "run",
            "--headless",
            "--profile",
            "tiny",
            "--data",
            "sample",
            "--db",
            str(db),
            "--workers",
            "2",
            "--seed",
            "1",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    check_real_run(db, "sample")


FULL = REPO / ".." / "shared" / "data" / "aclImdb_labeled.tar.gz"


@pytest.mark.slow
@pytest.mark.skipif(not FULL.exists(), reason=f"{FULL} not present")
def test_real_run_on_aclimdb_archive(tmp_path: Path) -> None:
    db = tmp_path / "acl.db"
    proc = run_cli(
        [
            "run",
            "--headless",
            "--profile",
            "tiny",
            "--data",
            str(FULL.resolve()),
            "--db",
            str(db),
            "--workers",
            "2",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    check_real_run(db, "aclImdb")


def test_final_validation_repeats_are_trained_and_averaged(tmp_path, monkeypatch) -> None:
    from dataclasses import replace

    # No confirmation: the trainer double's accuracy peaks at the default configuration,
    # which would then be chosen and trained alone.
    monkeypatch.setitem(PROFILES, "tiny", replace(TINY, final_repeats=2, confirm_candidates=0))
    rid, status, store = start(tmp_path / "r.db", "random")
    assert status == "finished"
    final = [t for t in store.trials(rid) if t["phase"] == "final"]
    got = sorted((t["extra"]["role"], t["extra"]["repeat"]) for t in final)
    assert got == [("best", 0), ("best", 1), ("default", 0), ("default", 1)]
    assert all(t["status"] == "finished" for t in final)
    summary = store.run(rid)["final"]
    assert summary["repeats"] == 2 and summary["gain_interval"] is not None
    by = {(t["extra"]["role"], t["extra"]["repeat"]): t["test_accuracy"] for t in final}
    assert summary["best_test_accuracies"] == [by["best", 0], by["best", 1]]
    assert summary["best_test_accuracy"] == pytest.approx((by["best", 0] + by["best", 1]) / 2)
    assert summary["default_test_accuracy"] == pytest.approx(
        (by["default", 0] + by["default", 1]) / 2
    )
    messages = [e["message"] for e in store.events(rid, limit=10_000)]
    assert any("2 trainings each" in m for m in messages)
    assert any("mean of 2 trainings each" in m for m in messages)
