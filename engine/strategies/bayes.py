"""Bayesian optimisation with scikit-optimize's ask/tell Optimizer: Gaussian-process
surrogate, expected improvement, objective = −validation accuracy (SPEC §4).

Points are asked in batches of `batch` (one per worker, constant liar), and a batch's
results are told together in proposal order once all are in: the sequence of
configurations is then the same for the same seed, whatever order trials finish in.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from skopt import Optimizer
from skopt import space as sk

from engine.space import Config, Real, SearchSpace, _plain
from engine.state import decode_array, encode_array, encode_rng, from_plain, restore_rng, to_plain
from engine.strategies.base import Outcome, Proposal, Strategy


def to_skopt(space: SearchSpace) -> list[Any]:
    dims = []
    for d in space.dims:
        if isinstance(d, Real):
            prior = "log-uniform" if d.log else "uniform"
            dims.append(sk.Real(d.low, d.high, prior=prior, name=d.name))
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
        phase: str = "search",
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

    def _rebuild(self) -> None:
        """A fresh optimizer over the current space, fitted on the observations that fit it."""
        self.opt = Optimizer(
            to_skopt(self.space),
            base_estimator="GP",
            acq_func="EI",
            # Explicit: skopt's default of 10 random points would leave 5 of 15 to the GP.
            n_initial_points=self.n_initial_points,
            initial_point_generator="random",
            random_state=self.seed,
        )
        fitting = [(c, acc) for c, acc in self.observations if self.space.contains(c)]
        if fitting:
            xs = [[c[n] for n in self.space.names] for c, _ in fitting]
            self.opt.tell(xs, [-acc for _, acc in fitting])

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
            n = min(self.batch, self.n_calls - self.asked)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "evaluated at point before": skopt copes
                xs = self.opt.ask(n_points=n) if n > 1 else [self.opt.ask()]
            self._queue = [
                {k: _plain(v) for k, v in zip(self.space.names, x, strict=True)} for x in xs
            ]
            if self._initial:  # they take the places of the first batch's random points
                first, self._initial = self._initial[:n], self._initial[n:]
                self._queue = first + self._queue[len(first) :]
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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if not running:
                x = self.opt.ask()
            else:  # as skopt's own multi-point ask does: a copy told the lies
                opt = self.opt.copy(random_state=self.opt.rng.randint(0, np.iinfo(np.int32).max))
                lie = min(self.opt.yi) if self.opt.yi else 0.0
                opt.tell(running, [lie] * len(running))
                x = opt.ask()
        return {k: _plain(v) for k, v in zip(names, x, strict=True)}

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

    def _tell(self, batch: list[tuple[Proposal, Outcome]]) -> None:
        fresh = []
        for p, o in batch:
            # A failed trial counts as accuracy 0: the surrogate learns to avoid it.
            acc = o.val_accuracy if o.ok else 0.0
            self.observations.append((p.config, acc))
            if self.space.contains(p.config):
                fresh.append(([p.config[n] for n in self.space.names], -acc))
        if fresh:
            self.opt.tell([x for x, _ in fresh], [y for _, y in fresh])

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

    def state_dict(self) -> dict[str, Any]:
        next_x = getattr(self.opt, "_next_x", None)
        return {
            **super().state_dict(),
            "observations": [[c, acc] for c, acc in self.observations],
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
