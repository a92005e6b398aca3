"""The search space: its dimensions, validation of edits, and the pure mappings
between configurations, PPO actions in [-1, 1] and normalised state vectors.

A space is plain data (JSON round-trips through `to_dict` / `from_dict`), so it
can be stored as a numbered version and edited from the UI or the command line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Value = float | int | str
Config = dict[str, Value]


class SpaceError(ValueError):
    """An invalid space or space edit; the message names the problem."""


# What the trainer understands: every dimension must be one of these, with values of this type.
PARAM_TYPES: dict[str, type] = {
    "lr": float,
    "batch_size": int,
    "lstm_units": int,
    "dropout": float,
    "embed_dim": int,
    "lstm_layers": int,
    "optimizer": str,
}
OPTIMIZERS = ("adam", "sgd")
# Sanity bounds: values outside these cannot train (or cannot fit in memory on any box).
_LIMITS: dict[str, tuple[float, float]] = {
    "lr": (1e-7, 1.0),
    "batch_size": (1, 8192),
    "lstm_units": (1, 4096),
    "dropout": (0.0, 0.95),
    "embed_dim": (1, 4096),
    "lstm_layers": (1, 8),
}

DEFAULT_CONFIG: Config = {
    "lr": 1e-3,
    "batch_size": 32,
    "lstm_units": 64,
    "dropout": 0.3,
    "embed_dim": 128,
    "lstm_layers": 1,
    "optimizer": "adam",
}


@dataclass(frozen=True)
class Real:
    name: str
    low: float
    high: float
    log: bool = False

    def to_unit(self, value: float) -> float:
        """Value -> [-1, 1], linear in log space for log-uniform dimensions."""
        lo, hi, v = self.low, self.high, float(value)
        if self.log:
            # log10: decades map exactly (1e-3 in 1e-4..1e-2 is action 0.0, not -2e-16)
            lo, hi, v = math.log10(lo), math.log10(hi), math.log10(max(v, 1e-300))
        return float(np.clip(2.0 * (v - lo) / (hi - lo) - 1.0, -1.0, 1.0))

    def from_unit(self, a: float) -> float:
        a = float(np.clip(a, -1.0, 1.0))
        lo, hi = self.low, self.high
        if self.log:
            v = 10 ** (math.log10(lo) + (a + 1.0) / 2.0 * (math.log10(hi) - math.log10(lo)))
        else:
            v = lo + (a + 1.0) / 2.0 * (hi - lo)
        # 4 significant digits: readable values, and the same proposals for the same seed even
        # though measured seconds (in the reward) jitter the policy in the 7th digit.
        return float(min(hi, max(lo, float(f"{v:.4g}"))))

    def contains(self, value: Value) -> bool:
        return isinstance(value, int | float) and self.low <= float(value) <= self.high

    def to_dict(self) -> dict[str, Any]:
        return {"type": "real", "low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True)
class Categorical:
    name: str
    choices: tuple[Value, ...]

    # Categories sit at equal spacing over [-1, 1] in their listed order, so each
    # gets the same share of the action range (batch 16/32/64 behaves like a log scale).
    def to_unit(self, value: Value) -> float:
        if len(self.choices) == 1:
            return 0.0
        return 2.0 * self.index(value) / (len(self.choices) - 1) - 1.0

    def from_unit(self, a: float) -> Value:
        n = len(self.choices)
        i = int(round((float(np.clip(a, -1.0, 1.0)) + 1.0) / 2.0 * (n - 1)))
        return self.choices[i]

    def index(self, value: Value) -> int:
        """Index of `value`, or of the nearest numeric choice."""
        if value in self.choices:
            return self.choices.index(value)
        if isinstance(value, int | float) and all(isinstance(c, int | float) for c in self.choices):
            return int(np.argmin([abs(float(c) - float(value)) for c in self.choices]))
        return 0

    def contains(self, value: Value) -> bool:
        return value in self.choices

    def to_dict(self) -> dict[str, Any]:
        return {"type": "categorical", "choices": list(self.choices)}


Dimension = Real | Categorical


@dataclass(frozen=True)
class SearchSpace:
    dims: tuple[Dimension, ...]

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dims]

    def __getitem__(self, name: str) -> Dimension:
        for d in self.dims:
            if d.name == name:
                return d
        raise KeyError(name)

    # --- serialisation -------------------------------------------------------
    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {d.name: d.to_dict() for d in self.dims}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        if not isinstance(data, Mapping):
            raise SpaceError("a search space must be a JSON object of name -> dimension")
        missing = [n for n in PARAM_TYPES if n not in data]
        if missing:
            raise SpaceError(f"search space lacks dimension(s): {', '.join(missing)}")
        return cls(tuple(parse_dimension(n, data[n]) for n in PARAM_TYPES))

    # --- edits ---------------------------------------------------------------
    def edited(self, changes: Mapping[str, Any]) -> SearchSpace:
        """A new space with `changes` (name -> dimension spec) applied; raises SpaceError
        naming the problem, and the current space stays as it is."""
        if not isinstance(changes, Mapping) or not changes:
            raise SpaceError("an edit must name at least one dimension")
        new = {d.name: d for d in self.dims}
        for name, spec in changes.items():
            new[name] = parse_dimension(name, spec)
        return SearchSpace(tuple(new[n] for n in PARAM_TYPES))

    def describe_change(self, other: SearchSpace) -> str:
        """Human summary of what differs from `self` to `other`."""
        parts = []
        for d in other.dims:
            old = self[d.name]
            if old != d:
                parts.append(f"{d.name}: {format_dimension(old)} -> {format_dimension(d)}")
        return "; ".join(parts) or "no change"

    # --- configurations --------------------------------------------------------
    def contains(self, config: Mapping[str, Value]) -> bool:
        return all(n in config and self[n].contains(config[n]) for n in self.names)

    def clip(self, config: Mapping[str, Value]) -> Config:
        """Nearest configuration inside the space (used to carry a point across an edit)."""
        return self.from_action(self.to_action(config))

    def to_action(self, config: Mapping[str, Value]) -> np.ndarray:
        return np.array([d.to_unit(config[d.name]) for d in self.dims], dtype=np.float32)

    def from_action(self, action: Sequence[float]) -> Config:
        return {d.name: _plain(d.from_unit(a)) for d, a in zip(self.dims, action, strict=True)}

    def sample(self, rng: np.random.Generator) -> Config:
        cfg: Config = {}
        for d in self.dims:
            if isinstance(d, Real):
                cfg[d.name] = d.from_unit(rng.uniform(-1.0, 1.0))
            else:
                cfg[d.name] = _plain(d.choices[int(rng.integers(len(d.choices)))])
        return cfg

    def grid(self, reals_per_dim: int = 3) -> list[Config]:
        """Full factorial grid: every category, `reals_per_dim` evenly spaced points of each
        real dimension (log-spaced for log-uniform ones)."""
        axes: list[list[Value]] = []
        for d in self.dims:
            if isinstance(d, Real):
                axes.append([d.from_unit(a) for a in np.linspace(-1, 1, reals_per_dim)])
            else:
                axes.append(list(d.choices))
        points: list[Config] = [{}]
        for d, axis in zip(self.dims, axes, strict=True):
            points = [{**p, d.name: _plain(v)} for p in points for v in axis]
        return points

    def default_config(self) -> Config:
        return self.clip(DEFAULT_CONFIG)


def default_space() -> SearchSpace:
    return SearchSpace(
        (
            Real("lr", 1e-4, 1e-2, log=True),
            Categorical("batch_size", (16, 32, 64)),
            Categorical("lstm_units", (32, 64, 128)),
            Real("dropout", 0.2, 0.4),
            Categorical("embed_dim", (64, 128, 256)),
            Categorical("lstm_layers", (1, 2)),
            Categorical("optimizer", ("adam", "sgd")),
        )
    )


def _plain(v: Any) -> Value:
    """numpy scalars -> Python scalars, so configs serialise as plain JSON."""
    if isinstance(v, np.generic):
        return v.item()
    return v


# --- parsing and validation ----------------------------------------------------


def _number(name: str, field: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise SpaceError(f"{name}: {field} must be a number, got {v!r}")
    try:
        v = float(v)
    except OverflowError:  # an integer too large for a float
        raise SpaceError(f"{name}: {field} is far too large") from None
    if not math.isfinite(v):
        raise SpaceError(f"{name}: {field} must be finite, got {v!r}")
    return float(v)


def _check_value(name: str, v: Any) -> Value:
    kind = PARAM_TYPES[name]
    if kind is str:
        if v not in OPTIMIZERS:
            raise SpaceError(f"{name}: unknown choice {v!r} (known: {', '.join(OPTIMIZERS)})")
        return v
    if kind is int:
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise SpaceError(f"{name}: choices must be whole numbers, got {v!r}")
    else:
        v = _number(name, "choice", v)
    lo, hi = _LIMITS[name]
    if not lo <= v <= hi:
        raise SpaceError(f"{name}: {v!r} is outside the sensible range [{lo:g}, {hi:g}]")
    return v


def parse_dimension(name: str, spec: Any) -> Dimension:
    """Validate one dimension spec ({"type": "real", "low", "high", "log"} or
    {"type": "categorical", "choices": [...]}; a bare list means categorical)."""
    if name not in PARAM_TYPES:
        raise SpaceError(f"unknown hyperparameter {name!r} (known: {', '.join(PARAM_TYPES)})")
    if isinstance(spec, list | tuple):
        spec = {"type": "categorical", "choices": list(spec)}
    if isinstance(spec, Real | Categorical):
        spec = spec.to_dict()
    if not isinstance(spec, Mapping):
        raise SpaceError(f"{name}: expected an object or a list of choices, got {spec!r}")
    kind = spec.get("type")
    if kind == "real":
        if PARAM_TYPES[name] is not float:
            raise SpaceError(f"{name}: takes whole/named values, so it must be categorical")
        extra = set(spec) - {"type", "low", "high", "log"}
        if extra:
            raise SpaceError(f"{name}: unknown field(s) {', '.join(sorted(extra))}")
        if "low" not in spec or "high" not in spec:
            raise SpaceError(f"{name}: a real dimension needs low and high")
        low = float(_check_value(name, _number(name, "low", spec["low"])))
        high = float(_check_value(name, _number(name, "high", spec["high"])))
        if low >= high:
            raise SpaceError(f"{name}: empty range, low ({low:g}) must be below high ({high:g})")
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise SpaceError(f"{name}: log must be true or false, got {log!r}")
        if log and low <= 0:
            raise SpaceError(f"{name}: a log-uniform range needs low > 0")
        return Real(name, low, high, log)
    if kind == "categorical":
        extra = set(spec) - {"type", "choices"}
        if extra:
            raise SpaceError(f"{name}: unknown field(s) {', '.join(sorted(extra))}")
        choices = spec.get("choices")
        if not isinstance(choices, list | tuple) or not choices:
            raise SpaceError(f"{name}: choices must be a non-empty list")
        values = tuple(_check_value(name, c) for c in choices)
        if len(set(values)) != len(values):
            raise SpaceError(f"{name}: choices repeat a value")
        return Categorical(name, values)
    raise SpaceError(f"{name}: type must be 'real' or 'categorical', got {kind!r}")


def parse_assignment(text: str) -> tuple[str, dict[str, Any]]:
    """Parse a command-line edit: `lr=1e-4:5e-3:log`, `dropout=0.1:0.3`, `batch_size=16,32`.
    Returns (name, dimension spec), validated."""
    if "=" not in text:
        raise SpaceError(f"expected NAME=VALUES, got {text!r}")
    name, _, rhs = text.partition("=")
    name, rhs = name.strip(), rhs.strip()
    if name not in PARAM_TYPES:
        raise SpaceError(f"unknown hyperparameter {name!r} (known: {', '.join(PARAM_TYPES)})")
    if not rhs:
        raise SpaceError(f"{name}: no values given")
    spec: dict[str, Any]
    if ":" in rhs:
        parts = rhs.split(":")
        log = False
        if len(parts) == 3 and parts[2].strip().lower() in ("log", "linear"):
            log = parts[2].strip().lower() == "log"
            parts = parts[:2]
        if len(parts) != 2:
            raise SpaceError(f"{name}: a range is LOW:HIGH or LOW:HIGH:log, got {rhs!r}")
        spec = {
            "type": "real",
            "low": parse_number(name, parts[0]),
            "high": parse_number(name, parts[1]),
            "log": log,
        }
    else:
        items = [s.strip() for s in rhs.split(",")]
        if PARAM_TYPES[name] is str:
            choices: list[Any] = items
        else:
            choices = [parse_number(name, s) for s in items]
        spec = {"type": "categorical", "choices": choices}
    parse_dimension(name, spec)  # validate now, so the caller gets the error here
    return name, spec


def parse_number(name: str, text: str, what: str = "") -> float | int:
    """A number typed by a user (command line or editor field): whole numbers stay whole;
    a SpaceError names the dimension, the field and the problem."""
    s, field = text.strip(), f"{what} " if what else ""
    if not s:
        raise SpaceError(f"{name}: {field}is empty")
    try:
        return int(s)
    except ValueError:
        pass
    try:
        v = float(s)
    except ValueError:
        raise SpaceError(f"{name}: {field}{s!r} is not a number") from None
    if not math.isfinite(v):
        raise SpaceError(f"{name}: {field}{s!r} is not a finite number")
    return v


def format_dimension(d: Dimension) -> str:
    if isinstance(d, Real):
        return f"{d.low:g}..{d.high:g}" + (" (log)" if d.log else "")
    return "{" + ", ".join(str(c) for c in d.choices) + "}"


# --- the PPO state ---------------------------------------------------------------

REWARD_SCALE = 100.0  # rewards are ~0..100; divided so the state's entries are all O(1)


def state_vector(space: SearchSpace, config: Mapping[str, Value], prev_reward: float) -> np.ndarray:
    """The 8-number PPO state: each hyperparameter as its action in [-1, 1], and the previous
    reward scaled to about [-1, 1]; no raw scales mixed (SPEC §7)."""
    return np.append(space.to_action(config), np.float32(prev_reward / REWARD_SCALE)).astype(
        np.float32
    )
