"""The real-training bench's core (bench/real_bench.py) on one seed with the tiny budget: real
engine and TPE runs on the digits objective, each choice judged on fresh trainings, the table,
and a resumed bench that reads its results file instead of training again."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench import real_bench as rb
from engine.objective import load_objective
from engine.profiles import PROFILES

METHODS = ["random", "tpe", "default"]


@pytest.mark.slow  # trains real models in two 2-worker pools: 10 s at load 2, 74 s at load 10
def test_real_bench_one_seed_tiny_budget(tmp_path: Path) -> None:
    objective = load_objective(rb.OBJECTIVE)
    space, default = objective.search_space(), objective.default_config()
    tiny = PROFILES["tiny"]
    truth = rb.Truth(tiny.final_epochs, n_eval=2, n_screen=1)
    results, lines = tmp_path / "runs.jsonl", []
    runs = rb.bench(METHODS, [1], "tiny", truth, results, log=lines.append)

    assert [(r.method, r.seed) for r in runs] == [(m, 1) for m in METHODS]
    assert len(lines) == 3 and all("true test" in line for line in lines)
    by = {r.method: r for r in runs}
    budget = tiny.search_trials * tiny.search_epochs + tiny.confirm_epochs("random")
    for method in ("random", "tpe"):  # the same search and confirmation epochs
        r = by[method]
        assert r.epochs == budget and r.trials == tiny.search_trials and r.failed == 0
        assert space.contains(r.chosen) and r.configs
        assert 0.0 <= r.chosen_val <= 1.0 and r.wall_s > 0
    assert by["random"].run_test is not None  # the engine's own final validation ran
    assert by["default"].chosen == default and by["default"].epochs == 0
    for r in runs:
        assert 0.0 <= r.true_test <= 1.0 and 0.0 <= r.true_val <= 1.0
        assert r.found_test >= r.true_test  # the chosen configuration is among those found
        assert r.true_test == truth.test(r.chosen)  # measured once, the same for every method

    text = rb.summary(runs, METHODS)
    header = text.splitlines()[0]
    for column in ("true test acc of the choice", "gain over default", "found - chosen"):
        assert column in header
    rows = {line.split("|")[1].strip(): line for line in text.splitlines()[2:5]}
    assert set(rows) == set(METHODS)
    gain = float(rows["random"].split("|")[5])
    expected = 100 * (by["random"].true_test - by["default"].true_test)
    assert math.isclose(gain, expected, abs_tol=0.01)
    assert "random - tpe" not in text  # one seed: no interval, no pairwise verdict

    # Resumed from the results file: nothing is trained again, the same numbers come back.
    again = rb.bench(METHODS, [1], "tiny", truth, results, log=pytest.fail)
    assert [(r.method, r.true_test, r.chosen) for r in again] == [
        (r.method, r.true_test, r.chosen) for r in runs
    ]
