"""Random search: independent draws from the space (log-uniform where the space says so)."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.space import SearchSpace
from engine.strategies.base import Outcome, Proposal, Strategy


class RandomSearch(Strategy):
    name = "random"

    def __init__(self, space: SearchSpace, n_trials: int, epochs: int, seed: int) -> None:
        super().__init__(space)
        self.n_trials, self.epochs, self.seed = n_trials, epochs, seed
        self.asked = 0
        self.told = 0

    def _propose(self) -> Proposal | None:
        if self.asked >= self.n_trials:
            return None
        # One generator per draw: the sequence does not depend on completion order.
        rng = np.random.default_rng([self.seed, self.asked])
        p = Proposal(
            self.space.sample(rng),
            "search",
            self.epochs,
            progress=self.asked / self.n_trials,
            key=f"r{self.asked}",
        )
        self.asked += 1
        return p

    def _observe(self, proposal: Proposal, outcome: Outcome) -> None:
        self.told += 1

    def done(self) -> bool:
        return self.told >= self.n_trials and not self.pending and not self._retry

    @property
    def planned_trials(self) -> int:
        return self.n_trials

    def progress(self) -> dict[str, Any]:
        return {"done": self.told, "total": self.n_trials}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "asked": self.asked, "told": self.told}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.asked, self.told = state["asked"], state["told"]
