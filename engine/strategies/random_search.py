"""Random search: independent draws from the space (log-uniform where the space says so).

The budget is in epochs, `n_trials * epochs`: a trial pruned after k epochs (engine.pruners)
costs k, so pruning buys more trials; without pruning the run is exactly `n_trials` trials."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.space import SearchSpace
from engine.strategies.base import Outcome, Proposal, Strategy
from storage.contract import SEARCH_PHASE


class RandomSearch(Strategy):
    name = "random"

    def __init__(self, space: SearchSpace, n_trials: int, epochs: int, seed: int) -> None:
        super().__init__(space)
        self.n_trials, self.epochs, self.seed = n_trials, epochs, seed
        self.budget = n_trials * epochs  # epochs
        self.asked = 0
        self.told = 0
        self.spent = 0  # epochs of the trials told

    def _committed(self) -> int:
        """Epochs spent, plus those of the trials asked and not yet told at full length."""
        return self.spent + self.epochs * (len(self.pending) + len(self._retry))

    def _propose(self) -> Proposal | None:
        committed = self._committed()
        if committed + self.epochs > self.budget:
            return None
        # One generator per draw: the sequence does not depend on completion order.
        rng = np.random.default_rng([self.seed, self.asked])
        p = Proposal(
            self.space.sample(rng),
            SEARCH_PHASE,
            self.epochs,
            progress=min(1.0, committed / self.budget),
            key=f"r{self.asked}",
        )
        self.asked += 1
        return p

    def _observe(self, proposal: Proposal, outcome: Outcome) -> None:
        self.told += 1
        self.spent += outcome.epochs_spent(proposal)

    def done(self) -> bool:
        return not self.pending and not self._retry and self.spent + self.epochs > self.budget

    @property
    def planned_trials(self) -> int:
        left = max(0, self.budget - self._committed()) // self.epochs
        return self.told + len(self.pending) + len(self._retry) + left

    def progress(self) -> dict[str, Any]:
        return {
            "done": self.told,
            "total": self.planned_trials,
            "epochs": self.spent,
            "epoch_budget": self.budget,
        }

    def state_dict(self, whole: bool = True) -> dict[str, Any]:
        return {
            **super().state_dict(whole),
            "asked": self.asked,
            "told": self.told,
            "spent": self.spent,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.asked, self.told = state["asked"], state["told"]
        # State saved before epoch budgets: every told trial ran its epochs.
        self.spent = state.get("spent", self.told * self.epochs)
