"""The search space: its dimensions, validation of edits, and the pure mappings
between configurations, PPO actions in [-1, 1] and normalised state vectors.

A space is plain data (JSON round-trips through `to_dict` / `from_dict`), so it can be stored
as a numbered version and edited from the UI or the command line. Dimensions have any names
(an objective declares them, engine.objective) and are of four kinds: real, log-real,
integer (optionally log-spaced) and categorical. Each carries its default value, and may
carry `limits`: the values an edit may reach (a number range, or the names a categorical
may list), so an edit cannot ask the trainer for a value it cannot use.
"""

from __future__ import annotations

import math
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from storage.limits import MAX_NAME

if TYPE_CHECKING:
    import numpy as np

Value = float | int | str | bool
Config = dict[str, Value]


class SpaceError(ValueError):
    """An invalid space or space edit; the message names the problem."""


# --- the built-in IMDB LSTM's space (engine.objectives.imdb_lstm) --------------------------------
# Kept here because stores written before spaces carried their own defaults and limits hold
# this space without them: `from_dict` fills them in, so those runs open, resume and edit.

OPTIMIZERS = ("adam", "sgd")
LSTM_DEFAULT: Config = {
    "lr": 1e-3,
    "batch_size": 32,
    "lstm_units": 64,
    "dropout": 0.3,
    "embed_dim": 128,
    "lstm_layers": 1,
    "optimizer": "adam",
}
# Sanity bounds: values outside these cannot train (or cannot fit in memory on any box).
LSTM_LIMITS: dict[str, tuple[Value, ...]] = {
    "lr": (1e-7, 1.0),
    "batch_size": (1, 8192),
    "lstm_units": (1, 4096),
    "dropout": (0.0, 0.95),
    "embed_dim": (1, 4096),
    "lstm_layers": (1, 8),
    "optimizer": OPTIMIZERS,
}
DEFAULT_CONFIG = LSTM_DEFAULT  # the built-in objective's default configuration

# What kind of value a dimension holds: edits keep it (a whole-number dimension stays whole).
FLOAT, INT, TEXT, FLAG = "float", "int", "text", "flag"


def _round4(v: float) -> float:
    # 4 significant digits: readable values, and the same proposals for the same seed even
    # though measured seconds (in the reward) jitter the policy in the 7th digit.
    return float(f"{v:.4g}")


@dataclass(frozen=True)
class Real:
    name: str
    low: float
    high: float
    log: bool = False
    default: float | None = None
    limits: tuple[float, float] | None = None

    kind = FLOAT

    def to_unit(self, value: float) -> float:
        """Value -> [-1, 1], linear in log space for log-uniform dimensions."""
        lo, hi, v = self.low, self.high, float(value)
        if self.log:
            # log10: decades map exactly (1e-3 in 1e-4..1e-2 is action 0.0, not -2e-16)
            lo, hi, v = math.log10(lo), math.log10(hi), math.log10(max(v, 1e-300))
        return _unit_clip(2.0 * (v - lo) / (hi - lo) - 1.0)

    def from_unit(self, a: float) -> float:
        a = _unit_clip(a)
        lo, hi = self.low, self.high
        if self.log:
            v = 10 ** (math.log10(lo) + (a + 1.0) / 2.0 * (math.log10(hi) - math.log10(lo)))
        else:
            v = lo + (a + 1.0) / 2.0 * (hi - lo)
        return float(min(hi, max(lo, _round4(v))))

    def contains(self, value: Value) -> bool:
        return _is_number(value) and self.low <= float(value) <= self.high

    def to_dict(self) -> dict[str, Any]:
        return _with_extras(
            {"type": "real", "low": self.low, "high": self.high, "log": self.log}, self
        )


@dataclass(frozen=True)
class Integer:
    """Whole numbers low..high; each gets an equal share of the action range (of its log
    with `log`, so 16..1024 spends as much on 16..128 as on 128..1024)."""

    name: str
    low: int
    high: int
    log: bool = False
    default: int | None = None
    limits: tuple[float, float] | None = None

    kind = INT

    def _edges(self) -> tuple[float, float]:
        # Each integer owns a cell [v - 0.5, v + 0.5) (log: [v, v + 1) in log space).
        if self.log:
            return math.log(self.low), math.log(self.high + 1)
        return self.low - 0.5, self.high + 0.5

    def to_unit(self, value: float) -> float:
        lo, hi = self._edges()
        v = math.log(float(value) + 0.5) if self.log else float(value)
        return _unit_clip(2.0 * (v - lo) / (hi - lo) - 1.0)

    def from_unit(self, a: float) -> int:
        lo, hi = self._edges()
        x = lo + (_unit_clip(a) + 1.0) / 2.0 * (hi - lo)
        v = math.floor(math.exp(x)) if self.log else round(x)
        return int(min(self.high, max(self.low, v)))

    def contains(self, value: Value) -> bool:
        return _is_whole(value) and self.low <= value <= self.high  # type: ignore[operator]

    def to_dict(self) -> dict[str, Any]:
        return _with_extras(
            {"type": "integer", "low": self.low, "high": self.high, "log": self.log}, self
        )


