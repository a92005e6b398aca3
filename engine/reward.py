"""Reward, adaptive weights and pruning-penalty rules (SPEC §5), as pure functions.

Rules are data: a list of {"name", "when": {param: {op: value}}, "penalty"} that a user
can list, store and edit. A rule fires when all its conditions hold.

Light on purpose (no numpy): the command line and the UI word the formula from the constants
and functions here (hptui.view), so what users read is what the engine computes.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.space import Value

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "in": lambda a, b: a in b,
}


@dataclass(frozen=True)
class Rule:
    name: str
    when: dict[str, dict[str, Any]]
    penalty: float

    def fires(self, config: Mapping[str, Value]) -> bool:
        return all(
            _OPS[op](config.get(param), ref)
            for param, conds in self.when.items()
            for op, ref in conds.items()
        )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "when": self.when, "penalty": self.penalty}

    def describe(self) -> str:
        return f"{self.name}: if {describe_when(self.when)} then -{self.penalty:g}"


def describe_when(when: Mapping[str, Mapping[str, Any]]) -> str:
    """A rule's conditions in words: `optimizer == 'sgd' and lr > 0.005`."""
    return " and ".join(f"{p} {op} {ref!r}" for p, c in when.items() for op, ref in c.items())


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("sgd_high_lr", {"optimizer": {"==": "sgd"}, "lr": {">": 5e-3}}, 10.0),
    Rule("batch64_deep", {"batch_size": {"==": 64}, "lstm_layers": {"==": 2}}, 5.0),
    Rule("embed64_deep", {"embed_dim": {"==": 64}, "lstm_layers": {"==": 2}}, 3.0),
)


def adaptive_weights(progress: float) -> tuple[float, float]:
    """(alpha, beta) for progress = epoch / total_epochs: accuracy first, then time."""
    if progress < 0.5:
        return 0.9, 0.1
    shift = 0.6 * (progress - 0.5)
    return 0.9 - shift, 0.1 + shift


ACC_SCALE = 100.0  # reward points for a validation accuracy of 1, before α
TIME_SCALE = 0.1  # reward points lost per second of training, before β


def reward_terms(
    acc: float, seconds: float, penalty: float, alpha: float, beta: float
) -> tuple[float, float, float]:
    """The reward's three terms: (100·α·acc, −0.1·β·T, −P)."""
    return ACC_SCALE * alpha * acc, -TIME_SCALE * beta * seconds, -penalty


def reward(acc: float, seconds: float, penalty: float, alpha: float, beta: float) -> float:
    """r = 100·α·acc − 0.1·β·T − P."""
    return sum(reward_terms(acc, seconds, penalty, alpha, beta))


RANKING_PROGRESS = 1.0  # the weights every trial is ranked under: the run's final ones


def score(acc: float, seconds: float, penalty: float) -> float:
    """The reward under one set of weights for every trial, so that trials from early and
    late in a run compare fairly (each trial's `reward` uses its own moment's weights, which
    shrink α as the run goes on, and would favour early trials)."""
    return reward(acc, seconds, penalty, *adaptive_weights(RANKING_PROGRESS))


def apply_rules(config: Mapping[str, Value], rules: Sequence[Rule]) -> tuple[float, list[str]]:
    """Total penalty and the names of the rules that fired."""
    fired = [r for r in rules if r.fires(config)]
    return float(sum(r.penalty for r in fired)), [r.name for r in fired]


def parse_rules(data: Any, params: Sequence[str] | None = None) -> list[Rule]:
    """Validate a list of rule dicts (on hyperparameters among `params`, when given);
    raises SpaceError naming the problem."""
    from engine.space import SpaceError  # here: engine.space needs numpy, the formula does not

    if not isinstance(data, list):
        raise SpaceError("pruning rules must be a list of objects")
    rules, names = [], set()
    for i, item in enumerate(data):
        where = f"rule {i + 1}"
        if not isinstance(item, Mapping):
            raise SpaceError(f"{where}: must be an object with name, when, penalty")
        extra = set(item) - {"name", "when", "penalty"}
        if extra:
            raise SpaceError(f"{where}: unknown field(s) {', '.join(sorted(extra))}")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise SpaceError(f"{where}: needs a non-empty name")
        where = f"rule {name!r}"
        if name in names:
            raise SpaceError(f"{where}: name used twice")
        names.add(name)
        penalty = item.get("penalty")
        if isinstance(penalty, bool) or not isinstance(penalty, int | float):
            raise SpaceError(f"{where}: penalty must be a number")
        if not math.isfinite(penalty) or penalty < 0:
            raise SpaceError(f"{where}: penalty must be a finite number >= 0")
        when = item.get("when")
        if not isinstance(when, Mapping) or not when:
            raise SpaceError(f"{where}: 'when' must name at least one condition")
        clean: dict[str, dict[str, Any]] = {}
        for param, conds in when.items():
            if params is not None and param not in params:
                raise SpaceError(f"{where}: unknown hyperparameter {param!r}")
            if not isinstance(conds, Mapping) or not conds:
                raise SpaceError(f"{where}: condition on {param} must be like {{'>': 0.005}}")
            for op, ref in conds.items():
                if op not in _OPS:
                    raise SpaceError(f"{where}: unknown operator {op!r} (use {', '.join(_OPS)})")
                if op == "in" and not isinstance(ref, list):
                    raise SpaceError(f"{where}: 'in' takes a list")
                if op in (">", ">=", "<", "<=") and (
                    isinstance(ref, bool) or not isinstance(ref, int | float)
                ):
                    raise SpaceError(f"{where}: {param} {op} needs a number, got {ref!r}")
            clean[param] = dict(conds)
        rules.append(Rule(name, clean, float(penalty)))
    return rules
