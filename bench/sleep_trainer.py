"""A trainer double for the engine-overhead bench: `engine.trainer.train_trial`'s signature,
no TensorFlow. It sleeps a fixed time (``$HPTUI_BENCH_SLEEP_S``, default 0.25 s, whatever the
configuration), reports one progress and one epoch message, and returns a TrialResult."""

from __future__ import annotations

import os
import time
from typing import Any

from engine.trainer import ProgressFn, TrialResult, TrialTask

DEFAULT_SLEEP_S = 0.25


def sleep_seconds() -> float:
    return float(os.environ.get("HPTUI_BENCH_SLEEP_S", DEFAULT_SLEEP_S))


def train(
    task: TrialTask,
    data: Any,
    progress: ProgressFn | None = None,
    *,
    vocab_size: int,
    device: str = "",
    precision: str = "",
) -> TrialResult:
    """Sleep, report, return a fixed accuracy; one epoch whatever `task.epochs` says."""
    progress = progress or (lambda _msg: None)
    start = time.perf_counter()
    progress(
        dict(
            kind="progress",
            trial_id=task.trial_id,
            epoch=1,
            epochs=task.epochs,
            batch=0,
            batches=1,
        )
    )
    time.sleep(sleep_seconds())
    seconds = time.perf_counter() - start
    ep = {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.55, "val_accuracy": 0.7}
    progress(dict(kind="epoch", trial_id=task.trial_id, epoch=1, seconds=seconds, **ep))
    return TrialResult(
        trial_id=task.trial_id,
        val_accuracy=ep["val_accuracy"],
        val_loss=ep["val_loss"],
        seconds=seconds,
        epochs_run=1,
        best_epoch=1,
        history=[ep],
        test_accuracy=0.7 if task.evaluate_test else None,
        precision=precision,
        device=device,
    )
