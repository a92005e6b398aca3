"""Bayes + PPO (SPEC §4-5): a Gaussian-process warm-up, then PPO epochs in which a policy
proposes configurations.

Each PPO epoch runs `trajectories` trajectories side by side; a trajectory is sequential
(step t+1 starts from step t's state: its configuration and reward), and every step is
trained exactly once (SPEC §7: the source trained each step twice). The agent updates when
all of an epoch's trajectories are in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.estimate import FidelityGP, bounded_indices, expected_improvement
from engine.ppo import PPOAgent, PPOConfig, explained_variance, gae
from engine.space import SearchSpace, state_vector
from engine.state import from_plain, to_plain
from engine.strategies.base import Outcome, Proposal, Strategy
from engine.strategies.bayes import BayesSearch
from storage.contract import DONE_PHASE, PPO_PHASE, SEARCH_PHASE, WARMUP_PHASE


@dataclass
class Trajectory:
    state: list[float]  # the state the next step starts from
    steps: list[dict[str, Any]] = field(default_factory=list)
    running: bool = False
    ended: bool = False  # a failed step ends its trajectory


class BayesPPO(Strategy):
    name = "bayes-ppo"

    def __init__(
        self,
        space: SearchSpace,
        warmup: BayesSearch,
        cfg: PPOConfig,
        seed: int,
    ) -> None:
        super().__init__(space)
        self.warmup, self.cfg, self.seed = warmup, cfg, seed
        # (config, val accuracy, epochs) of every result, warm-up and PPO: the GP's data.
        self.history: list[list[Any]] = []
        self.gp = FidelityGP(space, seed, cfg.refit_every)
        self._gp_dirty, self._gp_ready, self._incumbent = True, False, 0.0
        self.agent = PPOAgent(
            obs_dim=len(space.dims) + 1, act_dim=len(space.dims), cfg=cfg, seed=seed
        )
        self.ppo_epoch = 0  # index of the PPO epoch in progress
        self.stage = WARMUP_PHASE
        self.trajs: list[Trajectory] = []

    # --- stage changes ----------------------------------------------------------------
    def _start_ppo(self) -> None:
        top = self.warmup.top(3)
        if top:
            target = np.mean([self.space.to_action(c) for c, _ in top], axis=0)
            self.agent.init_mean(target)
            accs = ", ".join(f"{a:.3f}" for _, a in top)
            self._events.append(
                f"warm-up done; policy mean set to the mean action of its top "
                f"{len(top)} (val acc {accs})"
            )
        self.stage = PPO_PHASE
        self._start_epoch()

    def _start_epoch(self) -> None:
        s0 = state_vector(self.space, self.space.default_config(), 0.0).tolist()
        self.trajs = [Trajectory(state=list(s0)) for _ in range(self.cfg.trajectories)]
        self._events.append(
            f"PPO epoch {self.ppo_epoch + 1}/{self.cfg.ppo_epochs}: "
            f"{self.cfg.trajectories} trajectories of length "
            f"{self.cfg.traj_len(self.ppo_epoch)}"
        )

    # --- ask / tell ---------------------------------------------------------------------
    def _propose(self) -> Proposal | None:
        if self.stage == WARMUP_PHASE:
            p = self.warmup.ask()
            if p is not None or not self.warmup.done():
                return p
            self._start_ppo()
        if self.stage != PPO_PHASE:
            return None
        length = self.cfg.traj_len(self.ppo_epoch)
        for k, tr in enumerate(self.trajs):
            if tr.running or tr.ended or len(tr.steps) >= length:
                continue
            t = len(tr.steps)
            # A generator keyed by (seed, epoch, trajectory, step): the same draws whatever
            # order the pool finishes trials in.
            rng = np.random.default_rng([self.seed, self.ppo_epoch, k, t])
            obs = np.asarray(tr.state, np.float32)
            action, screen = self._choose(obs, rng)
            logp, value = self.agent.evaluate(obs, action)
            config = self.space.from_action(np.clip(action, -1.0, 1.0))
            tr.running = True
            return Proposal(
                config,
                PPO_PHASE,
                self.cfg.step_epochs,
                early_stopping=True,
                ppo_epoch=self.ppo_epoch + 1,
                trajectory=k + 1,
                step=t + 1,
                progress=self.ppo_epoch / self.cfg.ppo_epochs,
                key=f"p{self.ppo_epoch}.{k}.{t}",
                extra={
                    "state": obs.tolist(),
                    "action": action.tolist(),
                    "logprob": logp,
                    "value": value,
                    "screen": screen,
                },
            )
        return None

    def _choose(self, obs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """The step's action: `candidates` samples of the policy, and on a share of steps
        uniform points too, of which the one with the highest expected improvement under the
        GP of every result so far is trained. The policy proposes; the GP screens."""
        sc, dims = self.cfg, len(self.space.dims)
        mean, std = self.agent.mean_action(obs), self.agent.std()
        cands = mean + std * rng.standard_normal((max(1, sc.candidates), dims))
        # What the policy believed at this step, for the proposer view.
        belief = {"policy_mean": mean.tolist(), "policy_std": std.tolist()}
        if sc.candidates <= 1 or not self._fit_gp():
            return cands[0], {"by": "policy sample", **belief}
        pool, source = cands, "policy"
        if rng.random() < sc.ei_share:
            pool = np.vstack([cands, rng.uniform(-1.0, 1.0, (sc.random_points, dims))])
            source = "policy + uniform"
        est, sd = self.gp.predict_actions(pool)
        ei = expected_improvement(est, sd, self._incumbent)
        i = int(np.argmax(ei))
        return pool[i], {
            "by": f"max EI of {len(pool)} ({source})",
            "from": "policy" if i < len(cands) else "uniform",
            "ei": float(ei[i]),
            "est_acc": float(est[i]),
            "est_sd": float(sd[i]),
            "incumbent": float(self._incumbent),
            **belief,
        }

    def _fit_gp(self) -> bool:
        """Refit the screening GP if results came in since the last fit."""
        if self._gp_dirty:
            # Past FIT_POINTS results, a bounded subset (the best, the latest, a spread).
            fit = [self.history[i] for i in bounded_indices([a for _, a, _ in self.history])]
            configs = [c for c, _, _ in fit]
            ok = self.gp.fit(configs, [a for _, a, _ in fit], [e for _, _, e in fit])
            # The incumbent is the best *estimated* accuracy, not the luckiest measurement.
            self._incumbent = float(np.max(self.gp.predict(configs)[0])) if ok else 0.0
            self._gp_ready, self._gp_dirty = ok, False
        return self._gp_ready

    def _record(self, proposal: Proposal, outcome: Outcome) -> None:
        # A failed trial is told as chance accuracy: what a diverged classifier scores.
        acc = outcome.val_accuracy if outcome.ok else 0.5
        self.history.append([dict(proposal.config), float(acc), int(proposal.epochs)])
        self._gp_dirty = True

    def _observe(self, proposal: Proposal, outcome: Outcome) -> None:
        self._record(proposal, outcome)
        self._observe_step(proposal, outcome)
        if self._steps_next():
            # Fitted here, when told (the engine tells on a thread of its own), rather than
            # at the next ask, which the engine's loop waits for; only when that ask will
            # screen a step, so the GP is fitted exactly as often as when asks fitted it.
            self._fit_gp()

    def _steps_next(self) -> bool:
        """Whether the next ask chooses a PPO step (and so screens with the GP)."""
        if self.stage == WARMUP_PHASE:
            return self.warmup.done()  # the next ask starts PPO
        if self.stage != PPO_PHASE:
            return False
        length = self.cfg.traj_len(self.ppo_epoch)
        return any(not tr.running and not tr.ended and len(tr.steps) < length for tr in self.trajs)

    def _observe_step(self, proposal: Proposal, outcome: Outcome) -> None:
        if proposal.phase == WARMUP_PHASE:
            self.warmup.tell(proposal, outcome)
            return
        if proposal.ppo_epoch != self.ppo_epoch + 1:
            return  # a stale result from an epoch already closed
        tr = self.trajs[proposal.trajectory - 1]
        tr.running = False
        tr.steps.append({**proposal.extra, "reward": outcome.reward, "ok": outcome.ok})
        tr.state = state_vector(self.space, proposal.config, outcome.reward).tolist()
        if not outcome.ok:
            tr.ended = True
        length = self.cfg.traj_len(self.ppo_epoch)
        if all(not t.running and (t.ended or len(t.steps) >= length) for t in self.trajs):
            self._update()

    def _update(self) -> None:
        cfg = self.cfg
        obs, acts, logps, advs, rets, values, rewards = [], [], [], [], [], [], []
        for tr in self.trajs:
            if not tr.steps:
                continue
            r = np.array([s["reward"] for s in tr.steps], np.float64)
            v = np.array([s["value"] for s in tr.steps], np.float64)
            adv = gae(r, v, cfg.gamma, cfg.gae_lambda)  # return − V(s), not a bare return
            obs += [s["state"] for s in tr.steps]
            acts += [s["action"] for s in tr.steps]
            logps += [s["logprob"] for s in tr.steps]
            advs += adv.tolist()
            rets += (adv + v).tolist()
            values += v.tolist()
            rewards += r.tolist()
        stats: dict[str, float | None] = {
            **self.agent.update(
                np.array(obs), np.array(acts), np.array(logps), np.array(advs), np.array(rets)
            )
        }
        # How much of the returns' variance the critic's values (as acted on) explained.
        stats["explained_variance"] = explained_variance(np.array(values), np.array(rets))
        self._updates.append(
            {
                "ppo_epoch": self.ppo_epoch + 1,
                "traj_len": self.cfg.traj_len(self.ppo_epoch),
                "n_steps": len(rewards),
                "mean_reward": float(np.mean(rewards)),
                "best_reward": float(np.max(rewards)),
                **stats,
            }
        )
        self.ppo_epoch += 1
        if self.ppo_epoch >= self.cfg.ppo_epochs:
            self.stage = DONE_PHASE
            self.trajs = []
        else:
            self._start_epoch()

    # --- status ------------------------------------------------------------------------
    def done(self) -> bool:
        return self.stage == DONE_PHASE and not self.pending and not self._retry

    @property
    def planned_trials(self) -> int:
        return self.warmup.planned_trials + self.cfg.steps()

    def phase(self) -> str:
        return self.stage if self.stage in (WARMUP_PHASE, PPO_PHASE) else SEARCH_PHASE

    def progress(self) -> dict[str, Any]:
        return {
            "warmup_done": self.warmup.told,
            "warmup_total": self.warmup.n_calls,
            "ppo_epoch": min(self.ppo_epoch + 1, self.cfg.ppo_epochs),
            "ppo_epochs": self.cfg.ppo_epochs,
            "ppo_epochs_done": self.ppo_epoch,
            "traj_len": self.cfg.traj_len(min(self.ppo_epoch, self.cfg.ppo_epochs - 1)),
            "len_switch_epoch": next(
                (
                    e + 1
                    for e in range(self.cfg.ppo_epochs)
                    if self.cfg.traj_len(e) != self.cfg.len_early
                ),
                None,
            ),
        }

    def on_space_change(self, space: SearchSpace) -> str:
        # Actions are positions in [-1, 1] of each range, so the same policy maps onto the new
        # ranges; states already recorded keep their old coordinates until the next step.
        self.space = space
        msg = self.warmup.on_space_change(space)
        self.gp = FidelityGP(space, self.seed, self.cfg.refit_every)
        self._gp_dirty = True
        return f"{msg}; PPO actions now map onto the new ranges"

    # --- state -------------------------------------------------------------------------
    def logs(self) -> dict[str, list[Any]]:
        warmup = {f"warmup.{k}": v for k, v in self.warmup.logs().items()}
        return {"history": self.history, **warmup}

    def parts(self) -> dict[str, tuple[int, Callable[[], dict[str, Any]]]]:
        # Its weights and Adam moments, over a megabyte: changed by a PPO update, once a PPO
        # epoch, and by the policy mean's start after the warm-up.
        return {"agent": (self.agent.version, self.agent.state_dict)}

    def state_dict(self, whole: bool = True) -> dict[str, Any]:
        return {
            **super().state_dict(whole),
            "warmup": self.warmup.state_dict(whole),
            "agent": self.agent.state_dict() if whole else None,
            "ppo_epoch": self.ppo_epoch,
            "stage": self.stage,
            "trajs": [to_plain(t) for t in self.trajs],
            "history": self.history if whole else [],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.warmup.load_state_dict(state["warmup"])
        self.agent.load_state_dict(state["agent"])
        self.ppo_epoch, self.stage = int(state["ppo_epoch"]), str(state["stage"])
        self.trajs = [from_plain(Trajectory, t) for t in state["trajs"]]
        self.history = [[dict(c), float(a), int(e)] for c, a, e in state.get("history", [])]
        self._gp_dirty = True  # the GP is rebuilt from the history, never stored

    def requeue_pending(self) -> None:
        # Steps that were running are sampled afresh (same keyed noise, same state).
        for tr in self.trajs:
            tr.running = False
        self.pending.clear()
        self.warmup.requeue_pending()
