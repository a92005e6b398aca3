"""Learning-curve pruning: stop a trial after an epoch when its curve is already hopeless.

Two rules, written as small pure functions over the validation accuracy of each epoch. They
follow Optuna's pruners decision for decision (`MedianPruner`, and `SuccessiveHalvingPruner`
as its asynchronous form, ASHA), so they can be checked against it; Optuna itself is not a
dependency of the engine.

- **median** (median stopping): after `warmup_trials` finished trials, a trial is pruned
  after epoch k when the best validation accuracy it reached up to k is below the median of
  the finished trials' accuracy at epoch k. Nothing is pruned at epochs <= `warmup_epochs`.
- **asha** (asynchronous successive halving): rungs at epochs `min_epochs * factor**i`
  (1, 3, 9, ... with the defaults). A trial reaching a rung goes on only if its accuracy
  there is among the top 1/`factor` of every accuracy recorded at that rung so far (its own
  included; while fewer than `factor` are recorded, only the best goes on).

A decision is only ever taken after an epoch that is not the trial's last: the worker then
waits for the engine's verdict and stops after that epoch if told to (engine.executor; under
Ray, engine.ray_executor's mailbox); the epochs it trained are kept and the trial is stored
`pruned`. Final validation is never pruned.

What a pruned trial means to each strategy (engine.strategies.base.Outcome):
- every strategy is told it as a result (`ok`), with the accuracy of the epochs it ran (the
  best by validation loss, as for any trial) and the seconds they took;
- **random** and **grid** spend a budget of epochs (trials x epochs): a pruned trial costs
  the epochs it ran, so the epochs saved pay for more trials;
- **bayes** takes that partial accuracy as the trial's value: lower than the configuration
  would reach, a penalty the surrogate learns from. Its number of trials is fixed, so pruning
  saves time, not buys trials;
- **bayes-ppo**: the warm-up is Bayes (as above; 1-epoch warm-up trials, as in the tiny
  profile, have nothing to prune); a PPO step's reward
  is `100·α·acc − 0.1·β·T − P` of its partial accuracy and its short time, so the policy
  learns to avoid such regions (the accuracy term outweighs the seconds saved by far). The
  number of steps is fixed by the schedule: pruning saves time, not buys steps;
- a pruned trial is never the run's best (it did not train its epochs) and no estimate is made
  for it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from engine.space import SpaceError
from storage.contract import FINISHED, PRUNED, PRUNERS, RUNNING

# Trial statuses whose curves the rules compare against. Interrupted trials run again under
# the same seed (their curve would count twice); failed and cancelled ones are not results.
REFERENCE_STATUSES = (FINISHED, PRUNED, RUNNING)


@dataclass(frozen=True)
class PrunerSettings:
    kind: str = "none"  # none, median, asha
    warmup_trials: int = 5  # median: finished trials before anything is pruned
    warmup_epochs: int = 0  # median: nothing is pruned at these first epochs
    reduction_factor: int = 3  # asha: the top 1/factor of a rung goes on
    min_epochs: int = 1  # asha: the first rung

    def __post_init__(self) -> None:
        if self.kind not in PRUNERS:
            raise SpaceError(f"unknown pruner {self.kind!r} (known: {', '.join(PRUNERS)})")
        for name, low in (
            ("warmup_trials", 0),
            ("warmup_epochs", 0),
            ("reduction_factor", 2),
            ("min_epochs", 1),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise SpaceError(f"pruner setting {name} must be an integer >= {low}, not {v!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, object] | str | None) -> PrunerSettings:
        """From stored or typed settings: a dict, or just the pruner's name."""
        if d is None:
            return cls()
        if isinstance(d, str):
            return cls(kind=d)
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise SpaceError(f"unknown pruner setting(s): {', '.join(sorted(unknown))}")
        return cls(**d)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def describe(self) -> str:
        if self.kind == "median":
            return (
                f"median stopping (after {self.warmup_trials} finished trials"
                + (f", from epoch {self.warmup_epochs + 1}" if self.warmup_epochs else "")
                + ")"
            )
        if self.kind == "asha":
            return (
                f"ASHA (rungs from epoch {self.min_epochs}, "
                f"reduction factor {self.reduction_factor})"
            )
        return "no pruning"


