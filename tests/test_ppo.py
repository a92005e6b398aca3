"""The PPO agent: GAE by hand, learning a toy bandit, float32 under mixed precision, state."""

from __future__ import annotations

import numpy as np
import pytest

from engine.ppo import PPOConfig, explained_variance, gae

tf = pytest.importorskip("tensorflow")

from engine.ppo import PPOAgent  # noqa: E402


def test_gae_hand_computed() -> None:
    r = np.array([1.0, 2.0, 3.0])
    v = np.array([0.5, 1.0, 1.5])
    g, lam = 0.9, 0.8
    # deltas: d2 = 3 - 1.5 = 1.5; d1 = 2 + 0.9*1.5 - 1 = 2.35; d0 = 1 + 0.9*1 - 0.5 = 1.4
    # A2 = 1.5; A1 = 2.35 + 0.72*1.5 = 3.43; A0 = 1.4 + 0.72*3.43 = 3.8696
    np.testing.assert_allclose(gae(r, v, g, lam), [3.8696, 3.43, 1.5], rtol=1e-12)


def test_explained_variance_hand_computed() -> None:
    returns = np.array([1.0, 2.0, 3.0, 4.0])  # variance 1.25
    # residuals 0.5, -0.5, 0.5, -0.5: variance 0.25, so 1 - 0.25 / 1.25 = 0.8
    assert explained_variance(np.array([0.5, 2.5, 2.5, 4.5]), returns) == pytest.approx(0.8)
    assert explained_variance(returns, returns) == pytest.approx(1.0)  # a perfect critic
    # a constant critic explains nothing, whatever the constant (variance is shift-free)
    assert explained_variance(np.full(4, 60.0), returns) == pytest.approx(0.0)
    # worse than the mean: residuals -3, -1, 1, 3, variance 5
    assert explained_variance(returns[::-1].copy(), returns) == pytest.approx(1 - 5.0 / 1.25)
    # returns that do not vary: undefined, not a division by zero
    assert explained_variance(np.array([1.0, 2.0]), np.array([3.0, 3.0])) is None


def test_gae_special_cases() -> None:
    # one step: advantage = r - V (no bootstrap past the end)
    np.testing.assert_allclose(gae(np.array([70.0]), np.array([60.0]), 0.99, 0.95), [10.0])
    # lambda 1, gamma 1: advantage = return-to-go - V
    r, v = np.array([1.0, 1.0, 1.0]), np.array([0.5, 0.0, 2.0])
    np.testing.assert_allclose(gae(r, v, 1.0, 1.0), [3 - 0.5, 2 - 0.0, 1 - 2.0])
    # lambda 0: one-step TD errors
    np.testing.assert_allclose(gae(r, v, 0.5, 0.0), [1 + 0.5 * 0.0 - 0.5, 1 + 0.5 * 2 - 0, 1 - 2])


def bandit(agent: PPOAgent, obs: np.ndarray, target: np.ndarray, iters: int, seed: int):
    rng = np.random.default_rng(seed)
    means, rewards = [], []
    for _ in range(iters):
        acts, logps, vals, rs = [], [], [], []
        for _ in range(16):
            a, lp, v = agent.act(obs, rng.standard_normal(agent.act_dim))
            acts.append(a)
            logps.append(lp)
            vals.append(v)
            rs.append(-100.0 * float(np.sum((np.clip(a, -1, 1) - target) ** 2)))
        rs_a, v_a = np.array(rs), np.array(vals)
        adv = np.concatenate([gae(rs_a[i : i + 1], v_a[i : i + 1], 0.99, 0.95) for i in range(16)])
        stats = agent.update(
            np.repeat(obs[None], 16, 0), np.array(acts), np.array(logps), adv, adv + v_a
        )
        assert all(np.isfinite(list(stats.values())))
        rewards.append(float(np.mean(rs)))
        means.append(agent.mean_action(obs))
    return np.array(rewards), np.array(means)


