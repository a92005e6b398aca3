"""A real-training bench: the search strategies on the digits objective
(engine/objectives/digits.py), every trial a real training, no surrogate.

Methods, at the profile's equal budget (quick: 80 search epochs, then the confirmation stage's
16; each trial 2 epochs):

- `bayes-ppo`, `bayes`, `random`: the real engine (`create_run` + `Engine(...).run()`, 2
  worker processes, headless, in this process): search, confirmation stage, final validation.
  The configuration a run chose is the engine's choice after its confirmation stage
  (engine.choice.choose over the run's trials, as its final validation took it).
- `tpe`: Optuna's TPE (ask/tell, constant liar) on the engine's own 2-worker pool and trial
  path (LocalPoolExecutor, the objective's `train` in worker processes), `search_trials` x
  `search_epochs` like the engine's single-stage strategies; then the engine's confirmation
  stage (engine.strategies.confirm.Confirmation: the same candidates rule, repeats, epochs and
  seed keys) and the engine's choice. The same epochs as the others; no final validation (it
  judges nothing here: see below).
- `default`: no search; the default configuration.

Every method is judged the same way, in this process, after its run: the TRUE test accuracy
of the configuration it chose, which is that configuration's mean test accuracy over
`--eval-seeds` fresh trainings at the final fidelity (the profile's `final_epochs`; seeds no
search, confirmation or final trial uses). One training's test accuracy varies by a point or
two between seeds, so the runs' own final validation (3 trainings, printed beside it for the
engine's strategies) is a noisier estimate of the same number.

"Found": the best configuration a run trained, by the same measure: every configuration of its
search is screened with `--screen-seeds` fresh trainings, the top 3 by screened test accuracy
are measured on the evaluation seeds, and found is the best of those and the chosen one. The
found-vs-chosen gap is what the choice lost of what the search found.

    python -m bench.real_bench [--seeds 20] [--methods bayes-ppo bayes random tpe default]
                               [--results runs.jsonl]
    python -m bench.real_bench --headroom 1000        # the objective's headroom, no search
    python -m bench.real_bench --quick                # a smoke run: tiny budget, 1 seed

With `--results` each finished run (its choice and evaluation) is appended to a JSON-lines
file, and a later invocation with the same file runs only what is missing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

# One BLAS thread in this process: its evaluations run beside the engine's 2 workers.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Light imports only: spawned workers re-import this module as __mp_main__.
from bench._common import load, machine, table  # noqa: E402

METHODS = ("bayes-ppo", "bayes", "random", "tpe", "default")
ENGINE_METHODS = ("bayes-ppo", "bayes", "random")
OBJECTIVE = "digits"
EVAL_SEED0 = 900_000  # evaluation seeds: EVAL_SEED0 + i (no trial seed of a run is that small
# and round: trial seeds are CRC32 hashes, engine.setup.trial_seed)
SCREEN_SEED0 = 800_000
FOUND_TOP = 3


# --- measuring a configuration: the objective's own train(), in this process ------------------


class _Report:
    """What the objective's train(params, report) gets, without a worker: it only counts."""

    def __init__(self, epochs: int, seed: int) -> None:
        self.epochs, self.seed, self.final, self.trial = epochs, seed, True, 0

    def __call__(self, epoch: int, value: float, **metrics: float) -> None:
        pass


@cache
def _train() -> Any:
    from engine.objective import load_objective

    train = load_objective(OBJECTIVE).train
    assert train is not None
    return train


def measure(config: Mapping[str, Any], seed: int, epochs: int) -> tuple[float, float, float]:
    """(validation accuracy, test accuracy, seconds) of one training."""
    t0 = time.perf_counter()
    out = _train()(dict(config), _Report(epochs, seed))
    return float(out["value"]), float(out["test"]), time.perf_counter() - t0


def config_key(config: Mapping[str, Any]) -> str:
    return json.dumps(dict(config), sort_keys=True)


