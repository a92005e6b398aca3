"""PPO agent for proposing configurations (SPEC §5), CleanRL-style: every setting of the PPO
stage in PPOConfig, each loss term visible in `update`.

Networks are float32 whatever the trainers' precision (SPEC §7: under a global
mixed_float16 policy the source's actor computed in float16 and its update crashed), and
they run on the engine's CPU. The Gaussian policy keeps `log_std` as its parameter and
computes std = exp(log_std) once, in the same way for acting and for the update, so the
probability ratio compares the same distribution (SPEC §7).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine.space import REWARD_SCALE
from engine.state import decode_array, encode_array


@dataclass(frozen=True)
class PPOConfig:
    """Every setting of the PPO stage in one place, as CleanRL writes its `Args`: the
    schedule of PPO epochs, the agent and its update, and the GP's screening of the policy's
    proposals. A profile sets it (engine/profiles.py); the defaults are SPEC §5's seed budget."""

    # --- the schedule (SPEC §5) ---
    ppo_epochs: int = 20
    """PPO epochs; the agent updates once at the end of each"""
    trajectories: int = 8
    """trajectories run side by side in each PPO epoch"""
    len_early: int = 1
    """trajectory length while progress = epoch / ppo_epochs < 0.5"""
    len_late: int = 3
    """trajectory length from then on"""
    step_epochs: int = 2
    """training epochs of one step's configuration, with early stopping"""

    # --- the agent and its update ---
    hidden: tuple[int, int] = (256, 128)
    """hidden layers (tanh) of the actor and of the critic"""
    learning_rate: float = 3e-4
    """Adam's learning rate"""
    clip_coef: float = 0.2
    """the surrogate clipping coefficient"""
    gamma: float = 0.99
    """the discount factor"""
    gae_lambda: float = 0.95
    """lambda of the generalised advantage estimate"""
    update_epochs: int = 10
    """passes over each PPO epoch's batch (the whole batch is the minibatch)"""
    vf_coef: float = 0.5
    """coefficient of the value loss"""
    ent_coef: float = 0.0
    """coefficient of the entropy bonus"""
    max_grad_norm: float = 0.5
    """the gradients' global norm is clipped to this"""
    init_log_std: float = math.log(0.3)
    """the policy's starting log-std: exploration around the warm-up's best"""
    norm_adv: bool = True
    """normalise the advantages over the batch"""

    # --- the GP's screening (SPEC's PPO is `candidates=1`: no screening) ---
    candidates: int = 256
    """policy samples per step; the one with the highest expected improvement is trained.
    256, not 64: at the seed budget 64 left bayes-ppo 0.22-0.27 points below TPE, with 256 it
    is level (-0.07 +- 0.19 over 50 seeds; 512 alike, 1024 no better; BENCHMARKS.md,
    section 5). The GP's predict on 256 more points is about 25 ms a step."""
    ei_share: float = 0.25
    """share of steps whose pool also holds uniform-random points"""
    random_points: int = 512
    """uniform-random points added on those steps"""
    refit_every: int = 1
    """optimise the GP's kernel every n fits (reuse it in between)"""

    def traj_len(self, ppo_epoch: int) -> int:
        """The trajectory length of PPO epoch `ppo_epoch` (0-based)."""
        return trajectory_length(ppo_epoch, self.ppo_epochs, self.len_early, self.len_late)

    def steps(self) -> int:
        """PPO steps in the whole schedule."""
        return sum(self.trajectories * self.traj_len(e) for e in range(self.ppo_epochs))


def trajectory_length(ppo_epoch: int, ppo_epochs: int, early: int, late: int) -> int:
    """SPEC §5: length `early` while progress = epoch / epochs < 0.5, then `late`."""
    return early if ppo_epoch / ppo_epochs < 0.5 else late


def explained_variance(values: np.ndarray, returns: np.ndarray) -> float | None:
    """1 - Var(returns - values) / Var(returns), as CleanRL logs it: 1 is a critic that
    predicts the returns, 0 one no better than their mean, below 0 worse. None when the
    returns do not vary (the ratio is undefined)."""
    var_returns = float(np.var(returns))
    if var_returns == 0.0:
        return None
    return 1.0 - float(np.var(np.asarray(returns) - np.asarray(values))) / var_returns