def test_ppo_learns_a_toy_bandit() -> None:
    cfg = PPOConfig(hidden=(32, 32), learning_rate=3e-3)
    agent = PPOAgent(obs_dim=4, act_dim=2, cfg=cfg, seed=0)
    obs = np.array([0.1, -0.2, 0.3, 0.0], np.float32)
    target = np.array([0.6, -0.5])
    start = agent.mean_action(obs)
    rewards, means = bandit(agent, obs, target, iters=20, seed=1)
    first, last = rewards[:5].mean(), rewards[-5:].mean()
    assert last > first + 15.0, (first, last)
    d0 = np.linalg.norm(start - target)
    d1 = np.linalg.norm(means[-1] - target)
    assert d1 < 0.5 * d0, (d0, d1)


def test_agent_float32_under_mixed_precision() -> None:
    try:
        tf.keras.mixed_precision.set_global_policy("mixed_float16")
        agent = PPOAgent(obs_dim=8, act_dim=7, cfg=PPOConfig(hidden=(16, 16)), seed=0)
        for v in agent.params:
            assert v.dtype == tf.float32, v.name
        obs = np.linspace(-1, 1, 8).astype(np.float32)
        assert agent.actor(obs[None]).dtype == tf.float32
        assert agent.critic(obs[None]).dtype == tf.float32
        rng = np.random.default_rng(0)
        batch = [agent.act(obs, rng.standard_normal(7)) for _ in range(4)]
        stats = agent.update(
            np.repeat(obs[None], 4, 0),
            np.array([a for a, _, _ in batch]),
            np.array([lp for _, lp, _ in batch]),
            np.array([1.0, -1.0, 0.5, 0.0]),
            np.array([50.0, 40.0, 45.0, 42.0]),
        )
        assert all(np.isfinite(list(stats.values())))
        assert agent.mean_action(obs).dtype == np.float32
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")


def test_init_mean_sets_policy_mean() -> None:
    agent = PPOAgent(obs_dim=8, act_dim=7, cfg=PPOConfig(), seed=3)
    target = np.array([0.5, -0.3, 0.0, 0.9, -1.0, 0.2, 1.0], np.float32)
    assert np.all(np.abs(agent.mean_action(np.ones(8, np.float32))) < 0.1)  # starts near 0
    agent.init_mean(target)
    for obs in (np.zeros(8, np.float32), np.ones(8, np.float32), -np.ones(8, np.float32)):
        np.testing.assert_allclose(agent.mean_action(obs), np.clip(target, -0.95, 0.95), atol=0.05)


def test_act_log_prob_matches_gaussian() -> None:
    agent = PPOAgent(obs_dim=3, act_dim=2, cfg=PPOConfig(hidden=(8, 8)), seed=0)
    obs = np.zeros(3, np.float32)
    noise = np.array([0.5, -1.0])
    a, lp, v = agent.act(obs, noise)
    mean = agent.mean_action(obs)
    std = np.exp(np.log(0.3))
    np.testing.assert_allclose(a, mean + std * noise, atol=1e-6)
    expected = np.sum(-0.5 * noise**2 - np.log(std) - 0.5 * np.log(2 * np.pi))
    assert lp == pytest.approx(expected, abs=1e-5)
    assert v == pytest.approx(agent.value(obs), abs=1e-4)


def test_state_dict_round_trip_identical_actions() -> None:
    cfg = PPOConfig(hidden=(16, 16), learning_rate=1e-2)
    a = PPOAgent(obs_dim=4, act_dim=3, cfg=cfg, seed=1)
    obs = np.array([0.2, 0.1, -0.3, 0.5], np.float32)
    bandit(a, obs, np.array([0.5, 0.5, -0.5]), iters=2, seed=0)  # move weights and Adam moments
    b = PPOAgent(obs_dim=4, act_dim=3, cfg=cfg, seed=99)
    noise = np.array([0.3, -0.2, 1.0])
    assert not np.allclose(a.act(obs, noise)[0], b.act(obs, noise)[0])
    b.load_state_dict(a.state_dict())
    for x in (obs, np.zeros(4, np.float32)):
        ra, rb = a.act(x, noise), b.act(x, noise)
        np.testing.assert_array_equal(ra[0], rb[0])
        assert ra[1] == rb[1] and ra[2] == rb[2]
    # and they keep learning identically (optimizer state restored too)
    args = (
        np.repeat(obs[None], 2, 0),
        np.array([[0.1, 0.2, 0.3], [0.0, -0.1, 0.2]]),
        np.array([-1.0, -1.2]),
        np.array([1.0, -1.0]),
        np.array([10.0, 5.0]),
    )
    sa, sb = a.update(*args), b.update(*args)
    assert sa == sb
    np.testing.assert_array_equal(a.act(obs, noise)[0], b.act(obs, noise)[0])


