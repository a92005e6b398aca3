"""The objective interface itself: the metric's utility scale, naming an objective (a file,
file:name, module:name, a built-in), spaces of any names and integer dimensions, finding an
Objective object by reference for `hptui.search`, the package's lazy names, and a real run
of a minimized objective."""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.objective import (
    BUILTIN,
    MAXIMIZE,
    MINIMIZE,
    Metric,
    Objective,
    ObjectiveError,
    check,
    load_objective,
    resolve_spec,
)
from hptui.api import objective_spec, search

REPO = Path(__file__).resolve().parent.parent

PLAIN = """
from hptui import Objective


def train(params, report):
    return {{"value": params["x"], "test": params["x"]}}


{name} = Objective(space={{"x": {{"type": "real", "low": 0, "high": 1, "default": 0.5}}}},
{pad}train=train)
"""


def write_objective(folder: Path, stem: str, name: str = "objective") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / f"{stem}.py"
    file.write_text(PLAIN.format(name=name, pad=" " * (len(name) + 13)))
    return file


# --- the metric -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "bounds", "values"),
    [
        (MAXIMIZE, (0.0, 1.0), [0.0, 0.25, 0.93, 1.0]),
        (MAXIMIZE, (0.5, 0.9), [0.5, 0.62, 0.9, 0.95, 0.2]),
        (MINIMIZE, (0.0, 2.3), [0.0, 0.21, 2.3, 5.0]),
        (MINIMIZE, (10.0, 100.0), [10.0, 42.5, 100.0, 3.0]),
    ],
)
def test_utility_and_value_round_trip(
    direction: str, bounds: tuple[float, float], values: list[float]
) -> None:
    m = Metric("m", direction, bounds)
    lo, hi = bounds
    best, worst = (hi, lo) if direction == MAXIMIZE else (lo, hi)
    assert m.utility(best) == pytest.approx(1.0) and m.utility(worst) == pytest.approx(0.0)
    for v in values:
        assert m.value(m.utility(v)) == pytest.approx(v, abs=1e-12)
    # better is a higher utility, whichever the direction; past the bounds is kept
    a, b = sorted(values[:2], reverse=direction == MINIMIZE)
    assert m.utility(b) >= m.utility(a)
    past = hi + (hi - lo) if direction == MAXIMIZE else lo - (hi - lo)
    assert m.utility(past) == pytest.approx(2.0)
    assert Metric.from_dict(json.loads(json.dumps(m.to_dict()))) == m


def test_the_default_metric_is_accuracy_on_its_own_scale() -> None:
    m = Metric.from_dict(None)
    assert (m.name, m.direction, m.bounds) == ("val_accuracy", MAXIMIZE, (0.0, 1.0))
    assert m.utility(0.87) == 0.87
    obj = Objective(space={"x": [1, 2]}, default={"x": 1}, train=lambda p, r: 0.0)
    assert obj.metric_info() == m


def test_a_minimize_objective_declares_its_bounds() -> None:
    obj = check(
        Objective(
            space={"x": {"type": "real", "low": 0, "high": 1, "default": 0.5}},
            train=lambda p, r: 1.0,
            metric="val_loss",
            direction=MINIMIZE,
            bounds=(0.1, 3.0),
        )
    )
    m = obj.metric_info()
    assert m.utility(0.1) == 1.0 and m.utility(3.0) == 0.0
    for bad in [(1.0, 1.0), (2.0, 1.0), (0.0, math.inf), (0.0,)]:
        with pytest.raises(ObjectiveError, match="bounds"):
            check(Objective(space=obj.space, train=obj.train, bounds=bad))  # type: ignore[arg-type]
    with pytest.raises(ObjectiveError, match="direction must be"):
        check(Objective(space=obj.space, train=obj.train, direction="lower"))


# --- naming an objective ----------------------------------------------------------------------