class Truth:
    """A configuration's true accuracy: the mean over fresh trainings (validation and test),
    cached by configuration."""

    def __init__(self, epochs: int, n_eval: int, n_screen: int) -> None:
        self.epochs = epochs
        self.eval_seeds = [EVAL_SEED0 + i for i in range(n_eval)]
        self.screen_seeds = [SCREEN_SEED0 + i for i in range(n_screen)]
        self._cache: dict[tuple[str, str], tuple[float, float, float]] = {}
        self.trainings = 0

    def _mean(self, config: Mapping[str, Any], seeds: Sequence[int], kind: str) -> tuple:
        key = (kind, config_key(config))
        if key not in self._cache:
            runs = [measure(config, s, self.epochs) for s in seeds]
            self.trainings += len(runs)
            self._cache[key] = tuple(statistics.fmean(r[i] for r in runs) for i in range(3))
        return self._cache[key]

    def test(self, config: Mapping[str, Any]) -> float:
        return self._mean(config, self.eval_seeds, "eval")[1]

    def val(self, config: Mapping[str, Any]) -> float:
        return self._mean(config, self.eval_seeds, "eval")[0]

    def found(self, configs: Sequence[Mapping[str, Any]], chosen: Mapping[str, Any]) -> float:
        """The best true test accuracy among a run's configurations (screened, then the top
        measured on the evaluation seeds; the chosen one counts too)."""
        unique = list({config_key(c): c for c in configs}.values())
        screened = sorted(unique, key=lambda c: -self._mean(c, self.screen_seeds, "screen")[1])
        return max(self.test(c) for c in [*screened[:FOUND_TOP], chosen])


# --- one run of a method --------------------------------------------------------------------------


@dataclass
class Run:
    method: str
    seed: int
    chosen: dict[str, Any]
    configs: list[dict[str, Any]]  # every configuration the search trained (finished)
    epochs: int  # search and confirmation epochs trained
    trials: int
    failed: int
    chosen_val: float  # the run's own mean validation measurement of its choice
    wall_s: float
    run_test: float | None = None  # the run's final validation (engine strategies)
    load: str = ""
    # filled in by `evaluate`
    true_test: float = math.nan
    true_val: float = math.nan
    found_test: float = math.nan
    extra: dict[str, Any] = field(default_factory=dict)


def run_engine(method: str, seed: int, profile: str, tmp: Path) -> Run:
    """One run of the real engine on the objective (headless, in this process)."""
    from engine.choice import choose, run_default
    from engine.config import RunConfig
    from engine.runner import Engine
    from engine.setup import create_run
    from storage.contract import FINAL_PHASE, FINISHED, is_search_phase
    from storage.store import Store

    db = tmp / f"{method}-{seed}.db"
    store = Store(db)
    cfg = RunConfig(
        strategy=method, profile=profile, objective=OBJECTIVE, workers=2, threads=1, seed=seed
    )
    run_id = create_run(store, cfg)
    store.close()
    t0 = time.perf_counter()
    status = Engine(db, run_id).run()
    wall = time.perf_counter() - t0
    store = Store(db)
    try:
        run = store.run(run_id)
        every = store.trials(run_id)
        default = run_default(store, run_id)
    finally:
        store.close()
    assert run is not None and status == FINISHED, (status, run and run.get("error"))
    choice = choose((t for t in every if t["phase"] != FINAL_PHASE), default)
    assert choice is not None
    search = [t for t in every if is_search_phase(t["phase"])]
    measured = [t for t in every if t["phase"] != FINAL_PHASE]
    final = run.get("final") or {}
    return Run(
        method=method,
        seed=seed,
        chosen=choice.best.config,
        configs=[t["config"] for t in search if t["status"] == FINISHED],
        epochs=sum(t["epochs_run"] or 0 for t in measured),
        trials=len(search),
        failed=sum(t["status"] != FINISHED for t in search),
        chosen_val=choice.best.accuracy,
        wall_s=wall,
        # the default chosen: final validation trained it alone
        run_test=final.get("best_test_accuracy", final.get("default_test_accuracy")),
    )


