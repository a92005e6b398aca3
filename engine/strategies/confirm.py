"""The confirmation stage as a strategy: the search's top candidates and the default
configuration, each trained again `repeats` times under new seeds at the search's fidelity,
on the same loop as any search. Its trials are measurements for the choice (engine.choice),
not search trials: not rewarded, scored or pruned, never scored on the test set, and their
failures do not count towards ending the run."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.space import SearchSpace
from engine.strategies.base import Outcome, Proposal, Strategy
from storage.contract import CONFIRM_PHASE


class Confirmation(Strategy):
    name = "confirm"
    searching = False

    def __init__(
        self,
        space: SearchSpace,
        candidates: Sequence[Mapping[str, Any]],
        default: Mapping[str, Any],
        epochs: int,
        repeats: int,
        done: Iterable[str] = (),
    ) -> None:
        super().__init__(space)
        self.epochs, self.repeats = epochs, max(1, repeats)
        self.candidates = [dict(c) for c in candidates]
        finished = set(done)  # keys of the trainings already done, on a resume
        roles = [(f"candidate {i + 1}", c) for i, c in enumerate(self.candidates)]
        roles.append(("default", dict(default)))
        # Repeat by repeat, every configuration once: a stop after any round leaves each
        # measured about equally often.
        self._todo = [
            Proposal(
                config,
                CONFIRM_PHASE,
                epochs,
                early_stopping=True,  # as the search's trials: the fidelity they ranked
                key=confirm_key(role, r),
                extra={"role": role, "repeat": r, "repeats": self.repeats},
            )
            for r in range(self.repeats)
            for role, config in roles
            if confirm_key(role, r) not in finished
        ]
        self._planned = len(roles) * self.repeats

    def _propose(self) -> Proposal | None:
        return self._todo.pop(0) if self._todo else None

    def _observe(self, proposal: Proposal, outcome: Outcome) -> None:
        pass  # a failed training is not retried: the choice uses the measurements there are

    def done(self) -> bool:
        return not self._todo and not self.pending and not self._retry

    @property
    def planned_trials(self) -> int:
        return self._planned


def confirm_key(role: str, repeat: int) -> str:
    """The trial key, which seeds the training (new seeds: no search trial has such a key)."""
    return f"confirm-{role.replace(' ', '-')}-{repeat + 1}"
