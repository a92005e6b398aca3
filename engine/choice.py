"""Which configuration a run recommends: configurations are ranked, not single trainings.

A search measures most configurations once, and the highest of many noisy measurements is
mostly luck (the winner's curse: a quick run once chose the default configuration on one
lucky 2-epoch measurement). The confirmation stage (engine.confirm_stage) trains the top
candidates and the default again under new seeds; a configuration is then judged by the mean
score of all its measurements at the stage's fidelity, and only configurations the stage
measured again compete. Before that stage (a search under way, a run from before it) the
ranking is the search's own: the best single score.

Pure, and light to import (no numpy): a list of trials in (the store's rows, or a bench's
dicts with the same keys), a Choice out. The test accuracy is never read.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.reward import score
from storage.contract import CONFIRM_PHASE, FINISHED, is_search_phase

Trial = Mapping[str, Any]  # number, phase, status, config, val_accuracy, seconds, penalty,
# max_epochs (a bench may leave out what it does not have: penalty 0, status finished)


@dataclass(frozen=True)
class Measured:
    """One configuration and what its measurements say together."""

    config: dict[str, Any]
    trial: int  # the number of its first trial: the one a user knows it by
    n: int  # measurements
    score: float  # mean score (engine.reward.score: accuracy, time and penalty)
    accuracy: float  # mean validation accuracy
    seconds: float  # mean training seconds
    is_default: bool


@dataclass(frozen=True)
class Choice:
    best: Measured
    default: Measured | None  # the default configuration, where it was measured
    ranking: tuple[Measured, ...]  # every configuration that competed, best first
    confirmed: bool  # chosen among repeated measurements (the confirmation stage ran)

    @property
    def default_is_best(self) -> bool:
        return self.best.is_default


def config_key(config: Mapping[str, Any]) -> str:
    """Equal configurations, equal keys (the store's JSON round-trips them exactly)."""
    return json.dumps(dict(config), sort_keys=True)


def trial_score(t: Trial) -> float:
    """The search's ranking of one measurement (recomputed: a confirmation trial has no
    stored score, being no search trial)."""
    return score(float(t["val_accuracy"]), float(t["seconds"] or 0.0), float(t.get("penalty") or 0))


def _measurements(trials: Iterable[Trial]) -> list[Trial]:
    """Finished trials of the search and confirmation (not pruned: a partial training; not
    final validation: the test set chooses nothing)."""
    return [
        t
        for t in trials
        if t.get("status", FINISHED) == FINISHED
        and t.get("val_accuracy") is not None
        and (is_search_phase(t.get("phase")) or t.get("phase") == CONFIRM_PHASE)
    ]


def _by_single(t: Trial) -> tuple[float, float, int]:
    """The search's order (storage.store.Store.BEST_ORDER): score, accuracy, then number."""
    return (-trial_score(t), -float(t["val_accuracy"]), int(t["number"]))


def candidates(
    trials: Iterable[Trial], k: int, default: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The `k` configurations the search ranked highest, by their best single score; the
    default configuration is not one of them (the stage measures it anyway)."""
    default_key = config_key(default) if default is not None else None
    out: dict[str, dict[str, Any]] = {}
    for t in sorted(
        (t for t in _measurements(trials) if is_search_phase(t.get("phase"))), key=_by_single
    ):
        key = config_key(t["config"])
        if key != default_key and key not in out:
            out[key] = dict(t["config"])
            if len(out) == k:
                break
    return list(out.values())


def _measured(group: Sequence[Trial], default_key: str | None) -> Measured:
    first = min(group, key=lambda t: int(t["number"]))
    return Measured(
        config=dict(first["config"]),
        trial=int(first["number"]),
        n=len(group),
        score=statistics.fmean(trial_score(t) for t in group),
        accuracy=statistics.fmean(float(t["val_accuracy"]) for t in group),
        seconds=statistics.fmean(float(t["seconds"] or 0.0) for t in group),
        is_default=config_key(first["config"]) == default_key,
    )


def run_default(store: Any, run_id: int) -> dict[str, Any]:
    """The run's default configuration: the one its objective declared, as its first space
    version holds it (a later edit may leave it outside the space; it is still the default
    every result is compared with)."""
    from engine.space import DEFAULT_CONFIG, SearchSpace  # here: engine.space needs numpy

    rows = store.space_versions(run_id)
    if not rows:
        return dict(DEFAULT_CONFIG)
    space = SearchSpace.from_dict(rows[0]["space"])
    return {d.name: d.default for d in space.dims if d.default is not None} or dict(DEFAULT_CONFIG)


def choose(trials: Iterable[Trial], default: Mapping[str, Any] | None = None) -> Choice | None:
    """The recommended configuration of a run's trials; None when none finished.

    With confirmation trials: the configurations they measured compete, each judged by the
    mean score of its measurements at their fidelity (search and confirmation trials of the
    same epochs alike); on a tie the default wins (nothing beat it). Without: the best single
    search measurement, as the search ranks them."""
    if default is None:
        from engine.space import DEFAULT_CONFIG  # here: engine.space needs numpy

        default = DEFAULT_CONFIG
    measured = _measurements(trials)
    if not any(t.get("phase") == CONFIRM_PHASE for t in measured):
        default_key = config_key(default)
        single = sorted(measured, key=_by_single)
        if not single:
            return None
        ranking = [_measured([t], default_key) for t in single]
        defaults = [m for m in ranking if m.is_default]
        return Choice(ranking[0], defaults[0] if defaults else None, tuple(ranking), False)
    ranking = rank(measured, default)
    defaults = [m for m in ranking if m.is_default]
    return Choice(ranking[0], defaults[0] if defaults else None, tuple(ranking), True)


def rank(trials: Iterable[Trial], default: Mapping[str, Any]) -> list[Measured]:
    """The configurations the confirmation stage measured, best first, each judged by the mean
    score of its measurements at the stage's fidelity (search and confirmation trials of the
    same epochs alike); on a tie the default first (nothing beat it). Empty without
    confirmation trials."""
    default_key = config_key(default)
    measured = _measurements(trials)
    confirm = [t for t in measured if t.get("phase") == CONFIRM_PHASE]
    if not confirm:
        return []
    fidelity = max(int(t.get("max_epochs") or 0) for t in confirm)
    keys = {config_key(t["config"]) for t in confirm}
    groups: dict[str, list[Trial]] = {key: [] for key in keys}
    for t in measured:
        key = config_key(t["config"])
        if key in groups and int(t.get("max_epochs") or 0) == fidelity:
            groups[key].append(t)
    return sorted(
        (_measured(g, default_key) for g in groups.values()),
        key=lambda m: (-round(m.score, 9), not m.is_default, m.trial),
    )