def _drive(pool: Any, next_task: Any, on_done: Any) -> None:
    """Submit `next_task()` to every free slot until it returns None; `on_done(task, msg)`
    for each result or failure, until nothing runs."""
    running: dict[int, Any] = {}
    exhausted = False
    while not exhausted or running:
        for slot in pool.free_slots():
            if exhausted:
                break
            task = next_task()
            if task is None:
                exhausted = True
                break
            pool.submit(slot, task)
            running[task.trial_id] = task
        for msg in pool.poll(0.2):
            if msg.get("trial_id") in running and msg["kind"] in ("result", "failed"):
                on_done(running.pop(msg["trial_id"]), msg)


def run_tpe(seed: int, profile_name: str, tmp: Path) -> Run:
    """Optuna's TPE on the engine's 2-worker pool, then the engine's confirmation stage and
    choice on the same pool."""
    import optuna

    from bench._common import optuna_suggest
    from engine.choice import candidates, choose
    from engine.executor import LocalPoolExecutor, WorkerSettings
    from engine.objective import load_objective
    from engine.profiles import PROFILES
    from engine.setup import trial_seed
    from engine.strategies.confirm import Confirmation
    from engine.trainer import TrialTask
    from storage.contract import CONFIRM_PHASE, FINISHED, SEARCH_PHASE

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    profile = PROFILES[profile_name]
    objective = load_objective(OBJECTIVE)
    space, default = objective.search_space(), objective.default_config()
    t0 = time.perf_counter()
    settings = WorkerSettings(None, 1, None, str(tmp / f"tpe-{seed}.log"), objective=OBJECTIVE)
    pool = LocalPoolExecutor(2, settings)
    pool.start()
    sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)  # 2 trials in flight
    study = optuna.create_study(direction="maximize", sampler=sampler)
    trials: list[dict[str, Any]] = []  # as the store holds them, for engine.choice
    pending: dict[int, Any] = {}  # trial id -> (optuna trial or proposal, phase)
    n, epochs = profile.search_trials, profile.search_epochs

    def record(task: Any, msg: dict[str, Any], phase: str) -> None:
        res = msg.get("result") or {}
        ok = msg["kind"] == "result"
        trials.append(
            {"number": task.trial_id, "config": task.config, "phase": phase,
             "status": FINISHED if ok else "failed", "val_accuracy": res.get("val_accuracy"),
             "seconds": res.get("seconds"), "penalty": 0.0, "max_epochs": task.epochs,
             "epochs_run": res.get("epochs_run") or 0}
        )  # fmt: skip

    def next_search() -> Any:
        if len(pending) + len(trials) >= n:
            return None
        trial = study.ask()
        number = len(trials) + len(pending) + 1
        task = TrialTask(
            number, optuna_suggest(trial, space), epochs, seed=trial_seed(seed, f"tpe{number}")
        )
        pending[number] = trial
        return task

    def search_done(task: Any, msg: dict[str, Any]) -> None:
        trial = pending.pop(task.trial_id)
        record(task, msg, SEARCH_PHASE)
        # like the engine's Bayes: a failed trial scores accuracy 0
        value = msg["result"]["val_accuracy"] if msg["kind"] == "result" else 0.0
        study.tell(trial, value)

    try:
        _drive(pool, next_search, search_done)
        top = candidates(trials, profile.confirm_candidates, default)
        stage = Confirmation(
            space, top, default, epochs, profile.confirm_repeats, keep=profile.confirm_keep,
            measured=trials,
        )  # fmt: skip

        def next_confirm() -> Any:
            p = stage.ask()
            if p is None:
                return None
            number = len(trials) + len(pending) + 1
            pending[number] = p
            # the engine's seed for this proposal key in a run of this seed
            return TrialTask(number, p.config, p.epochs, seed=trial_seed(seed, p.key))

        def confirm_done(task: Any, msg: dict[str, Any]) -> None:
            pending.pop(task.trial_id)
            record(task, msg, CONFIRM_PHASE)

        if profile.confirm_candidates > 0 and profile.confirm_repeats > 0:
            _drive(pool, next_confirm, confirm_done)
    finally:
        pool.shutdown()
    choice = choose(trials, default)
    assert choice is not None
    search = [t for t in trials if t["phase"] == SEARCH_PHASE]
    return Run(
        method="tpe",
        seed=seed,
        chosen=choice.best.config,
        configs=[t["config"] for t in search if t["status"] == FINISHED],
        epochs=sum(t["epochs_run"] for t in trials),
        trials=len(search),
        failed=sum(t["status"] != FINISHED for t in search),
        chosen_val=choice.best.accuracy,
        wall_s=time.perf_counter() - t0,
    )


