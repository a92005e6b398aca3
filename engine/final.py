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
    }


def format_final(f: dict[str, Any]) -> str:
    return (
        f"final validation ({f['epochs']} epochs): best test acc {f['best_test_accuracy']:.4f} in "
        f"{f['best_seconds']:.1f} s; default {f['default_test_accuracy']:.4f} in "
        f"{f['default_seconds']:.1f} s; accuracy gain {100 * f['accuracy_gain']:+.2f}%, "
        f"time saving {100 * f['time_saving']:+.2f}%"
    )
