"""The trainer double of the tests: `engine.trainer.train_trial`'s signature, run by the real
engine and worker processes (`--trainer tests.helpers.fake_trainer:train`) in place of
TensorFlow.

`train` takes its behaviour from the task's configuration, or, for a whole run, from the
environment (spawned engines and workers inherit it):
- seconds per epoch: the configuration's `sleep`, else $HPTUI_FAULT_SLEEP, else 0.02 (a fault
  test sets it longer, to kill things mid-trial);
- the configuration's `exit`: `os._exit(code)` (a worker that dies by itself); `sigkill`:
  SIGKILL of its own process; `error`: TrialError with this text;
- $HPTUI_FAULT_MODE, for configurations with optimizer "sgd": "exit" (the worker dies, exit
  code 3), "oom" (MemoryError), "nan" (TrialError).
Otherwise it reports progress and one `epoch` message per epoch and returns a TrialResult whose
validation accuracy rises to a smooth, deterministic function of the hyperparameters
(`objective`) at the last epoch. `train_fail_sgd`, `always_nan` and `hang_on_sgd` are the
same double with one fault built in.
"""

from __future__ import annotations

import math
import os
import signal
import time
from typing import Any

from engine.trainer import TrialError, TrialResult, TrialTask

EPOCH_SECONDS = 0.02
SLEEP_ENV, MODE_ENV = "HPTUI_FAULT_SLEEP", "HPTUI_FAULT_MODE"


def objective(config: dict[str, Any]) -> float:
    """A smooth accuracy in (0, 1): best at lr 1e-3, dropout 0.3, 64 units, adam."""
    lr = float(config.get("lr", 1e-3))
    dropout = float(config.get("dropout", 0.3))
    acc = 0.9 - 0.05 * (math.log10(lr) + 3.0) ** 2 - 2.0 * (dropout - 0.3) ** 2
    acc -= 0.01 * (config.get("lstm_units") != 64) + 0.02 * (config.get("optimizer") == "sgd")
    return max(0.05, min(0.99, acc))


def _fault(cfg: dict[str, Any]) -> None:
    """Fail as the configuration, or the environment for an SGD configuration, asks."""
    if "exit" in cfg:
        os._exit(int(cfg["exit"]))
    if cfg.get("sigkill"):
        os.kill(os.getpid(), signal.SIGKILL)
    if "error" in cfg:
        raise TrialError(str(cfg["error"]))
    mode = os.environ.get(MODE_ENV, "") if cfg.get("optimizer") == "sgd" else ""
    if mode == "exit":
        os._exit(3)
    if mode == "oom":
        raise MemoryError("cannot allocate 17179869184 bytes")
    if mode == "nan":
        raise TrialError("loss became NaN or infinite at epoch 1")


def train(
    task: TrialTask,
    data: Any,
    progress: Any = None,
    *,
    vocab_size: int,
    device: str = "",
    precision: str = "",
) -> TrialResult:
    cfg = task.config
    progress = progress or (lambda _m: None)
    _fault(cfg)
    per_epoch = float(cfg.get("sleep", os.environ.get(SLEEP_ENV, EPOCH_SECONDS)))
    acc = objective(cfg)
    history = []
    start = time.perf_counter()
    for e in range(1, task.epochs + 1):
        progress(
            dict(
                kind="progress",
                trial_id=task.trial_id,
                epoch=e,
                epochs=task.epochs,
                batch=0,
                batches=len(data.x_train),
            )
        )
        time.sleep(per_epoch)
        # Accuracy rises with the epoch; the last epoch reaches `acc`.
        ep = {
            "loss": 1.0 - acc + 0.01 * (task.epochs - e),
            "accuracy": acc,
            "val_loss": 1.0 - acc + 0.01 * (task.epochs - e),
            "val_accuracy": acc - 0.01 * (task.epochs - e),
        }
        history.append(ep)
        progress(dict(kind="epoch", trial_id=task.trial_id, epoch=e, seconds=per_epoch, **ep))
    return TrialResult(
        trial_id=task.trial_id,
        val_accuracy=history[-1]["val_accuracy"],
        val_loss=history[-1]["val_loss"],
        seconds=time.perf_counter() - start,
        epochs_run=task.epochs,
        best_epoch=task.epochs,
        history=history,
        test_accuracy=acc - 0.02 if task.evaluate_test else None,
        precision=precision,
        device=device,
    )


def train_fail_sgd(task: TrialTask, data: Any, progress: Any = None, **kw: Any) -> TrialResult:
    """Fails every SGD configuration (as a NaN loss would), trains the others."""
    if task.config.get("optimizer") == "sgd":
        raise TrialError("loss became NaN or infinite at epoch 1 (fake: sgd)")
    return train(task, data, progress, **kw)


def always_nan(task: TrialTask, data: Any, progress: Any = None, **kw: Any) -> TrialResult:
    """Every configuration fails, as with a broken data set or trainer."""
    raise TrialError("loss became NaN or infinite at epoch 1")


def hang_on_sgd(task: TrialTask, data: Any, progress: Any = None, **kw: Any) -> TrialResult:
    """SGD configurations hang (a trainer stuck in a collective, a dead-locked input
    pipeline); the others train."""
    if task.config.get("optimizer") == "sgd":
        time.sleep(3600)
    return train(task, data, progress, **kw)


def fail_final(task: TrialTask, data: Any, progress: Any = None, **kw: Any) -> TrialResult:
    """Final validation's trainings (scored on the test set) fail; the search's train."""
    if task.evaluate_test:
        raise TrialError("out of memory (fake: final validation)")
    return train(task, data, progress, **kw)


def hang_final(task: TrialTask, data: Any, progress: Any = None, **kw: Any) -> TrialResult:
    """Final validation's trainings hang (past any time limit); the search's train."""
    if task.evaluate_test:
        time.sleep(3600)
    return train(task, data, progress, **kw)
