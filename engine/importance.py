"""Which hyperparameters mattered, and where in each range the good trials lie.

Pure functions of finished search trials (plain dicts with `config`, `score`,
`val_accuracy`, `space_version`, `number`) and the run's current `SearchSpace`; higher metric
is better. Any space: dimension names are whatever the space calls them, and every dimension
that is not categorical is read as a number from `low` to `high` (log-scaled where `log`).

`importance` fits a Gaussian process (an ARD Matern-5/2 kernel with a noise term) to the
trials, each dimension as its position in the current space, [-1, 1] (`Dimension.to_unit`),
and splits its mean's variance over the space into each dimension's first-order share, as
fANOVA does: for each dimension, the mean averaged over the other dimensions (uniform over
the space) as a function of that dimension alone, and the variance of that function over the
dimension's range. The shares are normalised to sum to 1. Trials drawn under older space
versions count too, at their value's position in the current space: clipped to its ends; a
category it no longer has at the nearest numeric one, else (like a dimension added since) at
the middle. Chosen by
`bench/importance_bench.py` (BENCHMARKS.md, section 11) over a random forest split the same
way, the forest's impurity and permutation importances, the GP's own length scales and
Optuna's fANOVA: the closest shares from 60 trials on, and on the surrogate of real trainings
the best or second-best order.

Light to import (numpy and scikit-learn are imported by the functions that need them), so the
command line can count trials before it loads anything heavy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from engine.space import SearchSpace

MIN_TRIALS = 8  # fewer finished trials: not enough to say what matters
READ_MAX = 2000  # a run's importance is computed from its newest finished search trials
FIT_MAX = 150  # the GP is fitted on at most this many trials (an even sample of them)
GRID = 16  # points along a numeric dimension where its marginal effect is evaluated
BASE = 64  # points of the other dimensions it is averaged over (uniform over the space)
SEED = 0  # every draw here is seeded: the same trials give the same answer

Trial = Mapping[str, Any]


@dataclass(frozen=True)
class Importance:
    """Each dimension's share of what the metric's variation is explained by (in [0, 1],
    summing to 1), in the order of the space; `ranked` gives them most important first."""

    shares: dict[str, float]
    metric: str  # the trials' field it explains: "score" or "val_accuracy"
    trials: int  # trials with that metric
    fitted: int  # those the model was fitted on

    def ranked(self) -> list[tuple[str, float]]:
        """(name, share), the largest first; equal shares keep the space's order."""
        order = {n: i for i, n in enumerate(self.shares)}
        return sorted(self.shares.items(), key=lambda kv: (-kv[1], order[kv[0]]))


def metric_name(trials: Sequence[Trial]) -> str:
    """`score` where every trial with a validation accuracy has one (a run's trials are all
    scored, or none: older stores), else `val_accuracy`."""
    measured = [t for t in trials if _finite(t.get("val_accuracy")) or _finite(t.get("score"))]
    if measured and all(_finite(t.get("score")) for t in measured):
        return "score"
    return "val_accuracy"


def measured(trials: Sequence[Trial]) -> tuple[str, list[Trial]]:
    """(metric, the trials that have a finite value of it)."""
    metric = metric_name(trials)
    return metric, [t for t in trials if _finite(t.get(metric))]


def is_categorical(dim: Any) -> bool:
    from engine.space import Categorical

    return isinstance(dim, Categorical)


def unit(dim: Any, config: Mapping[str, Any]) -> float:
    """A configuration's value of `dim` as its position in the current space, [-1, 1];
    the middle for a value it lacks or that does not fit (a dimension added later)."""
    if dim.name not in config:
        return 0.0
    value = config[dim.name]
    if is_categorical(dim) and value not in dim.choices:
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if not numeric:
            return 0.0  # a category the space no longer has
    try:
        return float(dim.to_unit(value))
    except (TypeError, ValueError, OverflowError):
        return 0.0


def encode(trials: Sequence[Trial], space: SearchSpace) -> np.ndarray:
    """The trials' configurations, one row each, one column per dimension, in [-1, 1]."""
    import numpy as np

    return np.array(
        [[unit(d, t.get("config") or {}) for d in space.dims] for t in trials], dtype=np.float64
    ).reshape(len(trials), len(space.dims))


def levels(space: SearchSpace, grid: int = GRID) -> list[np.ndarray]:
    """Per dimension, where its marginal effect is evaluated: each category's position, or
    `grid` evenly spaced points of a numeric range (log-spaced for log ranges: they are even
    in the encoding)."""
    import numpy as np

    out = []
    for d in space.dims:
        if is_categorical(d):
            out.append(np.array(sorted({float(d.to_unit(c)) for c in d.choices})))
        else:
            out.append(np.linspace(-1.0, 1.0, grid))
    return out


def fit_sample(n: int, most: int | None = None, seed: int = SEED) -> np.ndarray:
    """Indices of at most `most` (FIT_MAX) of `n` trials: all, or an even random sample."""
    import numpy as np

    most = FIT_MAX if most is None else most
    if n <= most:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=most, replace=False))


