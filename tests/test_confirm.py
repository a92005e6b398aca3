"""The confirmation stage (engine.confirm_stage, engine.strategies.confirm): the search's top
candidates and the default trained again under new seeds, before the test set is touched;
stored as phase `confirm`, and carried on after an interruption like any stage."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from engine.choice import choose
from engine.config import RunConfig
from engine.profiles import PROFILES
from engine.runner import Engine
from engine.setup import create_run
from engine.space import DEFAULT_CONFIG, default_space
from engine.strategies.base import Outcome
from engine.strategies.confirm import Confirmation
from storage.store import Store
from tests.conftest import FAKE_TRAINER

A = {**DEFAULT_CONFIG, "lr": 3e-3}
B = {**DEFAULT_CONFIG, "lstm_units": 128}


def test_the_stage_proposes_every_configuration_once_per_round_and_skips_what_is_done() -> None:
    s = Confirmation(default_space(), [A, B], DEFAULT_CONFIG, epochs=2, repeats=2)
    asked = [s.ask() for _ in range(6)]
    assert s.ask() is None and not s.done() and s.planned_trials == 6
    assert [p.config for p in asked] == [A, B, DEFAULT_CONFIG] * 2  # type: ignore[union-attr]
    assert all(p.phase == "confirm" and p.epochs == 2 for p in asked)  # type: ignore[union-attr]
    keys = [p.key for p in asked]  # type: ignore[union-attr]
    assert len(set(keys)) == 6 and not s.tests and not s.searching
    for p in asked:
        s.tell(p, Outcome(True, 0.7))  # type: ignore[arg-type]
    assert s.done()
    again = Confirmation(
        default_space(), [A, B], DEFAULT_CONFIG, epochs=2, repeats=2, done=keys[:4]
    )
    assert [p.key for p in (again.ask(), again.ask())] == keys[4:]  # type: ignore[union-attr]


def test_every_strategy_budget_counts_the_same_stage() -> None:
    quick = PROFILES["quick"]
    assert quick.confirm_epochs("bayes-ppo") == quick.confirm_epochs("random") == 16
    assert all(p.confirm_candidates >= 1 and p.confirm_repeats >= 1 for p in PROFILES.values())


@pytest.fixture
def two_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two candidates, two rounds: six confirmation trainings, room to stop in between."""
    tiny = replace(PROFILES["tiny"], confirm_candidates=2, confirm_repeats=2)
    monkeypatch.setitem(PROFILES, "tiny", tiny)


def test_resume_in_the_middle_of_the_confirmation_stage(
    tmp_path: Path, cache_env: None, two_rounds: None
) -> None:
    db = tmp_path / "c.db"
    s = Store(db)
    rid = create_run(
        s, RunConfig(strategy="random", profile="tiny", data="sample", workers=2, seed=3)
    )
    s.close()

    def confirmed(store: Store) -> list[dict]:
        return store.trials(rid, phase="confirm", status="finished")

    def interrupt_after_one(engine: Engine) -> None:
        if confirmed(engine.store):
            engine.lock.interrupted = True  # as Ctrl+C or SIGTERM do

    assert Engine(db, rid, trainer=FAKE_TRAINER, on_tick=interrupt_after_one).run() == (
        "interrupted"
    )
    store = Store(db, readonly=True)
    run, before = store.run(rid), confirmed(store)
    assert run["status"] == "interrupted" and run["phase"] == "confirm"
    assert 1 <= len(before) < 6 and not store.trials(rid, phase="final")
    store.close()

    assert Engine(db, rid, trainer=FAKE_TRAINER).run() == "finished"
    store = Store(db, readonly=True)
    after = confirmed(store)
    keys = [t["extra"]["key"] for t in after]
    assert len(after) == 6 and len(set(keys)) == 6  # each training once, none repeated
    assert {t["id"] for t in before} <= {t["id"] for t in after}
    search = [t for t in store.trials(rid) if t["phase"] == "search"]
    assert len(search) == PROFILES["tiny"].search_trials  # the search was not run again
    choice = choose(store.trials(rid))
    assert choice is not None and choice.confirmed and choice.best.n >= 2
    assert store.run(rid)["final"] is not None
    store.close()
