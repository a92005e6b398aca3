"""Reward, adaptive weights and pruning rules (SPEC §5) against hand-computed values."""

from __future__ import annotations

import pytest

from engine.reward import (
    DEFAULT_RULES,
    adaptive_weights,
    apply_rules,
    parse_rules,
    reward,
)
from engine.space import DEFAULT_CONFIG, SpaceError


@pytest.mark.parametrize(
    ("progress", "alpha", "beta"),
    [
        (0.0, 0.9, 0.1),
        (0.49, 0.9, 0.1),
        (0.5, 0.9, 0.1),  # 0.9 - 0.6 * 0 at the switch
        (0.75, 0.75, 0.25),  # 0.9 - 0.6 * 0.25 = 0.75
        (1.0, 0.6, 0.4),  # 0.9 - 0.6 * 0.5 = 0.6
    ],
)
def test_adaptive_weights(progress: float, alpha: float, beta: float) -> None:
    a, b = adaptive_weights(progress)
    assert a == pytest.approx(alpha, abs=1e-12)
    assert b == pytest.approx(beta, abs=1e-12)
    assert a + b == pytest.approx(1.0, abs=1e-12)


def test_adaptive_weights_move_only_after_half() -> None:
    assert adaptive_weights(0.4999) == (0.9, 0.1)
    assert adaptive_weights(0.6)[0] == pytest.approx(0.84)


@pytest.mark.parametrize(
    ("acc", "seconds", "penalty", "alpha", "beta", "expected"),
    [
        (0.85, 30.0, 5.0, 0.9, 0.1, 71.2),  # 76.5 - 0.3 - 5
        (0.85, 0.0, 0.0, 0.9, 0.1, 76.5),
        (0.5, 100.0, 0.0, 0.6, 0.4, 26.0),  # 30 - 4
        (0.0, 0.0, 10.0, 0.9, 0.1, -10.0),
        (1.0, 10.0, 3.0, 0.75, 0.25, 71.75),  # 75 - 0.25 - 3
    ],
)
def test_reward(acc, seconds, penalty, alpha, beta, expected) -> None:
    assert reward(acc, seconds, penalty, alpha, beta) == pytest.approx(expected, abs=1e-9)


def cfg(**kw):
    return {**DEFAULT_CONFIG, **kw}


@pytest.mark.parametrize(
    ("config", "penalty", "names"),
    [
        (cfg(), 0.0, []),
        (cfg(optimizer="sgd", lr=6e-3), 10.0, ["sgd_high_lr"]),
        (cfg(optimizer="sgd", lr=5e-3), 0.0, []),  # strictly greater
        (cfg(optimizer="adam", lr=9e-3), 0.0, []),
        (cfg(batch_size=64, lstm_layers=2), 5.0, ["batch64_deep"]),
        (cfg(batch_size=64, lstm_layers=1), 0.0, []),
        (cfg(embed_dim=64, lstm_layers=2), 3.0, ["embed64_deep"]),
        (cfg(embed_dim=64, lstm_layers=1), 0.0, []),
        (cfg(batch_size=64, embed_dim=64, lstm_layers=2), 8.0, ["batch64_deep", "embed64_deep"]),
        (
            cfg(optimizer="sgd", lr=1e-2, batch_size=64, embed_dim=64, lstm_layers=2),
            18.0,
            ["sgd_high_lr", "batch64_deep", "embed64_deep"],
        ),
    ],
)
def test_apply_default_rules(config, penalty, names) -> None:
    total, fired = apply_rules(config, DEFAULT_RULES)
    assert total == penalty
    assert fired == names


def test_rules_round_trip_through_data() -> None:
    rules = parse_rules([r.to_dict() for r in DEFAULT_RULES])
    assert tuple(rules) == DEFAULT_RULES
    assert "sgd_high_lr" in rules[0].describe() and "-10" in rules[0].describe()


def test_parse_rules_custom_in_operator() -> None:
    rules = parse_rules(
        [
            {
                "name": "big",
                "when": {"lstm_units": {"in": [128]}, "dropout": {"<": 0.25}},
                "penalty": 2,
            }
        ]
    )
    assert apply_rules(cfg(lstm_units=128, dropout=0.2), rules) == (2.0, ["big"])
    assert apply_rules(cfg(lstm_units=128, dropout=0.3), rules) == (0.0, [])


GOOD = {"name": "r", "when": {"lr": {">": 1e-3}}, "penalty": 1}


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"name": "r"}, "must be a list"),
        (["x"], "rule 1: must be an object"),
        ([{**GOOD, "extra": 1}], "unknown field(s) extra"),
        ([{**GOOD, "name": " "}], "non-empty name"),
        ([GOOD, GOOD], "name used twice"),
        ([{**GOOD, "penalty": "5"}], "penalty must be a number"),
        ([{**GOOD, "penalty": True}], "penalty must be a number"),
        ([{**GOOD, "penalty": -1}], "finite number >= 0"),
        ([{**GOOD, "penalty": float("inf")}], "finite number >= 0"),
        ([{**GOOD, "when": {}}], "at least one condition"),
        ([{**GOOD, "when": {"momentum": {">": 1}}}], "unknown hyperparameter 'momentum'"),
        ([{**GOOD, "when": {"lr": 5}}], "condition on lr"),
        ([{**GOOD, "when": {"lr": {"~": 5}}}], "unknown operator '~'"),
        ([{**GOOD, "when": {"lr": {"in": 5}}}], "'in' takes a list"),
        ([{**GOOD, "when": {"lr": {">": "big"}}}], "lr > needs a number"),
    ],
)
def test_parse_rules_errors(data, needle) -> None:
    with pytest.raises(SpaceError) as exc:
        parse_rules(data, list(DEFAULT_CONFIG))
    assert needle in str(exc.value)


def test_score_ranks_every_trial_under_the_final_weights() -> None:
    from engine.reward import score

    # α 0.6, β 0.4 whatever the trial's moment: 100·0.6·0.8 − 0.1·0.4·10 − 3 = 44.6
    assert score(0.8, 10.0, 3.0) == pytest.approx(44.6)
    # the same accuracy early (α 0.9) has a larger reward, but the same score as late
    early, late = (
        reward(0.8, 10.0, 0.0, *adaptive_weights(0.0)),
        reward(0.8, 10.0, 0.0, *adaptive_weights(1.0)),
    )
    assert early > late and score(0.8, 10.0, 0.0) == pytest.approx(late)
