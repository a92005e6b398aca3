"""The remaining-time estimate of a run, from epochs: those still to train times the measured
wall seconds per epoch, shared by the workers.

Counting trials instead (trials left x the mean wall time of a finished trial) held still for
most of a run: the early trials were the short ones (a one-epoch warm-up against two-epoch PPO
steps), so the mean grew as fast as the count fell. Epochs put every trial on one scale, and
the epochs a running trial has trained already count as done, so the estimate falls steadily.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from storage.contract import DONE_TRIAL_STATUSES

FINAL_TRIALS = 2  # final validation trains the best and the default, once per repeat


@dataclass(frozen=True)
class EtaInputs:
    planned_trials: int  # search trials the strategy plans in all
    planned_epochs: int  # epochs its budget plans in all (engine.profiles.Profile.epochs_for)
    ended_trials: int  # search trials finished, failed or pruned
    running_trials: int
    epochs_spent: int  # the budget the ended trials took (a pruned one: the epochs it ran)
    running_epochs: int  # the epochs the running trials were given ...
    running_epochs_left: int  # ... and those they have still to train
    max_epochs: int  # the most epochs a trial is given (engine.profiles.Profile.trial_epochs)
    measured_seconds: float  # wall seconds of the trials that trained to a result ...
    measured_epochs: int  # ... and their epochs
    workers: int
    final_epochs: int = 0  # per final-validation trial; 0 without final validation
    final_trials: int = FINAL_TRIALS
    final_epochs_done: int = 0
    confirm_epochs: int = 0  # the confirmation stage's (engine.profiles.Profile.confirm_epochs)
    confirm_epochs_done: int = 0

    @classmethod
    def of(cls, counts: Mapping[str, Any], **plan: Any) -> EtaInputs:
        """From the store's progress counts (Store.progress_counts) and the run's plan."""
        return cls(
            ended_trials=sum(counts[status] for status in DONE_TRIAL_STATUSES),
            running_trials=counts["running"],
            epochs_spent=counts["epochs_spent"],
            running_epochs=counts["running_epochs"],
            running_epochs_left=counts["running_epochs_left"],
            measured_seconds=counts["measured_seconds"],
            measured_epochs=counts["measured_epochs"],
            final_epochs_done=counts["final_epochs_done"],
            confirm_epochs_done=counts.get("confirm_epochs_done", 0),
            **plan,
        )


def epochs_left(x: EtaInputs) -> int:
    """Search epochs still to train: the running trials' rest, and the trials not started yet.
    Those are bounded twice: by the epoch budget left (a two-stage search plans epochs), and
    by the trials left times the most epochs a trial is given (a trial budget, where a pruned
    trial saves epochs instead of handing them to another trial)."""
    not_started = max(0, x.planned_trials - x.ended_trials - x.running_trials)
    budget_left = max(0, x.planned_epochs - x.epochs_spent - x.running_epochs)
    budget_left = min(budget_left, not_started * max(0, x.max_epochs))
    return x.running_epochs_left + budget_left


def remaining_seconds(x: EtaInputs) -> float | None:
    """Seconds until the run ends, confirmation and final validation included; None until a
    trial has trained to a result (there is no measured speed yet)."""
    if x.measured_epochs <= 0 or x.measured_seconds <= 0:
        return None
    per_epoch = x.measured_seconds / x.measured_epochs
    workers = max(1, x.workers)
    search = epochs_left(x) * per_epoch / workers
    confirm = max(0, x.confirm_epochs - x.confirm_epochs_done) * per_epoch / workers
    final_left = max(0, x.final_trials * x.final_epochs - x.final_epochs_done)
    final = final_left * per_epoch / min(workers, x.final_trials)
    return search + confirm + final