def run_default(seed: int) -> Run:
    from engine.objective import load_objective

    default = load_objective(OBJECTIVE).default_config()
    return Run("default", seed, default, [default], 0, 0, 0, math.nan, 0.0)


def run_one(method: str, seed: int, profile: str, tmp: Path) -> Run:
    if method in ENGINE_METHODS:
        return run_engine(method, seed, profile, tmp)
    if method == "tpe":
        return run_tpe(seed, profile, tmp)
    if method == "default":
        return run_default(seed)
    raise SystemExit(f"unknown method {method!r} (known: {', '.join(METHODS)})")


def evaluate(run: Run, truth: Truth) -> Run:
    """The run's choice and findings measured on fresh trainings (the same for every method)."""
    t0 = time.perf_counter()
    run.true_test = truth.test(run.chosen)
    run.true_val = truth.val(run.chosen)
    run.found_test = truth.found(run.configs, run.chosen)
    run.extra["eval_s"] = time.perf_counter() - t0
    run.load = load()
    return run


# --- the summary ----------------------------------------------------------------------------------


def interval(xs: Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of the 95 % t-interval (NaN under 2 values)."""
    from engine.final import paired_interval

    h = paired_interval(list(xs))
    return statistics.fmean(xs), math.nan if h is None else h


def points(m: float, h: float) -> str:
    return f"{100 * m:+.2f} ± {100 * h:.2f}" if not math.isnan(h) else f"{100 * m:+.2f}"


def summary(runs: Sequence[Run], methods: Sequence[str]) -> str:
    """The bench's table, the pairwise differences, and which of them are separated."""
    from engine.objective import load_objective

    default_config = config_key(load_objective(OBJECTIVE).default_config())
    by = {m: {r.seed: r for r in runs if r.method == m} for m in methods}
    default = by.get("default", {})
    rows = []
    for m in methods:
        rs = list(by[m].values())
        if not rs:
            continue
        acc, acc_h = interval([r.true_test for r in rs])
        common = sorted(s for s in by[m] if s in default)
        gain = (
            points(*interval([by[m][s].true_test - default[s].true_test for s in common]))
            if common and m != "default"
            else ""
        )
        gap = points(*interval([r.found_test - r.true_test for r in rs]))
        own = [r.run_test for r in rs if r.run_test is not None]
        rows.append(
            [
                m,
                len(rs),
                f"{statistics.fmean(r.epochs for r in rs):.0f}",
                f"{acc:.4f} ± {acc_h:.4f}" if acc_h > 0 else f"{acc:.4f}",
                gain,
                sum(config_key(r.chosen) == default_config for r in rs),
                f"{statistics.fmean(r.found_test for r in rs):.4f}",
                gap if m != "default" else "",
                f"{statistics.fmean(own):.4f}" if own else "",
                f"{statistics.fmean(r.wall_s for r in rs):.1f}",
            ]
        )
    out = [
        table(
            [
                "method",
                "runs",
                "epochs/run",
                "true test acc of the choice (95 % CI)",
                "gain over default (points, paired)",
                "chose the default",
                "found (true test)",
                "found - chosen (points)",
                "run's own final test",
                "wall s/run",
            ],
            rows,
        )
    ]
    pairs = []
    searched = [m for m in methods if by[m] and m != "default"]
    for i, a in enumerate(searched):
        for b in searched[i + 1 :]:
            common = sorted(set(by[a]) & set(by[b]))
            if len(common) < 2:
                continue
            m, h = interval([by[a][s].true_test - by[b][s].true_test for s in common])
            verdict = "separated" if abs(m) > h else "not separated"
            pairs.append(f"  {a} - {b}: {points(m, h)} points ({len(common)} seeds, {verdict})")
    if pairs:
        out.append("\npaired by seed, true test accuracy (95 % CI):")
        out.extend(pairs)
    return "\n".join(out)


def load_results(path: Path | None) -> dict[tuple[str, int], Run]:
    done: dict[tuple[str, int], Run] = {}
    if path is None or not path.exists():
        return done
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line
        done[row["method"], row["seed"]] = Run(**row)
    return done


def append_result(path: Path | None, run: Run) -> None:
    if path is not None:
        with path.open("a") as f:
            f.write(json.dumps(asdict(run)) + "\n")


def bench(
    methods: Sequence[str],
    seeds: Sequence[int],
    profile: str,
    truth: Truth,
    results: Path | None = None,
    log: Any = print,
) -> list[Run]:
    """Run every (seed, method) not in `results` (methods interleaved within a seed: the load
    hits all alike), evaluate its choice, and return all of them."""
    done = load_results(results)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="hptui-real-bench-") as d:
        for seed in seeds:
            for method in methods:
                run = done.get((method, seed))
                if run is None:
                    run = evaluate(run_one(method, seed, profile, Path(d)), truth)
                    append_result(results, run)
                    log(
                        f"{method:9s} seed {seed}: {run.trials} trials ({run.failed} failed), "
                        f"{run.epochs} epochs, chosen val {run.chosen_val:.4f}, true test "
                        f"{run.true_test:.4f} (found {run.found_test:.4f}), run {run.wall_s:.1f} s"
                        f" + evaluation {run.extra['eval_s']:.1f} s; load {run.load}; "
                        f"chosen {run.chosen}"
                    )
                runs.append(run)
    return runs


