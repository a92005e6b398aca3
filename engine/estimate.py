"""A Gaussian process over every finished trial of a run, and what it is used for:

- **Screening PPO's proposals** by expected improvement (bayes-ppo).
- **An estimate of each trial's accuracy** under noise (a single validation accuracy is one
  noisy draw: retraining a configuration under another seed moves it by about 1.6 points),
  stored with each trial and shown beside the measurement. It does not rank trials: on the
  surrogate benchmark, choosing the best by this estimate was no better than by score or by
  the measured accuracy (a GP on a few dozen points of a space with a cliff, where half the
  configurations never learn, smooths the best region down as much as it removes luck).

Trials trained for different numbers of epochs (a 1-epoch warm-up beside 2-epoch steps, a
pruned trial beside a finished one) are put on one scale by a fidelity input: every estimate
is the one at the run's longest training.
Inputs are the space's own action coordinates in [-1, 1] (log10 for lr, categories equally
spaced), the same the PPO policy acts in.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from engine.space import SearchSpace, Value

MIN_POINTS = 4  # below this, estimates are the measurements themselves
# The least evaluation noise assumed (sd, accuracy units): the binomial sd of a 2,000-review
# validation accuracy near 0.8 is 0.009, before any seed-to-seed variation of training.
MIN_NOISE_SD = 0.01
# The most observations a GP is fitted on (the estimates, the PPO screen, Bayes). A fit costs
# n^3: past this a run's fits would grow from a fraction of a second to minutes. The profiles'
# own runs stay under it (seed: 335 trials), so it changes nothing there.
FIT_POINTS = 400


def bounded_indices(accuracies: Sequence[float], limit: int = FIT_POINTS) -> list[int]:
    """Which observations (in told order) a GP is fitted on: all of them up to `limit`; past
    it, the best quarter's worth by accuracy, the most recent quarter's worth, and an even
    spread of the rest, so that the good region, the present and the whole space are all
    represented. Sorted, at most `limit`."""
    n = len(accuracies)
    if n <= limit:
        return list(range(n))
    k = limit // 4
    best = sorted(range(n), key=lambda i: -accuracies[i])[:k]
    chosen = set(best) | set(range(n - k, n))
    rest = [i for i in range(n) if i not in chosen]
    spread = np.linspace(0, len(rest) - 1, limit - len(chosen)).round().astype(int)
    chosen |= {rest[i] for i in spread}
    return sorted(chosen)


def expected_improvement(
    mean: np.ndarray, std: np.ndarray, best: float, xi: float = 0.0
) -> np.ndarray:
    """EI of maximising: E[max(f − best − xi, 0)] under N(mean, std²)."""
    from scipy.stats import norm

    std = np.maximum(np.asarray(std, float), 1e-12)
    z = (np.asarray(mean, float) - best - xi) / std
    return (np.asarray(mean, float) - best - xi) * norm.cdf(z) + std * norm.pdf(z)


class FidelityGP:
    """GP on (action coordinates, fidelity) -> validation accuracy. `fit` optimises the kernel
    every `refit_every` calls and otherwise reuses the last kernel (one Cholesky, cheap), so a
    long run does not pay the hyperparameter search on every result."""

    def __init__(self, space: SearchSpace, seed: int = 0, refit_every: int = 1) -> None:
        self.space, self.seed, self.refit_every = space, seed, max(1, refit_every)
        self.gp: Any = None
        self.top = 1
        self._fits = 0
        self._kernel: Any = None
        self._y_mean = 0.0

    def _x(self, configs: Sequence[Mapping[str, Value]], epochs: Sequence[int]) -> np.ndarray:
        x = np.array([self.space.to_action(self.space.clip(c)) for c in configs], float)
        fid = np.array([[min(int(e), self.top) / self.top] for e in epochs], float)
        return np.hstack([x.reshape(len(configs), -1), fid])

    def fit(
        self,
        configs: Sequence[Mapping[str, Value]],
        accuracies: Sequence[float],
        epochs: Sequence[int],
    ) -> bool:
        """Fit on the observations; False (and no model) with too few of them."""
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        if len(configs) < MIN_POINTS:
            self.gp = None
            return False
        self.top = max(int(e) for e in epochs)
        x, y = self._x(configs, epochs), np.asarray(accuracies, float)
        self._y_mean = float(y.mean())
        # Kernel search on every `refit_every`-th fit, and on a share of fits that shrinks as
        # the data grow (about 30 searches per 300 points): O(n^3) a search, cheap between.
        every = max(self.refit_every, len(configs) // 10)
        optimise = self._kernel is None or self._fits % every == 0
        if optimise:
            # In accuracy units, not normalised ones, so that the noise has a floor: a GP
            # left free explains a lone lucky measurement by a short length scale instead.
            var = max(float(y.var()), MIN_NOISE_SD**2)
            kernel = ConstantKernel(var, (1e-6, 1.0)) * Matern(
                length_scale=np.ones(x.shape[1]), length_scale_bounds=(5e-2, 1e2), nu=2.5
            ) + WhiteKernel(max(var / 10, MIN_NOISE_SD**2), (MIN_NOISE_SD**2, 0.1))
        else:
            kernel = self._kernel
        gp = GaussianProcessRegressor(
            kernel,
            normalize_y=False,
            n_restarts_optimizer=1 if optimise else 0,
            optimizer="fmin_l_bfgs_b" if optimise else None,
            random_state=self.seed,
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence notes from the kernel optimiser
                gp.fit(x, y - self._y_mean)
        except (ValueError, np.linalg.LinAlgError):
            self.gp = None
            return False
        self.gp, self._kernel = gp, gp.kernel_
        self._fits += 1
        return True

    def predict(self, configs: Sequence[Mapping[str, Value]]) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation at the longest training."""
        assert self.gp is not None, "fit first"
        x = self._x(configs, [self.top] * len(configs))
        mean, std = self.gp.predict(x, return_std=True)
        return np.asarray(mean) + self._y_mean, np.asarray(std)

    def predict_actions(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """As `predict`, for points given in action coordinates (candidates not yet mapped
        to configurations are snapped onto the space first)."""
        configs = [self.space.from_action(np.clip(a, -1.0, 1.0)) for a in actions]
        return self.predict(configs)


def estimated_accuracy(
    space: SearchSpace,
    configs: Sequence[Mapping[str, Value]],
    accuracies: Sequence[float],
    epochs: Sequence[int],
    seed: int = 0,
) -> np.ndarray:
    """Posterior-mean accuracy of each configuration at the longest training in `epochs`.
    With fewer than MIN_POINTS trials, or if the GP cannot be fitted, the measurements."""
    acc = np.asarray(accuracies, float)
    gp = FidelityGP(space, seed)
    if not gp.fit(configs, acc, epochs):
        return acc.copy()
    return gp.predict(configs)[0]


def best_index(estimates: Sequence[float], seconds: Sequence[float] | None = None) -> int:
    """Highest estimate; the faster trial on a tie (estimates equal to 6 decimals)."""
    est = np.asarray(estimates, float)
    sec = np.zeros_like(est) if seconds is None else np.asarray(seconds, float)
    order: Any = np.lexsort((sec, -np.round(est, 6)))
    return int(order[0])
