"""Grid search: the full factorial grid of the space, visited in a seeded random order
(so a budget smaller than the grid still covers it evenly), within a budget of
`max_trials * epochs` epochs: a trial pruned after k epochs (engine.pruners) costs k, so
pruning buys more points; without pruning the run is at most `max_trials` points."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from engine.space import Config, SearchSpace
from engine.strategies.base import Outcome, Proposal, Strategy
from storage.contract import SEARCH_PHASE


def _key(config: Config) -> str:
    return json.dumps(config, sort_keys=True)


class GridSearch(Strategy):
    name = "grid"

    def __init__(
        self, space: SearchSpace, max_trials: int, epochs: int, seed: int, reals_per_dim: int = 3
    ) -> None:
        super().__init__(space)
        self.max_trials, self.epochs, self.seed = max_trials, epochs, seed
        self.reals_per_dim = reals_per_dim
        self.budget = max_trials * epochs  # epochs
        self.visited: list[str] = []  # configs asked so far (JSON keys)
        self.told = 0
        self.spent = 0  # epochs of the trials told
        self.points = self._points_left()

    def _points_left(self) -> list[Config]:
        grid = self.space.grid(self.reals_per_dim)
        order = np.random.default_rng(self.seed).permutation(len(grid))
        seen = set(self.visited)
        return [grid[i] for i in order if _key(grid[i]) not in seen]

    def _committed(self) -> int:
        """Epochs spent, plus those of the trials asked and not yet told at full length."""
        return self.spent + self.epochs * (len(self.pending) + len(self._retry))

    def _propose(self) -> Proposal | None:
        if self._committed() + self.epochs > self.budget or not self.points:
            return None
        planned = self.planned_trials  # this point included
        config = self.points.pop(0)
        self.visited.append(_key(config))
        n = len(self.visited)
        return Proposal(
            config, SEARCH_PHASE, self.epochs, progress=min(1.0, (n - 1) / planned), key=f"g{n}"
        )

    def _observe(self, proposal: Proposal, outcome: Outcome) -> None:
        self.told += 1
        self.spent += outcome.epochs_spent(proposal)

    def done(self) -> bool:
        idle = not self.pending and not self._retry
        return idle and (self.spent + self.epochs > self.budget or not self.points)

    @property
    def planned_trials(self) -> int:
        left = max(0, self.budget - self._committed()) // self.epochs
        return len(self.visited) + min(left, len(self.points))

    def progress(self) -> dict[str, Any]:
        return {
            "done": self.told,
            "total": self.planned_trials,
            "epochs": self.spent,
            "epoch_budget": self.budget,
        }

    def on_space_change(self, space: SearchSpace) -> str:
        self.space = space
        self.points = self._points_left()
        return f"grid recomputed: {len(self.points)} points left"

    def logs(self) -> dict[str, list[Any]]:
        return {"visited": self.visited}

    def state_dict(self, whole: bool = True) -> dict[str, Any]:
        return {
            **super().state_dict(whole),
            "visited": self.visited if whole else [],
            "told": self.told,
            "spent": self.spent,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.visited, self.told = list(state["visited"]), state["told"]
        # State saved before epoch budgets: every told trial ran its epochs.
        self.spent = state.get("spent", self.told * self.epochs)
        self.points = self._points_left()