# --- headroom: the objective alone --------------------------------------------------------------


def headroom(n: int, epochs: int, n_default: int, top: int, default: dict[str, Any]) -> str:
    """The default configuration against `n` uniform configurations of the space at `epochs`:
    the default's mean and noise over `n_default` seeds; the share of the space it beats (one
    training each); the best of the `n` by repeated measurements: the `top` best single
    trainings measured under 5 more seeds, the best 5 of those under `n_default` fresh
    seeds (no selection on those), the best of them by its 5-seed validation mean."""
    import numpy as np

    from engine.objective import load_objective

    space = load_objective(OBJECTIVE).search_space()
    t_start = time.perf_counter()
    measure(default, 0, 1)  # imports and the data set's first load: not in the timings
    dv = [measure(default, EVAL_SEED0 + i, epochs) for i in range(n_default)]
    d_val = statistics.fmean(r[0] for r in dv)
    d_test = statistics.fmean(r[1] for r in dv)
    rng = np.random.default_rng(0)
    configs = [space.sample(rng) for _ in range(n)]
    single = [measure(c, 1 + i, epochs) for i, c in enumerate(configs)]
    vals = np.array([r[0] for r in single])
    secs = np.array([r[2] for r in single])
    order = np.argsort(-vals)[:top]
    five = {
        int(i): statistics.fmean(measure(configs[i], 100_000 + k, epochs)[0] for k in range(5))
        for i in order
    }
    best5 = sorted(five, key=lambda i: -five[i])[:5]
    fresh = {
        i: [measure(configs[i], EVAL_SEED0 + 1_000 + k, epochs) for k in range(n_default)]
        for i in best5
    }
    b = best5[0]
    b_val = statistics.fmean(r[0] for r in fresh[b])
    b_test = statistics.fmean(r[1] for r in fresh[b])
    top5_test = max(statistics.fmean(r[1] for r in fresh[i]) for i in best5)
    d_val_sd = statistics.stdev(r[0] for r in dv)
    d_test_sd = statistics.stdev(r[1] for r in dv)
    d_sec = statistics.fmean(r[2] for r in dv)
    return "\n".join(
        [
            f"default {default}",
            f"  {n_default} seeds at {epochs} epochs: val {d_val:.4f} (sd {d_val_sd:.4f}), "
            f"test {d_test:.4f} (sd {d_test_sd:.4f}), {d_sec:.3f} s a training",
            f"  better than {100 * np.mean(vals < d_val):.0f} % of {n} uniform configurations "
            f"(one training each; median val {np.median(vals):.4f}, 90th percentile "
            f"{np.quantile(vals, 0.9):.4f}, 99th {np.quantile(vals, 0.99):.4f})",
            f"  best of {n} uniform (top {top} single -> 5 seeds -> best 5 on {n_default} fresh "
            f"seeds): {configs[b]}",
            f"    val {b_val:.4f} ({100 * (b_val - d_val):+.2f} points over the default), test "
            f"{b_test:.4f} ({100 * (b_test - d_test):+.2f} points); best test of those 5: "
            f"{top5_test:.4f}",
            f"  seconds per trial (uniform, {epochs} epochs, this process): mean "
            f"{secs.mean():.3f}, median {np.median(secs):.3f}, 99th percentile "
            f"{np.quantile(secs, 0.99):.3f}, max {secs.max():.3f}",
            f"  {time.perf_counter() - t_start:.0f} s; load average {load()}",
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--eval-seeds", type=int, default=20, help="trainings per true accuracy")
    ap.add_argument("--screen-seeds", type=int, default=3, help="trainings per screening")
    ap.add_argument("--results", type=Path, help="JSON-lines file: appended to, resumed from")
    ap.add_argument(
        "--headroom", type=int, metavar="N", help="measure the headroom over N uniform points"
    )
    ap.add_argument(
        "--quick", action="store_true", help="a smoke run: tiny profile (unequal budgets), 1 seed"
    )
    ap.add_argument(
        "--default",
        type=json.loads,
        default={},
        help="headroom: JSON settings over the objective's default, measured in its place",
    )
    args = ap.parse_args()
    if args.quick:
        args.profile, args.seeds, args.eval_seeds, args.screen_seeds = "tiny", 1, 2, 1
    from engine.objective import load_objective
    from engine.profiles import PROFILES

    profile = PROFILES[args.profile]
    print(f"machine: {machine()}", flush=True)
    if args.headroom:
        default = {**load_objective(OBJECTIVE).default_config(), **args.default}
        print(headroom(args.headroom, profile.final_epochs, args.eval_seeds, 50, default))
        return
    print(
        f"objective {OBJECTIVE}, profile {profile.name}: {profile.two_stage_epochs} search "
        f"epochs for bayes-ppo, {profile.search_trials} x {profile.search_epochs} for the "
        f"others, confirmation {profile.confirm_epochs('bayes')} epochs; true test accuracy: "
        f"mean of {args.eval_seeds} trainings at {profile.final_epochs} epochs\n",
        flush=True,
    )
    truth = Truth(profile.final_epochs, args.eval_seeds, args.screen_seeds)
    t0 = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    runs = bench(
        args.methods,
        seeds,
        profile.name,
        truth,
        args.results,
        log=lambda s: print(s, flush=True),
    )
    print()
    print(summary(runs, args.methods))
    print(f"\ntotal wall {time.perf_counter() - t0:.0f} s; load average now {load()}")


if __name__ == "__main__":
    main()
