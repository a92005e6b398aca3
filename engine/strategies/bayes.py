"""Bayesian optimisation with scikit-optimize's ask/tell Optimizer: Gaussian-process
surrogate, expected improvement, objective = −validation accuracy (SPEC §4).

Points are asked in batches of `batch` (one per worker, constant liar), and a batch's
results are told together in proposal order once all are in: the sequence of
configurations is then the same for the same seed, whatever order trials finish in.

The GP's kernel hyperparameters (amplitude, length scales, noise) are re-learned only when the
observations have grown by a tenth since they last were (as GPyOpt's `model_update_interval`),
by one L-BFGS run from the values held (three runs, two from random starts, below 64
observations and each time the count passes a power of two); between, the GP is refitted on
every result with them held, one Cholesky factorisation. skopt alone learns them with three
runs on every fit, the constant-liar copies of a batch ask included: at the seed profile's
335 trials that was about 40 CPU-minutes a run, engine time between trials (BENCHMARKS.md,
section 5).
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
from skopt import Optimizer
from skopt import space as sk
from skopt.learning import GaussianProcessRegressor
from skopt.learning.gaussian_process.kernels import Kernel, Sum, WhiteKernel

from engine.estimate import FIT_POINTS, bounded_indices
from engine.space import Config, Integer, Real, SearchSpace, _plain
from engine.state import decode_array, encode_array, encode_rng, from_plain, restore_rng, to_plain
from engine.strategies.base import Outcome, Proposal, Strategy
from storage.contract import SEARCH_PHASE

# Re-learn the kernel hyperparameters once the observations number this many times as many
# as when they last were learned. On the surrogate bench this changed no result measurably
# (BENCHMARKS.md, section 5) and, with the cheaper batch ask below, cut a seed-profile run on
# the bench from about 40 CPU-minutes to under 4.
RELEARN_GROWTH = 1.1
# Below this many observations a fit is cheap and the hyperparameters still move: each
# re-learning also runs from two random starts, as skopt's own does.
MULTISTART_BELOW = 64
# Past this many observations the optimizer is rebuilt on a bounded subset of FIT_POINTS
# (engine.estimate.bounded_indices): a fit and its acquisition search then cost what they
# cost at FIT_POINTS, however long the run (a tenth more first, so a rebuild is rare).
SHRINK_AT = int(1.1 * FIT_POINTS)


def held_kernel_gp(kernel: Kernel, noise: float) -> GaussianProcessRegressor:
    """A GP whose kernel hyperparameters are fixed: fitting it only factorises the data."""
    return GaussianProcessRegressor(kernel=kernel, noise=noise, normalize_y=True, optimizer=None)


def learning_gp(kernel: Kernel, noise: float, restarts: int, seed: int) -> GaussianProcessRegressor:
    """A GP that learns its hyperparameters starting from `kernel` and `noise`: one L-BFGS
    run from there, plus `restarts` from random values."""
    return GaussianProcessRegressor(
        kernel=kernel + WhiteKernel(noise),
        noise="gaussian",
        normalize_y=True,
        n_restarts_optimizer=restarts,
        random_state=seed,
    )


def learned_kernel(gp: GaussianProcessRegressor) -> tuple[Kernel, float]:
    """The signal kernel and noise level a skopt GP learned (skopt appends the noise as a
    WhiteKernel, zeroed after the fit, and keeps its level in `noise_`)."""
    kernel = gp.kernel_
    return (kernel.k1 if isinstance(kernel, Sum) else kernel), gp.noise_


def to_skopt(space: SearchSpace) -> list[Any]:
    dims = []
    for d in space.dims:
        if isinstance(d, Real):
            prior = "log-uniform" if d.log else "uniform"
            dims.append(sk.Real(d.low, d.high, prior=prior, name=d.name))
        elif isinstance(d, Integer):
            prior = "log-uniform" if d.log else "uniform"
            dims.append(sk.Integer(d.low, d.high, prior=prior, name=d.name))
        else:
            dims.append(sk.Categorical(list(d.choices), name=d.name))
    return dims


class BayesSearch(Strategy):
    name = "bayes"

    def __init__(
        self,
        space: SearchSpace,
        n_calls: int,
        n_initial_points: int,
        epochs: int,
        seed: int,
        batch: int = 1,
        phase: str = SEARCH_PHASE,
        early_stopping: bool = True,
        asynchronous: bool = False,
        initial: list[Config] | None = None,
    ) -> None:
        super().__init__(space)
        # Configurations evaluated first, in place of random initial points (as Optuna's
        # enqueue_trial): the default configuration, so no run's best is worse than it.
        self._initial = [dict(c) for c in initial or [] if space.contains(c)]
        # Asynchronous: ask a point whenever a worker frees, the running points told to a copy
        # of the surrogate as "constant liar" values; workers stay busy, but the sequence then
        # depends on which results happen to be in (not reproducible).
        self.asynchronous = asynchronous
        self.n_calls, self.n_initial_points = n_calls, n_initial_points
        self.epochs, self.seed, self.batch = epochs, seed, max(1, batch)
        self._phase, self.early_stopping = phase, early_stopping
        self.observations: list[tuple[Config, float]] = []  # (config, val accuracy), told order
        self._buffer: dict[str, tuple[Proposal, Outcome]] = {}
        self._queue: list[Config] = []
        self.asked = 0
        self._rebuild()

    def _rebuild(self, keep_kernel: bool = False) -> None:
        """A fresh optimizer over the current space, fitted on the observations that fit it
        (past FIT_POINTS, on a bounded subset of them). `keep_kernel`: with the kernel
        hyperparameters and random state held so far (a shrink, not a new space)."""
        rng = self.opt.rng if keep_kernel else None
        if not keep_kernel:
            self._learned_at = 0  # observations the kernel hyperparameters were learned on
            self._held: tuple[Kernel, float] | None = None  # those hyperparameters
        self.opt = Optimizer(
            to_skopt(self.space),
            base_estimator="GP",
            acq_func="EI",
            # Explicit: skopt's default of 10 random points would leave 5 of 15 to the GP.
            n_initial_points=self.n_initial_points,
            initial_point_generator="random",
            random_state=self.seed,
            model_queue_size=1,  # skopt keeps every fitted GP otherwise (and copies them)
        )
        self._learner = self.opt.base_estimator_  # skopt's GP: learns its kernel on each fit
        if rng is not None:
            self.opt.rng = rng
        if self._held is not None:
            self.opt.base_estimator_ = held_kernel_gp(*self._held)
        fitting = [(c, acc) for c, acc in self.observations if self.space.contains(c)]
        fitting = [fitting[i] for i in bounded_indices([acc for _, acc in fitting])]
        if fitting:
            xs = [[c[n] for n in self.space.names] for c, _ in fitting]
            self._fit(xs, [-acc for _, acc in fitting])

    def _fit(self, xs: list[list[Any]], ys: list[float]) -> None:
        """Tell skopt the results, re-learning the kernel only on RELEARN_GROWTH."""
        n = len(self.opt.yi) + len(ys)
        learn = self._held is None or n >= RELEARN_GROWTH * self._learned_at
        if learn:
            self.opt.base_estimator_ = self._learning_gp(n)
        self.opt.tell(xs, ys)
        if learn and self.opt.models:  # skopt fits nothing before its initial points are in
            self._learned_at, self._held = n, learned_kernel(self.opt.models[-1])
        if self._held is not None:
            # Every fit until the next re-learning, the constant-liar copies' included.
            self.opt.base_estimator_ = held_kernel_gp(*self._held)
        if len(self.opt.yi) > SHRINK_AT:
            self._rebuild(keep_kernel=True)

    def _learning_gp(self, n: int) -> GaussianProcessRegressor:
        if self._held is None:
            return self._learner  # skopt's own, from its default hyperparameters
        doubled = n.bit_length() > self._learned_at.bit_length()
        restarts = 2 if n < MULTISTART_BELOW or doubled else 0
        return learning_gp(*self._held, restarts=restarts, seed=(self.seed * 100_003 + n) % 2**32)

    @property
    def told(self) -> int:
        return len(self.observations)

    def _propose(self) -> Proposal | None:
        self._maybe_flush()
        if self.asked >= self.n_calls:
            return None
        if not self._queue and self.asynchronous:
            self._queue = [self._initial.pop(0) if self._initial else self._ask_beside_pending()]
        if not self._queue:
            if self.pending or self._buffer:
                return None  # wait until the batch is in
            self._next_batch()
        config = self._queue.pop(0)
        p = Proposal(
            config,
            self._phase,
            self.epochs,
            early_stopping=self.early_stopping,
            progress=self.asked / self.n_calls,
            key=f"b{self.asked}",
        )
        self.asked += 1
        return p

    def _ask_beside_pending(self) -> Config:
        names = self.space.names
        running = [
            [p.config[n] for n in names]
            for p in self.pending.values()
            if self.space.contains(p.config)
        ]
        x = self._ask_lying(running, 1)[0]
        return {k: _plain(v) for k, v in zip(names, x, strict=True)}

    def _ask_lying(self, lies: list[list[Any]], n: int) -> list[list[Any]]:
        """`n` points, each asked after telling the points before it, and `lies` (points still
        training), the best value seen so far ("constant liar", as skopt's multi-point ask).
        The lies go to a copy, which keeps the optimizer itself true. Unlike skopt's, the
        copy is not refitted on the data the last fit saw, nor after the last point: two GP
        fits and acquisition searches of every four in a batch of two."""
        lie = min(self.opt.yi) if self.opt.yi else 0.0
        opt, xs = self.opt, []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "evaluated at point before": skopt copes
            for _ in range(n):
                if lies:
                    if opt is self.opt:
                        opt = copy.deepcopy(self.opt)  # its own draws: not the ones to come
                        opt.rng = np.random.RandomState(self.opt.rng.randint(0, 2**31 - 1))
                    opt.tell(lies, [lie] * len(lies))
                xs.append(opt.ask())
                lies = [xs[-1]]
        return xs

    def _observe(self, proposal: Proposal, outcome: Outcome) -> None:
        self._buffer[proposal.key] = (proposal, outcome)
        if self.asynchronous:
            self._tell(list(self._buffer.values()))
            self._buffer.clear()
            return
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if not self._buffer or self.pending or self._retry:
            return
        if self._queue and self.asked < self.n_calls:
            return
        # The batch is complete: tell it in ask order.
        batch = sorted(self._buffer.values(), key=lambda po: int(po[0].key[1:]))
        self._buffer.clear()
        self._tell(batch)
        if not self.asynchronous and not self._queue and self.asked < self.n_calls:
            # The next batch now, when told (the engine tells on a thread of its own), not
            # at the next ask, which the engine's loop waits for: the acquisition search over
            # 10,000 candidates is the heavy part. The same points either way.
            self._next_batch()

    def _next_batch(self) -> None:
        """The next batch's points, each asked after telling the one before as a lie."""
        n = min(self.batch, self.n_calls - self.asked)
        xs = self._ask_lying([], n)
        self._queue = [{k: _plain(v) for k, v in zip(self.space.names, x, strict=True)} for x in xs]
        if self._initial:  # they take the places of the first batch's random points
            first, self._initial = self._initial[:n], self._initial[n:]
            self._queue = first + self._queue[len(first) :]

    def _tell(self, batch: list[tuple[Proposal, Outcome]]) -> None:
        fresh = []
        for p, o in batch:
            # A failed trial counts as accuracy 0: the surrogate learns to avoid it.
            acc = o.val_accuracy if o.ok else 0.0
            self.observations.append((p.config, acc))
            if self.space.contains(p.config):
                fresh.append(([p.config[n] for n in self.space.names], -acc))
        if fresh:
            self._fit([x for x, _ in fresh], [y for _, y in fresh])

    def done(self) -> bool:
        return (
            self.asked >= self.n_calls and not self.pending and not self._retry and not self._buffer
        )

    @property
    def planned_trials(self) -> int:
        return self.n_calls

    def phase(self) -> str:
        return self._phase

    def progress(self) -> dict[str, Any]:
        return {"done": self.told, "total": self.n_calls}

    def on_space_change(self, space: SearchSpace) -> str:
        self.space = space
        self._queue = [c for c in self._queue if space.contains(c)]
        self._rebuild()
        self._maybe_flush()
        kept = sum(1 for c, _ in self.observations if space.contains(c))
        return (
            f"surrogate refitted on {kept} of {len(self.observations)} observations "
            "(the others fall outside the new space)"
        )

    def top(self, k: int) -> list[tuple[Config, float]]:
        return sorted(self.observations, key=lambda ca: -ca[1])[:k]

    def logs(self) -> dict[str, list[Any]]:
        return {"observations": self.observations}  # (config, accuracy): saved as [c, acc]

    def state_dict(self, whole: bool = True) -> dict[str, Any]:
        next_x = getattr(self.opt, "_next_x", None)
        return {
            **super().state_dict(whole),
            "observations": [[c, acc] for c, acc in self.observations] if whole else [],
            "buffer": {k: [to_plain(p), to_plain(o)] for k, (p, o) in self._buffer.items()},
            "queue": self._queue,
            "asked": self.asked,
            "initial": self._initial,
            # Not the optimizer itself: it is rebuilt from the observations. What it cannot
            # recompute is kept: its random state and the point its last fit chose, so a
            # resumed run proposes what the uninterrupted one would have.
            "optimizer": {
                "rng": encode_rng(self.opt.rng),
                "next_x": None if next_x is None else [_plain(v) for v in next_x],
                "next_xs": [encode_array(x) for x in getattr(self.opt, "next_xs_", [])],
                # The held kernel: a resumed run refits with the hyperparameters the
                # uninterrupted one would hold, not ones learned afresh on resuming.
                "learned_at": self._learned_at,
                "held": None
                if self._held is None
                else [[float(t) for t in self._held[0].theta], float(self._held[1])],
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.observations = [(dict(c), float(acc)) for c, acc in state["observations"]]
        self._buffer = {
            k: (from_plain(Proposal, p), from_plain(Outcome, o))
            for k, (p, o) in state["buffer"].items()
        }
        self._queue = [dict(c) for c in state["queue"]]
        self.asked = int(state["asked"])
        self._initial = [dict(c) for c in state.get("initial", [])]
        self._rebuild()  # a fresh optimizer told the observations that fit the space
        saved = state["optimizer"]
        restore_rng(self.opt.rng, saved["rng"])
        if saved["next_x"] is not None:
            self.opt._next_x = list(saved["next_x"])
            self.opt.next_xs_ = [decode_array(x) for x in saved["next_xs"]]
        if saved.get("held") is not None:  # stores written before the schedule have none
            theta, noise = saved["held"]
            kernel = self._learner.kernel.clone_with_theta(np.asarray(theta))
            self._held, self._learned_at = (kernel, float(noise)), int(saved["learned_at"])
            self.opt.base_estimator_ = held_kernel_gp(*self._held)
