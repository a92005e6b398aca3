"""The search redesign: equal budgets, the best under noise, the default enqueued, and PPO's
proposals screened by expected improvement."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from engine.config import RunConfig
from engine.estimate import FidelityGP, best_index, estimated_accuracy, expected_improvement
from engine.ppo import PPOConfig, trajectory_length
from engine.profiles import PROFILES
from engine.setup import build_strategy
from engine.space import default_space
from engine.strategies.base import Outcome
from engine.strategies.bayes import BayesSearch
from engine.strategies.bayes_ppo import BayesPPO
from tests.test_strategies import drive, ok, synthetic_acc

# --- equal budgets ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["seed", "quick"])
def test_every_strategy_trains_as_many_epochs_as_bayes_ppo(name: str) -> None:
    p = PROFILES[name]
    two_stage = p.epochs_for("bayes-ppo")
    for strategy in ("bayes", "random", "grid"):
        # within one trial's epochs of bayes-ppo, never fewer
        assert two_stage <= p.epochs_for(strategy) < two_stage + p.search_epochs


def test_two_stage_epochs_hand_computed() -> None:
    # quick: 16 two-epoch warm-up trials; 4 PPO epochs x 4 trajectories, length 1, 1, 2, 2
    # (progress 0, 1/4 < 0.5), 2 epochs a step -> 16 * 2 + 4 * 6 * 2 = 80
    assert PROFILES["quick"].two_stage_epochs == 80
    assert [trajectory_length(e, 4, 1, 2) for e in range(4)] == [1, 1, 2, 2]
    # seed: 15 * 2 + 8 * (10 * 1 + 10 * 3) * 2 = 670
    assert PROFILES["seed"].two_stage_epochs == 670
    assert [trajectory_length(e, 6, 1, 2) for e in range(6)] == [1, 1, 1, 2, 2, 2]


def test_strategies_get_the_derived_budget() -> None:
    p = PROFILES["quick"]
    space = default_space()
    for name in ("bayes", "random", "grid"):
        s = build_strategy(RunConfig(strategy=name), p, space, 2)
        assert s.planned_trials == p.search_trials == 40


# --- the best under noise -----------------------------------------------------------------


def test_expected_improvement_hand_values() -> None:
    # std 0: EI is max(mean - best, 0); mean = best: EI = std * pdf(0) = std / sqrt(2 pi)
    ei = expected_improvement(np.array([0.8, 0.7, 0.75]), np.array([0.0, 0.0, 0.1]), 0.75)
    assert ei[0] == pytest.approx(0.05)
    assert ei[1] == pytest.approx(0.0, abs=1e-9)
    assert ei[2] == pytest.approx(0.1 / math.sqrt(2 * math.pi))


def test_best_index_prefers_the_faster_on_a_tie() -> None:
    assert best_index([0.7, 0.8, 0.8], [1.0, 9.0, 3.0]) == 2
    assert best_index([0.7, 0.9, 0.8], [1.0, 9.0, 3.0]) == 1


def test_estimate_shrinks_a_lucky_measurement() -> None:
    """One trial got luck on top of the noise: its estimate is pulled back toward what its
    neighbours say (the noise has a floor, so the GP cannot just interpolate it)."""
    space = default_space()
    rng = np.random.default_rng(0)
    configs = [space.sample(rng) for _ in range(40)]
    truth = np.array([synthetic_acc(c) for c in configs])
    measured = truth + rng.normal(0, 0.02, len(truth))
    lucky = int(np.argsort(truth)[len(truth) // 2])  # a middling configuration
    measured[lucky] = measured.max() + 0.05
    est = estimated_accuracy(space, configs, measured, [2] * len(configs))
    assert measured[lucky] - est[lucky] > 0.02


def test_choosing_by_estimate_beats_the_luckiest_measurement() -> None:
    """Over ten noisy runs of a smooth objective, the configuration with the best estimate is
    truly better on average than the one measured best, and never much worse."""
    space = default_space()
    by_estimate, by_measure = [], []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        configs = [space.sample(rng) for _ in range(40)]
        truth = np.array([synthetic_acc(c) for c in configs])
        measured = truth + rng.normal(0, 0.02, len(truth))
        est = estimated_accuracy(space, configs, measured, [2] * len(configs))
        by_estimate.append(truth[best_index(est)])
        by_measure.append(truth[int(np.argmax(measured))])
    assert np.mean(by_estimate) > np.mean(by_measure)


def test_estimate_puts_fidelities_on_one_scale() -> None:
    """1-epoch results read 0.1 lower than 2-epoch ones of the same configurations: the
    estimates at the longest training close that gap."""
    space = default_space()
    rng = np.random.default_rng(1)
    configs = [space.sample(rng) for _ in range(30)]
    acc = [synthetic_acc(c) - (0.1 if i % 2 else 0.0) for i, c in enumerate(configs)]
    epochs = [1 if i % 2 else 2 for i in range(30)]
    est = estimated_accuracy(space, configs, acc, epochs)
    gaps = [est[i] - acc[i] for i in range(30) if i % 2]
    assert np.mean(gaps) > 0.05


def test_estimate_with_few_trials_is_the_measurement() -> None:
    space = default_space()
    configs = [space.default_config()] * 2
    assert list(estimated_accuracy(space, configs, [0.6, 0.7], [2, 2])) == [0.6, 0.7]


# --- the default enqueued -----------------------------------------------------------------


def test_bayes_evaluates_the_default_first() -> None:
    space = default_space()
    for batch in (1, 3):
        b = BayesSearch(space, 6, 3, 2, seed=5, batch=batch, initial=[space.default_config()])
        asked = drive(b)
        assert asked[0].config == space.default_config()
        assert len(asked) == 6
        assert sum(p.config == space.default_config() for p in asked) == 1


def test_bayes_initial_survives_a_state_round_trip() -> None:
    space = default_space()
    b = BayesSearch(space, 6, 3, 2, seed=5, batch=2, initial=[space.default_config()])
    state = json.loads(json.dumps(b.state_dict()))
    c = BayesSearch(space, 6, 3, 2, seed=5, batch=2)
    c.load_state_dict(state)
    p = c.ask()
    assert p is not None and p.config == space.default_config()


# --- PPO screened by expected improvement -------------------------------------------------


def small_bayes_ppo(seed: int = 3, **screening: Any) -> BayesPPO:
    space = default_space()
    warm = BayesSearch(
        space,
        4,
        2,
        1,
        seed,
        batch=2,
        phase="warmup",
        early_stopping=False,
        initial=[space.default_config()],
    )
    cfg = PPOConfig(
        ppo_epochs=2,
        trajectories=3,
        len_early=1,
        len_late=2,
        step_epochs=2,
        hidden=(16, 16),
        update_epochs=2,
        **screening,
    )
    return BayesPPO(space, warm, cfg, seed)


def test_screened_step_is_the_max_ei_candidate() -> None:
    s = small_bayes_ppo(candidates=16, ei_share=0.0)
    while not s.warmup.done():
        batch = []
        while (p := s.ask()) is not None and p.phase == "warmup":
            batch.append(p)
        for p in batch:
            s.tell(p, ok(p))
    p = s.ask()
    assert p is not None and p.phase == "ppo"
    screen = p.extra["screen"]
    assert screen["by"].startswith("max EI of 16")
    # Redo the draw: the chosen action is the candidate with the highest EI.
    rng = np.random.default_rng([s.seed, 0, 0, 0])
    obs = np.asarray(p.extra["state"], np.float32)
    cands = s.agent.mean_action(obs) + s.agent.std() * rng.standard_normal((16, 7))
    mean, std = s.gp.predict_actions(cands)
    ei = expected_improvement(mean, std, s._incumbent)
    assert np.allclose(p.extra["action"], cands[int(np.argmax(ei))], atol=1e-5)
    assert screen["ei"] == pytest.approx(float(ei.max()), rel=1e-6)
    # and its log-prob is the policy's for that action
    logp, _ = s.agent.evaluate(obs, np.asarray(p.extra["action"], np.float32))
    assert p.extra["logprob"] == pytest.approx(logp, abs=1e-4)


def off_default(c: dict) -> float:
    """Like synthetic_acc, but peaked away from the default configuration (lr 4e-3, dropout
    0.25, 128 units, batch 16), so the warm-up's start does not already sit on the optimum."""
    return float(
        0.9
        - 0.1 * (math.log10(c["lr"]) + 2.4) ** 2
        - 2.0 * (c["dropout"] - 0.25) ** 2
        - 0.02 * (c["lstm_units"] != 128)
        - 0.02 * (c["optimizer"] != "adam")
        - 0.01 * (c["batch_size"] != 16)
    )