@dataclass(frozen=True)
class Categorical:
    name: str
    choices: tuple[Value, ...]
    default: Value | None = None
    limits: tuple[Value, ...] | None = None  # names an edit may list (None: any)

    @property
    def kind(self) -> str:
        return _kind_of_values(self.choices)

    # Categories sit at equal spacing over [-1, 1] in their listed order, so each
    # gets the same share of the action range (batch 16/32/64 behaves like a log scale).
    def to_unit(self, value: Value) -> float:
        if len(self.choices) == 1:
            return 0.0
        return 2.0 * self.index(value) / (len(self.choices) - 1) - 1.0

    def from_unit(self, a: float) -> Value:
        n = len(self.choices)
        i = int(round((_unit_clip(a) + 1.0) / 2.0 * (n - 1)))
        return self.choices[i]

    def index(self, value: Value) -> int:
        """Index of `value`, or of the nearest numeric choice."""
        for i, c in enumerate(self.choices):
            if c == value and type(c) is type(value):
                return i
        if value in self.choices:
            return self.choices.index(value)
        if _is_number(value) and all(_is_number(c) for c in self.choices):
            gaps = [abs(float(c) - float(value)) for c in self.choices]
            return min(range(len(gaps)), key=gaps.__getitem__)  # the first of the nearest
        return 0

    def contains(self, value: Value) -> bool:
        return any(
            c == value and isinstance(value, bool) == isinstance(c, bool) for c in self.choices
        )

    def to_dict(self) -> dict[str, Any]:
        return _with_extras({"type": "categorical", "choices": list(self.choices)}, self)


Dimension = Real | Integer | Categorical


def _with_extras(d: dict[str, Any], dim: Dimension) -> dict[str, Any]:
    if dim.default is not None:
        d["default"] = dim.default
    if dim.limits is not None:
        d["limits"] = list(dim.limits)
    return d


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _kind_of_values(values: Sequence[Value]) -> str:
    if all(isinstance(v, str) for v in values):
        return TEXT
    if all(isinstance(v, bool) for v in values):
        return FLAG
    if all(_is_whole(v) for v in values):
        return INT
    return FLOAT


