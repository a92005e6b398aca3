"""Final validation (SPEC §6) in numbers: the best against the default configuration."""

from __future__ import annotations

from typing import Any


def accuracy_gain(acc_best: float, acc_default: float) -> float:
    """(acc_best − acc_default) / acc_default."""
    return (acc_best - acc_default) / acc_default


def time_saving(t_best: float, t_default: float) -> float:
    """(T_default − T_best) / T_default."""
    return (t_default - t_best) / t_default


def final_summary(
    best_trial: dict[str, Any], best: dict[str, Any], default: dict[str, Any], epochs: int
) -> dict[str, Any]:
    """The stored summary, from the best search trial and the two final-validation trials."""
    return {
        "best_trial": best_trial["number"],
        "best_config": best_trial["config"],
        "best_test_accuracy": best["test_accuracy"],
        "best_seconds": best["seconds"],
        "default_test_accuracy": default["test_accuracy"],
        "default_seconds": default["seconds"],
        "accuracy_gain": accuracy_gain(best["test_accuracy"], default["test_accuracy"]),
        "time_saving": time_saving(best["seconds"], default["seconds"]),
        "epochs": epochs,
        # The fresh trainings' validation accuracies: the search chose its best on one noisy
        # measurement, so a second one says whether the lead holds (no test data involved).
        "best_val_accuracy": best.get("val_accuracy"),
        "default_val_accuracy": default.get("val_accuracy"),
        "confirmed": confirmed(best.get("val_accuracy"), default.get("val_accuracy")),
    }


def confirmed(val_best: float | None, val_default: float | None) -> bool | None:
    """Whether the best also validated above the default when both were trained again; None
    when a validation accuracy is missing."""
    if val_best is None or val_default is None:
        return None
    return val_best > val_default


def format_final(f: dict[str, Any]) -> str:
    return (
        f"final validation ({f['epochs']} epochs): best test acc {f['best_test_accuracy']:.4f} in "
        f"{f['best_seconds']:.1f} s; default {f['default_test_accuracy']:.4f} in "
        f"{f['default_seconds']:.1f} s; accuracy gain {100 * f['accuracy_gain']:+.2f}%, "
        f"time saving {100 * f['time_saving']:+.2f}%{_verdict(f)}"
    )


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
