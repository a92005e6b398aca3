"""The surrogate bench's fast forest walk predicts what scikit-learn's forests predict."""

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

from bench.surrogate import StackedTrees


@pytest.mark.parametrize("kind", [RandomForestRegressor, ExtraTreesRegressor])
def test_stacked_trees_equal_the_forests(kind: type) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, (120, 5))
    forests = {
        "a": kind(n_estimators=12, min_samples_leaf=2, random_state=0).fit(x, np.sin(x[:, 0])),
        "b": kind(n_estimators=7, random_state=1).fit(x, x[:, 1] * x[:, 2]),
    }
    fast = StackedTrees(forests)
    probe = rng.uniform(-3, 3, (40, 5))
    for name, forest in forests.items():
        expected = forest.predict(probe)
        got = np.array([fast.predict(row)[name] for row in probe])
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_collection_plan_adds_default_repeats_and_a_design_around_the_default() -> None:
    import numpy as np

    from bench.collect_surrogate import LOCAL_ROW0, plan
    from engine.space import default_space

    space = default_space()
    base = plan(32, 2, 2, 0)
    jobs = plan(32, 2, 2, 0, local=16, local_radius=0.5, default_seeds=5)
    assert jobs[: len(base)] == base  # a collection grows: rows already there keep their place
    repeats = [(row, seed) for row, kind, seed, _ in jobs[len(base) :] if kind == "noise"]
    assert repeats == [(0, 3), (0, 4), (0, 5)]  # seeds 1 and 2 are the noise rows' own
    local = [j for j in jobs if j[1] == "local"]
    assert [j[0] for j in local] == list(range(LOCAL_ROW0, LOCAL_ROW0 + 16))
    centre = np.asarray(space.to_action(space.default_config()))
    for _, _, seed, cfg in local:
        assert seed == 0 and space.contains(cfg)
        # lr maps linearly in log10 onto the action: within the radius of the default's
        assert abs(space.to_action(cfg)[0] - centre[0]) <= 0.5 + 1e-6
    assert len({j[3]["lr"] for j in local}) == 16  # distinct points, not one repeated


def test_bench_results_file_resumes_and_skips_a_torn_line(tmp_path) -> None:
    from bench.surrogate_bench import append_result, load_results, one

    path = tmp_path / "runs.jsonl"
    job = ("random", "quick", 3, 2, "forest")
    done_job, result = one(job)
    assert done_job == job
    append_result(path, job, result)
    with path.open("a") as f:
        f.write('{"job": ["bayes", "quick", 3, 2, "fo')  # a run killed mid-write
    saved = load_results(path)
    assert list(saved) == [job]
    # Read back, it is the same run: a resumed bench tables what a fresh one would.
    assert saved[job] == one(job)[1][:-1] + (saved[job][-1],)  # all but the wall seconds


def test_optuna_gp_without_pytorch_says_what_to_install(monkeypatch) -> None:
    import sys

    from bench.surrogate_bench import one

    monkeypatch.setitem(sys.modules, "torch", None)  # as on a machine without PyTorch
    with pytest.raises(SystemExit, match=r"optuna-gp.*needs PyTorch \(pip install torch\)"):
        one(("optuna-gp", "quick", 0, 2, "forest"))


def test_bench_reports_what_a_run_found_beside_what_it_chose() -> None:
    from bench.surrogate_bench import CEILING, FOUND, SELECTIONS, one

    _, (_, _, truth, _, trials, _) = one(("random", "quick", 1, 2, "forest"))
    assert set(truth) == {*SELECTIONS, FOUND, CEILING}
    # Every rule chooses among the configurations the run trained: none beats the best of them,
    # and a stage of 3 candidates none of the best of the top 6 known without noise.
    assert all(truth[how] <= truth[FOUND] for how in SELECTIONS)
    assert truth["confirm 3x2"] <= truth[CEILING] <= truth[FOUND]
    assert trials > 1 and 0.5 < truth[FOUND] < 1.0
