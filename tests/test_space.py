"""The search space: mappings to actions and states, edits, validation, grid, serialisation."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.space import (
    DEFAULT_CONFIG,
    LSTM_DEFAULT,
    REWARD_SCALE,
    Categorical,
    Real,
    SearchSpace,
    SpaceError,
    default_space,
    format_dimension,
    parse_assignment,
    parse_dimension,
    state_vector,
)

LR = Real("lr", 1e-4, 1e-2, log=True)


# --- the log-scale lr mapping ----------------------------------------------------------------


def test_lr_log_mapping_endpoints_and_centre() -> None:
    assert abs(LR.to_unit(1e-3)) < 1e-12  # the geometric middle is the action's centre
    assert LR.from_unit(0.0) == pytest.approx(1e-3, rel=1e-12)
    assert LR.from_unit(-1.0) == pytest.approx(1e-4, rel=1e-12)
    assert LR.from_unit(1.0) == pytest.approx(1e-2, rel=1e-12)
    assert LR.to_unit(1e-4) == pytest.approx(-1.0, abs=1e-12)
    assert LR.to_unit(1e-2) == pytest.approx(1.0, abs=1e-12)
    # outside the range clips to the ends
    assert LR.from_unit(-3.0) == pytest.approx(1e-4, rel=1e-12)
    assert LR.to_unit(1.0) == 1.0
    space = default_space()
    assert abs(float(space.to_action(DEFAULT_CONFIG)[0])) < 1e-7


def test_lr_decade_gets_half_the_action_range() -> None:
    # SPEC §7: the source mapped lr linearly, giving 1e-4..1e-3 only 9% of the range.
    share = (LR.to_unit(1e-3) - LR.to_unit(1e-4)) / 2.0
    assert share == pytest.approx(0.5, abs=1e-9)
    linear = Real("lr", 1e-4, 1e-2, log=False)
    assert (linear.to_unit(1e-3) - linear.to_unit(1e-4)) / 2.0 == pytest.approx(0.0909, abs=1e-3)


def four_digits(x: float) -> float:
    return float(f"{x:.4g}")


def test_lr_unit_round_trip() -> None:
    # from_unit rounds to 4 significant digits (readable values; stable proposals), so values
    # with 4 significant digits come back exactly, and actions within the rounding
    for x in np.geomspace(1e-4, 1e-2, 97):
        x = four_digits(x)
        assert LR.from_unit(LR.to_unit(x)) == pytest.approx(x, rel=1e-9)
    for a in np.linspace(-1, 1, 41):
        v = LR.from_unit(a)
        assert v == four_digits(v) and 1e-4 <= v <= 1e-2
        assert LR.to_unit(v) == pytest.approx(a, abs=1e-3)
    dropout = Real("dropout", 0.2, 0.4)
    for x in (0.2, 0.2345, 0.3, 0.3999, 0.4):
        assert dropout.from_unit(dropout.to_unit(x)) == pytest.approx(x, rel=1e-9)


def _configs(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    space = default_space()
    return [space.sample(rng) for _ in range(n)]


def test_space_action_round_trip_float32_precision() -> None:
    space = default_space()
    for c in _configs(200):
        back = space.from_action(space.to_action(c))
        assert {k: v for k, v in back.items() if k not in ("lr", "dropout")} == {
            k: v for k, v in c.items() if k not in ("lr", "dropout")
        }
        assert back["lr"] == pytest.approx(c["lr"], rel=1e-6)
        assert back["dropout"] == pytest.approx(c["dropout"], rel=1e-6)


def test_space_action_round_trip_within_1e9() -> None:
    space = default_space()
    for c in _configs(200):
        back = space.from_action(space.to_action(c))
        assert back["lr"] == pytest.approx(c["lr"], rel=1e-9)
        assert back["dropout"] == pytest.approx(c["dropout"], rel=1e-9)
        assert back == c


# --- categorical: nearest category ---------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "expected"),
    # index = round((a + 1) / 2 * 2) = round(a + 1): boundaries at a = -0.5 and a = 0.5
    [
        (-1.0, 16),
        (-0.51, 16),
        (-0.49, 32),
        (-0.34, 32),
        (0.0, 32),
        (0.33, 32),
        (0.34, 32),
        (0.49, 32),
        (0.51, 64),
        (1.0, 64),
        (5.0, 64),
        (-5.0, 16),
    ],
)
def test_nearest_category_batch(a: float, expected: int) -> None:
    d = Categorical("batch_size", (16, 32, 64))
    assert d.from_unit(a) == expected


@pytest.mark.parametrize(("a", "expected"), [(-1.0, 1), (-0.01, 1), (0.01, 2), (1.0, 2)])
def test_nearest_category_two_choices(a: float, expected: int) -> None:
    assert Categorical("lstm_layers", (1, 2)).from_unit(a) == expected


def test_categorical_to_unit_equal_spacing() -> None:
    d = Categorical("batch_size", (16, 32, 64))
    assert [d.to_unit(v) for v in (16, 32, 64)] == [-1.0, 0.0, 1.0]
    assert d.to_unit(60) == 1.0  # nearest numeric choice
    assert Categorical("optimizer", ("adam",)).to_unit("adam") == 0.0
    four = Categorical("lstm_units", (8, 16, 32, 64))
    assert [round(four.to_unit(v), 9) for v in (8, 16, 32, 64)] == [
        -1.0,
        -0.333333333,
        0.333333333,
        1.0,
    ]
    for v in (8, 16, 32, 64):
        assert four.from_unit(four.to_unit(v)) == v


# --- the PPO state ---------------------------------------------------------------------------


def test_state_vector_normalised() -> None:
    space = default_space()
    for i, c in enumerate(_configs(100, seed=1)):
        r = float(i) - 10.0
        s = state_vector(space, c, r)
        assert s.shape == (8,) and s.dtype == np.float32
        assert np.all(np.abs(s[:7]) <= 1.0)
        assert s[7] == pytest.approx(r / REWARD_SCALE, rel=1e-6)
    s0 = state_vector(space, space.default_config(), 0.0)
    # default: lr centre 0, batch 32 -> 0, units 64 -> 0, dropout 0.3 -> 0, embed 128 -> 0,
    # 1 layer -> -1, adam -> -1, reward 0
    np.testing.assert_allclose(s0, [0, 0, 0, 0, 0, -1, -1, 0], atol=1e-6)
    corner = {
        "lr": 1e-2,
        "batch_size": 64,
        "lstm_units": 128,
        "dropout": 0.4,
        "embed_dim": 256,
        "lstm_layers": 2,
        "optimizer": "sgd",
    }
    np.testing.assert_allclose(state_vector(space, corner, 85.0), [1] * 7 + [0.85], atol=1e-6)


def test_sample_and_grid_inside_space() -> None:
    space = default_space()
    for c in _configs(50):
        assert space.contains(c)
        assert set(c) == set(LSTM_DEFAULT)
    g = space.grid(3)
    assert len(g) == 3 * 3 * 3 * 3 * 3 * 2 * 2 == 972
    assert len({tuple(sorted(c.items())) for c in g}) == 972
    assert sorted({c["lr"] for c in g}) == pytest.approx([1e-4, 1e-3, 1e-2], rel=1e-9)
    assert sorted({c["dropout"] for c in g}) == pytest.approx([0.2, 0.3, 0.4], rel=1e-9)
    assert len(space.grid(2)) == 2 * 3 * 3 * 2 * 3 * 2 * 2
    assert all(type(c["batch_size"]) is int and type(c["lr"]) is float for c in g)


def test_default_config_and_clip() -> None:
    space = default_space()
    d = space.default_config()
    assert {k: v for k, v in d.items() if k != "lr"} == {
        k: v for k, v in DEFAULT_CONFIG.items() if k != "lr"
    }
    assert d["lr"] == pytest.approx(1e-3, rel=1e-9)
    narrow = space.edited(
        {"lr": {"type": "real", "low": 2e-3, "high": 5e-3, "log": True}, "batch_size": [16, 64]}
    )
    clipped = narrow.clip(DEFAULT_CONFIG)
    assert clipped["lr"] == pytest.approx(2e-3, rel=1e-6)
    assert clipped["batch_size"] in (16, 64)
    assert narrow.contains(clipped)


def test_grid_and_extreme_actions_inside_space() -> None:
    space = default_space()
    assert all(space.contains(c) for c in space.grid(3))
    assert space.contains(space.from_action(np.ones(7)))
    assert space.contains(space.from_action(-np.ones(7)))


def test_extreme_actions_within_rounding_of_bounds() -> None:
    space = default_space()
    hi, lo = space.from_action(np.ones(7)), space.from_action(-np.ones(7))
    assert hi["lr"] == pytest.approx(1e-2, rel=1e-12) and lo["lr"] == pytest.approx(1e-4, rel=1e-12)
    assert (hi["batch_size"], hi["optimizer"], lo["batch_size"], lo["optimizer"]) == (
        64,
        "sgd",
        16,
        "adam",
    )


# --- serialisation and edits ---------------------------------------------------------------


def test_to_dict_from_dict_round_trip() -> None:
    space = default_space().edited({"dropout": {"type": "real", "low": 0.1, "high": 0.5}})
    data = space.to_dict()
    import json

    again = SearchSpace.from_dict(json.loads(json.dumps(data)))
    assert again == space
    assert again.to_dict() == data
    with pytest.raises(SpaceError, match="lacks dimension"):  # a replacement keeps every one
        SearchSpace.from_dict({k: v for k, v in data.items() if k != "lr"}, like=space)
    with pytest.raises(SpaceError, match="JSON object"):
        SearchSpace.from_dict([1, 2])  # type: ignore[arg-type]


def test_edit_applies_and_describes() -> None:
    space = default_space()
    new = space.edited(
        {"lr": {"type": "real", "low": 1e-4, "high": 5e-3, "log": True}, "batch_size": [16, 32]}
    )
    assert new["lr"] == replace(space["lr"], high=5e-3)  # default and limits kept
    assert new["batch_size"] == replace(space["batch_size"], choices=(16, 32))
    assert new.names == space.names
    change = space.describe_change(new)
    assert "lr: 0.0001..0.01 (log) -> 0.0001..0.005 (log)" in change
    assert "batch_size: {16, 32, 64} -> {16, 32}" in change
    assert space.describe_change(space) == "no change"
    assert format_dimension(space["optimizer"]) == "{adam, sgd}"


BAD_EDITS = [
    ({"lr": {"type": "real", "low": 1e-3, "high": 1e-3}}, "lr: empty range"),
    ({"dropout": {"type": "real", "low": 0.4, "high": 0.2}}, "dropout: empty range"),
    ({"momentum": [0.9]}, "unknown hyperparameter 'momentum'"),
    ({"lstm_units": {"type": "real", "low": 32, "high": 128}}, "lstm_units: takes whole"),
    ({"lstm_units": [32.5, 64]}, "lstm_units: choices must be whole numbers"),
    ({"batch_size": [True, 32]}, "batch_size: choices must be whole numbers"),
    ({"dropout": [True]}, "dropout: choice must be a number"),
    ({"lr": {"type": "real", "low": float("nan"), "high": 1e-2}}, "lr: low must be finite"),
    ({"lr": {"type": "real", "low": 1e-4, "high": float("inf")}}, "lr: high must be finite"),
    ({"dropout": {"type": "real", "low": -0.1, "high": 0.3, "log": False}}, "dropout: -0.1"),
    ({"lr": {"type": "real", "low": 0.0, "high": 1e-2, "log": True}}, "lr: 0"),
    ({"dropout": {"type": "real", "low": 0.0, "high": 0.3, "log": True}}, "needs low > 0"),
    ({"batch_size": [16, 16, 32]}, "batch_size: choices repeat"),
    ({"optimizer": ["adam", "adam"]}, "optimizer: choices repeat"),
    ({"optimizer": ["rmsprop"]}, "optimizer: unknown choice 'rmsprop'"),
    ({"batch_size": []}, "batch_size: choices must be a non-empty list"),
    ({"lr": {"type": "real", "low": "a", "high": 1}}, "lr: low must be a number"),
    ({"lr": {"type": "real", "low": 1e-4}}, "lr: a real dimension needs low and high"),
    ({"lr": {"type": "real", "low": 1e-4, "high": 1e-2, "log": "yes"}}, "lr: log must be"),
    ({"lr": {"type": "real", "low": 1e-4, "high": 1e-2, "step": 1}}, "unknown field(s) step"),
    ({"lr": {"type": "int", "low": 1, "high": 2}}, "lr: type must be 'real', 'integer'"),
    ({"lr": 5}, "lr: expected an object or a list"),
    ({"batch_size": [0, 32]}, "batch_size: 0 is outside the sensible range"),
    ({}, "at least one dimension"),
]


VALID_EDIT = {"dropout": {"type": "real", "low": 0.1, "high": 0.3}}


def assert_only_dropout_edited(space: SearchSpace) -> None:
    """`space` is the default space with VALID_EDIT applied, and nothing else changed."""
    assert space["dropout"] == replace(default_space()["dropout"], low=0.1, high=0.3)
    default = default_space()
    assert [d for d in space.dims if d.name != "dropout"] == [
        d for d in default.dims if d.name != "dropout"
    ]


@pytest.mark.parametrize(("changes", "needle"), BAD_EDITS)
def test_bad_edits_refused_naming_the_problem(changes, needle) -> None:
    space = default_space()
    with pytest.raises(SpaceError) as exc:
        space.edited(changes)
    assert needle in str(exc.value)
    for name in changes:  # the message names the dimension it refuses
        assert str(exc.value).startswith(f"{name}:") or f"'{name}'" in str(exc.value)
    # the refused edit left nothing behind: a valid edit of the same space is exactly itself
    assert_only_dropout_edited(space.edited(VALID_EDIT))


def test_partial_bad_edit_blames_the_bad_part_and_applies_nothing() -> None:
    space = default_space()
    with pytest.raises(SpaceError) as exc:
        space.edited({"lr": [1e-3], "batch_size": []})
    assert str(exc.value).startswith("batch_size:") and "lr" not in str(exc.value)
    # the good half of the refused edit was not kept: lr is still the default range
    after = space.edited(VALID_EDIT)
    assert after["lr"] == default_space()["lr"] != Categorical("lr", (1e-3,))
    assert_only_dropout_edited(after)


def test_parse_dimension_forms() -> None:
    assert parse_dimension("batch_size", [16, 32.0]) == Categorical("batch_size", (16, 32))
    assert parse_dimension("lr", LR) == LR
    assert parse_dimension("dropout", {"type": "real", "low": 0, "high": 0.5}) == Real(
        "dropout", 0.0, 0.5, False
    )


@pytest.mark.parametrize(
    ("text", "name", "spec"),
    [
        ("lr=1e-4:5e-3:log", "lr", {"type": "real", "low": 1e-4, "high": 5e-3, "log": True}),
        ("dropout = 0.1:0.3", "dropout", {"type": "real", "low": 0.1, "high": 0.3, "log": False}),
        ("lr=1e-4:1e-2:LINEAR", "lr", {"type": "real", "low": 1e-4, "high": 1e-2, "log": False}),
        ("batch_size=16,32", "batch_size", {"type": "categorical", "choices": [16, 32]}),
        ("optimizer=adam", "optimizer", {"type": "categorical", "choices": ["adam"]}),
    ],
)
def test_parse_assignment_ok(text, name, spec) -> None:
    assert parse_assignment(text) == (name, spec)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("lr", "expected NAME=VALUES"),
        ("foo=1", "unknown hyperparameter 'foo'"),
        ("lr=", "lr: no values given"),
        ("lr=5:1", "lr: 5"),
        ("lr=1e-2:1e-4", "lr: empty range"),
        ("lr=a:b", "lr: 'a' is not a number"),
        ("lr=1e-4:nan", "lr: 'nan' is not a finite number"),
        ("lr=1e-4:1e-3:1e-2", "a range is LOW:HIGH"),
        ("lstm_units=0.5:2", "lstm_units: takes whole"),
        ("lstm_units=32.5", "lstm_units: choices must be whole numbers"),
        ("batch_size=16,16", "choices repeat"),
        ("optimizer=adam,rmsprop", "unknown choice 'rmsprop'"),
        ("lr=0:1e-2:log", "lr: 0"),
    ],
)
def test_parse_assignment_errors(text, needle) -> None:
    with pytest.raises(SpaceError) as exc:
        parse_assignment(text)
    assert needle in str(exc.value)


@pytest.mark.parametrize("text", ["lr=1e-3:" + "1" * 400, "dropout=" + "1" * 400])
def test_parse_assignment_huge_integer(text: str) -> None:
    with pytest.raises(SpaceError):
        parse_assignment(text)


def test_edited_huge_integer() -> None:
    with pytest.raises(SpaceError):
        default_space().edited({"lr": {"type": "real", "low": 1e-4, "high": 10**400}})


NAMES = st.sampled_from(list(LSTM_DEFAULT) + ["foo", "", " lr"])
NUM = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(["1e-4", "5e-3", "0.2", "0.4", "16", "32", "64", "adam", "sgd", "log", ""]),
)
RHS = st.one_of(
    st.text(max_size=30),
    st.lists(NUM, min_size=1, max_size=4).map(",".join),
    st.lists(NUM, min_size=1, max_size=3).map(":".join),
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=40), st.tuples(NAMES, RHS).map(lambda t: f"{t[0]}={t[1]}")))
@example("lr=1e-4:5e-3:log")
@example("batch_size=8,16,32")
def test_parse_assignment_property(text: str) -> None:
    space = default_space()
    try:
        name, spec = parse_assignment(text)
    except SpaceError as exc:
        assert str(exc)
        return
    new = space.edited({name: spec})
    assert [d for d in new.dims if d.name != name] == [d for d in space.dims if d.name != name]
    assert new.names == list(LSTM_DEFAULT)
    assert SearchSpace.from_dict(new.to_dict()) == new
    d = new[name]
    if isinstance(d, Real):
        assert math.isfinite(d.low) and math.isfinite(d.high) and d.low < d.high
        assert not d.log or d.low > 0
    else:
        assert len(d.choices) == len(set(d.choices)) >= 1
    c = new.sample(np.random.default_rng(0))
    assert new.contains(c)
