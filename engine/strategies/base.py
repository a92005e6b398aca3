"""The strategy interface: ask for a configuration, tell its outcome, follow space edits,
save and restore state. Every strategy runs on the same event-driven loop (engine.runner)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.space import Config, SearchSpace
from engine.state import from_plain, to_plain
from storage.contract import SEARCH_PHASE


@dataclass
class Proposal:
    config: Config
    phase: str  # warmup, ppo, search
    epochs: int
    early_stopping: bool = True
    ppo_epoch: int | None = None
    trajectory: int | None = None
    step: int | None = None
    progress: float = 0.0  # for the adaptive reward weights
    key: str = ""  # unique within the strategy, matches tell() to ask()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """A trial's result as a strategy is told it. A pruned trial (engine.pruners: stopped by
    the engine after an epoch) is `ok` with `pruned` set: its accuracy is that of the epochs
    it ran (the best by validation loss) and its seconds are theirs, so Bayes sees a partial,
    lower accuracy and PPO a reward of a partial accuracy and a short time."""

    ok: bool
    val_accuracy: float = 0.0
    seconds: float = 0.0
    reward: float = 0.0
    error: str = ""
    pruned: bool = False
    epochs_run: int = 0  # epochs trained (0: unknown, e.g. a failed trial)

    def epochs_spent(self, proposal: Proposal) -> int:
        """Epochs the trial costs against an epoch budget: a pruned trial the epochs it ran,
        any other its proposal's epochs (a failure costs what it was meant to)."""
        return min(self.epochs_run, proposal.epochs) if self.pruned else proposal.epochs


class Strategy(ABC):
    name: str = "strategy"
    # Its trials are search trials: rewarded and scored, candidates for best, pruned, and
    # their failures in a row end the run. Final validation's are not (strategies.final).
    searching: bool = True
    # Its trials are scored on the test set: final validation's only. Nothing chooses by it.
    tests: bool = False

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.pending: dict[str, Proposal] = {}  # asked, not yet told
        self._retry: list[Proposal] = []  # interrupted proposals to hand out again
        self._updates: list[dict[str, Any]] = []  # PPO updates for the store
        self._events: list[str] = []  # messages for the run's log

    # --- the interface ---------------------------------------------------------------
    def ask(self) -> Proposal | None:
        """The next proposal, or None when nothing can start now (waiting for results)."""
        if self._retry:
            p = self._retry.pop(0)
        else:
            p = self._propose()
            if p is None:
                return None
        self.pending[p.key] = p
        return p

    def tell(self, proposal: Proposal, outcome: Outcome) -> None:
        self.pending.pop(proposal.key, None)
        self._observe(proposal, outcome)

    def requeue_pending(self) -> None:
        """After a crash: proposals that were running are handed out again, first."""
        self._retry = list(self.pending.values()) + self._retry
        self.pending.clear()

    @abstractmethod
    def _propose(self) -> Proposal | None: ...

    @abstractmethod
    def _observe(self, proposal: Proposal, outcome: Outcome) -> None: ...

    @abstractmethod
    def done(self) -> bool: ...

    @property
    @abstractmethod
    def planned_trials(self) -> int: ...

    def phase(self) -> str:
        return SEARCH_PHASE

    def progress(self) -> dict[str, Any]:
        """Counts and budgets for the header (JSON-able)."""
        return {}

    def on_space_change(self, space: SearchSpace) -> str:
        """Continue on a new space version; returns what was done, for the log."""
        self.space = space
        return "continuing on the new space"

    def pop_updates(self) -> list[dict[str, Any]]:
        out, self._updates = self._updates, []
        return out

    def pop_events(self) -> list[str]:
        out, self._events = self._events, []
        return out

    # --- state, for resume ------------------------------------------------------------
    def logs(self) -> dict[str, list[Any]]:
        """The parts of the state that only grow with the run: the key of each in
        `state_dict()` ("warmup.observations" for one nested) -> the strategy's own list,
        whose entries are only ever appended (never changed or removed; `load_state_dict`
        alone replaces the list), each JSON-able as `state_dict()` saves it. The engine
        saves only the entries new since its last save (engine.persistence), so a save costs
        the same at 50,000 results as at 50."""
        return {}

    def parts(self) -> dict[str, tuple[int, Callable[[], dict[str, Any]]]]:
        """Large parts of the state that change now and then: the key of each in
        `state_dict()` -> (a number that changes whenever the part does, and a function that
        gives the part as `state_dict()` would). The engine saves a part again only when its
        number changed."""
        return {}

    def state_dict(self, whole: bool = True) -> dict[str, Any]:
        """Everything but the space (restored from the store), as plain JSON-able data; not
        `whole`: an empty list in the place of each of `logs()`, None in that of each of
        `parts()`. Subclasses add their own."""
        return {
            "pending": [to_plain(p) for p in self.pending.values()],
            "retry": [to_plain(p) for p in self._retry],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pending = [from_plain(Proposal, p) for p in state["pending"]]
        self.pending = {p.key: p for p in pending}
        self._retry = [from_plain(Proposal, p) for p in state["retry"]]