# Numbers of the agents' states: every change of an agent's weights or Adam variables (only
# `init_mean`, `update` and `load_state_dict` make one) takes the next, unique across agents,
# so a saved state is written again exactly when it changed (engine.persistence).
_VERSIONS = itertools.count()


def _tf() -> Any:
    import tensorflow as tf

    return tf


def gae(rewards: np.ndarray, values: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """Generalised advantage estimates for one finished trajectory (terminal at its end)."""
    adv = np.zeros_like(rewards, dtype=np.float64)
    last = 0.0
    for t in reversed(range(len(rewards))):
        next_value = values[t + 1] if t + 1 < len(rewards) else 0.0
        delta = rewards[t] + gamma * next_value - values[t]
        last = delta + gamma * lam * last
        adv[t] = last
    return adv


class PPOAgent:
    def __init__(self, obs_dim: int, act_dim: int, cfg: PPOConfig, seed: int) -> None:
        tf = _tf()
        self.cfg, self.obs_dim, self.act_dim = cfg, obs_dim, act_dim
        keras = tf.keras
        init = keras.initializers

        def mlp(out: int, out_scale: float, name: str) -> Any:
            # Orthogonal init as in CleanRL; float32 regardless of the global dtype policy.
            return keras.Sequential(
                [keras.Input((obs_dim,), dtype="float32")]
                + [
                    keras.layers.Dense(
                        h,
                        activation="tanh",
                        dtype="float32",
                        kernel_initializer=init.Orthogonal(math.sqrt(2), seed=seed),
                    )
                    for h in cfg.hidden
                ]
                + [
                    keras.layers.Dense(
                        out,
                        dtype="float32",
                        kernel_initializer=init.Orthogonal(out_scale, seed=seed),
                        name=f"{name}_head",
                    )
                ],
                name=name,
            )

        self.actor = mlp(act_dim, 0.01, "actor")
        self.critic = mlp(1, 1.0, "critic")
        self.log_std = tf.Variable(np.full(act_dim, cfg.init_log_std, np.float32), name="log_std")
        self.optimizer = keras.optimizers.Adam(learning_rate=cfg.learning_rate, epsilon=1e-5)
        self.params = (
            self.actor.trainable_variables + self.critic.trainable_variables + [self.log_std]
        )
        self.optimizer.build(self.params)
        self.version = next(_VERSIONS)  # a new number at each change of the state (see below)

    # --- the policy -------------------------------------------------------------------
    def _mean(self, obs: Any) -> Any:
        return _tf().tanh(self.actor(obs))

    def _log_prob(self, mean: Any, actions: Any) -> Any:
        tf = _tf()
        std = tf.exp(self.log_std)
        z = (actions - mean) / std
        return tf.reduce_sum(-0.5 * z**2 - self.log_std - 0.5 * math.log(2 * math.pi), axis=-1)

    def act(self, obs: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Sample an action as mean + std·noise (noise drawn by the caller's seeded generator,
        so a run is reproducible); returns (action, log-prob, value)."""
        tf = _tf()
        o = tf.constant(obs[None, :], tf.float32)
        mean = self._mean(o)
        action = mean + tf.exp(self.log_std) * tf.constant(noise[None, :], tf.float32)
        logp = self._log_prob(mean, action)
        value = self.critic(o)[:, 0]
        return action.numpy()[0], float(logp.numpy()[0]), float(value.numpy()[0]) * REWARD_SCALE

    def evaluate(self, obs: np.ndarray, action: np.ndarray) -> tuple[float, float]:
        """(log-prob, value) of a given action in state `obs`: for an action chosen among
        several of the policy's samples, or proposed by the GP, and then taken."""
        tf = _tf()
        o = tf.constant(obs[None, :], tf.float32)
        logp = self._log_prob(self._mean(o), tf.constant(action[None, :], tf.float32))
        return float(logp.numpy()[0]), float(self.critic(o)[0, 0]) * REWARD_SCALE

    def std(self) -> np.ndarray:
        return np.exp(self.log_std.numpy())

    def value(self, obs: np.ndarray) -> float:
        tf = _tf()
        return float(self.critic(tf.constant(obs[None, :], tf.float32))[0, 0]) * REWARD_SCALE

    def mean_action(self, obs: np.ndarray) -> np.ndarray:
        return self._mean(_tf().constant(obs[None, :], _tf().float32)).numpy()[0]

    def init_mean(self, target: np.ndarray) -> None:
        """Start the policy mean at `target` (SPEC §5: the warm-up's top-3 mean action):
        the mean head's bias is set to atanh(target), its kernel is already ~0.01-scaled, so
        the mean is ~target whatever the state. The head is found by name, not position."""
        head = self.actor.get_layer("actor_head")
        kernel, _ = head.get_weights()
        bias = np.arctanh(np.clip(target, -0.95, 0.95)).astype(np.float32)
        head.set_weights([kernel, bias])
        self.version = next(_VERSIONS)

    # --- the update --------------------------------------------------------------------
    def update(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        logprobs: np.ndarray,
        advantages: np.ndarray,
        returns: np.ndarray,
    ) -> dict[str, float]:
        """`update_epochs` passes of clipped PPO on one PPO epoch's batch (a few dozen steps,
        so the whole batch is the minibatch). Returns are in reward units."""
        tf = _tf()
        cfg = self.cfg
        b_obs = tf.constant(obs, tf.float32)
        b_act = tf.constant(actions, tf.float32)
        b_logp = tf.constant(logprobs, tf.float32)
        adv = advantages.astype(np.float32)
        if cfg.norm_adv and len(adv) > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        b_adv = tf.constant(adv, tf.float32)
        b_ret = tf.constant(returns / REWARD_SCALE, tf.float32)  # the critic works in O(1) units
        passes: list[dict[str, float]] = []
        for _ in range(cfg.update_epochs):
            with tf.GradientTape() as tape:
                new_logp = self._log_prob(self._mean(b_obs), b_act)
                log_ratio = new_logp - b_logp
                ratio = tf.exp(log_ratio)
                pg_loss = tf.reduce_mean(
                    tf.maximum(
                        -b_adv * ratio,
                        -b_adv * tf.clip_by_value(ratio, 1 - cfg.clip_coef, 1 + cfg.clip_coef),
                    )
                )
                v_loss = 0.5 * tf.reduce_mean((self.critic(b_obs)[:, 0] - b_ret) ** 2)
                entropy = tf.reduce_sum(self.log_std + 0.5 * math.log(2 * math.pi * math.e))
                loss = pg_loss - cfg.ent_coef * entropy + cfg.vf_coef * v_loss
            grads = tape.gradient(loss, self.params)
            grads, _ = tf.clip_by_global_norm(grads, cfg.max_grad_norm)
            self.optimizer.apply_gradients(zip(grads, self.params, strict=True))
            approx_kl = tf.reduce_mean((ratio - 1) - log_ratio)
            clip_frac = tf.reduce_mean(tf.cast(tf.abs(ratio - 1) > cfg.clip_coef, tf.float32))
            passes.append(
                {
                    "actor_loss": float(pg_loss),
                    "critic_loss": float(v_loss),
                    "entropy": float(entropy),
                    "approx_kl": float(approx_kl),
                    "clip_fraction": float(clip_frac),
                }
            )
        # Averaged over the passes (as CleanRL logs them), not the last pass alone.
        stats = {k: float(np.mean([p[k] for p in passes])) for k in passes[0]}
        stats["mean_std"] = float(tf.reduce_mean(tf.exp(self.log_std)))
        self.version = next(_VERSIONS)
        return stats

    # --- save / restore ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Weights and Adam variables as named numeric arrays (JSON-able, no pickle)."""
        return {
            "config": asdict(self.cfg),
            "actor": [encode_array(w) for w in self.actor.get_weights()],
            "critic": [encode_array(w) for w in self.critic.get_weights()],
            "log_std": encode_array(self.log_std.numpy()),
            "optimizer": [encode_array(v.numpy()) for v in self.optimizer.variables],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.actor.set_weights([decode_array(w) for w in state["actor"]])
        self.critic.set_weights([decode_array(w) for w in state["critic"]])
        self.log_std.assign(decode_array(state["log_std"]))
        for var, val in zip(self.optimizer.variables, state["optimizer"], strict=True):
            var.assign(decode_array(val))
        self.version = next(_VERSIONS)
