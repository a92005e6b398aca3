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
    return {
        "best_trial": best_trial["number"],
        "best_config": best_trial["config"],
        "best_test_accuracy": b_acc,
        "best_seconds": b_s,
        "default_test_accuracy": d_acc,
        "default_seconds": d_s,
        "accuracy_gain": accuracy_gain(b_acc, d_acc),
        "time_saving": time_saving(b_s, d_s),
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
        "verdict": verdict(b_acc - d_acc, h, time_saving(b_s, d_s)),
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


def verdict(gain: float, half_width: float | None, saving: float) -> str:
    """The gain on the test set in words: `better` when its 95 % interval is above 0, `worse:
    keep the default` when below, otherwise `not distinguishable` (also without an interval:
    one pair says nothing about the noise), or `as accurate, N % faster` where it is faster."""
    if half_width is not None and gain - half_width > 0:
        return "better"
    if half_width is not None and gain + half_width < 0:
        return "worse: keep the default"
    if saving >= FASTER_FROM:
        return f"as accurate, {100 * saving:.0f} % faster"
    return "not distinguishable"


def paired_interval(diffs: Sequence[float]) -> float | None:
    """Half-width of the 95 % t-interval of the mean paired difference; None under 2 pairs."""
    if len(diffs) < 2:
        return None
    from scipy.stats import t

    return float(t.ppf(0.975, len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs)))


def _values(trials: Sequence[dict[str, Any]], key: str) -> list[float]:
    return [float(t[key]) for t in trials if t.get(key) is not None]


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
        f"final validation ({f['epochs']} epochs{each}): best {on} "
        f"{f['best_test_accuracy']:.4f} in {f['best_seconds']:.1f} s; default "
        f"{f['default_test_accuracy']:.4f} in {f['default_seconds']:.1f} s; accuracy gain "
        f"{100 * f['accuracy_gain']:+.2f}%{_interval(f)}, "
        f"time saving {100 * f['time_saving']:+.2f}%{_verdict(f)}"
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
    if f.get("confirmed") is not None:
        vb, vd = v(f["best_val_accuracy"]), v(f["default_val_accuracy"])
        held = "the lead held" if f["confirmed"] else "the lead did NOT hold (within the noise)"
        retrained = f"; retrained: best {name} {vb}, default {vd}, {held}"
    return (
        f"final validation ({f['epochs']} epochs{each}): best {test} {name} {v(b)} in "
        f"{f['best_seconds']:.1f} s; default {v(d)} in {f['default_seconds']:.1f} s; "
        f"difference {metric.value(b) - metric.value(d) + 0.0:+{spec}}{interval} ({better} is "
        "better), "
        f"time saving {100 * f['time_saving']:+.2f}%{retrained}"
        + (f"; verdict: {f['verdict']}" if f.get("verdict") else "")
    )


def _interval(f: dict[str, Any]) -> str:
    """The paired test gain in points with its interval, where there were repeats."""
    h = f.get("gain_interval")
    if h is None:
        return ""
    d = 100 * (f["best_test_accuracy"] - f["default_test_accuracy"])
    return f" ({d:+.2f} ± {100 * h:.2f} points, 95 %)"


def _verdict(f: dict[str, Any]) -> str:
    if f.get("confirmed") is None:
        return ""  # a summary stored before the validation accuracies were
    b, d = f["best_val_accuracy"], f["default_val_accuracy"]
    if f["confirmed"]:
        return f"; retrained: best val {b:.4f} > default {d:.4f}, the lead held"
    return (
        f"; retrained: best val {b:.4f} <= default {d:.4f}, the lead did NOT hold "
        "(within the noise: consider keeping the default)"
    )
