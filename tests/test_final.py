"""Final validation's summary: the gain and saving formulas, and the retrained comparison."""

from engine.final import confirmed, final_summary, format_final


def _summary(val_best: float | None, val_default: float | None) -> dict:
    best = {"test_accuracy": 0.80, "seconds": 10.0, "val_accuracy": val_best}
    default = {"test_accuracy": 0.78, "seconds": 20.0, "val_accuracy": val_default}
    return final_summary({"number": 7, "config": {"lr": 1e-3}}, best, default, epochs=3)


def test_summary_formulas_by_hand() -> None:
    f = _summary(0.81, 0.79)
    assert f["accuracy_gain"] == (0.80 - 0.78) / 0.78
    assert f["time_saving"] == (20.0 - 10.0) / 20.0
    assert f["best_trial"] == 7 and f["epochs"] == 3


def test_retrained_comparison_says_whether_the_lead_holds() -> None:
    assert confirmed(0.81, 0.79) is True
    assert confirmed(0.78, 0.79) is False
    assert confirmed(0.79, 0.79) is False  # a tie is no lead
    assert confirmed(None, 0.79) is None
    held, lost = format_final(_summary(0.81, 0.79)), format_final(_summary(0.77, 0.79))
    assert "retrained: best val 0.8100 > default 0.7900, the lead held" in held
    assert "best val 0.7700 <= default 0.7900, the lead did NOT hold" in lost
    assert "keep" in lost and "keep" not in held


def test_old_summary_without_validation_accuracies_still_formats() -> None:
    f = _summary(0.81, 0.79)
    for key in ("best_val_accuracy", "default_val_accuracy", "confirmed"):
        f.pop(key)
    line = format_final(f)
    assert line.endswith("%") and "retrained" not in line
