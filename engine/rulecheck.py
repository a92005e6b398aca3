"""Rules checked against the hyperparameters' types and sane ranges before they are accepted.

`engine.reward.parse_rules` checks a rule's shape; this checks that it can be evaluated on
every configuration and cannot wreck the reward: an order comparison on a category raised
TypeError at the next launch, and a penalty of 1e308 made the PPO update NaN. The command line
checks an edit before sending it, and the engine checks it again (the UI sends edits too) and
on start-up, so a run that died of a bad edit accepted by an older version can carry on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from engine.reward import Rule
from engine.space import FLAG, TEXT, SearchSpace, SpaceError
from storage.limits import MAX_NAME, too_long

MAX_PENALTY = 1000.0  # ten times the largest accuracy term of the reward (100·α·acc)
MAX_RULES = 100
MAX_CHOICES = 100  # values of an `in` condition
_ORDER_OPS = (">", ">=", "<", "<=")


def _fits(kind: str, value: Any) -> bool:
    if kind == TEXT:
        return isinstance(value, str)
    if kind == FLAG:
        return isinstance(value, bool)
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_rules(rules: Sequence[Rule], space: SearchSpace) -> None:
    """Raise SpaceError naming the first rule that cannot be used safely on `space`."""
    if len(rules) > MAX_RULES:
        raise SpaceError(f"{len(rules)} pruning rules; at most {MAX_RULES}")
    for rule in rules:
        _check_sizes(rule)
        where = f"rule {rule.name!r}"
        if not 0 <= rule.penalty <= MAX_PENALTY:
            raise SpaceError(
                f"{where}: penalty must be in [0, {MAX_PENALTY:g}], got {rule.penalty:g}"
            )
        for param, conds in rule.when.items():
            if param not in space.names:
                raise SpaceError(
                    f"{where}: unknown hyperparameter {param!r} (known: {', '.join(space.names)})"
                )
            kind = space[param].kind
            wording = {TEXT: "text", FLAG: "true or false"}.get(kind, "a number")
            for op, ref in conds.items():
                if op in _ORDER_OPS and kind in (TEXT, FLAG):
                    raise SpaceError(
                        f"{where}: {param} is a category; {op} cannot compare it (use == != in)"
                    )
                refs = ref if op == "in" else [ref]
                if op == "in" and not refs:
                    raise SpaceError(f"{where}: {param} in [] never holds")
                for r in refs:
                    if not _fits(kind, r):
                        raise SpaceError(f"{where}: {param} {op} needs {wording}, got {r!r}")


def _check_sizes(rule: Rule) -> None:
    """Names and values of a sane length: each is stored with every space version and
    printed by `hptui space`, and a megabyte-long name made both take minutes."""
    problem = too_long(rule.name, MAX_NAME, "rule name")
    for param, conds in rule.when.items():
        for op, ref in conds.items():
            refs = ref if op == "in" else [ref]
            if op == "in" and len(refs) > MAX_CHOICES:
                problem = problem or f"{param} in: {len(refs)} values; at most {MAX_CHOICES}"
            for r in refs:
                if isinstance(r, str):
                    problem = problem or too_long(r, MAX_NAME, f"{param} value")
    if problem:
        raise SpaceError(f"rule {rule.name[:40]!r}: {problem}")
