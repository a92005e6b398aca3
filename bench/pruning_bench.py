"""What learning-curve pruning buys, on the surrogate of real trainings (`bench/surrogate.py`).

Each method is an hptui strategy (random search with its epoch budget, Bayes) run through its
real ask/tell object, one trial at a time, with 3-epoch trials (the surrogate's curves have 3
epochs), under each pruner: none, median, asha (engine.pruners: the engine's own decisions,
from the curves of the trials before). A trial's per-epoch validation accuracy is the
surrogate's curve (model mean plus measured noise); a pruned trial reports its last epoch's
accuracy and the seconds of the epochs it ran, and costs those epochs.

Per method and pruner, over the seeds:
- `true acc`: the noise-free 3-epoch accuracy (`acc_e3` mean) of the configuration the run
  reports as best (the highest observed accuracy of a trial that ran all its epochs), at the
  same epoch budget;
- `epochs->T`, `sec->T`: epochs and training seconds until the reported best first has a true
  accuracy >= the target T (a high quantile of the true accuracy of random configurations),
  median over the seeds that reach it, and how many reach it;
- trials run, trials pruned, epochs spent.

    python -m bench.pruning_bench [--seeds 40] [--trials 20] [--methods random bayes]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.surrogate import Surrogate, encode, read_table  # noqa: E402
from engine.pruners import Curve, PrunerSettings, decide, decision_epochs  # noqa: E402
from engine.space import default_space  # noqa: E402
from engine.strategies.base import Outcome, Strategy  # noqa: E402
from engine.strategies.bayes import BayesSearch  # noqa: E402
from engine.strategies.random_search import RandomSearch  # noqa: E402
from storage.contract import PARAM_NAMES  # noqa: E402

EPOCHS = 3
PRUNERS = ("none", "median", "asha")


@dataclass
class RunResult:
    method: str
    pruner: str
    seed: int
    true_acc: float = math.nan
    epochs_to_target: float = math.inf
    seconds_to_target: float = math.inf
    trials: int = 0
    pruned: int = 0
    epochs: int = 0
    seconds: float = 0.0
    trace: list[tuple[int, float]] = field(default_factory=list)  # (epochs, true acc of best)


def make_strategy(method: str, trials: int, seed: int) -> Strategy:
    space = default_space()
    if method == "random":
        return RandomSearch(space, trials, EPOCHS, seed)
    if method == "bayes":
        return BayesSearch(
            space, trials, max(2, trials // 4), EPOCHS, seed, batch=1,
            initial=[space.default_config()],
        )  # fmt: skip
    raise ValueError(method)


def run_one(
    sur: Surrogate, method: str, pruner: str, seed: int, trials: int, target: float
) -> RunResult:
    rng = np.random.default_rng([seed, 7])
    strategy = make_strategy(method, trials, seed)
    settings = PrunerSettings(pruner)
    out = RunResult(method, pruner, seed)
    curves: dict[int, Curve] = {}
    best_obs, best_cfg = -1.0, None
    while not strategy.done():
        p = strategy.ask()
        if p is None:
            break
        _, seconds, curve = sur.observe(p.config, EPOCHS, False, rng)
        tid = len(curves)
        seen: dict[int, float] = {}
        curves[tid] = Curve("running", seen)
        stopped = None
        for e in range(1, EPOCHS + 1):
            seen[e] = curve[e - 1]
            if e in decision_epochs(settings, p.epochs) and decide(settings, tid, e, curves).prune:
                stopped = e
                break
        ran = stopped or EPOCHS
        if stopped:
            per_next = math.exp(sur.mean(p.config)["log_sec_next"])
            seconds -= (EPOCHS - ran) * per_next
        curves[tid] = Curve("pruned" if stopped else "finished", seen)
        acc = seen[ran]
        strategy.tell(p, Outcome(True, acc, seconds, pruned=bool(stopped), epochs_run=ran))
        out.trials += 1
        out.pruned += bool(stopped)
        out.epochs += ran
        out.seconds += seconds
        if not stopped and acc > best_obs:
            best_obs, best_cfg = acc, p.config
        if best_cfg is not None:
            true = sur.mean(best_cfg)["acc_e3"]
            out.trace.append((out.epochs, true))
            if true >= target and math.isinf(out.epochs_to_target):
                out.epochs_to_target, out.seconds_to_target = out.epochs, out.seconds
    out.true_acc = sur.mean(best_cfg)["acc_e3"] if best_cfg is not None else math.nan
    return out


def prefill(sur: Surrogate, configs: list[dict[str, Any]]) -> None:
    """Predict the surrogate's means for many configurations in one call per model (a forest
    predicts one row as slowly as hundreds), into its cache."""
    todo = {tuple(c[p] for p in PARAM_NAMES): c for c in configs}
    todo = {k: c for k, c in todo.items() if k not in sur._cache}
    if not todo:
        return
    x = np.array([encode(c) for c in todo.values()])
    preds = {t: m.predict(x) for t, m in sur.models.items()}
    for i, k in enumerate(todo):
        sur._cache[k] = {t: float(v[i]) for t, v in preds.items()}


def random_configs(seed: int, n: int) -> list[dict[str, Any]]:
    """The configurations RandomSearch draws for `seed` (one generator per draw)."""
    space = default_space()
    return [space.sample(np.random.default_rng([seed, i])) for i in range(n)]


def target_accuracy(sur: Surrogate, quantile: float, n: int = 2000) -> float:
    space, rng = default_space(), np.random.default_rng(12345)
    configs = [space.sample(rng) for _ in range(n)]
    prefill(sur, configs)
    return float(np.quantile([sur.mean(c)["acc_e3"] for c in configs], quantile))


def _ci(x: np.ndarray) -> float:
    return 1.96 * float(x.std(ddof=1)) / math.sqrt(len(x)) if len(x) > 1 else math.nan


def summarise(results: list[RunResult], target: float) -> str:
    lines = [
        f"target T = {target:.4f} (true 3-epoch accuracy)",
        f"{'method':<8}{'pruner':<8}{'true acc':>16}{'vs none':>17}{'reach T':>9}"
        f"{'epochs->T':>11}{'sec->T':>9}{'trials':>8}{'pruned':>8}{'epochs':>8}",
    ]
    by = {(r.method, r.pruner, r.seed): r for r in results}
    for method in dict.fromkeys(r.method for r in results):
        for pruner in PRUNERS:
            rs = [r for r in results if r.method == method and r.pruner == pruner]
            if not rs:
                continue
            acc = np.array([r.true_acc for r in rs])
            diff = np.array([r.true_acc - by[(method, "none", r.seed)].true_acc for r in rs])
            reach = [r for r in rs if not math.isinf(r.epochs_to_target)]
            ep = np.median([r.epochs_to_target for r in reach]) if reach else math.nan
            sec = np.median([r.seconds_to_target for r in reach]) if reach else math.nan
            lines.append(
                f"{method:<8}{pruner:<8}{acc.mean():>9.4f}±{_ci(acc):.4f}"
                f"{diff.mean():>+10.4f}±{_ci(diff):.4f}{len(reach):>5}/{len(rs):<3}"
                f"{ep:>11.1f}{sec:>9.0f}{np.mean([r.trials for r in rs]):>8.1f}"
                f"{np.mean([r.pruned for r in rs]):>8.1f}{np.mean([r.epochs for r in rs]):>8.1f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--trials", type=int, default=20, help="trials without pruning (x 3 epochs)")
    ap.add_argument("--methods", nargs="+", default=["random", "bayes"])
    ap.add_argument("--quantile", type=float, default=0.9, help="target: this quantile")
    args = ap.parse_args(argv)
    rows = read_table()
    sur = Surrogate(rows)
    target = target_accuracy(sur, args.quantile)
    print(
        f"surrogate: {sur.n_rows} design rows of bench/data/surrogate_trials.csv; "
        f"{args.seeds} seeds, budget {args.trials} x {EPOCHS} = {args.trials * EPOCHS} epochs",
        flush=True,
    )
    results = []
    start = time.perf_counter()
    for method in args.methods:
        for pruner in PRUNERS:
            for seed in range(args.seeds):
                if method == "random":  # pruning buys up to 3x the trials
                    prefill(sur, random_configs(seed, 3 * args.trials + 3))
                results.append(run_one(sur, method, pruner, seed, args.trials, target))
            print(f"  {method}/{pruner} done ({time.perf_counter() - start:.0f} s)", flush=True)
    print(summarise(results, target))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
