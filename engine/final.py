"""Final validation (SPEC §6) in numbers: the best against the default configuration."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from engine.metric import MAXIMIZE, Metric
from storage.contract import FINAL_FAILED


def accuracy_gain(acc_best: float, acc_default: float) -> float:
    """(acc_best − acc_default) / acc_default."""
    return (acc_best - acc_default) / acc_default


def time_saving(t_best: float, t_default: float) -> float:
    """(T_default − T_best) / T_default."""
    return (t_default - t_best) / t_default


def final_summary(
    best_trial: dict[str, Any],
    pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]],
    epochs: int,
) -> dict[str, Any]:
    """The stored summary, from the best search trial and the final validation's pairs of
    trainings (the best and the default configuration under one seed, one pair per repeat):
    means, and the paired test-accuracy gain with its 95 % interval from two pairs on."""
    best, default = [b for b, _ in pairs], [d for _, d in pairs]
    key = measured_key(best + default)
    b_test, d_test = _values(best, key), _values(default, key)
    b_acc, d_acc = statistics.fmean(b_test), statistics.fmean(d_test)
    b_s = statistics.fmean(_values(best, "seconds"))
    d_s = statistics.fmean(_values(default, "seconds"))
    b_val, d_val = _mean(_values(best, "val_accuracy")), _mean(_values(default, "val_accuracy"))
    h = paired_interval([b - d for b, d in zip(b_test, d_test, strict=True)])
    # The time saving's own interval: the pair's two trainings ran side by side, so a busy
    # machine slows both; "faster" is said only where the pairs separate it from 0.
    secs = [(_one(b, "seconds"), _one(d, "seconds")) for b, d in pairs]
    ht = paired_interval([(ds - bs) / d_s for bs, ds in secs if bs is not None and ds is not None])
    return {
        "best_trial": best_trial["number"],
        "best_config": best_trial["config"],
        "best_test_accuracy": b_acc,
        "best_seconds": b_s,
        "default_test_accuracy": d_acc,
        "default_seconds": d_s,
        "accuracy_gain": accuracy_gain(b_acc, d_acc),
        "time_saving": time_saving(b_s, d_s),
        "time_saving_interval": ht,
        "epochs": epochs,
        # One training's test accuracy varies by points between seeds (a real quick run's
        # best tested 0.679 once): each configuration is trained once per repeat.
        "repeats": len(pairs),
        "best_test_accuracies": b_test,
        "default_test_accuracies": d_test,
        "gain_interval": h,
        # The fresh trainings' validation accuracies: the search chose its best on one noisy
        # measurement, so a second one says whether the lead holds (no test data involved).
        "best_val_accuracy": b_val,
        "default_val_accuracy": d_val,
        "confirmed": confirmed(b_val, d_val),
        "verdict": verdict(b_acc - d_acc, h, time_saving(b_s, d_s), ht),
        **({"measured_on": "validation"} if key == "val_accuracy" else {}),
    }


def measured_key(trials: Sequence[dict[str, Any]]) -> str:
    """What final validation compares: the test set's metric; for an objective that has no
    test set (a plain one returning no "test"), the fresh trainings' validation metric."""
    if trials and all(t.get("test_accuracy") is not None for t in trials):
        return "test_accuracy"
    return "val_accuracy"


def default_summary(
    default_trials: Sequence[dict[str, Any]], epochs: int, measurements: int
) -> dict[str, Any]:
    """The summary when the chosen configuration is the default itself: its test accuracy,
    and no gain of the default against itself (final validation trained it alone)."""
    key = measured_key(default_trials)
    test = _values(default_trials, key)
    return {
        **({"measured_on": "validation"} if key == "val_accuracy" else {}),
        "default_is_best": True,
        "measurements": measurements,
        "default_test_accuracy": statistics.fmean(test),
        "default_seconds": statistics.fmean(_values(default_trials, "seconds")),
        "default_test_accuracies": test,
        "epochs": epochs,
        "repeats": len(default_trials),
        "verdict": no_better_text(measurements),
    }


def no_better_text(measurements: int) -> str:
    return f"no configuration beat the default configuration ({measurements} measurements each)"


# Under this time saving, "faster" is not worth saying.
FASTER_FROM = 0.01


def verdict(
    gain: float, half_width: float | None, saving: float, saving_half_width: float | None = None
) -> str:
    """The comparison in words, claiming only what the 95 % intervals support: `better` when
    the gain's interval lies above 0, `worse: keep the default` when below, otherwise `not
    distinguishable` (also without an interval: one pair says nothing about the noise). The
    time is said where its interval lies clear of 0 too: `within noise, N % faster` (the accuracy
    difference inside its interval, whichever its sign; "as accurate" would claim more), or
    `better, N % slower`."""
    fast = saving_half_width is not None and saving - saving_half_width > 0
    slow = saving_half_width is not None and saving + saving_half_width < 0
    if half_width is not None and gain - half_width > 0:
        slower = slow and -saving >= FASTER_FROM
        return f"better, {100 * -saving:.0f} % slower" if slower else "better"
    if half_width is not None and gain + half_width < 0:
        return "worse: keep the default"
    if fast and saving >= FASTER_FROM:
        return f"within noise, {100 * saving:.0f} % faster"
    return "not distinguishable"


