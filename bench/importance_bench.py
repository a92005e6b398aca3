"""Which hyperparameters matter: the candidate methods where the true answer is known.

Two objectives, trials drawn as a search draws them (half uniform over the space, half
concentrated near the optimum), over many seeds:

- **synthetic**: six dimensions, f = 3·g(lr) + 1.5·h(activation) + 0.5·g'(β₁) + noise, the
  other three (a categorical, a linear real, a numeric categorical) without effect; lr is
  log-scaled, activation categorical. The function is additive, so each dimension's true
  first-order share of the variance over the space is its own term's variance (computed
  exactly), and the true order is lr > activation > β₁ > the rest (tied at 0).
- **surrogate**: the surrogate of real trainings (`bench/surrogate.py`): the validation
  accuracy after a 2-epoch step with early stopping, with measured noise, over the default
  space. Its truth: the first-order (Sobol) share of each dimension in the surrogate's own
  noise-free mean over the space (each dimension on a grid, the others averaged over 400
  uniform points). SGD's failures make the optimizer nearly all of it, so
- **surrogate-adam** holds the optimizer at Adam and ranks the other six.

Every method is fitted on the same trials: all of them, or above `FIT_MAX` (150) an even
sample of that many, as engine.importance fits its GP. Per method and trial count: how often
the top 3 come out in the true order, how often the first is right, the Spearman correlation
of the found shares with the true ones, and the share error: how far the shares shown are
from the true ones (half the sum of the absolute differences: 0 exact, 1 all on the wrong
dimensions), mean ± sd over seeds; and the CPU seconds one call takes at 2,000 trials.

    python -m bench.importance_bench [--seeds 20] [--trials 20 60 150 600] [--methods ...]
                                     [--objectives ...] [--quick]
    python -m bench.importance_bench --ui 2000 [--size 80x24]   # the UI's loop meanwhile
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine  # noqa: E402
from engine import importance as imp  # noqa: E402
from engine.space import Categorical, Real, SearchSpace, default_space  # noqa: E402

Method = Callable[[np.ndarray, np.ndarray, SearchSpace], np.ndarray]


# --- the candidates: (X in [-1, 1], y, space) -> weights per dimension ------------------------


def forest(x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.ensemble import RandomForestRegressor

    model = RandomForestRegressor(n_estimators=64, min_samples_leaf=2, random_state=0, n_jobs=1)
    return model.fit(x, y)


def rf_fanova(x: np.ndarray, y: np.ndarray, space: SearchSpace) -> np.ndarray:
    """A random forest (64 trees, leaves of 2 trials at least) split into first-order
    functional-ANOVA shares, the others uniform over the space (as engine.importance splits
    its GP)."""
    model = forest(x, y)
    return imp.marginal_variances(model.predict, imp.levels(space))


def rf_pd_trials(x: np.ndarray, y: np.ndarray, space: SearchSpace) -> np.ndarray:
    """As rf-fanova, the others averaged over the trials themselves (partial dependence)."""
    model = forest(x, y)
    rng = np.random.default_rng(imp.SEED)
    base = x[rng.choice(len(x), size=min(len(x), imp.BASE), replace=False)]
    out = np.zeros(x.shape[1])
    for i, v in enumerate(imp.levels(space)):
        block = np.repeat(base, len(v), axis=0)
        block[:, i] = np.tile(v, len(base))
        pred = model.predict(block).reshape(len(base), len(v))
        out[i] = np.var(pred.mean(axis=0))
    return out


def rf_impurity(x: np.ndarray, y: np.ndarray, space: SearchSpace) -> np.ndarray:
    return forest(x, y).feature_importances_


def rf_permutation(x: np.ndarray, y: np.ndarray, space: SearchSpace) -> np.ndarray:
    """Permutation importance of the forest on its own training trials (5 repeats)."""
    from sklearn.inspection import permutation_importance

    model = forest(x, y)
    r = permutation_importance(model, x, y, n_repeats=5, random_state=imp.SEED, n_jobs=1)
    return np.clip(r.importances_mean, 0.0, None)


def gp_ard(x: np.ndarray, y: np.ndarray, space: SearchSpace) -> np.ndarray:
    """1 / length scale of the same GP (its ARD Matern-5/2 kernel)."""
    return 1.0 / np.asarray(imp.gp(x, y).kernel_.k1.k2.length_scale, dtype=np.float64)


def gp_fanova(x: np.ndarray, y: np.ndarray, space: SearchSpace) -> np.ndarray:
    """The GP's posterior mean split into first-order functional-ANOVA shares, the others
    uniform over the space (engine.importance, the method chosen)."""
    return imp.marginal_variances(imp.gp(x, y).predict, imp.levels(space))


def optuna_fanova(x: np.ndarray, y: np.ndarray, space: SearchSpace) -> np.ndarray:
    """Optuna's own fANOVA evaluator (a reference: not a dependency of the project)."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists: dict[str, Any] = {}
    for d in space.dims:
        if isinstance(d, Categorical):
            dists[d.name] = CategoricalDistribution(list(range(len(d.choices))))
        else:
            dists[d.name] = FloatDistribution(-1.0, 1.0)
    study = optuna.create_study(direction="maximize")
    for row, v in zip(x, y, strict=True):
        params: dict[str, Any] = {}
        for d, u in zip(space.dims, row, strict=True):
            if isinstance(d, Categorical):
                params[d.name] = d.choices.index(d.from_unit(float(u)))
            else:
                params[d.name] = float(u)
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=v))
    ev = optuna.importance.FanovaImportanceEvaluator(seed=imp.SEED)
    got = optuna.importance.get_param_importances(study, evaluator=ev, normalize=False)
    return np.array([got.get(d.name, 0.0) for d in space.dims])