def test_load_by_path_and_path_attr(tmp_path: Path) -> None:
    file = write_objective(tmp_path / "a", "my_objective")
    obj = load_objective(str(file))
    assert obj.flavour == "plain" and obj.source == str(file)
    assert obj.default_config() == {"x": 0.5}
    other = write_objective(tmp_path / "b", "two", name="second")
    assert load_objective(f"{other}:second").source == f"{other}:second"
    with pytest.raises(ObjectiveError, match="defines no 'objective'"):
        load_objective(str(other))
    with pytest.raises(ObjectiveError, match="does not exist"):
        load_objective(str(tmp_path / "nope.py"))


def test_a_relative_path_is_stored_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_objective(tmp_path, "rel")
    monkeypatch.chdir(tmp_path)
    assert resolve_spec("rel.py") == str(tmp_path / "rel.py")
    assert resolve_spec("./rel.py:objective") == f"{tmp_path / 'rel.py'}:objective"
    assert resolve_spec("digits") == "digits"
    assert resolve_spec("some.module:objective") == "some.module:objective"


def test_load_by_module_attr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "objpkg_for_tests"
    write_objective(pkg, "models", name="mine")
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    obj = load_objective("objpkg_for_tests.models:mine")
    assert obj.source == "objpkg_for_tests.models:mine" and obj.flavour == "plain"
    with pytest.raises(ObjectiveError, match="no module 'objpkg_for_tests.nothing'"):
        load_objective("objpkg_for_tests.nothing:mine")
    with pytest.raises(ObjectiveError, match="defines no 'objective'"):
        load_objective("objpkg_for_tests.models")


@pytest.mark.parametrize("name", list(BUILTIN))
def test_load_built_in_names(name: str) -> None:
    obj = load_objective(name)
    assert obj.name == name and obj.source == name
    assert obj.flavour == ("plain" if name == "digits" else "keras")
    assert obj.search_space().contains(obj.default_config())


def test_an_empty_spec_is_refused() -> None:
    with pytest.raises(ObjectiveError, match="--objective is empty"):
        load_objective("  ")


# --- spaces -----------------------------------------------------------------------------------


def test_a_space_with_unicode_names_and_integer_dimensions() -> None:
    obj = check(
        Objective(
            space={
                "学习率": {"type": "real", "low": 1e-4, "high": 1e-1, "log": True},
                "層の数": {"type": "integer", "low": 1, "high": 4},
                "Größe": {"type": "integer", "low": 8, "high": 512, "log": True},
                "активация": ["relu", "tanh"],
                "batch": [16, 32, 64],
            },
            default={"学习率": 1e-3, "層の数": 2, "Größe": 64, "активация": "relu", "batch": 32},
            train=lambda params, report: 0.5,
        )
    )
    space = obj.search_space()
    assert space.names == ["学习率", "層の数", "Größe", "активация", "batch"]
    default = obj.default_config()
    assert default == {"学习率": 1e-3, "層の数": 2, "Größe": 64, "активация": "relu", "batch": 32}
    rng = np.random.default_rng(0)
    for _ in range(50):
        cfg = space.sample(rng)
        assert space.contains(cfg)
        assert isinstance(cfg["層の数"], int) and 1 <= cfg["層の数"] <= 4
        assert isinstance(cfg["Größe"], int) and 8 <= cfg["Größe"] <= 512
    # as the store keeps it: JSON, and back
    again = type(space).from_dict(json.loads(json.dumps(space.to_dict(), ensure_ascii=False)))
    assert again.names == space.names and again.default_config() == default


def test_an_integer_dimension_takes_whole_numbers_only() -> None:
    with pytest.raises(ObjectiveError, match="n: takes whole numbers; default 2.5 is not one"):
        check(
            Objective(
                space={"n": {"type": "integer", "low": 1, "high": 4}},
                default={"n": 2.5},
                train=lambda p, r: 0.0,
            )
        )


