"""A trainer double for the fault suite, run by real engine and worker processes.

Its behaviour comes from environment variables (inherited by spawned workers):
- HPTUI_FAULT_SLEEP: seconds per epoch (default 0.3), so a test can kill things mid-trial;
- HPTUI_FAULT_MODE: what happens to configurations with optimizer == "sgd":
  "exit" (the worker process dies, exit code 3), "oom" (MemoryError), "nan" (TrialError).
Accuracy is a deterministic function of the configuration.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

from engine.trainer import TrialError, TrialResult, TrialTask


def accuracy(config: dict[str, Any]) -> float:
    return 0.9 - 0.05 * (math.log10(float(config["lr"])) + 3) ** 2 - (config["dropout"] - 0.3) ** 2


def train(
    task: TrialTask,
    data: Any,
    progress: Any = None,
    *,
    vocab_size: int,
    device: str = "",
    precision: str = "",
) -> TrialResult:
    progress = progress or (lambda _m: None)
    mode = os.environ.get("HPTUI_FAULT_MODE", "")
    if task.config.get("optimizer") == "sgd":
        if mode == "exit":
            os._exit(3)
        if mode == "oom":
            raise MemoryError("cannot allocate 17179869184 bytes")
        if mode == "nan":
            raise TrialError("loss became NaN or infinite at epoch 1")
    per_epoch = float(os.environ.get("HPTUI_FAULT_SLEEP", "0.3"))
    acc = accuracy(task.config)
    history = []
    for e in range(1, task.epochs + 1):
        progress(
            {
                "kind": "progress",
                "trial_id": task.trial_id,
                "epoch": e,
                "epochs": task.epochs,
                "batch": 0,
                "batches": 10,
            }
        )
        time.sleep(per_epoch)
        m = {"loss": 1 - acc, "accuracy": acc, "val_loss": 1 - acc, "val_accuracy": acc}
        history.append(m)
        progress(
            {"kind": "epoch", "trial_id": task.trial_id, "epoch": e, **m, "seconds": per_epoch}
        )
    return TrialResult(
        trial_id=task.trial_id,
        val_accuracy=acc,
        val_loss=1 - acc,
        seconds=per_epoch * task.epochs,
        epochs_run=task.epochs,
        best_epoch=task.epochs,
        history=history,
        test_accuracy=acc if task.evaluate_test else None,
        precision="float32",
        device="cpu",
    )