METHODS: dict[str, Method] = {
    "rf-fanova": rf_fanova,
    "rf-pd-trials": rf_pd_trials,
    "rf-impurity": rf_impurity,
    "rf-permutation": rf_permutation,
    "gp-ard": gp_ard,
    "gp-fanova": gp_fanova,
    "optuna-fanova": optuna_fanova,
}


# --- the objectives -----------------------------------------------------------------------------


def bump(u: np.ndarray | float, centre: float, width: float) -> Any:
    return np.exp(-(((np.asarray(u) - centre) / width) ** 2))


ACT_EFFECT = {"relu": 0.2, "tanh": 0.0, "gelu": 1.0, "silu": 0.6}
SYN_NOISE = 0.3


def synthetic_space() -> SearchSpace:
    return SearchSpace(
        (
            Categorical("units", (16, 32, 64, 128)),
            Real("lr", 1e-5, 1e-1, log=True),
            Real("dropout", 0.0, 0.6),
            Categorical("activation", tuple(ACT_EFFECT)),
            Real("β₁", 0.8, 0.999),
            Categorical("batch", (16, 32, 64, 128, 256)),
        )
    )


def synthetic_mean(space: SearchSpace, config: dict[str, Any]) -> float:
    u_lr = space["lr"].to_unit(config["lr"])
    u_b = space["β₁"].to_unit(config["β₁"])
    return float(
        3.0 * bump(u_lr, 0.3, 0.6)
        + 1.5 * ACT_EFFECT[config["activation"]]
        + 0.5 * bump(u_b, -0.2, 0.6)
    )


def synthetic_truth(space: SearchSpace) -> np.ndarray:
    """Each term's variance over the space (uniform): the true first-order shares."""
    u = np.linspace(-1.0, 1.0, 200_001)
    var = {
        "lr": float(np.var(3.0 * bump(u, 0.3, 0.6))),
        "activation": float(np.var([1.5 * v for v in ACT_EFFECT.values()])),
        "β₁": float(np.var(0.5 * bump(u, -0.2, 0.6))),
    }
    w = np.array([var.get(n, 0.0) for n in space.names])
    return w / w.sum()


def draw_trials(
    space: SearchSpace, optimum: dict[str, Any], n: int, rng: np.random.Generator
) -> list[dict[str, Any]]:
    """Half uniform over the space, half near `optimum` (each real a normal step of 0.25 in
    the encoding, each categorical the optimum's with probability 0.6): as a search's trials
    concentrate once it has found a good region."""
    out = []
    for i in range(n):
        if i < n // 2:
            out.append(space.sample(rng))
            continue
        cfg: dict[str, Any] = {}
        for d in space.dims:
            if isinstance(d, Categorical):
                take = rng.random() < 0.6
                cfg[d.name] = optimum[d.name] if take else d.choices[rng.integers(len(d.choices))]
            else:
                u = d.to_unit(optimum[d.name]) + rng.normal(0.0, 0.25)
                cfg[d.name] = d.from_unit(float(np.clip(u, -1.0, 1.0)))
        out.append(cfg)
    return out


