"""The confirmation stage as a strategy: the search's top candidates and the default
configuration, each trained again under new seeds at the search's fidelity, on the same loop
as any search. Its trials are measurements for the choice (engine.choice), not search trials:
not rewarded, scored or pruned, never scored on the test set, and their failures do not count
towards ending the run.

Round 1 trains every candidate and the default `repeats` times. With `keep`, a second round
trains the `keep` candidates ranked highest after round 1 (engine.choice: the mean score of
all their measurements) and the default `repeats` more times: a successive halving that
spends the second round's trainings where the choice is still open. No profile uses it: on
the surrogate bench it chose no better than the same cost spent on fewer candidates
(BENCHMARKS.md, section 5), which the bench measures with it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.choice import Trial, config_key, rank
from engine.space import SearchSpace
from engine.strategies.base import Outcome, Proposal, Strategy
from storage.contract import CONFIRM_PHASE, FINISHED


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
        keep: int = 0,
        measured: Iterable[Trial] = (),
        done: Iterable[str] = (),
    ) -> None:
        """`measured`: the search's trials and the stage's finished ones (on a resume), which
        rank the candidates for a second round; `done`: the keys of the stage's trainings
        already finished, not proposed again."""
        super().__init__(space)
        self.epochs, self.repeats = epochs, max(1, repeats)
        self.candidates = [dict(c) for c in candidates]
        self.default = dict(default)
        self.keep = min(max(0, keep), len(self.candidates))
        self._measured = list(measured)
        self._done = set(done)
        self._roles = [(f"candidate {i + 1}", c) for i, c in enumerate(self.candidates)]
        self._todo = self._round(1, self._roles)
        self._second: list[Proposal] | None = None if self.keep else []  # built after round 1
        self._planned = (len(self._roles) + 1) * self.repeats
        if self.keep:
            self._planned += (self.keep + 1) * self.repeats

    def _round(self, number: int, roles: Sequence[tuple[str, dict[str, Any]]]) -> list[Proposal]:
        """A round's trainings not yet done: repeat by repeat, every configuration once (a
        stop after any repeat leaves each measured about equally often), the default last."""
        first = (number - 1) * self.repeats
        return [
            Proposal(
                config,
                CONFIRM_PHASE,
                self.epochs,
                early_stopping=True,  # as the search's trials: the fidelity they ranked
                key=confirm_key(role, r),
                extra={"role": role, "repeat": r, "round": number},
            )
            for r in range(first, first + self.repeats)
            for role, config in [*roles, ("default", self.default)]
            if confirm_key(role, r) not in self._done
        ]

    def _propose(self) -> Proposal | None:
        if not self._todo and self._second is None:
            open_ = [*self.pending.values(), *self._retry]
            if not any(p.extra.get("round") == 1 for p in open_):
                self._second = self._round(2, self._finalists())
                self._todo = self._second
            elif self.keep:  # round 1 still being told: its default can go ahead
                early = self._round(2, [])
                self._todo, self._done = early, self._done | {p.key for p in early}
        return self._todo.pop(0) if self._todo else None

    def _finalists(self) -> list[tuple[str, dict[str, Any]]]:
        """The `keep` candidates ranked highest on every measurement so far."""
        ranking = rank(self._measured, self.default)
        order = {config_key(m.config): i for i, m in enumerate(ranking)}
        last = len(order)
        ranked = sorted(self._roles, key=lambda rc: order.get(config_key(rc[1]), last))
        return ranked[: self.keep]

    def _observe(self, proposal: Proposal, outcome: Outcome) -> None:
        # A failed training is not retried: the choice uses the measurements there are.
        if outcome.ok and not outcome.pruned:
            key = config_key(proposal.config)
            penalty = next(
                (t.get("penalty") for t in self._measured if config_key(t["config"]) == key), 0
            )
            self._measured.append(
                {
                    "number": 10**9 + len(self._measured),  # after every stored trial
                    "config": proposal.config,
                    "val_accuracy": outcome.val_accuracy,
                    "seconds": outcome.seconds,
                    "penalty": penalty or 0,
                    "phase": CONFIRM_PHASE,
                    "status": FINISHED,
                    "max_epochs": proposal.epochs,
                }
            )

    def done(self) -> bool:
        return not self._todo and self._second is not None and not self.pending and not self._retry

    @property
    def planned_trials(self) -> int:
        return self._planned


def confirm_key(role: str, repeat: int) -> str:
    """The trial key, which seeds the training (new seeds: no search trial has such a key)."""
    return f"confirm-{role.replace(' ', '-')}-{repeat + 1}"
