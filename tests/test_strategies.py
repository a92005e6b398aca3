"""Strategies driven in-process on a cheap synthetic objective (no trainer)."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
from skopt import Optimizer

from engine.space import SearchSpace, default_space, state_vector
from engine.strategies.base import Outcome, Proposal, Strategy
from engine.strategies.bayes import BayesSearch, to_skopt
from engine.strategies.grid import GridSearch
from engine.strategies.random_search import RandomSearch


def synthetic_acc(c: dict) -> float:
    """Smooth, peaked at lr 1e-3 and dropout 0.3; small terms for the categories."""
    return float(
        0.9
        - 0.1 * (math.log10(c["lr"]) + 3.0) ** 2
        - 2.0 * (c["dropout"] - 0.3) ** 2
        - 0.01 * (c["lstm_units"] != 64)
        - 0.01 * (c["optimizer"] != "adam")
    )


def ok(p: Proposal) -> Outcome:
    acc = synthetic_acc(p.config)
    return Outcome(True, acc, 1.0, 100 * 0.9 * acc)


def drive(strategy: Strategy, limit: int = 500) -> list[Proposal]:
    """Ask until nothing can start, then tell everything pending, in order, until done."""
    asked: list[Proposal] = []
    for _ in range(limit):
        if strategy.done():
            return asked
        batch = []
        while (p := strategy.ask()) is not None:
            batch.append(p)
        assert batch or strategy.done(), "nothing proposed, nothing running"
        asked += batch
        for p in batch:
            strategy.tell(p, ok(p))
    raise AssertionError("strategy did not finish")


def key(c: dict) -> str:
    return json.dumps(c, sort_keys=True)


# --- random -------------------------------------------------------------------------------


def test_random_search_budget_and_space() -> None:
    space = default_space()
    s = RandomSearch(space, n_trials=12, epochs=2, seed=5)
    ps = drive(s)
    assert len(ps) == 12 and s.done() and s.planned_trials == 12
    assert all(space.contains(p.config) and p.epochs == 2 and p.phase == "search" for p in ps)
    assert len({p.key for p in ps}) == 12
    assert len({key(p.config) for p in ps}) == 12
    assert [p.progress for p in ps[:3]] == pytest.approx([0, 1 / 12, 2 / 12])
    assert s.ask() is None
    # same seed -> same sequence, whatever order results come back
    s2 = RandomSearch(space, 12, 2, seed=5)
    first = [s2.ask() for _ in range(12)]
    for p in reversed(first):
        s2.tell(p, ok(p))
    assert [p.config for p in first] == [p.config for p in ps]
    assert s2.done()
    s3 = RandomSearch(space, 12, 2, seed=6)
    assert s3.ask().config != ps[0].config


def test_random_search_draws_inside_new_space() -> None:
    s = RandomSearch(default_space(), 40, 1, seed=0)
    for _ in range(5):
        p = s.ask()
        s.tell(p, ok(p))
    new = default_space().edited(
        {
            "lr": {"type": "real", "low": 2e-3, "high": 3e-3},
            "batch_size": [16],
            "optimizer": ["sgd"],
        }
    )
    s.on_space_change(new)
    for _ in range(20):
        p = s.ask()
        assert new.contains(p.config)
        assert 2e-3 <= p.config["lr"] <= 3e-3 and p.config["batch_size"] == 16
        s.tell(p, ok(p))


def test_random_state_round_trip_and_requeue() -> None:
    space = default_space()
    s = RandomSearch(space, 8, 1, seed=9)
    a, b = s.ask(), s.ask()
    s.tell(a, ok(a))
    restored = RandomSearch(space, 8, 1, seed=9)
    restored.load_state_dict(pickle.loads(pickle.dumps(s.state_dict())))
    restored.requeue_pending()
    again = restored.ask()
    assert again.key == b.key and again.config == b.config  # the interrupted one comes first
    restored.tell(again, ok(again))
    s.tell(b, ok(b))
    rest_a = [s.ask().config for _ in range(6)]
    rest_b = [restored.ask().config for _ in range(6)]
    assert rest_a == rest_b
    assert s.ask() is None and restored.ask() is None


# --- grid ----------------------------------------------------------------------------------


def test_grid_search_visits_distinct_grid_points() -> None:
    space = default_space()
    g = GridSearch(space, max_trials=30, epochs=1, seed=1)
    assert g.planned_trials == 30
    ps = drive(g)
    grid = {key(c) for c in space.grid(3)}
    assert len(ps) == 30 and len({key(p.config) for p in ps}) == 30
    assert all(key(p.config) in grid for p in ps)
    same = GridSearch(space, 30, 1, seed=1)
    assert [same.ask().config for _ in range(30)] == [p.config for p in ps]


def test_grid_exhausts_small_space() -> None:
    small = default_space().edited(
        {
            "lr": [1e-3],
            "batch_size": [32],
            "lstm_units": [64],
            "dropout": [0.3],
            "embed_dim": [64, 128],
            "lstm_layers": [1],
            "optimizer": ["adam", "sgd"],
        }
    )
    g = GridSearch(small, max_trials=100, epochs=1, seed=0)
    assert g.planned_trials == 4
    ps = drive(g)
    assert len(ps) == 4 and g.done()
    assert len({key(p.config) for p in ps}) == 4


def test_grid_space_change_never_repeats() -> None:
    space = default_space()
    g = GridSearch(space, max_trials=200, epochs=1, seed=2)
    visited = []
    for _ in range(25):
        p = g.ask()
        visited.append(key(p.config))
        g.tell(p, ok(p))
    new = space.edited({"optimizer": ["adam"], "lstm_layers": [1]})
    msg = g.on_space_change(new)
    assert "points left" in msg
    remaining = {key(c) for c in new.grid(3)}
    left = len(remaining - set(visited))
    assert len(g.points) == left and g.planned_trials == min(200, 25 + left)
    seen = set(visited)
    while (p := g.ask()) is not None:
        assert new.contains(p.config) and key(p.config) in remaining
        assert p.config["optimizer"] == "adam" and p.config["lstm_layers"] == 1
        assert key(p.config) not in seen
        seen.add(key(p.config))
        g.tell(p, ok(p))
    assert g.done() and len(seen) == min(200, 25 + left)


def test_grid_state_round_trip() -> None:
    space = default_space()
    g = GridSearch(space, 20, 1, seed=3)
    ps = [g.ask() for _ in range(5)]
    for p in ps[:4]:
        g.tell(p, ok(p))
    r = GridSearch(space, 20, 1, seed=3)
    r.load_state_dict(pickle.loads(pickle.dumps(g.state_dict())))
    r.requeue_pending()
    assert r.ask().config == ps[4].config
    g.tell(ps[4], ok(ps[4]))
    assert [g.ask().config for _ in range(15)] == [r.ask().config for _ in range(15)]


# --- bayes ---------------------------------------------------------------------------------


def fresh_opt(space: SearchSpace, n_init: int, seed: int) -> Optimizer:
    return Optimizer(
        to_skopt(space),
        base_estimator="GP",
        acq_func="EI",
        n_initial_points=n_init,
        initial_point_generator="random",
        random_state=seed,
    )


def test_bayes_initial_points_explicit() -> None:
    space = default_space()
    b = BayesSearch(space, n_calls=6, n_initial_points=3, epochs=1, seed=42, batch=3)
    assert b.opt.models == [] and b.opt.Xi == []
    first = [b.ask() for _ in range(3)]
    assert b.ask() is None  # waits for the batch
    xs = [[p.config[n] for n in space.names] for p in first]
    # the optimizer's own next point, then points the lies moved it to: random, distinct
    assert xs[0] == fresh_opt(space, 3, 42).ask()
    assert len({tuple(x) for x in xs}) == 3
    for p in first:
        b.tell(p, ok(p))
    # the GP is fitted after exactly 3 distinct random points (skopt's default would be 10)
    assert len(b.opt.models) == 1
    assert len({tuple(x) for x in b.opt.Xi}) == len(b.opt.Xi) == 3


def test_bayes_gp_not_fitted_before_initial_points() -> None:
    b = BayesSearch(default_space(), n_calls=10, n_initial_points=4, epochs=1, seed=0)
    for i in range(4):
        assert b.opt.models == [], f"GP fitted after {i} points"
        p = b.ask()
        b.tell(p, ok(p))
    assert len(b.opt.models) == 1


def test_bayes_finds_better_than_initial_random() -> None:
    b = BayesSearch(default_space(), n_calls=12, n_initial_points=5, epochs=1, seed=42)
    ps = drive(b)
    assert len(ps) == 12 and b.done() and b.told == 12
    accs = [synthetic_acc(p.config) for p in ps]
    assert max(accs[5:]) > max(accs[:5]) + 0.005
    assert b.top(3)[0][1] == max(accs)
    assert [a for _, a in b.top(3)] == sorted(accs, reverse=True)[:3]


def test_bayes_batches_distinct_and_waiting() -> None:
    b = BayesSearch(default_space(), n_calls=7, n_initial_points=2, epochs=1, seed=1, batch=3)
    batch1 = [b.ask() for _ in range(3)]
    assert all(p is not None for p in batch1)
    assert len({key(p.config) for p in batch1}) == 3
    assert b.ask() is None
    b.tell(batch1[1], ok(batch1[1]))
    b.tell(batch1[0], ok(batch1[0]))
    assert b.ask() is None  # still one out
    assert b.told == 0  # a batch is told to the GP only once complete
    b.tell(batch1[2], ok(batch1[2]))
    assert b.told == 3
    batch2 = [b.ask() for _ in range(3)]
    assert all(p is not None for p in batch2) and len({key(p.config) for p in batch2}) == 3
    assert b.ask() is None
    for p in batch2:
        b.tell(p, ok(p))
    last = b.ask()  # 7 - 6 = 1 left
    assert last is not None and b.ask() is None
    b.tell(last, ok(last))
    assert b.done() and b.ask() is None


def test_bayes_async_asks_whenever_a_worker_frees() -> None:
    """Asynchronous mode: a new point while others run (constant liar), told at once."""
    b = BayesSearch(
        default_space(), n_calls=8, n_initial_points=2, epochs=1, seed=1, batch=2, asynchronous=True
    )
    running = [b.ask(), b.ask()]
    first = running.pop(0)
    b.tell(first, ok(first))
    assert b.told == 1  # told at once, not held for the batch
    asked = [first]
    while len(asked) + len(running) < 8:  # one finishes, one starts: a worker never waits
        p = b.ask()
        assert p is not None, "a free worker got nothing to train"
        running.append(p)
        done = running.pop(0)
        b.tell(done, ok(done))
        asked.append(done)
    for p in running:
        b.tell(p, ok(p))
        asked.append(p)
    assert b.ask() is None and b.done() and b.told == 8
    assert len({key(p.config) for p in asked}) == 8, "the liar keeps running points apart"
    assert all(b.space.contains(p.config) for p in asked)


def test_bayes_same_seed_same_sequence_whatever_order() -> None:
    def run(order: str) -> list[dict]:
        b = BayesSearch(default_space(), n_calls=6, n_initial_points=3, epochs=1, seed=7, batch=3)
        out = []
        while not b.done():
            batch = []
            while (p := b.ask()) is not None:
                batch.append(p)
            out += [p.config for p in batch]
            for p in reversed(batch) if order == "rev" else batch:
                b.tell(p, ok(p))
        return out

    a, r = run("fwd"), run("rev")
    assert len(a) == 6 and a == r


def test_bayes_refits_on_observations_inside_new_space() -> None:
    space = default_space()
    b = BayesSearch(space, n_calls=9, n_initial_points=4, epochs=1, seed=3)
    for _ in range(6):
        p = b.ask()
        b.tell(p, ok(p))
    new = space.edited({"lr": {"type": "real", "low": 1e-4, "high": 1e-3, "log": True}})
    inside = [c for c, _ in b.observations if new.contains(c)]
    assert 0 < len(inside) < 6, "seed should give observations on both sides"
    msg = b.on_space_change(new)
    assert f"refitted on {len(inside)} of 6" in msg
    assert len(b.opt.Xi) == len(inside)
    assert [dict(zip(new.names, x, strict=True)) for x in b.opt.Xi] == inside
    while (p := b.ask()) is not None:
        assert new.contains(p.config)
        b.tell(p, ok(p))
    assert b.done() and len(b.observations) == 9


def _bayes_half_done() -> tuple[BayesSearch, BayesSearch]:
    space = default_space()
    b = BayesSearch(space, n_calls=8, n_initial_points=3, epochs=1, seed=4, batch=2)
    for _ in range(2):
        batch = [b.ask(), b.ask()]
        for p in batch:
            b.tell(p, ok(p))
    r = BayesSearch(space, n_calls=8, n_initial_points=3, epochs=1, seed=4, batch=2)
    r.load_state_dict(pickle.loads(pickle.dumps(b.state_dict())))
    return b, r


def test_bayes_state_round_trip_restores_observations() -> None:
    b, r = _bayes_half_done()
    assert r.observations == b.observations and r.asked == b.asked == 4
    assert r.opt.Xi == b.opt.Xi and r.opt.yi == b.opt.yi
    rest = drive(r)
    assert len(rest) == 4 and r.done() and r.told == 8
    assert all(r.space.contains(p.config) for p in rest)


def test_bayes_state_round_trip_continues_identically() -> None:
    b, r = _bayes_half_done()
    assert [p.config for p in drive(b)] == [p.config for p in drive(r)]


def _bayes_one_by_one(n_calls: int, seed: int) -> BayesSearch:
    return BayesSearch(default_space(), n_calls=n_calls, n_initial_points=4, epochs=1, seed=seed)


def test_bayes_relearns_kernel_only_as_observations_grow() -> None:
    b = _bayes_one_by_one(24, seed=2)
    learned, held_theta = [], None
    for n in range(1, 25):
        p = b.ask()
        b.tell(p, ok(p))
        if n < 4:
            continue
        model = b.opt.models[-1]
        signal = model.kernel_.k1  # skopt appends the (zeroed) noise kernel as k2
        if b._learned_at == n:  # re-learned on this fit: the held GP takes its kernel
            learned.append(n)
            held = b.opt.base_estimator_
            assert held.optimizer is None and held.noise == model.noise_
            held_theta = held.kernel.theta
            np.testing.assert_allclose(held_theta, signal.theta)
        else:  # refitted with the hyperparameters held
            np.testing.assert_allclose(signal.theta, held_theta)
            assert model.noise_ == b.opt.base_estimator_.noise
    # Every fit up to 10 points, then at a tenth's growth: 11, 13 (>= 12.1), 15, 17, 19, 21, 24
    assert learned == [4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 21, 24]


def test_bayes_resume_holds_the_same_kernel() -> None:
    """Saved between two re-learnings (held since 13 points, at 14): the resumed run refits
    with the held hyperparameters, not ones learned afresh, and proposes the same points."""
    b = _bayes_one_by_one(20, seed=6)
    for _ in range(14):
        p = b.ask()
        b.tell(p, ok(p))
    assert b._learned_at == 13
    r = _bayes_one_by_one(20, seed=6)
    r.load_state_dict(json.loads(json.dumps(b.state_dict())))
    assert r._learned_at == 13
    np.testing.assert_allclose(
        r.opt.base_estimator_.kernel.theta, b.opt.base_estimator_.kernel.theta
    )
    assert [p.config for p in drive(b)] == [p.config for p in drive(r)]


def test_bayes_requeue_pending_after_crash() -> None:
    space = default_space()
    b = BayesSearch(space, n_calls=6, n_initial_points=3, epochs=1, seed=5, batch=3)
    batch = [b.ask() for _ in range(3)]
    b.tell(batch[0], ok(batch[0]))
    state = pickle.loads(pickle.dumps(b.state_dict()))
    r = BayesSearch(space, n_calls=6, n_initial_points=3, epochs=1, seed=5, batch=3)
    r.load_state_dict(state)
    r.requeue_pending()
    again = [r.ask(), r.ask()]
    assert {p.key for p in again} == {batch[1].key, batch[2].key}
    assert r.ask() is None
    for p in again:
        r.tell(p, ok(p))
    assert r.told == 3
    nxt = [r.ask() for _ in range(3)]
    assert all(p is not None for p in nxt) and r.ask() is None


def test_bayes_failed_outcome_counts_as_zero() -> None:
    b = BayesSearch(default_space(), n_calls=2, n_initial_points=2, epochs=1, seed=0)
    p = b.ask()
    b.tell(p, Outcome(False, 0.7, error="NaN"))
    q = b.ask()
    b.tell(q, ok(q))
    assert b.observations[0] == (p.config, 0.0)
    assert b.done()


# --- bayes + PPO ---------------------------------------------------------------------------


def make_bayes_ppo(seed: int = 0, epochs: int = 2):
    from engine.ppo import PPOConfig
    from engine.strategies.bayes_ppo import BayesPPO

    space = default_space()
    warm = BayesSearch(
        space,
        n_calls=4,
        n_initial_points=3,
        epochs=1,
        seed=seed,
        batch=2,
        phase="warmup",
        early_stopping=False,
    )
    cfg = PPOConfig(
        ppo_epochs=epochs,
        trajectories=2,
        len_early=1,
        len_late=2,
        step_epochs=2,
        hidden=(32, 32),
        update_epochs=3,
    )
    return BayesPPO(space, warm, cfg, seed)


def ppo_outcome(p: Proposal) -> Outcome:
    acc = synthetic_acc(p.config)
    return Outcome(True, acc, 2.0, 100 * 0.9 * acc - 0.02)


def run_warmup(s) -> list[Proposal]:
    ps = []
    while s.stage == "warmup":
        batch = []
        while (p := s.ask()) is not None and p.phase == "warmup":
            batch.append(p)
        if p is not None:  # the first PPO proposal
            return ps + [p]
        ps += batch
        for q in batch:
            s.tell(q, ok(q))
    raise AssertionError("warm-up did not hand over to PPO")


def test_bayes_ppo_schedule_and_updates() -> None:
    s = make_bayes_ppo()
    assert s.planned_trials == 4 + 2 * 1 + 2 * 2
    assert s.phase() == "warmup"
    ps = run_warmup(s)
    warm, first = ps[:-1], ps[-1]
    assert len(warm) == 4 and all(p.phase == "warmup" and p.epochs == 1 for p in warm)
    assert not any(p.early_stopping for p in warm)
    # the policy mean starts at the mean action of the warm-up's top 3
    top = s.warmup.top(3)
    target = np.mean([s.space.to_action(c) for c, _ in top], axis=0)
    s0 = state_vector(s.space, s.space.default_config(), 0.0)
    np.testing.assert_allclose(s.agent.mean_action(s0), np.clip(target, -0.95, 0.95), atol=0.05)
    assert any("warm-up done" in e for e in s.pop_events())
    assert s.phase() == "ppo"

    # PPO epoch 1: 2 trajectories of length 1
    second = s.ask()
    assert (first.ppo_epoch, first.trajectory, first.step) == (1, 1, 1)
    assert (second.ppo_epoch, second.trajectory, second.step) == (1, 2, 1)
    assert first.epochs == 2 and first.early_stopping and first.progress == 0.0
    np.testing.assert_allclose(first.extra["state"], s0, atol=1e-6)
    assert s.space.contains(first.config)
    assert s.ask() is None
    s.tell(first, ppo_outcome(first))
    assert s.ask() is None and s.pop_updates() == []
    s.tell(second, ppo_outcome(second))
    ups = s.pop_updates()
    assert len(ups) == 1
    u = ups[0]
    assert (u["ppo_epoch"], u["traj_len"], u["n_steps"]) == (1, 1, 2)
    for k in ("actor_loss", "critic_loss", "approx_kl", "mean_std", "entropy"):
        assert math.isfinite(u[k])
    assert u["mean_std"] > 0
    assert u["best_reward"] == pytest.approx(max(ppo_outcome(p).reward for p in (first, second)))

    # PPO epoch 2: length 2; step 2 only after step 1 is told, from step 1's state
    a, b = s.ask(), s.ask()
    assert [(p.ppo_epoch, p.trajectory, p.step) for p in (a, b)] == [(2, 1, 1), (2, 2, 1)]
    assert a.progress == 0.5
    assert s.ask() is None
    s.tell(b, ppo_outcome(b))
    b2 = s.ask()
    assert (b2.trajectory, b2.step) == (2, 2)
    np.testing.assert_allclose(
        b2.extra["state"], state_vector(s.space, b.config, ppo_outcome(b).reward), atol=1e-6
    )
    assert s.ask() is None
    s.tell(a, ppo_outcome(a))
    a2 = s.ask()
    assert (a2.trajectory, a2.step) == (1, 2)
    s.tell(a2, ppo_outcome(a2))
    assert s.pop_updates() == [] and not s.done()
    s.tell(b2, ppo_outcome(b2))
    ups = s.pop_updates()
    assert len(ups) == 1 and (ups[0]["ppo_epoch"], ups[0]["traj_len"], ups[0]["n_steps"]) == (
        2,
        2,
        4,
    )
    assert s.done() and s.ask() is None


def test_bayes_ppo_failed_step_ends_trajectory() -> None:
    s = make_bayes_ppo(seed=1, epochs=2)
    first = run_warmup(s)[-1]
    second = s.ask()
    for p in (first, second):
        s.tell(p, ppo_outcome(p))
    s.pop_updates()
    a, b = s.ask(), s.ask()
    s.tell(a, Outcome(False, 0.0, 0.0, -5.0, "NaN"))
    assert s.ask() is None  # trajectory 1 ended; trajectory 2 still running
    s.tell(b, ppo_outcome(b))
    b2 = s.ask()
    assert (b2.trajectory, b2.step) == (2, 2)
    assert s.ask() is None
    s.tell(b2, ppo_outcome(b2))
    ups = s.pop_updates()
    assert len(ups) == 1 and ups[0]["n_steps"] == 3
    assert s.done()


def test_bayes_ppo_same_seed_same_proposals_and_state_round_trip() -> None:
    def until_ppo(seed):
        s = make_bayes_ppo(seed=seed)
        first = run_warmup(s)[-1]
        return s, first

    s1, f1 = until_ppo(3)
    s2, f2 = until_ppo(3)
    assert f1.config == f2.config and f1.extra["action"] == f2.extra["action"]
    # save with one step running, restore elsewhere: the step is re-sampled identically
    state = pickle.loads(pickle.dumps(s1.state_dict()))
    s3 = make_bayes_ppo(seed=3)
    s3.load_state_dict(state)
    s3.requeue_pending()
    g = s3.ask()
    assert (g.ppo_epoch, g.trajectory, g.step) == (1, 1, 1)
    assert g.config == f1.config
    np.testing.assert_allclose(g.extra["action"], f1.extra["action"], atol=1e-6)


def test_final_validation_is_a_strategy_of_two_unrewarded_trials() -> None:
    from engine.space import DEFAULT_CONFIG, default_space
    from engine.strategies.base import Outcome
    from engine.strategies.final import FinalValidation

    best = {"number": 7, "config": {**DEFAULT_CONFIG, "lr": 0.004}}
    final = FinalValidation(default_space(), best, DEFAULT_CONFIG, epochs=3)
    assert not final.searching and final.name == "final" and final.planned_trials == 2
    a, b = final.ask(), final.ask()
    assert a is not None and b is not None and final.ask() is None
    assert [p.extra["role"] for p in (a, b)] == ["best", "default"]
    assert a.config["lr"] == 0.004 and b.config == dict(DEFAULT_CONFIG)
    assert a.phase == "final" and a.epochs == 3 and a.early_stopping
    assert a.extra["best_trial"] == 7
    assert not final.done()
    final.tell(a, Outcome(True, 0.8, 10.0))
    final.tell(b, Outcome(False, error="boom"))  # a failure is not run again
    assert final.done()
    assert a.key == "final-best" and b.key == "final-default"
    # On a resume, the roles already trained are not proposed again.
    again = FinalValidation(default_space(), best, DEFAULT_CONFIG, 3, done=[("best", 0)])
    p = again.ask()
    assert p is not None and p.extra["role"] == "default" and again.ask() is None


def test_final_validation_repeats_pair_the_best_with_the_default_under_new_seeds() -> None:
    from engine.space import DEFAULT_CONFIG, default_space
    from engine.strategies.final import FinalValidation

    best = {"number": 7, "config": {**DEFAULT_CONFIG, "lr": 0.004}}
    final = FinalValidation(default_space(), best, DEFAULT_CONFIG, epochs=2, repeats=3)
    assert final.planned_trials == 6
    asked = [final.ask() for _ in range(6)]
    assert final.ask() is None
    got = [(p.extra["role"], p.extra["repeat"], p.key) for p in asked if p is not None]
    assert got == [
        ("best", 0, "final-best"),  # the first pair keeps the single training's keys
        ("default", 0, "final-default"),
        ("best", 1, "final-best-2"),
        ("default", 1, "final-default-2"),
        ("best", 2, "final-best-3"),
        ("default", 2, "final-default-3"),
    ]
    # Resumed with the first pair and one of the second done: only the rest is trained.
    again = FinalValidation(
        default_space(),
        best,
        DEFAULT_CONFIG,
        2,
        repeats=3,
        done=[("best", 0), ("default", 0), ("default", 1)],
    )
    rest = [again.ask() for _ in range(3)]
    assert [(p.extra["role"], p.extra["repeat"]) for p in rest if p is not None] == [
        ("best", 1),
        ("best", 2),
        ("default", 2),
    ]
    assert again.ask() is None