def _batch(agent: PPOAgent, ratios: np.ndarray, seed: int = 0) -> tuple[np.ndarray, ...]:
    """States, actions and the old log-probs that make the new/old probability ratio of each
    step exactly `ratios` under the agent's current policy."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(len(ratios), agent.obs_dim)).astype(np.float32)
    actions = rng.uniform(-0.5, 0.5, size=(len(ratios), agent.act_dim)).astype(np.float32)
    new_logp = np.array([agent.evaluate(o, a)[0] for o, a in zip(obs, actions, strict=True)])
    return obs, actions, new_logp - np.log(ratios)


def _weights(agent: PPOAgent) -> list[np.ndarray]:
    return [w.copy() for w in agent.actor.get_weights()] + [agent.log_std.numpy().copy()]


def test_clipped_objective_by_hand() -> None:
    """One pass: the actor loss is mean(max(-A r, -A clip(r, 1 - eps, 1 + eps))), the clip
    fraction counts |r - 1| > eps and the approximate KL is mean((r - 1) - log r)."""
    cfg = PPOConfig(hidden=(8, 8), update_epochs=1, norm_adv=False, clip_coef=0.2)
    agent = PPOAgent(obs_dim=3, act_dim=2, cfg=cfg, seed=0)
    ratios = np.array([0.5, 0.9, 1.0, 1.1, 1.5, 2.0])
    adv = np.array([1.0, -1.0, 2.0, -2.0, 1.0, -0.5])
    obs, actions, old_logp = _batch(agent, ratios)
    stats = agent.update(obs, actions, old_logp, adv, returns=np.zeros(len(ratios)))
    clipped = np.clip(ratios, 0.8, 1.2)
    expected = np.mean(np.maximum(-adv * ratios, -adv * clipped))
    assert stats["actor_loss"] == pytest.approx(expected, abs=1e-4)
    assert stats["clip_fraction"] == pytest.approx(np.mean(np.abs(ratios - 1) > 0.2))
    assert stats["approx_kl"] == pytest.approx(np.mean((ratios - 1) - np.log(ratios)), abs=1e-4)


def test_the_clip_stops_the_policy_where_it_binds() -> None:
    """A step whose ratio is already past 1 + eps with a positive advantage (or below 1 - eps
    with a negative one) gives no gradient: the policy does not move. Inside the clip range
    the same advantages move it."""
    cfg = PPOConfig(hidden=(8, 8), update_epochs=1, norm_adv=False, vf_coef=0.0, ent_coef=0.0)
    agent = PPOAgent(obs_dim=3, act_dim=2, cfg=cfg, seed=0)
    ratios, adv = np.array([1.5, 1.3, 0.6, 0.7]), np.array([1.0, 2.0, -1.0, -3.0])
    obs, actions, old_logp = _batch(agent, ratios)
    before = _weights(agent)
    agent.update(obs, actions, old_logp, adv, returns=np.zeros(len(ratios)))
    for b, a in zip(before, _weights(agent), strict=True):
        np.testing.assert_array_equal(a, b)

    obs, actions, old_logp = _batch(agent, np.ones(len(ratios)))
    agent.update(obs, actions, old_logp, adv, returns=np.zeros(len(ratios)))
    moved = [not np.array_equal(a, b) for a, b in zip(before, _weights(agent), strict=True)]
    assert any(moved)