MAX_DIMS = 64  # the PPO state and action grow with it; far past any sane search
MAX_CHOICES = 1000


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
    def from_dict(cls, data: Mapping[str, Any], like: SearchSpace | None = None) -> SearchSpace:
        """A space from its JSON form. With `like` (the run's current space), a replacement:
        the same dimensions, each keeping its kind, default and limits."""
        if not isinstance(data, Mapping):
            raise SpaceError("a search space must be a JSON object of name -> dimension")
        if like is not None:
            missing = [n for n in like.names if n not in data]
            if missing:
                raise SpaceError(f"search space lacks dimension(s): {', '.join(missing)}")
            extra = [str(n) for n in data if n not in like.names]
            if extra:
                raise SpaceError(_unknown(extra[0], like.names))
            return cls(tuple(parse_dimension(n, data[n], like=like[n]) for n in like.names))
        if not data:
            raise SpaceError("a search space needs at least one dimension")
        if len(data) > MAX_DIMS:
            raise SpaceError(f"{len(data)} dimensions; at most {MAX_DIMS}")
        legacy = set(data) == set(LSTM_DEFAULT) and not any(
            isinstance(s, Mapping) and "default" in s for s in data.values()
        )
        dims = tuple(parse_dimension(n, s) for n, s in data.items())
        if legacy:  # the built-in space as stores before version 10 hold it
            dims = tuple(
                replace(d, default=LSTM_DEFAULT[d.name], limits=LSTM_LIMITS[d.name]) for d in dims
            )
            dims = tuple(parse_dimension(d.name, d.to_dict()) for d in dims)  # limits checked
        return cls(dims)

    # --- edits ---------------------------------------------------------------
    def edited(self, changes: Mapping[str, Any]) -> SearchSpace:
        """A new space with `changes` (name -> dimension spec) applied; raises SpaceError
        naming the problem, and the current space stays as it is."""
        if not isinstance(changes, Mapping) or not changes:
            raise SpaceError("an edit must name at least one dimension")
        new = {d.name: d for d in self.dims}
        for name, spec in changes.items():
            if name not in new:
                raise SpaceError(_unknown(name, self.names))
            new[name] = parse_dimension(name, spec, like=self[name])
        return SearchSpace(tuple(new[n] for n in self.names))

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
        import numpy as np

        return np.array([d.to_unit(config[d.name]) for d in self.dims], dtype=np.float32)

    def from_action(self, action: Sequence[float]) -> Config:
        return {d.name: _plain(d.from_unit(a)) for d, a in zip(self.dims, action, strict=True)}

    def sample(self, rng: np.random.Generator) -> Config:
        cfg: Config = {}
        for d in self.dims:
            if isinstance(d, Categorical):
                cfg[d.name] = _plain(d.choices[int(rng.integers(len(d.choices)))])
            else:
                cfg[d.name] = d.from_unit(rng.uniform(-1.0, 1.0))
        return cfg

    def grid(self, reals_per_dim: int = 3) -> list[Config]:
        """Full factorial grid: every category, `reals_per_dim` evenly spaced points of each
        real or integer dimension (log-spaced for log ones)."""
        import numpy as np

        axes: list[list[Value]] = []
        for d in self.dims:
            if isinstance(d, Categorical):
                axes.append(list(d.choices))
            else:
                points = [d.from_unit(a) for a in np.linspace(-1, 1, reals_per_dim)]
                axes.append(list(dict.fromkeys(points)))  # an integer range may repeat
        points: list[Config] = [{}]
        for d, axis in zip(self.dims, axes, strict=True):
            points = [{**p, d.name: _plain(v)} for p in points for v in axis]
        return points

    def default_config(self) -> Config:
        """The default configuration, moved inside the space if an edit left it outside
        (a dimension without a default takes its centre)."""
        config = {
            d.name: d.default if d.default is not None else d.from_unit(0.0) for d in self.dims
        }
        if self.contains(config):
            return {k: _plain(v) for k, v in config.items()}
        return self.clip(config)


def default_space() -> SearchSpace:
    """The built-in IMDB LSTM's space (SPEC §3)."""
    return SearchSpace.from_dict(
        {
            "lr": {"type": "real", "low": 1e-4, "high": 1e-2, "log": True},
            "batch_size": [16, 32, 64],
            "lstm_units": [32, 64, 128],
            "dropout": {"type": "real", "low": 0.2, "high": 0.4},
            "embed_dim": [64, 128, 256],
            "lstm_layers": [1, 2],
            "optimizer": ["adam", "sgd"],
        }
    )


def _plain(v: Any) -> Value:
    """numpy scalars -> Python scalars, so configs serialise as plain JSON."""
    np = sys.modules.get("numpy")  # not loaded: no value is one of its scalars
    if np is not None and isinstance(v, np.generic):
        return v.item()
    return v


def _unit_clip(a: float) -> float:
    """`a` as a float clipped to [-1, 1] (NaN stays NaN, as numpy's clip leaves it). Plain
    Python: numpy is loaded only where arrays are made, so that reading a space (`hptui
    show`) does not load it."""
    x = float(a)
    return x if math.isnan(x) else min(1.0, max(-1.0, x))


def _unknown(name: Any, known: Sequence[str]) -> str:
    return f"unknown hyperparameter {str(name)[:60]!r} (known: {', '.join(known)})"


# --- parsing and validation ----------------------------------------------------


