"""The objective interface: what a user hands hptui to tune their own model.

An `Objective` declares a search space (name -> dimension, each with its default), the
metric and its direction, optionally pruning rules, and how to train, in one of two flavours:

- **Keras**: `build_model(params)` returns a compiled model and `load_data()` returns
  `(x_train, y_train), (x_val, y_val)[, (x_test, y_test)]`; hptui trains it
  (engine.keras_fit): progress, pruning, early stopping with best weights, mixed precision
  on a GPU, threads and GPU memory growth.
- **Plain**: `train(params, report)` trains any way it likes, calls `report(epoch, value)`
  after each epoch (the shape of Optuna's `trial.report`; pruning and the live plots work
  through it) and returns the final value. `report.epochs` is the budget the search gives
  this trial, `report.seed` its seed.

Score and reward work on the metric scaled to a utility (`Metric.utility`): for maximize,
u = (v - lo) / (hi - lo); for minimize, u = (hi - v) / (hi - lo), with `bounds = (lo, hi)`
(default (0, 1): an accuracy is its own utility). A loss or an unbounded metric declares
bounds that span what its configurations reach (lo the best it can be, hi what a poor
configuration gets): a point of utility is then a hundredth of that span, and the time term
of the reward keeps its meaning. Values past the bounds are kept (u below 0 or above 1).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.metric import MAXIMIZE, MINIMIZE, Metric
from engine.reward import parse_rules
from engine.rulecheck import check_rules
from engine.space import Config, SearchSpace, SpaceError
from storage.contract import BUILTIN_OBJECTIVE

# Objectives that ship with hptui, by name (`--objective digits`).
BUILTIN = {
    "imdb-lstm": "engine.objectives.imdb_lstm:objective",
    "digits": "engine.objectives.digits:objective",
}
DEFAULT_OBJECTIVE = BUILTIN_OBJECTIVE


class ObjectiveError(ValueError):
    """An objective that cannot be used; the message says what is wrong and where."""


class Pruned(Exception):
    """Raised by `report` when the search stops the trial after this epoch (its numbers so
    far are kept). A plain objective lets it propagate (or returns at once)."""


@dataclass
class Objective:
    """A model to tune; see the module's text. Give `train` (plain) or `build_model` and
    `load_data` (Keras)."""

    space: Mapping[str, Any]
    default: Mapping[str, Any] | None = None  # or a "default" in each dimension
    train: Callable[..., Any] | None = None
    build_model: Callable[..., Any] | None = None
    load_data: Callable[..., Any] | None = None
    metric: str = "val_accuracy"
    direction: str = MAXIMIZE
    bounds: tuple[float, float] | None = None  # default (0, 1)
    rules: Sequence[Mapping[str, Any]] = ()
    name: str = ""
    batch_size: int = 32  # Keras: when the space has no `batch_size`
    # A worker process trains at most this many trials, then a fresh one takes its place:
    # what an objective leaks (host or GPU memory, threads) goes with it. None: no limit.
    trials_per_worker: int | None = None
    source: str = field(default="", compare=False)  # where it was loaded from

    @property
    def flavour(self) -> str:
        return "plain" if self.train is not None else "keras"

    def metric_info(self) -> Metric:
        return Metric(self.metric, self.direction, tuple(self.bounds or (0.0, 1.0)))  # type: ignore[arg-type]

    def search_space(self) -> SearchSpace:
        """The declared space with the defaults in each dimension (checked by `check`)."""
        spec = {}
        for name, dim in self.space.items():
            if isinstance(dim, list | tuple):
                d = {"type": "categorical", "choices": list(dim)}
            elif isinstance(dim, Mapping):
                d = dict(dim)
            else:
                raise SpaceError(
                    f"{name}: a dimension is a dict ({{'type': 'real', 'low': ..., 'high': ...}}) "
                    f"or a list of choices, not {kind_of(dim)}"
                )
            if self.default is not None and name in self.default:
                d["default"] = self.default[name]
            spec[name] = d
        return SearchSpace.from_dict(spec)

    def default_config(self) -> Config:
        return self.search_space().default_config()


def check(obj: Any, where: str = "the objective") -> Objective:
    """`obj` as a usable Objective, or ObjectiveError naming the first problem."""
    if not isinstance(obj, Objective):
        raise ObjectiveError(
            f"{where} is {kind_of(obj)}, not an hptui Objective "
            "(define `objective = Objective(space=..., train=...)`)"
        )
    has_plain = obj.train is not None
    has_keras = obj.build_model is not None or obj.load_data is not None
    if has_plain == has_keras:
        raise ObjectiveError(
            f"{where}: give either train(params, report) or build_model(params) with "
            "load_data(), not both and not neither"
        )
    for attr in ("train",) if has_plain else ("build_model", "load_data"):
        fn = getattr(obj, attr)
        if fn is None:
            raise ObjectiveError(f"{where}: the Keras flavour needs {attr} as well")
        if not callable(fn):
            raise ObjectiveError(f"{where}: {attr} is {kind_of(fn)}, not a function")
    for attr, args in (("train", 2),) if has_plain else (("build_model", 1), ("load_data", 0)):
        takes = _cannot_take(getattr(obj, attr), args)
        if takes:
            shape = {"train": "(params, report)", "build_model": "(params)", "load_data": "()"}
            raise ObjectiveError(f"{where}: {attr} must take {shape[attr]}, not {takes}")
    if obj.direction not in (MAXIMIZE, MINIMIZE):
        raise ObjectiveError(f"{where}: direction must be 'maximize' or 'minimize'")
    if not isinstance(obj.metric, str) or not obj.metric.strip():
        raise ObjectiveError(f"{where}: metric must be a name, e.g. 'val_accuracy'")
    if obj.bounds is not None:
        ok = isinstance(obj.bounds, list | tuple) and len(obj.bounds) == 2
        if not ok or not all(isinstance(b, int | float) and math.isfinite(b) for b in obj.bounds):
            raise ObjectiveError(f"{where}: bounds must be two finite numbers (lo, hi)")
        if obj.bounds[0] >= obj.bounds[1]:
            raise ObjectiveError(f"{where}: bounds ({obj.bounds[0]}, {obj.bounds[1]}) are empty")
    if not isinstance(obj.space, Mapping) or not obj.space:
        raise ObjectiveError(f"{where}: space must be a dict of name -> dimension")
    if obj.default is not None:
        if not isinstance(obj.default, Mapping):
            raise ObjectiveError(f"{where}: default must be a dict of name -> value")
        unknown = [str(n) for n in obj.default if n not in obj.space]
        if unknown:
            raise ObjectiveError(f"{where}: default names {unknown[0]!r}, not in the space")
    try:
        space = obj.search_space()
    except SpaceError as exc:
        raise ObjectiveError(f"{where}: bad search space: {exc}") from None
    for d in space.dims:
        if d.default is None:
            raise ObjectiveError(
                f"{where}: no default for {d.name!r} (give default={{...}} or a 'default' "
                "in the dimension)"
            )
        if not d.contains(d.default):
            raise ObjectiveError(
                f"{where}: the default {d.name}={d.default!r} is outside the space"
            )
    try:
        check_rules(parse_rules(list(obj.rules), space.names), space)
    except SpaceError as exc:
        raise ObjectiveError(f"{where}: bad pruning rules: {exc}") from None
    if obj.trials_per_worker is not None and (
        not isinstance(obj.trials_per_worker, int) or obj.trials_per_worker < 1
    ):
        raise ObjectiveError(f"{where}: trials_per_worker must be a whole number >= 1")
    return obj


def _cannot_take(fn: Any, args: int) -> str:
    """The signature of `fn` where it cannot be called with `args` positional arguments;
    "" where it can (or its signature cannot be read, as for some builtins)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return ""
    try:
        sig.bind(*([None] * args))
    except TypeError:
        text = str(sig.replace(return_annotation=inspect.Signature.empty))
        return text if len(text) <= 80 else text[:77] + "...)"
    return ""