class Objective:
    name: str
    space: SearchSpace
    truth: np.ndarray
    optimum: dict[str, Any]

    def observe(self, config: dict[str, Any], rng: np.random.Generator) -> float:
        raise NotImplementedError


class Synthetic(Objective):
    name = "synthetic"

    def __init__(self) -> None:
        self.space = synthetic_space()
        self.truth = synthetic_truth(self.space)
        self.optimum = {
            "units": 64,
            "lr": self.space["lr"].from_unit(0.3),
            "dropout": 0.3,
            "activation": "gelu",
            "β₁": self.space["β₁"].from_unit(-0.2),
            "batch": 64,
        }

    def observe(self, config: dict[str, Any], rng: np.random.Generator) -> float:
        return synthetic_mean(self.space, config) + float(rng.normal(0.0, SYN_NOISE))


_SURROGATE: list[Any] = []


class SurrogateObjective(Objective):
    """The surrogate over the default space; with `fixed`, those dimensions held at a value
    and left out of the space (`surrogate-adam`: Adam only, where SGD's failures, which
    dominate the whole space's variance, are out of the picture)."""

    def __init__(self, fixed: dict[str, Any] | None = None, base: int = 400, grid: int = 16):
        from bench.surrogate import Surrogate

        if not _SURROGATE:
            _SURROGATE.append(Surrogate())
        self.sur = _SURROGATE[0]
        self.fixed = dict(fixed or {})
        self.name = "surrogate" + "".join(f"-{v}" for v in self.fixed.values())
        full = default_space()
        self.space = SearchSpace(tuple(d for d in full.dims if d.name not in self.fixed))
        rng = np.random.default_rng(12345)
        pts = [self.space.sample(rng) for _ in range(base)]
        var = []
        for d in self.space.dims:
            values = (
                list(d.choices)
                if isinstance(d, Categorical)
                else [d.from_unit(a) for a in np.linspace(-1, 1, grid)]
            )
            means = [np.mean([self.true({**p, d.name: v}) for p in pts]) for v in values]
            var.append(float(np.var(means)))
        self.truth = np.array(var) / sum(var)
        cands = [self.space.sample(rng) for _ in range(3000)]
        self.optimum = max(cands, key=self.true)

    def true(self, config: dict[str, Any]) -> float:
        return self.sur.true_accuracy({**config, **self.fixed})

    def observe(self, config: dict[str, Any], rng: np.random.Generator) -> float:
        return self.sur.observe({**config, **self.fixed}, 2, True, rng)[0]


# --- scoring ------------------------------------------------------------------------------------


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    r = spearmanr(a, b)[0]
    return float(r) if math.isfinite(r) else 0.0


def order(w: np.ndarray) -> list[int]:
    return sorted(range(len(w)), key=lambda i: (-w[i], i))


def run(
    obj: Objective, methods: Sequence[str], trials: Sequence[int], seeds: int
) -> dict[tuple[str, int], dict[str, list[float]]]:
    true_top = order(obj.truth)[:3]
    res: dict[tuple[str, int], dict[str, list[float]]] = {}
    for n in trials:
        for seed in range(seeds):
            rng = np.random.default_rng(1000 * seed + n)
            configs = draw_trials(obj.space, obj.optimum, n, rng)
            rows = [{"config": c, "val_accuracy": obj.observe(c, rng)} for c in configs]
            rows = [rows[i] for i in imp.fit_sample(len(rows))]  # as engine.importance
            x = imp.encode(rows, obj.space)
            y = np.array([r["val_accuracy"] for r in rows])
            for m in methods:
                t0 = time.process_time()
                w = imp.normalised(METHODS[m](x, y, obj.space))
                cpu = time.process_time() - t0
                w = np.full(len(obj.truth), 1 / len(obj.truth)) if w is None else w
                r = res.setdefault((m, n), {"top3": [], "top1": [], "rho": [], "tv": [], "cpu": []})
                r["top3"].append(float(order(w)[:3] == true_top))
                r["top1"].append(float(order(w)[0] == true_top[0]))
                r["rho"].append(spearman(w, obj.truth))
                r["tv"].append(0.5 * float(np.abs(w - obj.truth).sum()))
                r["cpu"].append(cpu)
    return res