def best_found(s: BayesPPO) -> float:
    best = 0.0
    while not s.done():
        batch = []
        while (p := s.ask()) is not None:
            batch.append(p)
        for p in batch:
            acc = off_default(p.config)
            best = max(best, acc)
            s.tell(p, Outcome(True, acc, 1.0, 90 * acc))
    return best


def test_screening_finds_better_configurations_than_plain_sampling() -> None:
    """Same seeds, same budget: the best configuration found is better on average with the
    policy's samples screened by EI than with the policy's one sample (SPEC's PPO)."""
    seeds = (1, 2, 3, 4)
    screened = [best_found(small_bayes_ppo(s, candidates=32)) for s in seeds]
    plain = [best_found(small_bayes_ppo(s, candidates=1)) for s in seeds]
    assert np.mean(screened) > np.mean(plain)


def test_history_round_trips_and_the_gp_is_rebuilt() -> None:
    s = small_bayes_ppo(candidates=8)
    for _ in range(3):
        batch = []
        while (p := s.ask()) is not None:
            batch.append(p)
        for p in batch:
            s.tell(p, ok(p))
    state = json.loads(json.dumps(s.state_dict()))
    t = small_bayes_ppo(candidates=8)
    t.load_state_dict(state)
    assert t.history == s.history and len(t.history) >= 4
    p, q = s.ask(), t.ask()
    assert p is not None and q is not None and p.config == q.config


