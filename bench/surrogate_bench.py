"""Rank the search strategies on the surrogate of real trainings (`bench/surrogate.py`), over
many seeds, at a profile's equal-epoch budget.

Every hptui strategy runs through its real ask/tell object, built by the engine's own
`build_strategy` for the profile, on a simulated pool of `--workers` slots: trials finish in
the order their (surrogate) training seconds say, as in the engine's event loop. A trial's
outcome is the surrogate's mean plus measured noise; its reward comes from the engine's reward
functions (adaptive weights, default penalty rules). Optuna's TPE (`tpe`) and, where PyTorch
is installed, Optuna's GP sampler (`optuna-gp`) run on the same objective and budget with their
own ask/tell; they and random search are the anchors.

Per method: the mean *true* (noise-free) accuracy of the configuration the method reports as
best, its 95 % interval over seeds, and the paired difference against bayes with its interval.
"Reports as best" is the engine's choice (engine.choice): the confirmation stage (the
profile's top candidates and the default trained again, engine.strategies.confirm) and then
the highest mean score of each configuration's measurements. `score`, the best single
measurement, is the rule before that stage; the other rules (measured accuracy, a GP's
estimate, the five best measured re-ranked by the estimate, halfway between, other
confirmation designs) are printed beside it.

    python -m bench.surrogate_bench [--profile quick] [--seeds 30] [--methods ...] [--jobs 2]
                                    [--results runs.jsonl]

A run is deterministic for its (method, profile, seed, workers, surrogate model), so with
`--results` each finished run is appended to a JSON-lines file and a later invocation with the
same file reruns only what is missing: a long bench (Bayes at the seed budget, minutes a seed)
can be stopped, resumed, or split over invocations and tabled together.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# One BLAS thread per process: the bench runs one process per core.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import optuna_suggest  # noqa: E402
from bench.surrogate import Surrogate  # noqa: E402
from engine.ppo import PPOConfig  # noqa: E402
from engine.profiles import PROFILES, Profile  # noqa: E402
from engine.space import default_space  # noqa: E402

METHODS = ("bayes-ppo", "bayes", "random", "tpe", "default")
# Confirmation designs (candidates x repeats, then the best `keep` of them again) simulated
# after every run: the search's top candidates and the default trained again, then the
# engine's choice (engine.choice).
DESIGNS = ((3, 2, 0), (5, 2, 0), (3, 3, 0), (6, 1, 2), (6, 2, 2), (8, 1, 3))


def design_name(k: int, r: int, keep: int) -> str:
    """`confirm 3x2`, or `confirm 6x1>2x1` for a second round of the best 2."""
    return f"confirm {k}x{r}" + (f">{keep}x{r}" if keep else "")


def design_epochs(k: int, r: int, keep: int, epochs: int = 2) -> int:
    return ((k + 1) * r + ((keep + 1) * r if keep else 0)) * epochs


CONFIRMED = "confirmed"  # the profile's own design: what the engine now does
SELECTIONS = (
    "score",
    CONFIRMED,
    "observed",
    "estimated",
    "top5-estimated",
    "shrunk",
    *(design_name(*d) for d in DESIGNS),
)
# The true accuracy of the best configuration a run trained (results files before it lack it).
FOUND = "found"


@dataclass
class Trace:
    """What one method did in one seed: every trial, in the order results came in."""

    method: str
    seed: int
    configs: list[dict[str, Any]] = field(default_factory=list)
    accs: list[float] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    penalties: list[float] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def add(
        self,
        config: dict[str, Any],
        acc: float,
        epochs: int,
        seconds: float,
        penalty: float,
        phase: str,
    ) -> None:
        self.configs.append(config)
        self.accs.append(acc)
        self.epochs.append(epochs)
        self.seconds.append(seconds)
        self.penalties.append(penalty)
        self.phases.append(phase)


def outcome_of(sur: Surrogate, proposal: Any, rng: np.random.Generator) -> tuple[Any, float]:
    """The engine's Outcome for a proposal (reward by the engine's formulas), and seconds."""
    from engine.reward import DEFAULT_RULES, adaptive_weights, apply_rules, reward
    from engine.strategies.base import Outcome

    acc, sec, _ = sur.observe(proposal.config, proposal.epochs, proposal.early_stopping, rng)
    alpha, beta = adaptive_weights(proposal.progress)
    penalty, _ = apply_rules(proposal.config, DEFAULT_RULES)
    return Outcome(True, acc, sec, reward(acc, sec, penalty, alpha, beta)), penalty


def parse_variant(method: str) -> tuple[str, dict[str, float]]:
    """`bayes-ppo[candidates=1,init_std=0.5]` -> ("bayes-ppo", {...})."""
    if "[" not in method:
        return method, {}
    base, _, rest = method.partition("[")
    pairs = [kv.split("=") for kv in rest.rstrip("]").split(",") if kv]
    return base, {k.strip(): float(v) for k, v in pairs}


def with_variant(profile: Profile, variant: dict[str, float]) -> Profile:
    """`profile` with a variant's settings: PPO settings (`PPOConfig`'s fields, and `init_std`
    for its log) go into `profile.ppo`, other profile fields change the budget's shape (its
    epochs are printed). Anything else is unknown."""
    from dataclasses import fields, replace

    variant = dict(variant)
    if "init_std" in variant:
        variant["init_log_std"] = math.log(variant.pop("init_std"))
    ppo_names = {f.name for f in fields(PPOConfig)}
    ppo = {k: type(getattr(profile.ppo, k))(v) for k, v in variant.items() if k in ppo_names}
    shape = {k: int(v) for k, v in variant.items() if k in {f.name for f in fields(Profile)}}
    unknown = set(variant) - set(ppo) - set(shape)
    if unknown:
        raise SystemExit(f"unknown variant setting(s): {', '.join(sorted(unknown))}")
    return replace(profile, **shape, ppo=replace(profile.ppo, **ppo))


def run_strategy(method: str, profile: Profile, seed: int, sur: Surrogate, workers: int) -> Trace:
    """The real strategy object on a simulated pool: ask while a slot is free, tell the
    trial that finishes first."""
    from engine.config import RunConfig
    from engine.setup import build_strategy

    rng = np.random.default_rng([seed, 7])
    base, variant = parse_variant(method)
    no_default = bool(variant.pop("no_default", 0))
    strategy = build_strategy(
        RunConfig(strategy=base, seed=seed),
        with_variant(profile, variant),
        default_space(),
        workers,
    )
    if no_default:  # the warm-up starts without the default configuration
        strategy.warmup._initial = []
    trace = Trace(method, seed)
    clock, seq = 0.0, 0
    running: list[tuple[float, int, Any, Any, float]] = []
    t0 = time.perf_counter()
    while True:
        while len(running) < workers:
            p = strategy.ask()
            if p is None:
                break
            outcome, penalty = outcome_of(sur, p, rng)
            heapq.heappush(running, (clock + outcome.seconds, seq, p, outcome, penalty))
            seq += 1
        if not running:
            if strategy.done():
                break
            raise RuntimeError(f"{method} stalled: nothing running and not done")
        clock, _, p, outcome, penalty = heapq.heappop(running)
        strategy.tell(p, outcome)
        trace.add(p.config, outcome.val_accuracy, p.epochs, outcome.seconds, penalty, p.phase)
    trace.wall_s = time.perf_counter() - t0
    return trace


def run_tpe(profile: Profile, seed: int, sur: Surrogate, workers: int) -> Trace:
    """Optuna's TPE on the same space and budget: `search_trials` trials of `search_epochs`,
    `workers` in flight (constant liar, as the engine's Bayes)."""
    import optuna

    sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    return run_optuna("tpe", sampler, profile, seed, sur, workers)


def run_optuna_gp(profile: Profile, seed: int, sur: Surrogate, workers: int) -> Trace:
    """Optuna's GP sampler (a Matern-5/2 GP, log EI), same space and budget as TPE. It needs
    PyTorch, which hptui does not: `pip install torch` (a CPU wheel is enough)."""
    import optuna

    try:
        import torch  # noqa: F401
    except ImportError as e:
        raise SystemExit(
            "method optuna-gp: Optuna's GP sampler needs PyTorch (pip install torch)"
        ) from e
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # not its per-trial fallback notes
    sampler = optuna.samplers.GPSampler(seed=seed)
    return run_optuna("optuna-gp", sampler, profile, seed, sur, workers)


def run_optuna(
    method: str, sampler: Any, profile: Profile, seed: int, sur: Surrogate, workers: int
) -> Trace:
    """An Optuna sampler through its ask/tell interface on the simulated pool."""
    import optuna

    optuna.logging.set_verbosity(max(optuna.logging.get_verbosity(), optuna.logging.WARNING))
    from engine.reward import DEFAULT_RULES, apply_rules

    space = default_space()
    study = optuna.create_study(direction="maximize", sampler=sampler)
    rng = np.random.default_rng([seed, 7])
    trace = Trace(method, seed)
    t0 = time.perf_counter()
    n = profile.search_trials
    asked, running, seq, clock = 0, [], 0, 0.0
    while asked < n or running:
        while asked < n and len(running) < workers:
            trial = study.ask()
            cfg = optuna_suggest(trial, space)
            acc, sec, _ = sur.observe(cfg, profile.search_epochs, True, rng)
            heapq.heappush(running, (clock + sec, seq, trial, cfg, acc, sec))
            seq, asked = seq + 1, asked + 1
        clock, _, trial, cfg, acc, sec = heapq.heappop(running)
        study.tell(trial, acc)
        trace.add(
            cfg, acc, profile.search_epochs, sec, apply_rules(cfg, DEFAULT_RULES)[0], "search"
        )
    trace.wall_s = time.perf_counter() - t0
    return trace


def run_default(profile: Profile, seed: int, sur: Surrogate, workers: int) -> Trace:
    """No search: the default configuration."""
    trace = Trace("default", seed)
    cfg = default_space().default_config()
    acc, sec, _ = sur.observe(cfg, profile.search_epochs, True, np.random.default_rng(seed))
    trace.add(cfg, acc, profile.search_epochs, sec, 0.0, "search")
    return trace


def chosen(trace: Trace) -> dict[str, dict[str, Any]]:
    """The configuration a method reports as best under each selection rule of the search's
    own trials (the GP estimate is fitted once per run and shared by the rules that use it);
    the confirmation designs are added by `one`."""
    from engine.estimate import best_index, estimated_accuracy
    from engine.reward import score

    acc, sec = np.asarray(trace.accs), np.asarray(trace.seconds)
    est = estimated_accuracy(
        default_space(), trace.configs, trace.accs, trace.epochs, seed=trace.seed
    )
    scores = [score(a, t, p) for a, t, p in zip(acc, sec, trace.penalties, strict=True)]
    top = np.argsort(-acc)[:5]
    index = {
        "score": int(np.argmax(scores)),
        "observed": int(np.argmax(acc)),
        "estimated": best_index(est, sec),
        # the five best measured, re-ranked by the estimate
        "top5-estimated": int(top[best_index(est[top], sec[top])]),
        # halfway between the measurement and the estimate
        "shrunk": best_index((acc + est) / 2, sec),
    }
    return {how: trace.configs[i] for how, i in index.items()}


def trace_trials(trace: Trace) -> list[dict[str, Any]]:
    """A trace's trials as the store would hold them, for engine.choice."""
    return [
        {"number": i + 1, "config": c, "val_accuracy": a, "seconds": t, "penalty": p,
         "phase": ph, "status": "finished", "max_epochs": e}
        for i, (c, a, t, p, ph, e) in enumerate(
            zip(trace.configs, trace.accs, trace.seconds, trace.penalties, trace.phases,
                trace.epochs, strict=True)
        )
    ]  # fmt: skip


def confirm_choice(
    trace: Trace,
    sur: Surrogate,
    candidates_n: int,
    repeats: int,
    epochs: int,
    keep: int = 0,
    draw: int = 0,
) -> tuple[dict[str, Any], int]:
    """The engine's confirmation stage after a run (engine.strategies.confirm, fed by the
    surrogate under seeds of its own), then the engine's choice; returns the chosen
    configuration and the epochs the stage trained."""
    from engine.choice import candidates, choose
    from engine.reward import DEFAULT_RULES, apply_rules
    from engine.space import DEFAULT_CONFIG
    from engine.strategies.base import Outcome
    from engine.strategies.confirm import Confirmation

    trials = trace_trials(trace)
    top = candidates(trials, candidates_n, DEFAULT_CONFIG)
    stage = Confirmation(
        default_space(), top, DEFAULT_CONFIG, epochs, repeats, keep=keep, measured=trials
    )
    rng = np.random.default_rng([trace.seed, 11, candidates_n, repeats, keep, draw])
    spent = 0
    while (p := stage.ask()) is not None:
        acc, sec, _ = sur.observe(p.config, p.epochs, p.early_stopping, rng)
        stage.tell(p, Outcome(True, acc, sec))
        spent += p.epochs
        trials.append(
            {"number": len(trials) + 1, "config": p.config, "val_accuracy": acc, "seconds": sec,
             "penalty": apply_rules(p.config, DEFAULT_RULES)[0], "phase": "confirm",
             "status": "finished", "max_epochs": p.epochs}
        )  # fmt: skip
    choice = choose(trials, DEFAULT_CONFIG)
    assert choice is not None
    return choice.best.config, spent


RUNNERS: dict[str, Callable[..., Trace]] = {
    "tpe": run_tpe,
    "optuna-gp": run_optuna_gp,
    "default": run_default,
}


# Set by main() for its worker processes (spawned: they inherit the environment).
TRACES_ENV, DRAWS_ENV = "SURROGATE_BENCH_TRACES", "SURROGATE_BENCH_DRAWS"
CEILING = "ceiling, top 6"  # the best of the top 6 by score, known without noise


def trace_of(job: Job, sur: Surrogate) -> Trace:
    """The run a job makes, read from the trace folder (`--traces`) where it was made before:
    a run is deterministic for its job."""
    import pickle

    method, profile_name, seed, workers, model = job
    folder = os.environ.get(TRACES_ENV)
    path = (
        Path(folder) / f"{method}-{profile_name}-{seed}-w{workers}-{model}.pkl" if folder else None
    )
    if path is not None and path.exists():
        return pickle.loads(path.read_bytes())  # noqa: S301 (the bench's own files)
    profile = PROFILES[profile_name]
    runner = RUNNERS.get(method)
    trace = (
        runner(profile, seed, sur, workers)
        if runner
        else run_strategy(method, profile, seed, sur, workers)
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(trace))
    return trace


def one(job: Job) -> tuple[Job, Result]:
    from engine.choice import candidates
    from engine.space import DEFAULT_CONFIG

    method, profile_name, seed, workers, model = job
    sur = _surrogate(model)
    profile = PROFILES[profile_name]
    trace = trace_of(job, sur)
    truth = {how: sur.true_accuracy(cfg) for how, cfg in chosen(trace).items()}
    epochs = max(trace.epochs)  # the search's fidelity
    # Each design's choice is averaged over `draws` runs of the stage (its own noise), so
    # that the designs' differences are not lost in one draw's luck.
    draws = int(os.environ.get(DRAWS_ENV, "1"))
    own = (profile.confirm_candidates, profile.confirm_repeats, profile.confirm_keep)
    for name, (k, r, keep) in [(CONFIRMED, own), *((design_name(*d), d) for d in DESIGNS)]:
        truth[name] = float(np.mean([
            sur.true_accuracy(confirm_choice(trace, sur, k, r, epochs, keep, draw)[0])
            for draw in range(draws)
        ]))  # fmt: skip
    top = candidates(trace_trials(trace), 6, DEFAULT_CONFIG) + [DEFAULT_CONFIG]
    truth[CEILING] = max(sur.true_accuracy(c) for c in top)
    # Not a rule a method can follow: what it found, against what it chose.
    truth[FOUND] = max(sur.true_accuracy(cfg) for cfg in trace.configs)
    return job, (method, seed, truth, sum(trace.epochs), len(trace.configs), trace.wall_s)


Job = tuple[str, str, int, int, str]  # method, profile, seed, workers, surrogate model
Result = tuple[str, int, dict[str, float], int, int, float]


def load_results(path: Path | None) -> dict[Job, Result]:
    """The runs a results file already holds, by job (a torn last line is skipped)."""
    done: dict[Job, Result] = {}
    if path is None or not path.exists():
        return done
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        done[tuple(row["job"])] = tuple(row["result"])  # type: ignore[assignment]
    return done


def append_result(path: Path | None, job: Job, result: Result) -> None:
    if path is not None:
        with path.open("a") as f:
            f.write(json.dumps({"job": list(job), "result": list(result)}) + "\n")


_SUR: dict[str, Surrogate] = {}


def _surrogate(model: str) -> Surrogate:
    if model not in _SUR:
        _SUR[model] = Surrogate(model=model)
    return _SUR[model]


def interval(xs: Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of its 95 % t-interval (NaN under 2 values)."""
    from engine.final import paired_interval

    h = paired_interval(xs)
    return float(np.mean(xs)), math.nan if h is None else h


def paired(
    vals: dict[int, dict[str, float]], anchor: dict[int, dict[str, float]], how: str, width: int
) -> str:
    """The paired difference against an anchor method over their common seeds, in points."""
    common = sorted(s for s in set(vals) & set(anchor) if how in vals[s] and how in anchor[s])
    if not common:
        return " " * width
    dm, dh = interval([vals[s][how] - anchor[s][how] for s in common])
    return f"{100 * dm:>+{width - 10}.2f}p{100 * dh:>8.2f}p"


def headroom(sur: Surrogate, n: int = 3000) -> str:
    """How much better than the default the space allows: the true accuracy of the default
    and of the best of `n` uniform configurations, against the measurement noise."""
    from bench.surrogate import encode

    space = default_space()
    actions = np.random.default_rng(0).uniform(-1, 1, (n, len(space.dims)))
    x = np.array([encode(space.from_action(a)) for a in actions])
    truth = sur.models["acc2"].predict(x)  # one call: the forest is slow row by row
    d = sur.true_accuracy(space.default_config())
    return (
        f"headroom: default {d:.4f} (better than {100 * np.mean(truth < d):.0f} % of the space), "
        f"best of {n} uniform {truth.max():.4f}, 99th percentile {np.quantile(truth, 0.99):.4f}; "
        f"one measurement's noise sd {sur.noise['acc2']:.4f}"
    )


def print_confirmation(
    by: dict[str, dict[int, dict[str, float]]], methods: Sequence[str], profile: Profile
) -> None:
    """Each confirmation design against the best single measurement (`score`), paired on the
    same seeds (the same search), in points of true accuracy, with its cost in epochs."""
    own = (profile.confirm_candidates, profile.confirm_repeats, profile.confirm_keep)
    designs = [(CONFIRMED, *own)] + [(design_name(*d), *d) for d in DESIGNS]
    print("\nconfirmation against the best single measurement (paired, points, 95 % CI)")
    print(f"{'method':<12}" + "".join(f"{name:>20}" for name, *_ in designs))
    print(f"{'  epochs':<12}" + "".join(f"{design_epochs(*d):>20}" for _, *d in designs))
    for method in methods:
        vals = by.get(method, {})
        cells = []
        for name, *_ in designs:
            d = [v[name] - v["score"] for v in vals.values() if name in v]
            m, h = interval(d) if d else (math.nan, math.nan)
            cells.append(f"{100 * m:>+12.2f} ± {100 * h:.2f}")
        print(f"{method:<12}" + "".join(cells))
    print("\nfound - chosen: what each rule loses of the best configuration the run tried (points)")
    rules = ["score", *(name for name, *_ in designs), CEILING]
    print(f"{'method':<12}" + "".join(f"{name:>20}" for name in rules))
    for method in methods:
        vals = by.get(method, {})
        cells = []
        for name in rules:
            d = [v[FOUND] - v[name] for v in vals.values() if name in v and FOUND in v]
            m, h = interval(d) if d else (math.nan, math.nan)
            cells.append(f"{100 * m:>12.2f} ± {100 * h:.2f}")
        print(f"{method:<12}" + "".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="quick", choices=[p for p in PROFILES if p != "tiny"])
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--workers", type=int, default=2, help="simulated trainer slots")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes")
    ap.add_argument("--model", default="forest", help="surrogate model (bench/surrogate.py)")
    ap.add_argument(
        "--select", default="score", choices=SELECTIONS, help="selection rule of the main table"
    )
    ap.add_argument(
        "--anchors",
        nargs=2,
        default=["bayes", "random"],
        metavar=("FIRST", "SECOND"),
        help="the two methods every method is paired against (e.g. tpe random without bayes)",
    )
    ap.add_argument(
        "--draws", type=int, default=1, help="runs of each confirmation design per search"
    )
    ap.add_argument("--traces", type=Path, help="folder keeping each run's trials for a rerun")
    ap.add_argument(
        "--results",
        type=Path,
        help="JSON-lines file of finished runs: appended to, and runs already in it are not rerun",
    )
    args = ap.parse_args()

    os.environ[DRAWS_ENV] = str(args.draws)
    if args.traces is not None:
        os.environ[TRACES_ENV] = str(args.traces.resolve())
    profile = PROFILES[args.profile]
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs: list[Job] = [
        (m, args.profile, s, args.workers, args.model) for s in seeds for m in args.methods
    ]
    saved = load_results(args.results)
    todo = [j for j in jobs if j not in saved]
    sur = _surrogate(args.model)
    print(
        f"surrogate: {sur.n_rows} real trainings, model {args.model}, noise sd "
        f"acc1 {sur.noise['acc1']:.4f} acc2 {sur.noise['acc2']:.4f}"
    )
    print(
        f"profile {profile.name}: {profile.two_stage_epochs} epochs for bayes-ppo, "
        f"{profile.search_trials} x {profile.search_epochs} for the single-stage methods; "
        f"{args.workers} simulated workers, {len(seeds)} seeds"
    )
    print(headroom(sur))
    if args.results is not None:
        print(f"{len(jobs) - len(todo)} of {len(jobs)} runs already in {args.results}")
    t0 = time.perf_counter()
    fresh: dict[Job, Result] = {}
    if args.jobs > 1 and len(todo) > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(min(args.jobs, len(todo))) as pool:
            for job, result in pool.imap_unordered(one, todo, chunksize=1):
                fresh[job] = result
                append_result(args.results, job, result)
    else:
        for job, result in map(one, todo):
            fresh[job] = result
            append_result(args.results, job, result)
    wall = time.perf_counter() - t0
    results = [fresh.get(j) or saved[j] for j in jobs]

    by: dict[str, dict[int, dict[str, float]]] = {}
    meta: dict[str, tuple[list[int], list[int], list[float]]] = {}
    for method, seed, truth, epochs, trials, w in results:
        by.setdefault(method, {})[seed] = truth
        e, n, ws = meta.setdefault(method, ([], [], []))
        e.append(epochs)
        n.append(trials)
        ws.append(w)
    w = max(11, *(len(m) + 2 for m in args.methods))
    # Each anchor's two columns, "vs NAME" and its interval (9 wide), as wide as the name needs.
    anchor_widths = [(a, max(10 + i, len(a) + 4) + 9) for i, a in enumerate(args.anchors)]
    for how in [args.select] + [s for s in SELECTIONS if s != args.select] + [FOUND]:
        if how == FOUND:
            print("\nbest trained (the true accuracy of the best configuration a run tried)")
        else:
            note = {
                "score": "  (the best single measurement: before)",
                CONFIRMED: "  (the engine's rule)",
            }
            print(f"\nbest chosen by: {how}" + note.get(how, ""))
        print(
            f"{'method':<{w}}{'seeds':>6}{'epochs':>8}{'trials':>7}{'true acc':>10}"
            f"{'95% CI':>9}"
            + "".join(f"{'vs ' + a:>{width - 9}}{'95% CI':>9}" for a, width in anchor_widths)
            + f"{'s/seed':>8}"
        )
        for method in args.methods:
            vals = {s: v for s, v in by.get(method, {}).items() if how in v}
            if not vals:
                continue
            m, h = interval([v[how] for v in vals.values()])
            e, n, ws = meta[method]
            diffs = "".join(
                " " * width if anchor == method else paired(vals, by.get(anchor, {}), how, width)
                for anchor, width in anchor_widths
            )
            print(
                f"{method:<{w}}{len(vals):>6}{np.mean(e):>8.0f}{np.mean(n):>7.0f}"
                f"{m:>10.4f}{h:>9.4f}{diffs}{np.mean(ws):>8.1f}"
            )
    print_confirmation(by, args.methods, profile)
    print(
        f"\n{len(todo)} runs in {wall:.0f} s ({args.jobs} processes), "
        f"{len(jobs) - len(todo)} read from the results file; "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )


if __name__ == "__main__":
    main()