def test_a_default_for_a_name_not_in_the_space_is_refused() -> None:
    with pytest.raises(ObjectiveError, match="default names 'y', not in the space"):
        check(Objective(space={"x": [1, 2]}, default={"x": 1, "y": 2}, train=lambda p, r: 0))


# --- an Objective object by reference (hptui.search) ---------------------------------------


def import_file(file: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_an_objective_object_is_found_by_its_file_and_name(tmp_path: Path) -> None:
    file = write_objective(tmp_path, "found_by_file_for_tests", name="tuned")
    module = import_file(file, "found_by_file_for_tests")
    try:
        spec = objective_spec(module.tuned)
        assert spec == f"{file.resolve()}:tuned"
        assert load_objective(spec).default_config() == {"x": 0.5}
    finally:
        del sys.modules["found_by_file_for_tests"]


def test_an_objective_in_a_package_is_found_by_its_dotted_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "objpkg_by_ref"
    write_objective(pkg, "models")
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("objpkg_by_ref.models")
    assert objective_spec(module.objective) == "objpkg_by_ref.models:objective"


def test_a_script_run_as_a_module_is_found_by_its_dotted_name(tmp_path: Path) -> None:
    pkg = tmp_path / "objpkg_as_main"
    write_objective(pkg, "helpers")
    (pkg / "__init__.py").write_text("")
    (pkg / "script.py").write_text(
        "from .helpers import train\n"
        "from hptui import Objective\n"
        "objective = Objective(space={'x': [1, 2]}, default={'x': 1}, train=train)\n"
        "if __name__ == '__main__':\n"
        "    from hptui.api import objective_spec\n"
        "    print(objective_spec(objective))\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "objpkg_as_main.script"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "objpkg_as_main.script:objective"


def test_an_objective_bound_where_its_functions_are_not_is_found_in_the_caller(
    tmp_path: Path,
) -> None:
    module = import_file(write_objective(tmp_path, "fns_for_tests"), "fns_for_tests")
    try:
        here = Objective(space={"x": [1, 2]}, default={"x": 1}, train=module.train)
        globals()["HERE_FOR_TESTS"] = here  # bound in this test module, not the functions'
        assert objective_spec(here) == f"{__name__}:HERE_FOR_TESTS"  # a package module
    finally:
        globals().pop("HERE_FOR_TESTS", None)
        del sys.modules["fns_for_tests"]


def test_an_objective_made_inside_a_function_cannot_be_found() -> None:
    def train(params: dict, report: Any) -> float:
        return 0.0

    local = Objective(space={"x": [1, 2]}, default={"x": 1}, train=train)
    with pytest.raises(ObjectiveError, match="not bound to a top-level name") as exc:
        objective_spec(local)
    assert "\n" not in str(exc.value) and "path/to/file.py:name" in str(exc.value)
    with pytest.raises(ObjectiveError, match="give an Objective or a spec"):
        objective_spec(42)  # type: ignore[arg-type]


def test_a_loaded_objective_and_a_spec_string_keep_their_spec(tmp_path: Path) -> None:
    file = write_objective(tmp_path, "loaded_for_tests")
    assert objective_spec(load_objective(str(file))) == str(file)
    assert objective_spec("digits") == "digits"


def test_search_refuses_to_start_while_its_file_is_being_imported(tmp_path: Path) -> None:
    file = tmp_path / "unguarded.py"
    file.write_text(
        PLAIN.format(name="objective", pad=" " * 22) + "\nimport hptui\nhptui.search(objective)\n"
    )
    with pytest.raises(ObjectiveError, match='under `if __name__ == "__main__":`'):
        load_objective(str(file))
    assert not (tmp_path / "hptui.db").exists() and not Path("hptui.db").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "annealing"}, "strategy 'annealing' is not one of"),
        ({"profile": "huge"}, "profile 'huge' is not one of"),
        ({"workers": 0}, "workers must be"),
        ({"seed": -1}, "seed must be"),
        ({"pruner": "hyperband"}, "pruner 'hyperband' is not one of"),
        ({"trial_timeout": 0.5}, "trial_timeout must be"),
    ],
)
def test_search_checks_its_arguments_before_creating_a_run(
    tmp_path: Path, kwargs: dict, message: str
) -> None:
    db = tmp_path / "args.db"
    with pytest.raises(ValueError, match=message):
        search("digits", db=db, quiet=True, **kwargs)
    assert not db.exists()