def test_failed_step_is_told_to_the_gp_as_chance() -> None:
    s = small_bayes_ppo(candidates=4)
    p = s.ask()
    assert p is not None
    s.tell(p, Outcome(False, 0.0, 0.0, 0.0, "NaN"))
    assert s.history[-1][1] == 0.5


def test_fidelity_gp_reuses_its_kernel_between_refits() -> None:
    space = default_space()
    rng = np.random.default_rng(2)
    configs = [space.sample(rng) for _ in range(12)]
    acc = [synthetic_acc(c) for c in configs]
    gp = FidelityGP(space, refit_every=3)
    assert gp.fit(configs[:10], acc[:10], [2] * 10)
    kernel = gp.gp.kernel_
    assert gp.fit(configs[:11], acc[:11], [2] * 11)  # reuses the kernel: not re-optimised
    assert str(gp.gp.kernel_) == str(kernel)


def test_the_profile_sets_the_whole_ppo_configuration() -> None:
    # One PPOConfig per profile: the strategy runs on it as it is, screening included.
    p = PROFILES["quick"]
    s = build_strategy(RunConfig(strategy="bayes-ppo"), p, default_space(), 2)
    assert isinstance(s, BayesPPO) and s.cfg is p.ppo and s.agent.cfg is p.ppo
    assert p.ppo.candidates == 256 and p.ppo.update_epochs == 10 and p.ppo.ppo_epochs == 4


def test_quick_profile_trains_every_trial_two_epochs() -> None:
    # One-epoch accuracies on the quick data are too noisy (4.5 points) to rank a warm-up.
    p = PROFILES["quick"]
    s = build_strategy(RunConfig(strategy="bayes-ppo"), p, default_space(), 2)
    first = s.ask()
    assert first is not None and first.phase == "warmup"
    assert first.epochs == p.ppo.step_epochs == p.search_epochs == 2 and first.early_stopping
    assert s.planned_trials == p.search_trials == 40


def test_quick_final_validation_checks_the_fidelity_the_search_ranked() -> None:
    # The final check retrains the best and the default as the search measured them: at 3
    # epochs the quick data overfits and the 2-epoch ranking barely predicts the result.
    p = PROFILES["quick"]
    assert p.final_epochs == p.ppo.step_epochs == p.warmup_epochs == p.search_epochs