def kind_of(value: Any) -> str:
    """'a list', 'an int': the type of `value` with its article."""
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


# --- naming an objective: a built-in name, path/to/file.py[:attr] or module:attr -----------------


def resolve_spec(spec: str) -> str:
    """The spec as stored with a run: a file's path made absolute (the engine and workers
    run from anywhere)."""
    spec = spec.strip()
    if spec in BUILTIN:
        return spec
    path, attr = _split(spec)
    if path.endswith(".py") or Path(path).exists():
        return str(Path(path).expanduser().resolve()) + (f":{attr}" if attr else "")
    return spec


def _split(spec: str) -> tuple[str, str]:
    # A Windows-free world: the last ':' separates the attribute (if what follows is a name).
    head, sep, tail = spec.rpartition(":")
    if sep and tail.isidentifier():
        return head, tail
    return spec, ""


def objective_file(spec: str) -> tuple[Path, str] | None:
    """(file, attribute) when `spec` names a Python file; None for a module:attr or a
    built-in name (imported by name)."""
    path, attr = _split(BUILTIN.get(spec.strip(), spec.strip()))
    if path.endswith(".py") or "/" in path:
        return Path(path).expanduser(), attr or "objective"
    return None


# How many objective imports are under way in this process: hptui.search() refuses to start a
# run from a file hptui is importing (a call not under `if __name__ == "__main__":`), which
# would otherwise start a run from each worker that imports it.
_importing = 0