def paired_interval(diffs: Sequence[float]) -> float | None:
    """Half-width of the 95 % t-interval of the mean paired difference; None under 2 pairs."""
    if len(diffs) < 2:
        return None
    from scipy.stats import t

    return float(t.ppf(0.975, len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs)))


def _values(trials: Sequence[dict[str, Any]], key: str) -> list[float]:
    return [float(t[key]) for t in trials if t.get(key) is not None]


def _one(trial: dict[str, Any], key: str) -> float | None:
    return None if trial.get(key) is None else float(trial[key])


def _mean(xs: Sequence[float]) -> float | None:
    return statistics.fmean(xs) if xs else None


def confirmed(val_best: float | None, val_default: float | None) -> bool | None:
    """Whether the best also validated above the default when both were trained again; None
    when a validation accuracy is missing."""
    if val_best is None or val_default is None:
        return None
    return val_best > val_default


def format_final(
    f: dict[str, Any], metric: Metric | None = None, *, with_verdict: bool = True
) -> str:
    """The final validation's summary in one line. Its numbers are utilities; with the run's
    `metric` (one that is not a plain accuracy) they are shown as the metric itself, and the
    gain as a difference in the metric's units. `with_verdict=False`: without the verdict,
    for a caller that prints it on a line of its own."""
    if not with_verdict:
        f = {**f, "verdict": None}
    if f.get("status") == FINAL_FAILED:  # no pair finished: there are no numbers
        return f"final validation failed: {f.get('reason')}"
    n = f.get("repeats") or 1
    if metric is not None and metric != Metric():
        return _format_metric(f, metric, n)
    on = "val (no test set)" if f.get("measured_on") == "validation" else "test acc"
    if f.get("default_is_best"):
        each = f", mean of {n} trainings" if n > 1 else ""
        return (
            f"final validation ({f['epochs']} epochs{each}): {_lead(f)}default {on} "
            f"{f['default_test_accuracy']:.4f} in {f['default_seconds']:.1f} s"
        )
    each = f", mean of {n} trainings each" if n > 1 else ""
    return (
        f"final validation ({f['epochs']} epochs{each}): chosen {on} "
        f"{f['best_test_accuracy']:.4f} in {f['best_seconds']:.1f} s; default "
        f"{f['default_test_accuracy']:.4f} in {f['default_seconds']:.1f} s; difference "
        f"{_difference(f)}, time saving {_saving(f)}{_retrained(f)}"
        + (f"; verdict: {f['verdict']}" if f.get("verdict") else "")
    )


def _lead(f: dict[str, Any]) -> str:
    return f"{f['verdict']}; " if f.get("verdict") else ""


def _format_metric(f: dict[str, Any], metric: Metric, n: int) -> str:
    """format_final for a metric that is not an accuracy: `test val_loss 0.3120`."""
    name, spec = metric.name, metric.value_format()
    test = "val (no test set)" if f.get("measured_on") == "validation" else "test"

    def v(u: float) -> str:
        return f"{metric.value(u) + 0.0:{spec}}"

    if f.get("default_is_best"):
        each = f", mean of {n} trainings" if n > 1 else ""
        return (
            f"final validation ({f['epochs']} epochs{each}): {_lead(f)}default {test} "
            f"{name} {v(f['default_test_accuracy'])} in {f['default_seconds']:.1f} s"
        )
    each = f", mean of {n} trainings each" if n > 1 else ""
    b, d = f["best_test_accuracy"], f["default_test_accuracy"]
    h = f.get("gain_interval")
    span = metric.bounds[1] - metric.bounds[0]
    interval = f" ± {h * span:{spec}} (95 %)" if h is not None else ""
    better = "higher" if metric.direction == MAXIMIZE else "lower"
    retrained = ""
    if f.get("best_val_accuracy") is not None and f.get("default_val_accuracy") is not None:
        vb, vd = v(f["best_val_accuracy"]), v(f["default_val_accuracy"])
        retrained = f"; retrained: validation {name} {vb}, default {vd}"
    return (
        f"final validation ({f['epochs']} epochs{each}): chosen {test} {name} {v(b)} in "
        f"{f['best_seconds']:.1f} s; default {v(d)} in {f['default_seconds']:.1f} s; "
        f"difference {metric.value(b) - metric.value(d) + 0.0:+{spec}}{interval} ({better} is "
        "better), "
        f"time saving {_saving(f)}{retrained}"
        + (f"; verdict: {f['verdict']}" if f.get("verdict") else "")
    )


def _difference(f: dict[str, Any]) -> str:
    """The paired test difference in points, with its interval where there were repeats (a
    difference, not a "gain": inside its interval it may be either sign)."""
    d = 100 * (f["best_test_accuracy"] - f["default_test_accuracy"])
    h = f.get("gain_interval")
    return f"{d:+.2f} ± {100 * h:.2f} points (95 %)" if h is not None else f"{d:+.2f} points"


def _saving(f: dict[str, Any]) -> str:
    h = f.get("time_saving_interval")
    tail = f" ± {100 * h:.0f} %" if h is not None else ""
    return f"{100 * f['time_saving']:+.0f} %{tail}"


def _retrained(f: dict[str, Any]) -> str:
    """The fresh trainings' validation accuracies (no claim: one more noisy measurement of
    each, shown beside the test)."""
    b, d = f.get("best_val_accuracy"), f.get("default_val_accuracy")
    if b is None or d is None:
        return ""
    return f"; retrained: validation {b:.4f}, default {d:.4f}"