# --- the package's names ------------------------------------------------------------------


def test_hptui_exports_objective_and_pruned_lazily() -> None:
    probe = textwrap.dedent(
        """
        import sys
        import hptui
        assert "engine.objective" not in sys.modules and "hptui.api" not in sys.modules
        from hptui import Objective, Pruned, ObjectiveError, search, SearchResult
        import engine.objective as eo
        assert Objective is eo.Objective and Pruned is eo.Pruned
        assert ObjectiveError is eo.ObjectiveError
        assert search.__module__ == "hptui.api" and SearchResult.__module__ == "hptui.api"
        assert not any(m in sys.modules for m in ("tensorflow", "textual", "skopt", "sklearn"))
        try:
            hptui.nothing_here
        except AttributeError as exc:
            assert "nothing_here" in str(exc)
        else:
            raise AssertionError("no AttributeError")
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


# --- a real run of a minimized objective -----------------------------------------------------

LOSS = """
import time

from hptui import Objective


def train(params, report):
    # a loss, lowest (0.05) at x = 0.3; also reported per epoch
    loss = 0.05 + (params["x"] - 0.3) ** 2 + 0.01 * params["n"]
    for epoch in range(1, report.epochs + 1):
        report(epoch, loss + 0.1 / epoch)
    return {"value": loss, "test": loss + 0.02} if report.final else loss


loss_objective = Objective(
    space={
        "x": {"type": "real", "low": 0.0, "high": 1.0, "default": 0.9},
        "n": {"type": "integer", "low": 0, "high": 3, "default": 3},
    },
    train=train,
    metric="val_loss",
    direction="minimize",
    bounds=(0.0, 1.0),
)
"""


def test_a_minimize_run_ranks_the_lowest_loss_best(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.faults.conftest import query

    monkeypatch.setenv("HPTUI_CACHE_DIR", str(tmp_path / "cache"))
    file = tmp_path / "loss_objective_for_tests.py"
    file.write_text(LOSS)
    module = import_file(file, "loss_objective_for_tests")
    db = tmp_path / "loss.db"
    try:
        result = search(
            module.loss_objective, strategy="random", profile="tiny", db=db, seed=3, quiet=True
        )
    finally:
        del sys.modules["loss_objective_for_tests"]
    assert result.ok and result.error is None, result
    assert (result.metric, result.direction, result.db) == ("val_loss", "minimize", str(db))
    rows = query(
        db,
        "SELECT config, val_accuracy FROM trials WHERE phase = 'search' AND status = 'finished'",
    )
    assert len(rows) == 4

    def loss(cfg: dict) -> float:
        return 0.05 + (cfg["x"] - 0.3) ** 2 + 0.01 * cfg["n"]

    for c, u in rows:  # stored on the utility scale: 1 - loss for bounds (0, 1)
        assert u == pytest.approx(1.0 - loss(json.loads(c)))
    # the candidates: the search's trials and the default (the confirmation stage's)
    candidates = [json.loads(c) for c, _ in rows] + [{"x": 0.9, "n": 3}]
    lowest = min(candidates, key=loss)
    assert loss(lowest) < max(loss(c) for c in candidates)  # the ranking is not a tie
    assert result.best_config == lowest
    assert result.best_value == pytest.approx(loss(lowest))
    ((config,),) = query(db, "SELECT config FROM runs")
    assert json.loads(config)["objective"] == f"{file.resolve()}:loss_objective"
