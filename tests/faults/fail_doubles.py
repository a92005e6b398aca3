"""Trainer doubles for the fault tests, run by real engine and worker processes."""

from __future__ import annotations

import time
from typing import Any

from engine.trainer import TrialError, TrialResult, TrialTask
from tests.faults.doubles import train


def always_nan(task: TrialTask, data: Any, progress: Any = None, **kw: Any) -> TrialResult:
    """Every configuration fails, as with a broken data set or trainer."""
    raise TrialError("loss became NaN or infinite at epoch 1")


def hang_on_sgd(task: TrialTask, data: Any, progress: Any = None, **kw: Any) -> TrialResult:
    """SGD configurations hang (a trainer stuck in a collective, a dead-locked input
    pipeline); the others train as the fault suite's double does."""
    if task.config.get("optimizer") == "sgd":
        time.sleep(3600)
    return train(task, data, progress, **kw)
