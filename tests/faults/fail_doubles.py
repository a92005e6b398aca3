"""Trainer doubles for the fault tests, run by real engine and worker processes."""

from __future__ import annotations

from typing import Any

from engine.trainer import TrialError, TrialResult, TrialTask


def always_nan(task: TrialTask, data: Any, progress: Any = None, **kw: Any) -> TrialResult:
    """Every configuration fails, as with a broken data set or trainer."""
    raise TrialError("loss became NaN or infinite at epoch 1")
