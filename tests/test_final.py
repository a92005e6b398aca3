"""Final validation's summary: the gain and saving formulas, and the retrained comparison."""

import pytest

from engine.final import confirmed, final_summary, format_final


def _summary(val_best: float | None, val_default: float | None) -> dict:
    best = {"test_accuracy": 0.80, "seconds": 10.0, "val_accuracy": val_best}
    default = {"test_accuracy": 0.78, "seconds": 20.0, "val_accuracy": val_default}
    return final_summary({"number": 7, "config": {"lr": 1e-3}}, [(best, default)], epochs=3)


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
    # The line shows the retrained validation values and claims no lead from one more
    # noisy measurement of each.
    held, lost = format_final(_summary(0.81, 0.79)), format_final(_summary(0.77, 0.79))
    assert "retrained: validation 0.8100, default 0.7900" in held
    assert "retrained: validation 0.7700, default 0.7900" in lost
    assert "held" not in held + lost and "gain" not in held + lost


def test_old_summary_without_validation_accuracies_still_formats() -> None:
    f = _summary(0.81, 0.79)
    for key in ("best_val_accuracy", "default_val_accuracy", "confirmed", "verdict"):
        f.pop(key)
    line = format_final(f)
    assert line.endswith("%") and "retrained" not in line and "difference +2.00 points" in line


def test_repeats_report_means_and_the_paired_gain_interval_by_hand() -> None:
    def pair(b: float, d: float, bv: float, dv: float) -> tuple[dict, dict]:
        return (
            {"test_accuracy": b, "seconds": 10.0, "val_accuracy": bv},
            {"test_accuracy": d, "seconds": 30.0, "val_accuracy": dv},
        )

    pairs = [
        pair(0.80, 0.78, 0.79, 0.78),
        pair(0.70, 0.77, 0.75, 0.78),
        pair(0.79, 0.76, 0.80, 0.78),
    ]
    f = final_summary({"number": 3, "config": {}}, pairs, epochs=2)
    assert f["repeats"] == 3
    assert f["best_test_accuracy"] == pytest.approx((0.80 + 0.70 + 0.79) / 3)
    assert f["default_test_accuracy"] == pytest.approx((0.78 + 0.77 + 0.76) / 3)
    assert f["best_test_accuracies"] == [0.80, 0.70, 0.79]
    # Paired differences +0.02, -0.07, +0.03: sd 0.0551, t(0.975, 2) = 4.303.
    assert f["gain_interval"] == pytest.approx(4.3027 * 0.055076 / 3**0.5, rel=1e-3)
    assert f["best_val_accuracy"] == pytest.approx(0.78) and f["confirmed"] is False
    line = format_final(f)
    assert "mean of 3 trainings each" in line
    assert "difference -0.67 ± 13.68 points (95 %)" in line
    # Every pair's best ran 10 s against 30: a saving of 67 % with no spread, so faster.
    assert f["time_saving_interval"] == pytest.approx(0.0)
    # A single pair has no interval, and says nothing of repeats.
    one = _summary(0.81, 0.79)
    assert one["repeats"] == 1 and one["gain_interval"] is None
    assert "±" not in format_final(one) and "trainings" not in format_final(one)


def test_the_ui_result_line_says_how_many_trainings_it_averages() -> None:
    from hptui.view import result_text

    f = _summary(0.81, 0.79)
    # one pair: no interval, so no verdict of better, and no claim of speed either (twice as
    # fast in one pair, which says nothing of the timing noise)
    assert result_text(f) == "test: #7 0.800 vs default 0.780: +2.0 pts, not distinguishable"


def test_the_verdict_in_words() -> None:
    from engine.final import verdict

    assert verdict(0.02, 0.01, 0.0) == "better"
    assert verdict(-0.02, 0.01, 0.5) == "worse: keep the default"
    assert verdict(0.005, 0.01, 0.0) == "not distinguishable"
    assert verdict(0.005, None, -0.2) == "not distinguishable"  # one pair: no interval
    # Speed is claimed only where the time saving's own interval lies clear of 0.
    assert verdict(-0.005, 0.01, 0.35, 0.10) == "within noise, 35 % faster"
    assert verdict(-0.005, 0.01, 0.35) == "not distinguishable"  # no interval for the time
    assert verdict(-0.005, 0.01, 0.35, 0.40) == "not distinguishable"  # a noisy timing
    assert verdict(0.02, 0.01, -0.5, 0.1) == "better, 50 % slower"
    assert verdict(0.02, 0.01, -0.5, 0.6) == "better"


def test_a_noisy_timing_is_not_called_faster() -> None:
    def pair(bs: float, ds: float) -> tuple[dict, dict]:
        return ({"test_accuracy": 0.8, "seconds": bs}, {"test_accuracy": 0.8, "seconds": ds})

    steady = final_summary({"number": 1, "config": {}}, [pair(7, 10), pair(7.2, 10.1)], 2)
    noisy = final_summary({"number": 1, "config": {}}, [pair(4, 10), pair(12, 10)], 2)
    assert steady["verdict"] == "within noise, 29 % faster"
    assert noisy["time_saving"] == pytest.approx(0.2) and noisy["verdict"] == "not distinguishable"


def test_default_chosen_says_so_without_a_gain_against_itself() -> None:
    from engine.final import default_summary
    from hptui.view import result_text

    trials = [{"test_accuracy": 0.78, "seconds": 10.0}, {"test_accuracy": 0.80, "seconds": 12.0}]
    f = default_summary(trials, epochs=2, measurements=3)
    words = "no configuration beat the default configuration (3 measurements each)"
    assert f["verdict"] == words and result_text(f) == words and len(words) <= 80
    assert "gain" not in format_final(f) and words in format_final(f)
    assert f["default_test_accuracy"] == pytest.approx(0.79)


def test_the_result_line_fits_80_columns() -> None:
    from hptui.view import result_text

    def pair(b: float, d: float) -> tuple[dict, dict]:
        return ({"test_accuracy": b, "seconds": 10.0}, {"test_accuracy": d, "seconds": 30.0})

    f = final_summary({"number": 12345, "config": {}}, [pair(0.8, 0.79), pair(0.7, 0.8)], 2)
    line = result_text(f)
    assert "±" in line and line.endswith("within noise, 67 % faster") and len(line) <= 80
