"""The surrogate bench's fast forest walk predicts what scikit-learn's forests predict."""

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

from bench.surrogate import StackedTrees


@pytest.mark.parametrize("kind", [RandomForestRegressor, ExtraTreesRegressor])
def test_stacked_trees_equal_the_forests(kind: type) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, (120, 5))
    forests = {
        "a": kind(n_estimators=12, min_samples_leaf=2, random_state=0).fit(x, np.sin(x[:, 0])),
        "b": kind(n_estimators=7, random_state=1).fit(x, x[:, 1] * x[:, 2]),
    }
    fast = StackedTrees(forests)
    probe = rng.uniform(-3, 3, (40, 5))
    for name, forest in forests.items():
        expected = forest.predict(probe)
        got = np.array([fast.predict(row)[name] for row in probe])
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
