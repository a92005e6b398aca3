"""A store someone sends you must not run code: strategy state is JSON data, a planted pickle
is refused by `hptui resume`, by the engine and by a fresh `hptui run`, and the pickles older
versions saved are dropped by the schema 3 migration without being loaded."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

from engine.space import default_space
from engine.state import decode_state, encode_state
from engine.strategies.bayes import BayesSearch
from storage.schema import SCHEMA_VERSION
from tests.conftest import FAKE_TRAINER
from tests.faults.clitools import hptui, make_run, write
from tests.faults.conftest import query
from tests.test_strategies import drive, make_bayes_ppo, ok, ppo_outcome, run_warmup


class Payload:
    """Unpickling this creates the marker file: code from the store would have run."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (open, (self.marker, "w"))


def plant(db: Path, run_id: int, marker: Path) -> None:
    write(
        db,
        "INSERT OR REPLACE INTO strategy_state (run_id, updated_at, state) VALUES (?, 0, ?)",
        (run_id, pickle.dumps(Payload(marker))),
    )


def test_resume_refuses_a_planted_pickle_and_runs_nothing(tmp_path: Path, fault_env: None) -> None:
    db, marker = tmp_path / "sent.db", tmp_path / "PWNED"
    run_id = make_run(db)
    plant(db, run_id, marker)

    done = hptui("resume", str(run_id), "--headless", "--db", str(db))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"run {run_id} cannot be resumed" in done.stderr and "pickle" in done.stderr
    assert "internal error" not in done.stderr
    assert not marker.exists()

    # The engine itself (what a non-headless resume starts) refuses too, and changes nothing.
    done = hptui("engine", str(run_id), "--db", str(db), "--trainer", FAKE_TRAINER)
    assert done.returncode == 1 and "cannot be resumed" in done.stderr
    assert not marker.exists()
    assert query(db, "SELECT status, engine_pid FROM runs") == [("running", None)]
    assert query(db, "SELECT count(*) FROM trials") == [(0,)]


def test_fresh_run_refuses_a_store_with_state_for_the_next_run_id(
    tmp_path: Path, fault_env: None
) -> None:
    db, marker = tmp_path / "sent.db", tmp_path / "PWNED"
    make_run(db)
    plant(db, 2, marker)  # the id the next `hptui run` gets

    done = hptui(
        "run", "--headless", "--db", str(db), "--strategy", "random", "--profile", "tiny",
        "--data", "sample", "--workers", "1", "--no-final",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "saved strategy state for run(s) 2" in done.stderr and "refusing" in done.stderr
    assert not marker.exists()
    assert query(db, "SELECT count(*) FROM runs") == [(1,)]


def test_old_store_pickle_is_dropped_by_the_migration_and_resume_says_why(
    tmp_path: Path, fault_env: None
) -> None:
    db, marker = tmp_path / "old.db", tmp_path / "PWNED"
    run_id = make_run(db)
    plant(db, run_id, marker)
    # As a schema 2 store saved it: a pickle, and none of the later columns.
    for trigger in ("insert", "update", "delete"):
        write(db, f"DROP TRIGGER trial_totals_{trigger}")
    write(db, "DROP TABLE trial_totals")
    write(db, "DROP INDEX trials_run_best")
    write(db, "DROP INDEX trials_run_search_started")
    write(db, "DROP INDEX trials_run_phase")
    write(db, "ALTER TABLE runs DROP COLUMN engine_token")
    write(db, "DROP TABLE pruner_settings")
    write(db, "DROP INDEX trials_run_est")
    write(db, "ALTER TABLE trials DROP COLUMN est_accuracy")
    write(db, "ALTER TABLE ppo_updates DROP COLUMN explained_variance")
    write(db, "DROP TABLE strategy_history")
    write(db, "DROP TABLE strategy_parts")
    for column in ("lr", "batch_size", "lstm_units", "dropout", "embed_dim", "lstm_layers"):
        write(db, f"ALTER TABLE trials ADD COLUMN {column}")
    write(db, "ALTER TABLE trials ADD COLUMN optimizer TEXT")
    write(db, "DROP TABLE importance")
    write(db, "PRAGMA user_version = 2")

    done = hptui("resume", str(run_id), "--headless", "--db", str(db))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "saved by an older hptui as a Python pickle" in done.stderr
    assert not marker.exists()
    assert query(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    ((state,),) = query(db, "SELECT state FROM strategy_state")
    assert json.loads(state) == {"format": "hptui-dropped-pickle"}  # the pickle is gone


def test_saved_state_is_plain_json() -> None:
    s = make_bayes_ppo(seed=2)
    run_warmup(s)
    blob = encode_state("bayes-ppo", s.state_dict())
    assert b"\x80" not in blob[:1]
    json.loads(blob)  # plain JSON, nothing a loader could execute


def test_bayes_json_round_trip_proposes_what_the_uninterrupted_run_would() -> None:
    """One point per batch, so the restored optimizer's next point (chosen by its last fit)
    and random state both matter."""

    def fresh() -> BayesSearch:
        return BayesSearch(default_space(), n_calls=9, n_initial_points=3, epochs=1, seed=7)

    a = fresh()
    for _ in range(5):  # past the random initial points: the GP chooses
        p = a.ask()
        a.tell(p, ok(p))
    b = fresh()
    b.load_state_dict(decode_state(encode_state("bayes", a.state_dict()), "bayes"))
    assert b.observations == a.observations
    assert [p.config for p in drive(a)] == [p.config for p in drive(b)]


def test_bayes_ppo_json_round_trip_keeps_policy_and_optimizer() -> None:
    a = make_bayes_ppo(seed=3, epochs=3)
    first = run_warmup(a)[-1]
    a.tell(first, ppo_outcome(first))
    while a.ppo_epoch < 1:  # through the first PPO update: weights and Adam moments moved
        p = a.ask()
        a.tell(p, ppo_outcome(p))
    b = make_bayes_ppo(seed=3, epochs=3)
    b.load_state_dict(decode_state(encode_state("bayes-ppo", a.state_dict()), "bayes-ppo"))
    for x, y in zip(a.agent.actor.get_weights(), b.agent.actor.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a.agent.optimizer.variables, b.agent.optimizer.variables, strict=True):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    pa, pb = a.ask(), b.ask()
    assert pa.key == pb.key and pa.config == pb.config