@dataclass(frozen=True)
class Curve:
    """One trial's validation accuracy per epoch (1-based) and its status."""

    status: str
    acc: Mapping[int, float]


@dataclass(frozen=True)
class Decision:
    prune: bool
    reason: str = ""


KEEP = Decision(False)


def asha_rungs(max_epochs: int, min_epochs: int = 1, reduction_factor: int = 3) -> list[int]:
    """The rung epochs before a trial's last epoch (at the last there is nothing to stop)."""
    rungs, r = [], min_epochs
    while r < max_epochs:
        rungs.append(r)
        r *= reduction_factor
    return rungs


def decision_epochs(settings: PrunerSettings, max_epochs: int) -> tuple[int, ...]:
    """The epochs after which a trial of `max_epochs` waits for a verdict."""
    if settings.kind == "median":
        return tuple(range(max(1, settings.warmup_epochs + 1), max_epochs))
    if settings.kind == "asha":
        return tuple(asha_rungs(max_epochs, settings.min_epochs, settings.reduction_factor))
    return ()


def median_prune(
    curve: Mapping[int, float],
    epoch: int,
    finished: Sequence[Mapping[int, float]],
    warmup_trials: int = 5,
    warmup_epochs: int = 0,
) -> Decision:
    """Optuna's MedianPruner (maximising): the best accuracy of `curve` up to `epoch` against
    the median accuracy at `epoch` of the `finished` trials' curves."""
    if len(finished) < warmup_trials or epoch <= warmup_epochs:
        return KEEP
    own = [v for e, v in curve.items() if e <= epoch]
    if not own or any(not math.isfinite(v) for v in own):
        return Decision(True, f"no finite accuracy up to epoch {epoch}")
    there = [c[epoch] for c in finished if epoch in c and math.isfinite(c[epoch])]
    if not there:
        return KEEP
    best, median = max(own), statistics.median(there)
    if best < median:
        return Decision(
            True,
            f"best val acc {best:.4f} up to epoch {epoch} < median {median:.4f} "
            f"of {len(there)} finished trials there",
        )
    return KEEP


def asha_promotable(value: float, competing: Sequence[float], reduction_factor: int = 3) -> bool:
    """Optuna's rule for a rung (maximising): `competing` holds every value recorded at the
    rung, `value` included; the top len // factor (at least 1) go on."""
    if not math.isfinite(value):
        return False
    ranked = sorted((v for v in competing if math.isfinite(v)), reverse=True)
    k = max(1, len(ranked) // reduction_factor)
    return value >= ranked[k - 1]


def asha_prune(
    curve: Mapping[int, float],
    epoch: int,
    others: Sequence[Mapping[int, float]],
    reduction_factor: int = 3,
    min_epochs: int = 1,
) -> Decision:
    """At a rung epoch, prune unless the trial's accuracy there is in the rung's top 1/factor
    (`others`: the curves of the run's other trials; those that reached the rung compete)."""
    if epoch not in asha_rungs(epoch + 1, min_epochs, reduction_factor) or epoch not in curve:
        return KEEP
    value = curve[epoch]
    competing = [value] + [c[epoch] for c in others if epoch in c]
    if asha_promotable(value, competing, reduction_factor):
        return KEEP
    k = max(1, len(competing) // reduction_factor)
    return Decision(
        True,
        f"val acc {value:.4f} at rung epoch {epoch} not in the top {k} of {len(competing)}",
    )


def decide(
    settings: PrunerSettings, trial_id: int, epoch: int, curves: Mapping[int, Curve]
) -> Decision:
    """The engine's verdict for `trial_id` after `epoch`, from the run's search curves."""
    own = curves.get(trial_id)
    if own is None or settings.kind == "none":
        return KEEP
    others = [c for tid, c in curves.items() if tid != trial_id and c.status in REFERENCE_STATUSES]
    if settings.kind == "median":
        finished = [c.acc for c in others if c.status == FINISHED]
        return median_prune(
            own.acc, epoch, finished, settings.warmup_trials, settings.warmup_epochs
        )
    return asha_prune(
        own.acc, epoch, [c.acc for c in others], settings.reduction_factor, settings.min_epochs
    )