def marginal_variances(
    predict: Any, lv: Sequence[np.ndarray], base: int = BASE, seed: int = SEED
) -> np.ndarray:
    """Per dimension, the variance over its levels of `predict` averaged over `base` points
    of the other dimensions drawn uniformly from the space (each at one of its levels): the
    first-order term of the functional ANOVA of `predict`, estimated by sampling."""
    import numpy as np

    rng = np.random.default_rng(seed)
    d = len(lv)
    pts = np.column_stack([rng.choice(v, size=base) for v in lv]) if d else np.zeros((base, 0))
    rows, spans = [], []
    for i, v in enumerate(lv):
        block = np.repeat(pts, len(v), axis=0)
        block[:, i] = np.tile(v, base)
        rows.append(block)
        spans.append(len(v))
    pred = predict(np.vstack(rows))
    out = np.zeros(d)
    start = 0
    for i, k in enumerate(spans):
        part = pred[start : start + base * k].reshape(base, k)
        start += base * k
        out[i] = float(np.var(part.mean(axis=0))) if k > 1 else 0.0
    return out


def gp(x: np.ndarray, y: np.ndarray, seed: int = SEED) -> Any:
    """A GP of y over x: constant × ARD Matern-5/2 + white noise, y normalised, fitted on one
    BLAS thread (its notes on bounds reached are expected: a dimension without effect takes
    the longest length scale)."""
    import warnings

    import numpy as np
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
    from threadpoolctl import threadpool_limits

    d = x.shape[1]
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
        np.ones(d), (1e-2, 1e3), nu=2.5
    ) + WhiteKernel(0.1, (1e-6, 1e1))
    model = GaussianProcessRegressor(kernel, normalize_y=True, random_state=seed)
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        return model.fit(x, y)


def normalised(weights: np.ndarray) -> np.ndarray | None:
    import numpy as np

    w = np.clip(np.nan_to_num(np.asarray(weights, dtype=np.float64)), 0.0, None)
    total = float(w.sum())
    return None if total <= 0.0 or not math.isfinite(total) else w / total


def importance(
    trials: Sequence[Trial], space: SearchSpace, *, seed: int = SEED
) -> Importance | None:
    """Each dimension's share of the metric's variation, from the finished trials; None with
    fewer than `MIN_TRIALS` measured trials, or when the metric does not vary at all."""
    import numpy as np

    metric, rows = measured(trials)
    if len(rows) < MIN_TRIALS or not space.dims:
        return None
    y_all = np.array([float(t[metric]) for t in rows])
    if float(np.ptp(y_all)) == 0.0:
        return None
    pick = fit_sample(len(rows), seed=seed)
    chosen = [rows[i] for i in pick]
    x, y = encode(chosen, space), y_all[pick]
    model = gp(x, y, seed)
    shares = normalised(marginal_variances(model.predict, levels(space), seed=seed))
    if shares is None:  # the model is flat: nothing explains the metric
        return None
    names = [d.name for d in space.dims]
    return Importance(
        {n: float(s) for n, s in zip(names, shares, strict=True)}, metric, len(rows), len(chosen)
    )


def record(trials: Sequence[Trial], space: SearchSpace, *, seed: int = SEED) -> dict[str, Any]:
    """The importance of `trials` (a run's newest finished search trials) as the store keeps
    it (Store.set_importance, less the run's counts): how many were read, the metric, and
    with a result its measured and fitted trials and the shares (None without one)."""
    result = importance(trials, space, seed=seed)
    return {
        "trials_read": len(trials),
        "metric": result.metric if result is not None else metric_name(trials),
        "measured": None if result is None else result.trials,
        "fitted": None if result is None else result.fitted,
        "shares": None if result is None else dict(result.shares),
    }


def from_record(row: Mapping[str, Any]) -> Importance | None:
    """The Importance a stored record holds (None where it holds none)."""
    if row.get("shares") is None:
        return None
    shares = {str(k): float(v) for k, v in row["shares"].items()}
    return Importance(shares, row["metric"], int(row["measured"]), int(row["fitted"]))


# --- the slice plot ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SlicePoint:
    """One trial in a slice plot: `x` its value of the dimension (a number, or its category's
    index in the current space), `y` its metric, `old` drawn under an older space version."""

    x: float
    y: float
    old: bool
    number: int | None = None


def slice_points(
    trials: Sequence[Trial],
    space: SearchSpace,
    name: str,
    *,
    current_version: int | None = None,
) -> list[SlicePoint]:
    """The metric against one dimension's value, one point per measured trial that has a
    value of it (a category the current space no longer has is left out). `old`: the trial's
    space version is below `current_version` (by default the newest version among them)."""
    dim = space[name]
    metric, rows = measured(trials)
    versions = [t.get("space_version") for t in rows if t.get("space_version") is not None]
    current = current_version if current_version is not None else max(versions, default=None)
    out = []
    for t in rows:
        config = t.get("config") or {}
        if name not in config:
            continue
        value = config[name]
        if is_categorical(dim):
            if value not in dim.choices:
                continue
            x = float(dim.choices.index(value))
        else:
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            x = float(value)
            if not math.isfinite(x) or (getattr(dim, "log", False) and x <= 0):
                continue
        version = t.get("space_version")
        old = current is not None and version is not None and version < current
        out.append(SlicePoint(x, float(t[metric]), old, t.get("number")))
    return out


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