def check_name(name: Any) -> str:
    """A dimension's name: any text (unicode too) a user can read and type."""
    if not isinstance(name, str) or not name:
        raise SpaceError(f"a hyperparameter's name must be non-empty text, got {name!r}")
    if name != name.strip():
        raise SpaceError(f"hyperparameter {name!r}: a name cannot start or end with spaces")
    if len(name) > MAX_NAME:
        raise SpaceError(f"hyperparameter {name[:40]!r}...: longer than {MAX_NAME} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise SpaceError(f"hyperparameter {name!r}: control characters in the name")
    if any(ch in name for ch in "=:,"):
        raise SpaceError(f"hyperparameter {name!r}: '=', ':' and ',' cannot be in a name")
    return name


def _number(name: str, field: str, v: Any) -> float:
    if not _is_number(v):
        raise SpaceError(f"{name}: {field} must be a number, got {v!r}")
    try:
        v = float(v)
    except OverflowError:  # an integer too large for a float
        raise SpaceError(f"{name}: {field} is far too large") from None
    if not math.isfinite(v):
        raise SpaceError(f"{name}: {field} must be finite, got {v!r}")
    return float(v)


def _check_value(name: str, v: Any, kind: str, limits: Any, field: str = "choice") -> Value:
    """One value of a dimension of `kind`, within its `limits`."""
    if kind == TEXT:
        if not isinstance(v, str):
            raise SpaceError(f"{name}: {field} must be text, got {v!r}")
        if len(v) > MAX_NAME:
            raise SpaceError(f"{name}: {field} {v[:40]!r}... is longer than {MAX_NAME} characters")
        if limits is not None and v not in limits:
            raise SpaceError(f"{name}: unknown choice {v!r} (known: {', '.join(map(str, limits))})")
        return v
    if kind == FLAG:
        if not isinstance(v, bool):
            raise SpaceError(f"{name}: {field} must be true or false, got {v!r}")
        return v
    if kind == INT:
        if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
            v = int(v)
        if not _is_whole(v):
            if field == "choice":
                raise SpaceError(f"{name}: choices must be whole numbers, got {v!r}")
            raise SpaceError(f"{name}: takes whole numbers; {field} {v!r} is not one")
        _number(name, field, v)  # finite, not absurdly large
    else:
        v = _number(name, field, v)
    if limits is not None:
        lo, hi = limits
        if not lo <= v <= hi:
            raise SpaceError(f"{name}: {v!r} is outside the sensible range [{lo:g}, {hi:g}]")
    return v


def _limits(name: str, spec: Mapping[str, Any], like: Dimension | None, kind: str) -> Any:
    if "limits" not in spec:
        return like.limits if like is not None else None
    raw = spec["limits"]
    if raw is None:
        return None
    if not isinstance(raw, list | tuple) or not raw:
        raise SpaceError(f"{name}: limits must be a non-empty list")
    if kind in (TEXT, FLAG):
        return tuple(_check_value(name, v, kind, None, "limit") for v in raw)
    if len(raw) != 2:
        raise SpaceError(f"{name}: limits of a number are [LOW, HIGH]")
    lo, hi = (_number(name, "limit", v) for v in raw)
    if lo > hi:
        raise SpaceError(f"{name}: limits [{lo:g}, {hi:g}] are empty")
    return (lo, hi)


def parse_dimension(name: str, spec: Any, like: Dimension | None = None) -> Dimension:
    """Validate one dimension spec: {"type": "real" | "integer", "low", "high", "log"},
    {"type": "categorical", "choices": [...]} or a bare list of choices; each may add a
    "default" and "limits". With `like` (the dimension it replaces, in an edit) the new one
    keeps its kind of value, default and limits."""
    check_name(name)
    if isinstance(spec, list | tuple):
        spec = {"type": "categorical", "choices": list(spec)}
    if isinstance(spec, Real | Integer | Categorical):
        spec = spec.to_dict()
    if not isinstance(spec, Mapping):
        raise SpaceError(f"{name}: expected an object or a list of choices, got {spec!r}")
    kind = spec.get("type")
    want = like.kind if like is not None else None
    fields = {"type", "default", "limits"} | (
        {"choices"} if kind == "categorical" else {"low", "high", "log"}
    )
    extra = set(spec) - fields
    if extra:
        raise SpaceError(f"{name}: unknown field(s) {', '.join(sorted(map(str, extra)))}")
    if kind in ("real", "integer"):
        if want in (TEXT, FLAG):
            raise SpaceError(f"{name}: takes named values, so it must be categorical")
        if kind == "real" and want == INT:
            raise SpaceError(
                f"{name}: takes whole numbers, so it is an integer range or a list of choices"
            )
        if kind == "integer" and want == FLOAT:
            raise SpaceError(f"{name}: takes real numbers, so it is a real range or choices")
        value_kind = INT if kind == "integer" else FLOAT
        if "low" not in spec or "high" not in spec:
            raise SpaceError(f"{name}: a {kind} dimension needs low and high")
        limits = _limits(name, spec, like, value_kind)
        low = _check_value(name, spec["low"], value_kind, limits, "low")
        high = _check_value(name, spec["high"], value_kind, limits, "high")
        if low >= high:
            raise SpaceError(f"{name}: empty range, low ({low:g}) must be below high ({high:g})")
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise SpaceError(f"{name}: log must be true or false, got {log!r}")
        if log and low <= 0:
            raise SpaceError(f"{name}: a log-uniform range needs low > 0")
        default = _default(name, spec, like, value_kind)
        if kind == "integer":
            return Integer(name, int(low), int(high), log, default, limits)  # type: ignore[arg-type]
        return Real(name, float(low), float(high), log, default, limits)  # type: ignore[arg-type]
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list | tuple) or not choices:
            raise SpaceError(f"{name}: choices must be a non-empty list")
        if len(choices) > MAX_CHOICES:
            raise SpaceError(f"{name}: {len(choices)} choices; at most {MAX_CHOICES}")
        value_kind = want or _declared_kind(name, choices)
        limits = _limits(name, spec, like, value_kind)
        values = tuple(_check_value(name, c, value_kind, limits) for c in choices)
        if len({(type(v), v) for v in values}) != len(values):
            raise SpaceError(f"{name}: choices repeat a value")
        return Categorical(name, values, _default(name, spec, like, value_kind), limits)
    raise SpaceError(f"{name}: type must be 'real', 'integer' or 'categorical', got {kind!r}")


