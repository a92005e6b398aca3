"""One trial of a user's objective (engine.objective), inside a worker process: the plain
flavour's `report` callback, the Keras flavour's data and model, and the checks that turn
what user code returns into a result or a one-line reason."""

from __future__ import annotations

import math
import numbers
import time
from typing import Any

from engine.objective import Metric, Objective, Pruned, kind_of
from engine.trainer import ProgressFn, TrialError, TrialResult, TrialTask, fit_keras


class Report:
    """What a plain objective's `train(params, report)` gets: call it after each epoch
    with the metric's value; it raises `Pruned` when the search stops the trial there.

    `epochs`: the epochs (or rounds, or passes) this trial is given; `seed`: its seed;
    `final`: True in final validation, where a returned {"value": v, "test": t} is
    asked for (the test set's metric, read once per final training)."""

    def __init__(self, task: TrialTask, progress: ProgressFn, metric: Metric) -> None:
        self.epochs, self.seed, self.final = task.epochs, task.seed, task.evaluate_test
        self.trial = task.trial_id
        self._task, self._progress, self._metric = task, progress, metric
        self.history: list[dict[str, float]] = []
        self._clock = time.perf_counter()

    def __call__(self, epoch: int, value: float, **metrics: float) -> None:
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 1:
            raise TrialError(
                f"report(epoch, value): epoch must be a whole number >= 1, got {epoch!r}"
            )
        epoch = int(epoch)
        v = _finite(value, f"report({epoch}, value)")
        now = time.perf_counter()
        u = self._metric.utility(v)
        entry = {"epoch": epoch, "val_accuracy": u, "metric": v, "seconds": now - self._clock}
        extra = {k: float(x) for k, x in metrics.items() if isinstance(x, int | float)}
        self.history.append({**entry, **extra})
        self._clock = now
        stop = self._progress(
            dict(
                kind="epoch",
                trial_id=self._task.trial_id,
                epoch=epoch,
                loss=float(extra.get("loss", math.nan)),
                accuracy=float(extra.get("accuracy", math.nan)),
                val_loss=float(extra.get("val_loss", math.nan)),
                val_accuracy=u,
                seconds=entry["seconds"],
            )
        )
        if stop:
            raise Pruned(f"stopped after epoch {epoch}")
        if epoch < self.epochs:
            self._progress(
                dict(kind="progress", trial_id=self._task.trial_id, epoch=epoch + 1,
                     epochs=self.epochs, batch=0, batches=1)
            )  # fmt: skip


def _finite(value: Any, what: str) -> float:
    """`value` as a finite float: a number, or a one-number array or tensor (a NumPy scalar,
    a 0-d array, a framework's scalar tensor); else TrialError naming what it was."""
    v: float | None = None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        v = float(value)
    elif not isinstance(value, bool | str | bytes) and hasattr(value, "__float__"):
        try:
            if getattr(value, "size", 1) == 1:
                v = float(value)
        except (TypeError, ValueError):
            v = None
    if v is None:
        shown = " ".join(repr(value).split())[:60]
        raise TrialError(f"{what} gave {shown} ({kind_of(value)}), not a finite number")
    if not math.isfinite(v):
        raise TrialError(f"{what} gave {v}, not a finite number")
    return v


def run_plain(task: TrialTask, objective: Objective, progress: ProgressFn) -> TrialResult:
    metric = objective.metric_info()
    report = Report(task, progress, metric)
    progress(dict(kind="progress", trial_id=task.trial_id, epoch=1, epochs=task.epochs,
                  batch=0, batches=1))  # fmt: skip
    start = time.perf_counter()
    pruned, test = False, None
    assert objective.train is not None
    try:
        out = objective.train(dict(task.config), report)
    except Pruned:
        pruned, out = True, None
    seconds = time.perf_counter() - start
    if pruned:
        value = report.history[-1]["metric"]
    else:
        if isinstance(out, dict):
            if "value" not in out:
                raise TrialError('train returned a dict without "value"')
            test = out.get("test")
            out = out["value"]
        if out is None and report.history:  # returned nothing: the last value reported
            out = report.history[-1]["metric"]
        if out is None:
            raise TrialError(
                "train(params, report) returned None and reported no value: return the "
                "metric's value, or call report(epoch, value) after each epoch"
            )
        # No test value in final validation: the fresh trainings' validation values are
        # compared instead, and the summary says so (engine.final.measured_key).
        value = _finite(out, "train(params, report)")
    history = report.history or [
        {"epoch": 1, "val_accuracy": metric.utility(value), "metric": value}
    ]
    if not pruned and history[-1]["metric"] != value:
        history = [
            *history,
            {"epoch": len(history) + 1, "val_accuracy": metric.utility(value), "metric": value},
        ]
    return TrialResult(
        trial_id=task.trial_id,
        val_accuracy=metric.utility(value),
        val_loss=math.nan,
        seconds=seconds,
        epochs_run=len(report.history) or task.epochs,
        best_epoch=len(report.history) or task.epochs,
        history=[{k: v for k, v in e.items() if k != "epoch"} for e in history],
        test_accuracy=None if test is None else metric.utility(_finite(test, "the test value")),
        pruned=pruned,
        device="cpu",
        precision="",
    )


def unpack_data(data: Any, where: str) -> tuple[Any, Any, Any]:
    """(train, val, test or None) from what a Keras objective's load_data returned: a tuple
    of (x, y) pairs, or a dict with train / val[idation] / test."""
    if isinstance(data, dict):
        parts = [data.get("train"), data.get("val", data.get("validation")), data.get("test")]
    elif isinstance(data, list | tuple) and len(data) in (2, 3):
        parts = [*data, None][:3]
    else:
        raise TrialError(
            f"{where}: load_data must return ((x_train, y_train), (x_val, y_val)[, (x_test, "
            f"y_test)]), got a {type(data).__name__}"
        )
    for label, part in zip(("train", "validation"), parts[:2], strict=True):
        if not (isinstance(part, list | tuple) and len(part) == 2):
            raise TrialError(f"{where}: load_data's {label} part must be a pair (x, y)")
    return parts[0], parts[1], parts[2]


def run_keras(
    task: TrialTask,
    objective: Objective,
    data: Any,
    progress: ProgressFn,
    *,
    device: str = "",
    precision: str = "",
) -> TrialResult:
    import tensorflow as tf

    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(task.seed)
    train, val, test = unpack_data(data, "the objective")
    assert objective.build_model is not None
    try:
        model = objective.build_model(dict(task.config))
    except Exception as exc:  # a configuration the user's code cannot build
        raise TrialError(f"build_model failed: {type(exc).__name__}: {exc}") from exc
    if not hasattr(model, "fit"):
        raise TrialError(f"build_model returned a {type(model).__name__}, not a Keras model")
    if getattr(model, "optimizer", None) is None:
        raise TrialError("build_model must return a compiled model (call model.compile(...))")
    batch_size = int(task.config.get("batch_size", objective.batch_size))
    return fit_keras(
        model, task, train, val, test, batch_size, progress,
        metric=objective.metric_info(), device=device, precision=precision,
    )  # fmt: skip
