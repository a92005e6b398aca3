"""Which hyperparameters mattered (engine.importance): on objectives whose answer is known."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from engine.importance import FIT_MAX, MIN_TRIALS, importance, metric_name, slice_points
from engine.space import Categorical, Real, SearchSpace


def space6() -> SearchSpace:
    return SearchSpace(
        (
            Categorical("units", (16, 32, 64)),
            Real("learning rate", 1e-5, 1e-1, log=True),
            Real("dropout", 0.0, 0.5),
            Categorical("act", ("relu", "tanh", "gelu")),
            Real("β₁", 0.8, 0.999),
            Categorical("batch", (16, 32, 64, 128)),
        )
    )


def trials_of(
    space: SearchSpace, f: Any, n: int, seed: int = 0, noise: float = 0.05
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        cfg = space.sample(rng)
        y = f(space, cfg) + float(rng.normal(0.0, noise))
        out.append({"number": i + 1, "space_version": 1, "config": cfg, "score": y})
    return out


def log_lr_decides(space: SearchSpace, cfg: dict[str, Any]) -> float:
    """A peak in log10(lr) decides; the activation a little; the rest nothing."""
    u = space["learning rate"].to_unit(cfg["learning rate"])
    return 3.0 * math.exp(-(((u - 0.3) / 0.5) ** 2)) + 0.5 * (cfg["act"] == "gelu")


def test_the_deciding_dimension_comes_first_and_shares_sum_to_1() -> None:
    space = space6()
    got = importance(trials_of(space, log_lr_decides, 120), space)
    assert got is not None
    ranked = got.ranked()
    assert [n for n, _ in ranked[:2]] == ["learning rate", "act"]
    assert ranked[0][1] > 0.6
    assert math.isclose(sum(got.shares.values()), 1.0)
    assert all(0.0 <= s <= 1.0 for s in got.shares.values())
    assert list(got.shares) == space.names  # in the space's order
    assert got.metric == "score" and got.trials == got.fitted == 120
    # no effect: each dimension without one gets a small share
    assert max(got.shares[n] for n in ("units", "dropout", "β₁", "batch")) < 0.1


def test_a_categorical_that_decides_comes_first() -> None:
    space = space6()

    def f(space: SearchSpace, cfg: dict[str, Any]) -> float:
        return {16: 0.0, 32: 1.0, 64: 0.4}[cfg["units"]] + 0.1 * cfg["dropout"]

    got = importance(trials_of(space, f, 60, seed=3), space)
    assert got is not None and got.ranked()[0][0] == "units"


def test_same_trials_same_answer() -> None:
    space = space6()
    trials = trials_of(space, log_lr_decides, 40, seed=1)
    a, b = importance(trials, space), importance(trials, space)
    assert a is not None and b is not None and a.shares == b.shares


def test_too_few_trials_or_a_flat_metric_give_none() -> None:
    space = space6()
    trials = trials_of(space, log_lr_decides, MIN_TRIALS - 1)
    assert importance(trials, space) is None
    # trials without a metric do not count
    more = trials + [{"config": space.sample(np.random.default_rng(9)), "score": None}] * 5
    assert importance(more, space) is None
    flat = [{**t, "score": 1.0} for t in trials_of(space, log_lr_decides, 30)]
    assert importance(flat, space) is None
    enough = trials_of(space, log_lr_decides, MIN_TRIALS)
    assert importance(enough, space) is not None


@dataclass(frozen=True)
class Steps:
    """A numeric dimension of a kind engine.space may not have yet (whole numbers)."""

    name: str
    low: int
    high: int

    def to_unit(self, value: float) -> float:
        return 2.0 * (float(value) - self.low) / (self.high - self.low) - 1.0


@pytest.mark.parametrize("d", [1, 3, 12])
def test_any_names_any_number_of_dimensions(d: int) -> None:
    names = ["温度", "learning rate (Adam)", "x.y/z", "🙂", "a" * 60] + [f"p{i}" for i in range(7)]
    dims: list[Any] = []
    for i, name in enumerate(names[:d]):
        if i % 3 == 2:
            dims.append(Categorical(name, ("a", "b", "c")))
        elif i % 3 == 1:
            dims.append(Steps(name, 1, 9))
        else:
            dims.append(Real(name, 0.001, 10.0, log=True))
    space = SearchSpace(tuple(dims))
    decider = names[d - 1]  # the last: a categorical, a whole-number one or a log real
    rng = np.random.default_rng(d)
    trials = []
    for i in range(80):
        cfg: dict[str, Any] = {}
        for dim in dims:
            if isinstance(dim, Categorical):
                cfg[dim.name] = str(rng.choice(dim.choices))
            elif isinstance(dim, Steps):
                cfg[dim.name] = int(rng.integers(1, 10))
            else:
                cfg[dim.name] = float(10 ** rng.uniform(-3, 1))
        y = float(dim_effect(dims[-1], cfg[decider])) + float(rng.normal(0, 0.01))
        trials.append({"number": i, "config": cfg, "val_accuracy": y})
    got = importance(trials, space)
    assert got is not None and got.metric == "val_accuracy"
    assert list(got.shares) == names[:d]
    assert got.ranked()[0][0] == decider
    assert math.isclose(sum(got.shares.values()), 1.0)


def dim_effect(dim: Any, value: Any) -> float:
    if isinstance(dim, Categorical):
        return {"a": 0.0, "b": 1.0, "c": 0.3}[value]
    if isinstance(dim, Steps):
        return float(value) / 9
    return math.log10(value)


def test_missing_and_foreign_values_do_not_break_it() -> None:
    """Trials of an older space: a dimension added since, a category since removed."""
    space = space6()
    trials = trials_of(space, log_lr_decides, 60, seed=4)
    for t in trials[:10]:
        del t["config"]["β₁"]
        t["config"]["act"] = "swish"
    got = importance(trials, space)
    assert got is not None and got.ranked()[0][0] == "learning rate"


def test_a_long_run_is_fitted_on_a_sample() -> None:
    """2,000 trials: the model sees FIT_MAX of them (its cost: BENCHMARKS.md, section 11)."""
    space = space6()
    got = importance(trials_of(space, log_lr_decides, 2000, seed=5), space)
    assert got is not None and got.trials == 2000 and got.fitted == FIT_MAX
    assert got.ranked()[0][0] == "learning rate"


def test_score_when_every_trial_has_one_else_val_accuracy() -> None:
    assert metric_name([{"score": 1.0, "val_accuracy": 0.5}]) == "score"
    assert metric_name([{"score": 1.0, "val_accuracy": 0.5}, {"val_accuracy": 0.6}]) == (
        "val_accuracy"
    )
    assert metric_name([{"score": float("nan"), "val_accuracy": 0.6}]) == "val_accuracy"


def test_slice_points_values_categories_and_older_versions() -> None:
    space = space6()
    trials = [
        {"number": 1, "space_version": 1, "config": {"dropout": 0.7, "act": "swish"}, "score": 1},
        {"number": 2, "space_version": 2, "config": {"dropout": 0.2, "act": "gelu"}, "score": 2},
        {"number": 3, "space_version": 2, "config": {"act": "relu"}, "score": 3},
        {"number": 4, "space_version": 2, "config": {"dropout": 0.1}, "score": None},
    ]
    pts = slice_points(trials, space, "dropout")
    # out-of-range values stay (the plot shows them beside the current range); no value or
    # no metric: no point
    assert [(p.x, p.y, p.old, p.number) for p in pts] == [(0.7, 1.0, True, 1), (0.2, 2.0, False, 2)]
    cats = slice_points(trials, space, "act")
    assert [(p.x, p.number) for p in cats] == [(2.0, 2), (0.0, 3)]  # swish: not a category now
    assert all(not p.old for p in slice_points(trials, space, "act", current_version=1))