def importing() -> bool:
    """Whether this process is importing an objective's module now."""
    return _importing > 0


def load_objective(spec: str) -> Objective:
    """Import and check the objective `spec` names; ObjectiveError says what is wrong."""
    global _importing
    _importing += 1
    try:
        return _load(spec)
    finally:
        _importing -= 1


def _load(spec: str) -> Objective:
    if not isinstance(spec, str) or not spec.strip():
        raise ObjectiveError("--objective is empty: give a file.py, module:attr or a built-in name")
    spec = spec.strip()
    path, attr = _split(BUILTIN.get(spec, spec))
    attr = attr or "objective"
    named = objective_file(spec)
    if named is not None:
        file = named[0]
        if not file.is_file():
            raise ObjectiveError(f"objective file {path} does not exist")
        module = _import_file(file, spec)
    else:
        try:
            module = importlib.import_module(path)
        except ModuleNotFoundError as exc:
            if exc.name and path.startswith(exc.name):
                raise ObjectiveError(
                    f"objective {spec}: no module {path!r} (give path/to/file.py, module:attr "
                    f"or one of: {', '.join(BUILTIN)})"
                ) from None
            raise ObjectiveError(f"objective {spec} does not import: {_why(exc)}") from None
        except BaseException as exc:  # noqa: BLE001 -- user code may raise anything
            raise ObjectiveError(f"objective {spec} does not import: {_why(exc)}") from None
    if not hasattr(module, attr):
        raise ObjectiveError(
            f"objective {spec}: {path} defines no {attr!r} (define {attr} = Objective(...))"
        )
    obj = check(getattr(module, attr), f"objective {spec}")
    obj.source = spec
    return obj


def _import_file(file: Path, spec: str) -> Any:
    name = "hptui_objective_" + hashlib.sha1(str(file.resolve()).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    loader_spec = importlib.util.spec_from_file_location(name, file)
    if loader_spec is None or loader_spec.loader is None:
        raise ObjectiveError(f"objective {spec}: {file} cannot be imported as Python")
    module = importlib.util.module_from_spec(loader_spec)
    folder = str(file.resolve().parent)
    sys.path.insert(0, folder)  # its own helper modules import as they would when run
    sys.modules[name] = module
    try:
        loader_spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 -- user code may raise anything, SystemExit too
        sys.modules.pop(name, None)
        raise ObjectiveError(f"objective {spec} does not import: {_why(exc)}") from None
    finally:
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
    return module


def _why(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