def cost_at(methods: Sequence[str], n: int = 2000) -> dict[str, float]:
    """CPU seconds of one call on `n` synthetic trials (each fitted on at most FIT_MAX of
    them, as engine.importance does), the encoding included."""
    obj = Synthetic()
    rng = np.random.default_rng(7)
    rows = [
        {"config": c, "val_accuracy": obj.observe(c, rng)}
        for c in draw_trials(obj.space, obj.optimum, n, rng)
    ]
    out = {}
    for m in methods:  # once first, unmeasured: the imports
        METHODS[m](
            imp.encode(rows[:20], obj.space),
            np.array([r["val_accuracy"] for r in rows[:20]]),
            obj.space,
        )
    for m in methods:
        t0 = time.process_time()
        pick = imp.fit_sample(len(rows))
        x = imp.encode([rows[i] for i in pick], obj.space)
        y = np.array([rows[i]["val_accuracy"] for i in pick])
        METHODS[m](x, y, obj.space)
        out[m] = time.process_time() - t0
    t0 = time.process_time()
    imp.importance(rows, obj.space)
    out["engine.importance"] = time.process_time() - t0
    return out


def mean_sd(xs: Sequence[float]) -> str:
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):.3f} ± {sd:.3f}"


def table(
    obj: Objective, res: dict[tuple[str, int], dict[str, list[float]]], seeds: int
) -> list[str]:
    names = obj.space.names
    truth = ", ".join(f"{names[i]} {obj.truth[i]:.3f}" for i in order(obj.truth))
    lines = [
        f"### {obj.name}: true shares {truth}",
        "",
        "| method | trials | top-3 in order | top-1 right | Spearman (mean ± sd) "
        "| share error (mean ± sd) | CPU s/call |",
        "|---|---|---|---|---|---|---|",
    ]
    for (m, n), r in res.items():
        lines.append(
            f"| {m} | {n} | {sum(r['top3']):.0f}/{seeds} | {sum(r['top1']):.0f}/{seeds} | "
            f"{mean_sd(r['rho'])} | {mean_sd(r['tv'])} | {statistics.mean(r['cpu']):.3f} |"
        )
    return lines


# --- the UI: the event loop while the pane computes in its thread -----------------------------


def fill_store(db: Path, n: int, seed: int = 0, run_id: int | None = None) -> int:
    """A running run over the default space with `n` finished search trials (the score
    decided by lr and dropout), written as the engine writes them."""
    from storage.store import Store

    space, rng = default_space(), np.random.default_rng(seed)
    s = Store(db)
    try:
        if run_id is None:
            run_id = s.create_run(
                status="running", phase="search", strategy="random", profile="quick", seed=1,
                workers=2, config={"strategy": "random"}, data_source="sample", device="cpu",
                precision="float32", planned_trials=10 * n, engine_pid=os.getpid(),
                heartbeat=time.time(), progress={"finished": n, "planned": 10 * n},
            )  # fmt: skip
            s.add_space_version(run_id, space.to_dict(), [], "initial", "engine")
        with s.conn:
            for _ in range(n):
                cfg = space.sample(rng)
                u = space.to_action(cfg)
                acc = 0.7 + 0.05 * float(bump(u[0], 0.2, 0.6)) - 0.02 * float(u[3])
                acc += float(rng.normal(0, 0.005))
                tid, _ = s.add_trial(
                    run_id, cfg, status="finished", phase="search", strategy="random",
                    space_version=1, val_accuracy=acc, score=60 * acc, seconds=1.0,
                )  # fmt: skip
    finally:
        s.close()
    return run_id


