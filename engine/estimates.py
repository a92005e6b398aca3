"""The information-only accuracy estimates (engine.estimate's FidelityGP), kept off the trial
loop: a thread of their own fits the GP on a bounded subset of the finished search trials and
predicts every trial; the loop writes only the estimates that changed. The same thread
computes which hyperparameters matter (engine.importance) when the loop asks for it (now and
then, engine.trials), for the store: `hptui show` prints it rather than fitting a GP itself.

A fit is requested after each result and never queued behind another: requests fold into
the next fit, and fits take at most a tenth of the time (DUTY), at most one a second: a
thread of the engine shares its interpreter with the loop, so a busy one delays the loop's
turns. The estimates are information only; a few seconds' delay costs nothing. Past
estimate.FIT_POINTS trials the GP is fitted on the best, the most recent and an even spread
of the rest (cubic cost bounded), and still predicts them all (linear).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.estimate import FidelityGP, bounded_indices
from engine.importance import record
from engine.space import SearchSpace, Value

ESTIMATE_REFIT = 5  # the kernel is re-optimised every 5 fits (one Cholesky between)
# An estimate that moved less than this is not rewritten: half the last digit shown (4
# decimals). A refit moves most estimates a little; rewriting them all cost 18 MB of WAL
# per result at 50,000 trials.
CHANGED = 5e-5
MIN_GAP_S = 1.0  # between the end of a fit and the start of the next
DUTY = 0.1  # ... and at least (1 / DUTY - 1) times the last fit's duration


@dataclass(frozen=True)
class Observation:
    trial_id: int
    config: Mapping[str, Value]
    accuracy: float
    epochs: int


def estimate_all(gp: FidelityGP, obs: list[Observation]) -> dict[int, float]:
    """Trial id -> estimated accuracy, from `gp` fitted on a subset of `obs`; the
    measurements themselves when the GP cannot be fitted."""
    fit = [obs[i] for i in bounded_indices([o.accuracy for o in obs])]
    configs = [o.config for o in fit]
    if not gp.fit(configs, [o.accuracy for o in fit], [o.epochs for o in fit]):
        return {o.trial_id: o.accuracy for o in obs}
    mean = gp.predict([o.config for o in obs])[0]
    return {o.trial_id: float(m) for o, m in zip(obs, mean, strict=True)}


class EstimateThread:
    """Fits in a daemon thread; `request` hands it the current observations, `take` returns
    the estimates that changed since the last `take` (or {} while nothing new is ready).
    `request_importance` hands it trials to compute the importance of, `take_importance`
    returns the result (Store.set_importance's fields) once, or None."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._gp: FidelityGP | None = None
        self._want: tuple[SearchSpace, list[Observation]] | None = None
        self._ready: dict[int, float] = {}
        # (space, trials, what is stored beside the result), and the result to store
        self._want_importance: tuple[SearchSpace, list[Any], dict[str, Any]] | None = None
        self._importance: dict[str, Any] | None = None
        self._written: dict[int, float] = {}
        self._wake = threading.Condition()
        self._busy = False
        self._closed = False
        self._urgent = False  # `wait_idle`: the next fit starts without its pause
        self._not_before = 0.0  # monotonic time the next fit may start
        self._thread = threading.Thread(target=self._work, name="estimates", daemon=True)
        self._thread.start()

    def request(self, space: SearchSpace, obs: list[Observation]) -> None:
        with self._wake:
            self._want = (space, list(obs))
            self._wake.notify()

    def request_importance(self, space: SearchSpace, trials: list[Any], **context: Any) -> None:
        """Compute the importance of `trials` in `space` at the next fit; `context` (the run's
        counts) is returned with the result. A newer request replaces one not yet begun."""
        with self._wake:
            self._want_importance = (space, list(trials), dict(context))
            self._wake.notify()

    def take_importance(self) -> dict[str, Any] | None:
        """The last importance computed, once (None: none new)."""
        with self._wake:
            out, self._importance = self._importance, None
        return out

    def take(self) -> dict[int, float]:
        """The estimates that moved since they were last taken (for the store)."""
        with self._wake:
            ready, self._ready = self._ready, {}
        changed = {
            tid: v for tid, v in ready.items() if abs(self._written.get(tid, np.inf) - v) > CHANGED
        }
        self._written.update(changed)
        return changed

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Until the requested fit is done (tests, and the end of a run)."""
        with self._wake:
            self._urgent = True
            self._wake.notify_all()
            self._wake.wait_for(
                lambda: self._want is None and self._want_importance is None and not self._busy,
                timeout,
            )
            self._urgent = False

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify_all()

    def _work(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(self._wanted)
                while not (self._closed or self._urgent):  # the pause after the last fit
                    left = self._not_before - time.monotonic()
                    if left <= 0:
                        break
                    self._wake.wait(left)
                if self._closed:
                    return
                want, self._want = self._want, None
                matters, self._want_importance = self._want_importance, None
                self._busy = True
            started = time.monotonic()
            est: dict[int, float] = {}
            found = None
            if want is not None:
                space, obs = want
                try:
                    if self._gp is None or self._gp.space != space:
                        self._gp = FidelityGP(space, self.seed, refit_every=ESTIMATE_REFIT)
                    est = estimate_all(self._gp, obs)
                except Exception:  # information only: never worth ending a run over
                    est = {}
            if matters is not None:
                space, trials, context = matters
                try:
                    found = {**context, **record(trials, space)}
                except Exception:  # likewise: `show` computes it where none is stored
                    found = None
            took = time.monotonic() - started
            with self._wake:
                self._ready.update(est)
                if found is not None:
                    self._importance = found
                self._busy = False
                self._not_before = time.monotonic() + max(MIN_GAP_S, took * (1 / DUTY - 1))
                self._wake.notify_all()

    def _wanted(self) -> bool:
        return self._want is not None or self._want_importance is not None or self._closed
