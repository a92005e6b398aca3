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


C = {**DEFAULT_CONFIG, "dropout": 0.1}


def _measured(config: dict, acc: float, number: int, phase: str = "search") -> dict:
    return {"number": number, "config": config, "val_accuracy": acc, "seconds": 10.0,
            "penalty": 0, "phase": phase, "status": "finished", "max_epochs": 2}  # fmt: skip


def test_a_second_round_measures_the_best_after_the_first_and_the_default() -> None:
    search = [_measured(A, 0.80, 1), _measured(B, 0.79, 2), _measured(C, 0.78, 3)]
    s = Confirmation(
        default_space(), [A, B, C], DEFAULT_CONFIG, epochs=2, repeats=1, keep=1, measured=search
    )
    assert s.planned_trials == 4 + 2
    first = [s.ask() for _ in range(4)]
    assert [p.config for p in first] == [A, B, C, DEFAULT_CONFIG]  # type: ignore[union-attr]
    # Round 1 is still running: the default's second training need not wait for it.
    early = s.ask()
    assert early is not None and early.config == DEFAULT_CONFIG and early.extra["round"] == 2
    assert s.ask() is None and not s.done()
    for p, acc in zip(first, (0.70, 0.82, 0.75, 0.72), strict=True):
        s.tell(p, Outcome(True, acc, 10.0))  # type: ignore[arg-type]
    # B: (0.79 + 0.82) / 2 leads A: (0.80 + 0.70) / 2, the search's single best.
    final = s.ask()
    assert final is not None and final.config == B and final.key == "confirm-candidate-2-2"
    assert s.ask() is None and not s.done()
    s.tell(early, Outcome(True, 0.7, 10.0))
    s.tell(final, Outcome(True, 0.8, 10.0))
    assert s.done() and len({p.key for p in [*first, early, final]}) == 6

    # Resumed after round 1 (its results from the store): the same second round.
    stored = [_measured(p.config, a, 10 + i, "confirm") for i, (p, a) in  # type: ignore[union-attr]
              enumerate(zip(first, (0.70, 0.82, 0.75, 0.72), strict=True))]  # fmt: skip
    again = Confirmation(
        default_space(), [A, B, C], DEFAULT_CONFIG, epochs=2, repeats=1, keep=1,
        measured=search + stored, done=[p.key for p in first],  # type: ignore[union-attr]
    )  # fmt: skip
    asked = [again.ask(), again.ask()]
    assert {p.key for p in asked} == {early.key, final.key}  # type: ignore[union-attr]
    assert again.ask() is None


def test_a_candidate_whose_first_training_failed_does_not_go_on_by_its_lucky_search_one() -> None:
    search = [_measured(A, 0.80, 1), _measured(B, 0.79, 2)]
    s = Confirmation(
        default_space(), [A, B], DEFAULT_CONFIG, epochs=2, repeats=1, keep=1, measured=search
    )
    first = [s.ask() for _ in range(3)]
    s.ask()  # the default's second training
    s.tell(first[0], Outcome(False, error="killed"))  # type: ignore[arg-type]
    s.tell(first[1], Outcome(True, 0.70, 10.0))  # type: ignore[arg-type]
    s.tell(first[2], Outcome(True, 0.70, 10.0))  # type: ignore[arg-type]
    # A has only its search measurement, 0.80 (the single one the stage exists to doubt), B
    # a mean of 0.745 over two: B goes on, as the choice ranks only what the stage measured.
    nxt = s.ask()
    assert nxt is not None and nxt.config == B


def test_the_budget_counts_the_second_round() -> None:
    halving = replace(PROFILES["quick"], confirm_candidates=6, confirm_repeats=1, confirm_keep=2)
    assert halving.confirm_epochs("bayes-ppo") == (7 + 3) * 2


@pytest.fixture(params=[(2, 2, 0), (2, 1, 1)], ids=["2x2", "2x1-then-1x1"])
def two_rounds(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> int:
    """Two candidates, two rounds (the same twice, or the better one only the second time):
    room to stop in between. Returns the trainings the stage makes."""
    k, r, keep = request.param
    tiny = replace(PROFILES["tiny"], confirm_candidates=k, confirm_repeats=r, confirm_keep=keep)
    monkeypatch.setitem(PROFILES, "tiny", tiny)
    return (k + 1) * r + ((keep + 1) * r if keep else 0)


def test_resume_in_the_middle_of_the_confirmation_stage(
    tmp_path: Path, cache_env: None, two_rounds: int
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
    assert 1 <= len(before) < two_rounds and not store.trials(rid, phase="final")
    store.close()

    assert Engine(db, rid, trainer=FAKE_TRAINER).run() == "finished"
    store = Store(db, readonly=True)
    after = confirmed(store)
    keys = [t["extra"]["key"] for t in after]
    # each training once, none repeated
    assert len(after) == two_rounds and len(set(keys)) == two_rounds
    assert {t["id"] for t in before} <= {t["id"] for t in after}
    search = [t for t in store.trials(rid) if t["phase"] == "search"]
    assert len(search) == PROFILES["tiny"].search_trials  # the search was not run again
    choice = choose(store.trials(rid))
    assert choice is not None and choice.confirmed and choice.best.n >= 2
    assert store.run(rid)["final"] is not None
    store.close()