def ui_stall(n: int, size: tuple[int, int] = (160, 48)) -> dict[str, float]:
    """Open the pane on a run of `n` finished trials: seconds until its data is shown, and
    the event loop's longest gap meanwhile (a 5-ms timer's), against an idle second and 8
    trials coming in with the pane hidden; then while 8 more come in and it is computed
    again."""
    import asyncio
    import tempfile

    from hptui.app import HptuiApp
    from hptui.widgets.matters_pane import MattersPane

    async def until(pilot: Any, cond: Callable[[], bool]) -> None:
        for _ in range(1200):
            if cond():
                return
            await pilot.pause(0.05)
        raise TimeoutError

    async def go(db: Path, run_id: int) -> dict[str, float]:
        app = HptuiApp(str(db), run_id)
        async with app.run_test(size=size) as pilot:
            await until(pilot, lambda: app.first_paint_s is not None)
            await pilot.pause(1.0)
            gaps: list[float] = []
            last = [time.perf_counter()]

            def tick() -> None:
                now = time.perf_counter()
                gaps.append(now - last[0])
                last[0] = now

            app.set_interval(0.005, tick)
            await pilot.pause(1.0)
            out = {"idle_gap_ms": 1000 * max(gaps)}
            gaps.clear()
            fill_store(db, 8, seed=2, run_id=run_id)  # the pane hidden: the reads alone
            await pilot.pause(2.0)
            out["hidden_gap_ms"] = 1000 * max(gaps)
            gaps.clear()
            pane = app.query_one(MattersPane)
            t0 = time.perf_counter()
            await pilot.press("m")
            await until(pilot, lambda: pane.shows >= 1)
            out["first_s"] = time.perf_counter() - t0
            out["first_gap_ms"] = 1000 * max(gaps)
            fill_store(db, 8, seed=1, run_id=run_id)
            gaps.clear()
            await until(pilot, lambda: pane.shows >= 2)
            out["again_gap_ms"] = 1000 * max(gaps)
            return out

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ui.db"
        return asyncio.run(go(db, fill_store(db, n)))


OBJECTIVES: dict[str, Callable[[], Objective]] = {
    "synthetic": Synthetic,
    "surrogate": SurrogateObjective,
    "surrogate-adam": lambda: SurrogateObjective({"optimizer": "adam"}),
}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--trials", type=int, nargs="+", default=[20, 60, 150, 600])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument(
        "--objectives",
        nargs="+",
        default=list(OBJECTIVES),
        choices=list(OBJECTIVES),
    )
    ap.add_argument("--quick", action="store_true", help="a smoke run: 3 seeds, synthetic")
    ap.add_argument(
        "--ui",
        type=int,
        metavar="N",
        help="instead: the UI's event loop while the pane computes, on a run of N trials",
    )
    ap.add_argument("--size", default="160x48", help="with --ui: the terminal, WxH")
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.trials, args.objectives = 3, [20, 60], ["synthetic"]
    warnings.simplefilter("ignore")  # Optuna's notes on experimental arguments
    if args.ui:
        print(machine())
        w, h = (int(v) for v in args.size.split("x"))
        r = ui_stall(args.ui, (w, h))
        print(
            f"{args.ui} trials at {w}x{h}: shown {r['first_s']:.2f} s after the key; longest "
            f"loop gap: idle {r['idle_gap_ms']:.0f} ms, 8 trials in with the pane hidden "
            f"{r['hidden_gap_ms']:.0f} ms, the first computation (imports included) "
            f"{r['first_gap_ms']:.0f} ms, 8 trials in and computed again "
            f"{r['again_gap_ms']:.0f} ms"
        )
        print(machine())
        return 0
    methods = list(args.methods)
    try:
        import optuna  # noqa: F401
    except ImportError:
        methods = [m for m in methods if m != "optuna-fanova"]
    print(machine())
    t0 = time.perf_counter()
    for name in args.objectives:
        obj = OBJECTIVES[name]()
        res = run(obj, methods, args.trials, args.seeds)
        print("\n".join(table(obj, res, args.seeds)))
        print()
    cost = cost_at([m for m in methods if m != "optuna-fanova"])
    costs = ", ".join(f"{m} {s:.2f}" for m, s in cost.items())
    print(f"CPU seconds of one call at 2,000 trials (fitted on at most {imp.FIT_MAX}): {costs}")
    print(f"wall {time.perf_counter() - t0:.0f} s; {machine()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
