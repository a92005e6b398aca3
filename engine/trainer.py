"""One trial: build the SPEC §2 LSTM, train it with early stopping, report the kept weights'
validation accuracy. Runs inside a worker process (local pool or Ray task); TensorFlow is
imported here and never in the UI.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.data import Dataset
from engine.objective import Metric
from storage.contract import PRECISIONS

# Reports a message; for an "epoch" message it returns True when the engine says to stop
# after that epoch (a pruned trial, engine.pruners), else something false.
ProgressFn = Callable[[dict[str, Any]], Any]


class TrialError(RuntimeError):
    """The configuration failed to train (NaN loss, cannot build, out of memory)."""


@dataclass(frozen=True)
class TrialTask:
    trial_id: int
    config: dict[str, Any]
    epochs: int
    early_stopping: bool = True  # SPEC §5: patience 1 on val loss, best weights restored
    evaluate_test: bool = False  # final validation: also report test accuracy
    seed: int = 0
    # Epochs after which the worker waits for the engine's verdict (go on, or stop here: the
    # trial is pruned). Empty: the trial runs to the end (no pruner, a trial outside the
    # search, or an executor without verdicts).
    verdict_epochs: tuple[int, ...] = ()


@dataclass
class TrialResult:
    trial_id: int
    val_accuracy: float
    val_loss: float
    seconds: float
    epochs_run: int
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    test_accuracy: float | None = None
    precision: str = ""
    device: str = ""
    pruned: bool = False  # stopped after an epoch because the engine said so

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# The device, once configure_tensorflow has run in this process.
_CONFIGURED: str | None = None


def configure_tensorflow(threads: int | None, precision: str | None) -> tuple[str, str]:
    """Set threads, GPU memory growth and the dtype policy; returns (device, policy).
    Must run before the first TensorFlow op of the process. In a process that already ran it
    (a Ray worker reused by a later trial or run), threads and memory growth stay as they
    were set first (TensorFlow refuses changes once started); the policy is set again."""
    global _CONFIGURED
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if _CONFIGURED is not None:
        device = _CONFIGURED
    else:
        gpus = tf.config.list_physical_devices("GPU")
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        device = "cpu"
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            device = f"gpu:{details.get('device_name', 'GPU')}"
    policy = precision or default_precision(device != "cpu")
    if policy not in PRECISIONS:
        raise ValueError(f"unknown precision {policy!r} (known: {', '.join(PRECISIONS)})")
    tf.keras.mixed_precision.set_global_policy(policy)
    _CONFIGURED = device
    return device, policy


def default_precision(has_gpu: bool) -> str:
    # GPUs: float16 tensor cores with loss scaling. CPUs: float32 (see bench/trainer_precision.py:
    # float16 is emulated on CPU and bfloat16 only pays off with AMX).
    return "mixed_float16" if has_gpu else "float32"


def build_model(config: dict[str, Any], vocab_size: int, max_len: int) -> Any:
    import tensorflow as tf

    keras = tf.keras
    layers = keras.layers
    units, dropout = int(config["lstm_units"]), float(config["dropout"])
    model = keras.Sequential(name="imdb_lstm")
    model.add(keras.Input(shape=(max_len,), dtype="int32"))
    model.add(
        layers.Embedding(
            vocab_size,
            int(config["embed_dim"]),
            embeddings_initializer=keras.initializers.RandomNormal(0.0, 0.01),
        )
    )
    model.add(layers.Dropout(dropout))
    for _ in range(int(config["lstm_layers"]) - 1):
        model.add(layers.LSTM(units, return_sequences=True))
        model.add(layers.Dropout(dropout))
    model.add(layers.LSTM(units))
    model.add(layers.Dropout(dropout))
    # The output stays float32 under mixed precision, for a stable sigmoid and loss.
    model.add(layers.Dense(1, activation="sigmoid", dtype="float32"))
    lr = float(config["lr"])
    if config["optimizer"] == "adam":
        opt = keras.optimizers.Adam(learning_rate=lr)
    elif config["optimizer"] == "sgd":
        opt = keras.optimizers.SGD(learning_rate=lr, momentum=0.9)
    else:
        raise TrialError(f"unknown optimizer {config['optimizer']!r}")
    # Keras wraps the optimizer in a LossScaleOptimizer itself under mixed_float16.
    model.compile(optimizer=opt, loss="binary_crossentropy", metrics=["accuracy"])
    return model


def _progress_callback(
    task: TrialTask, progress: ProgressFn, batches: int, metric: Metric | None = None
) -> Any:
    import tensorflow as tf

    class Progress(tf.keras.callbacks.Callback):
        """Streams batch progress (at most ~4 a second) and every epoch's metrics; with a
        user's `metric`, its value scaled to a utility is the epoch's `val_accuracy`."""

        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0
            self.last = 0.0
            self.epoch_start = time.perf_counter()

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.epoch = epoch
            self.epoch_start = time.perf_counter()
            progress(
                dict(
                    kind="progress",
                    trial_id=task.trial_id,
                    epoch=epoch + 1,
                    epochs=task.epochs,
                    batch=0,
                    batches=batches,
                )
            )

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            now = time.perf_counter()
            if now - self.last >= 0.25:
                self.last = now
                progress(
                    dict(
                        kind="progress",
                        trial_id=task.trial_id,
                        epoch=self.epoch + 1,
                        epochs=task.epochs,
                        batch=batch + 1,
                        batches=batches,
                    )
                )

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs = logs or {}
            if metric is not None:
                raw = float(logs.get(metric.name, math.nan))
                logs["val_accuracy"] = metric.utility(raw)
            stop = progress(
                dict(
                    kind="epoch",
                    trial_id=task.trial_id,
                    epoch=epoch + 1,
                    loss=float(logs.get("loss", math.nan)),
                    accuracy=float(logs.get("accuracy", math.nan)),
                    val_loss=float(logs.get("val_loss", math.nan)),
                    val_accuracy=float(logs.get("val_accuracy", math.nan)),
                    seconds=time.perf_counter() - self.epoch_start,
                )
            )
            if stop:  # pruned: Keras ends the fit after this epoch, its numbers kept
                self.model.stop_training = True

    return Progress()


def train_trial(
    task: TrialTask,
    data: Dataset,
    progress: ProgressFn | None = None,
    *,
    vocab_size: int,
    device: str = "",
    precision: str = "",
) -> TrialResult:
    """Train one configuration. Raises TrialError for a failure that belongs to the
    configuration (NaN/inf loss, build error, out of memory)."""
    import tensorflow as tf

    progress = progress or (lambda _msg: None)
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(task.seed)
    cfg = task.config
    max_len = int(data.x_train.shape[1])
    batch_size = int(cfg["batch_size"])
    try:
        model = build_model(cfg, vocab_size, max_len)
    except TrialError:
        raise
    except Exception as exc:  # a configuration Keras cannot build
        raise TrialError(f"cannot build the model: {exc}") from exc

    return fit_keras(
        model,
        task,
        (data.x_train, data.y_train),
        (data.x_val, data.y_val),
        (data.x_test, data.y_test),
        batch_size,
        progress,
        device=device,
        precision=precision,
    )


def fit_keras(
    model: Any,
    task: TrialTask,
    train: tuple[Any, Any],
    val: tuple[Any, Any],
    test: tuple[Any, Any] | None,
    batch_size: int,
    progress: ProgressFn,
    *,
    metric: Metric | None = None,
    device: str = "",
    precision: str = "",
) -> TrialResult:
    """Train a compiled Keras model as every hptui trial is trained: progress and epoch
    messages (pruning answers them), early stopping on the validation loss with the best
    weights kept, NaN and out-of-memory as the configuration's failure. With a user's
    `metric` (engine.objective), its utility is the result's `val_accuracy`."""
    import tensorflow as tf

    x_train, y_train = train
    batches = math.ceil(len(x_train) / batch_size)
    callbacks: list[Any] = [_progress_callback(task, progress, batches, metric)]
    if task.early_stopping and task.epochs > 1:
        callbacks.append(
            tf.keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=1, restore_best_weights=True
            )
        )
    start = time.perf_counter()
    try:
        hist = model.fit(
            x_train,
            y_train,
            validation_data=val,
            epochs=task.epochs,
            batch_size=batch_size,
            shuffle=True,
            callbacks=callbacks,
            verbose=0,
        )
    except tf.errors.ResourceExhaustedError as exc:
        raise TrialError(f"out of memory: {str(exc).splitlines()[0][:200]}") from exc
    seconds = time.perf_counter() - start

    h = hist.history
    if metric is not None and "val_accuracy" not in h:
        if metric.name not in h:
            known = ", ".join(sorted(h)) or "none"
            raise TrialError(f"the model reports no {metric.name!r} (it reports: {known})")
    keys = ("loss", "accuracy", "val_loss", "val_accuracy")
    history = [{k: float(h[k][i]) for k in keys if k in h} for i in range(len(h.get("loss", [])))]
    if metric is not None:
        for i, e in enumerate(history):
            e["metric"] = float(h[metric.name][i])
            e["val_accuracy"] = metric.utility(e["metric"])
    bad = [
        i + 1
        for i, e in enumerate(history)
        if not all(
            math.isfinite(v) for v in (e.get("loss"), e.get("val_loss"), e.get("val_accuracy"))
        )
    ]
    if bad:
        raise TrialError(f"loss became NaN or infinite at epoch {bad[0]}")
    # The weights kept are those of the lowest validation loss (restored by early stopping);
    # report that epoch's accuracy, not the last epoch's (SPEC §7).
    if task.early_stopping and len(history) > 1:
        best = min(range(len(history)), key=lambda i: history[i]["val_loss"])
    else:
        best = len(history) - 1
    test_acc = None
    if task.evaluate_test and test is not None:
        got = model.evaluate(test[0], test[1], batch_size=256, verbose=0, return_dict=True)
        if metric is None:
            test_acc = float(got["accuracy"])
        else:  # the test metric is named as the validation one without its "val_"
            key = metric.name.removeprefix("val_")
            test_acc = metric.utility(float(got.get(key, math.nan)))
    return TrialResult(
        trial_id=task.trial_id,
        val_accuracy=history[best]["val_accuracy"],
        val_loss=history[best]["val_loss"],
        seconds=seconds,
        epochs_run=len(history),
        best_epoch=best + 1,
        history=history,
        test_accuracy=test_acc,
        precision=precision or tf.keras.mixed_precision.global_policy().name,
        device=device,
    )