def _declared_kind(name: str, choices: Sequence[Any]) -> str:
    if all(isinstance(c, str) for c in choices):
        return TEXT
    if all(isinstance(c, bool) for c in choices):
        return FLAG
    if all(_is_number(c) for c in choices):
        return INT if all(_is_whole(c) for c in choices) else FLOAT
    raise SpaceError(f"{name}: choices must be all text, all true/false or all numbers")


def _default(name: str, spec: Mapping[str, Any], like: Dimension | None, kind: str) -> Any:
    if "default" not in spec or spec["default"] is None:
        return like.default if like is not None else None
    return _check_value(name, spec["default"], kind, None, "default")


def parse_assignment(text: str, space: SearchSpace | None = None) -> tuple[str, dict[str, Any]]:
    """Parse a command-line edit of `space` (default: the built-in one): `lr=1e-4:5e-3:log`,
    `dropout=0.1:0.3`, `units=16:256:log` (a whole-number dimension), `batch_size=16,32`.
    Returns (name, dimension spec), validated."""
    space = space or default_space()
    if "=" not in text:
        raise SpaceError(f"expected NAME=VALUES, got {text!r}")
    name, _, rhs = text.partition("=")
    name, rhs = name.strip(), rhs.strip()
    if name not in space.names:
        raise SpaceError(_unknown(name, space.names))
    like = space[name]
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
            "type": "integer" if like.kind == INT else "real",
            "low": parse_number(name, parts[0]),
            "high": parse_number(name, parts[1]),
            "log": log,
        }
    else:
        items = [s.strip() for s in rhs.split(",")]
        choices: list[Any]
        if like.kind == TEXT:
            choices = items
        elif like.kind == FLAG:
            choices = [parse_flag(name, s) for s in items]
        else:
            choices = [parse_number(name, s) for s in items]
        spec = {"type": "categorical", "choices": choices}
    parse_dimension(name, spec, like=like)  # validate now, so the caller gets the error here
    return name, spec


def parse_flag(name: str, text: str) -> bool:
    low = text.lower()
    if low in ("true", "yes", "1"):
        return True
    if low in ("false", "no", "0"):
        return False
    raise SpaceError(f"{name}: {text!r} is not true or false")


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
    if isinstance(d, Integer):
        return f"{d.low}..{d.high} (whole" + (", log)" if d.log else ")")
    return "{" + ", ".join(str(c) for c in d.choices) + "}"


# --- the PPO state ---------------------------------------------------------------

REWARD_SCALE = 100.0  # rewards are ~0..100; divided so the state's entries are all O(1)


def state_vector(space: SearchSpace, config: Mapping[str, Value], prev_reward: float) -> np.ndarray:
    """The PPO state: each hyperparameter as its action in [-1, 1], and the previous reward
    scaled to about [-1, 1]; no raw scales mixed (SPEC §7)."""
    import numpy as np

    return np.append(space.to_action(config), np.float32(prev_reward / REWARD_SCALE)).astype(
        np.float32
    )
