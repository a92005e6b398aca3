"""Search quality on real trainings, at an equal training budget: bayes-ppo, bayes, random,
grid (the real engine: `create_run` + `Engine(...).run()`, real TensorFlow trainers on a
2-worker pool) and Optuna's TPE driving the same trainer function on the same 2-worker
`LocalPoolExecutor`, 2 trials in flight like the engine.

Every method trains the same number of epochs, derived from the profile (`--profile quick`, the
default: the real quick profile, 80 epochs each; `bench`: a smaller one). The epochs actually
run are counted from the store and printed. Each run ends with the engine's final validation
(the best trial by the one ranking, Store.BEST_ORDER, and the default configuration, trained
`final_epochs` with early stopping on the training set and scored on the test set); Optuna's
best is chosen by the same ranking and trained the same way, with the same seed key as the
engine's `final-best`. The default configuration's final training is the same in every run
of a seed, so gains over it are paired by seed.

This ranks little on its own (3 seeds; see bench/surrogate_bench.py for the many-seed ranking):
it confirms on real trainings what the surrogate bench says.

    python bench/search_quality.py [--seeds 1 2 3] [--methods bayes-ppo bayes random optuna]
                                   [--profile quick|bench] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Light imports only: spawned workers re-import this module as __mp_main__.
from bench._common import (
    data_label,
    data_spec,
    machine,
    mean_sd,
    optuna_suggest,
    quiet_tensorflow,
    table,
)  # noqa: E402
from engine.choice import choose  # noqa: E402
from engine.data import DataSettings  # noqa: E402
from engine.ppo import PPOConfig  # noqa: E402
from engine.profiles import PROFILES, Profile  # noqa: E402
from storage.contract import FINAL_PHASE, FINISHED, is_search_phase  # noqa: E402

METHODS = ("bayes-ppo", "bayes", "random", "grid", "optuna")

BENCH = Profile(
    name="bench",
    data=DataSettings(vocab_size=5_000, max_len=80, n_train=1_000, n_val=300, n_test=500),
    warmup_calls=4,
    warmup_initial=2,
    warmup_epochs=1,
    ppo=PPOConfig(ppo_epochs=3, trajectories=4, len_early=1, len_late=2, step_epochs=2),
    final_epochs=2,
    trials_override=18,
    search_epochs=2,
    description="search-quality bench: 1,000 train / 300 val / 500 test, 80 tokens",
)
QUICK = replace(  # smoke run: the tiny test profile with a small single-stage budget
    PROFILES["tiny"],
    name="bench-quick",
    warmup_calls=2,
    ppo=replace(PROFILES["tiny"].ppo, ppo_epochs=2, trajectories=2, len_late=1, step_epochs=1),
    trials_override=6,
    search_epochs=1,
    final_repeats=2,  # the repeated final validation's path, too
    description="smoke run of the search-quality bench",
)


@dataclass
class Result:
    method: str
    seed: int
    search_epochs: int  # sum(epochs_run) of the search trials
    trials: int
    failed: int
    best_val: float  # highest validation accuracy of any search trial
    chosen_val: float  # validation accuracy of the trial taken to final validation
    test_best: float | None  # final model's test accuracy
    test_default: float | None
    wall_s: float
    chosen: dict[str, Any] = field(default_factory=dict)
    busy: float | None = None  # share of worker time spent in search trials
    time_saving: float | None = None  # final validation: (T_default - T_best) / T_default
    final_line: str = ""  # the engine's end-of-run line: each final training, the interval


def run_engine(method: str, seed: int, profile: Profile, spec: str, tmp: Path) -> Result:
    """One run of the real engine (headless, in this process)."""
    from engine.config import RunConfig
    from engine.runner import Engine
    from engine.setup import create_run
    from storage.store import Store

    db = tmp / f"{method}-{seed}.db"
    store = Store(db)
    cfg = RunConfig(
        strategy=method, profile=profile.name, data=spec, workers=2, threads=1, seed=seed
    )
    run_id = create_run(store, cfg)
    store.close()
    t0 = time.perf_counter()
    status = Engine(db, run_id).run()
    wall = time.perf_counter() - t0
    store = Store(db)
    run = store.run(run_id)
    every = store.trials(run_id)
    trials = [t for t in every if is_search_phase(t["phase"])]
    # The engine's choice (after its confirmation stage), as its final validation made it.
    choice = choose(t for t in every if t["phase"] != FINAL_PHASE)
    store.close()
    assert run is not None and status == FINISHED, (status, run and run.get("error"))
    ok = [t for t in trials if t["status"] == FINISHED]
    final = run.get("final") or {}
    span = max(t["finished_at"] for t in trials) - min(t["started_at"] for t in trials)
    busy = sum(t["finished_at"] - t["started_at"] for t in trials) / (2 * span)
    return Result(
        method=method,
        seed=seed,
        search_epochs=sum(t["epochs_run"] or 0 for t in ok),
        trials=len(trials),
        failed=len(trials) - len(ok),
        best_val=max((t["val_accuracy"] for t in ok), default=0.0),
        chosen_val=choice.best.accuracy if choice else 0.0,
        # the default chosen: final validation trained it alone, its gain is 0
        test_best=final.get("best_test_accuracy", final.get("default_test_accuracy")),
        test_default=final.get("default_test_accuracy"),
        wall_s=wall,
        chosen=choice.best.config if choice else {},
        busy=busy,
        time_saving=final.get("time_saving"),
        final_line=_final_line(final),
    )


def _final_line(final: dict[str, Any]) -> str:
    if not final:
        return ""
    from engine.final import format_final

    each = ", ".join(
        f"{b:.4f}/{d:.4f}"
        for b, d in zip(
            final.get("best_test_accuracies", []),
            final.get("default_test_accuracies", []),
            strict=False,
        )
    )
    return format_final(final) + (f"; best/default test by pair: {each}" if each else "")


def run_optuna(seed: int, profile: Profile, spec: str, tmp: Path) -> Result:
    """Optuna TPE (ask/tell) on the engine's 2-worker pool and trainer function: the same
    trials x epochs as the single-stage strategies, then the engine's final-validation task."""
    import optuna

    from engine.data import prepare_data
    from engine.executor import LocalPoolExecutor, WorkerSettings
    from engine.reward import DEFAULT_RULES, apply_rules, score
    from engine.setup import trial_seed
    from engine.space import default_space
    from engine.strategies.final import final_key
    from engine.trainer import TrialTask

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = default_space()
    t0 = time.perf_counter()
    ref = prepare_data(spec, profile.data)
    pool = LocalPoolExecutor(2, WorkerSettings(ref, 1, None, str(tmp / f"optuna-{seed}.log")))
    pool.start()
    sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)  # 2 trials in flight
    study = optuna.create_study(direction="maximize", sampler=sampler)
    n, epochs = profile.search_trials, profile.search_epochs
    running: dict[int, Any] = {}
    done: list[tuple[dict[str, Any], float, int]] = []  # (config, val acc, epochs run)
    failed = asked = 0

    try:
        while len(done) + failed < n:
            for slot in pool.free_slots():
                if asked >= n:
                    break
                trial = study.ask()
                cfg = optuna_suggest(trial, space)
                task = TrialTask(asked + 1, cfg, epochs, seed=trial_seed(seed, f"o{asked}"))
                pool.submit(slot, task)
                running[task.trial_id] = (trial, cfg)
                asked += 1
            for msg in pool.poll(0.2):
                if msg.get("trial_id") not in running or msg["kind"] not in ("result", "failed"):
                    continue
                trial, cfg = running.pop(msg["trial_id"])
                if msg["kind"] == "result":
                    res = msg["result"]
                    study.tell(trial, res["val_accuracy"])
                    done.append((cfg, res["val_accuracy"], res["epochs_run"], res["seconds"]))
                else:  # like the engine's bayes: a failed trial scores accuracy 0
                    study.tell(trial, 0.0)
                    failed += 1
        # The configuration reported as best by the engine's one ranking (Store.BEST_ORDER):
        # the highest score, then the highest validation accuracy, then the earliest.
        best_cfg, best_val, _, _ = max(
            done,
            key=lambda d: (score(d[1], d[3], apply_rules(d[0], DEFAULT_RULES)[0]), d[1]),
        )
        # Trained as the engine's final validation trains it (FinalValidation): early
        # stopping on, the best epoch's weights scored on the test set, `final_repeats` times
        # under the engine's seed keys, the mean reported.
        tasks = [
            TrialTask(
                10_000 + r,
                best_cfg,
                profile.final_epochs,
                early_stopping=True,
                evaluate_test=True,
                seed=trial_seed(seed, final_key("best", r)),
            )
            for r in range(profile.final_repeats)
        ]
        queued, ids = list(tasks), {t.trial_id for t in tasks}
        tests: dict[int, float | None] = {}  # trial id -> test accuracy (failed: None)
        while len(tests) < len(tasks):
            for slot in pool.free_slots():
                if queued:
                    pool.submit(slot, queued.pop(0))
            for msg in pool.poll(0.5):
                if msg.get("trial_id") in ids and msg["kind"] in ("result", "failed"):
                    tests[msg["trial_id"]] = (msg.get("result") or {}).get("test_accuracy")
        accs = [a for a in tests.values() if a is not None]
    finally:
        pool.shutdown()
    return Result(
        method="optuna",
        seed=seed,
        search_epochs=sum(d[2] for d in done),
        trials=asked,
        failed=failed,
        best_val=max(d[1] for d in done),
        chosen_val=best_val,
        test_best=statistics.fmean(accs) if accs else None,
        test_default=None,
        wall_s=time.perf_counter() - t0,
        chosen=best_cfg,
    )


def fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument(
        "--profile",
        default="quick",
        choices=["quick", "bench"],
        help="quick: the real quick profile (default); bench: a smaller one",
    )
    ap.add_argument("--quick", action="store_true", help="tiny profile, 1 seed: a smoke run")
    args = ap.parse_args()
    quiet_tensorflow()
    profile = QUICK if args.quick else (BENCH if args.profile == "bench" else PROFILES["quick"])
    if args.quick:
        args.seeds = args.seeds[:1]
    PROFILES[profile.name] = profile  # the engine runs in this process and reads PROFILES
    spec = data_spec()
    print(f"machine: {machine()}")
    print(f"data: {data_label(spec)}; profile {profile.name}: {profile.description}")
    print(
        f"budget: {profile.two_stage_epochs} epochs for bayes-ppo, "
        f"{profile.search_trials} x {profile.search_epochs} = "
        f"{profile.search_trials * profile.search_epochs} for the others; "
        f"final validation {profile.final_epochs} epochs; seeds {args.seeds}\n",
        flush=True,
    )
    results: list[Result] = []
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hptui-bench-quality-") as d:
        tmp = Path(d)
        for seed in args.seeds:  # methods interleaved within each seed: load hits all alike
            for method in args.methods:
                if method == "optuna":
                    r = run_optuna(seed, profile, spec, tmp)
                else:
                    r = run_engine(method, seed, profile, spec, tmp)
                results.append(r)
                print(
                    f"{method:9s} seed {seed}: {r.trials} trials ({r.failed} failed), "
                    f"{r.search_epochs} epochs, best val {r.best_val:.4f}, chosen val "
                    f"{r.chosen_val:.4f}, test {fmt(r.test_best)} (default "
                    f"{fmt(r.test_default)}), {r.wall_s:.0f} s, workers busy {fmt(r.busy)}; "
                    f"load {os.getloadavg()[0]:.2f}; "
                    f"chosen {r.chosen}" + (f"\n  {r.final_line}" if r.final_line else ""),
                    flush=True,
                )
    rows = []
    for m in args.methods:
        rs = [r for r in results if r.method == m]
        tests = [r.test_best for r in rs if r.test_best is not None]
        rows.append(
            [
                m,
                len(rs),
                "/".join(str(r.search_epochs) for r in rs),
                mean_sd([r.best_val for r in rs]),
                f"{min(r.best_val for r in rs):.4f}..{max(r.best_val for r in rs):.4f}",
                mean_sd([r.chosen_val for r in rs]),
                mean_sd(tests),
                f"{min(tests):.4f}..{max(tests):.4f}" if tests else "n/a",
                f"{statistics.mean(r.wall_s for r in rs):.0f}",
            ]
        )
    print()
    print(
        table(
            [
                "method",
                "runs",
                "epochs per run",
                "best val acc (mean ± sd)",
                "best val range",
                "chosen trial val acc",
                "final test acc (mean ± sd)",
                "test range",
                "wall s/run",
            ],
            rows,
        )
    )
    defaults = {r.seed: r.test_default for r in results if r.test_default is not None}
    if defaults:
        print(
            "\ndefault configuration, same final validation: test acc "
            + ", ".join(f"seed {s}: {v:.4f}" for s, v in sorted(defaults.items()))
        )
        print("gain of the chosen configuration over the default (test acc, paired by seed):")
        for m in args.methods:
            gains = [
                r.test_best - defaults[r.seed]
                for r in results
                if r.method == m and r.test_best is not None and r.seed in defaults
            ]
            if gains:
                print(
                    f"  {m:9s} mean {100 * statistics.mean(gains):+.2f} points; per seed "
                    + ", ".join(f"{100 * g:+.2f}" for g in gains)
                )
        # The best is ranked by the reward, which pays for short training too (SPEC §5).
        print("time saving of the chosen configuration's final training over the default's:")
        for m in args.methods:
            saved = [r.time_saving for r in results if r.method == m and r.time_saving is not None]
            if saved:
                print(
                    f"  {m:9s} mean {100 * statistics.mean(saved):+.0f} %; per seed "
                    + ", ".join(f"{100 * x:+.0f} %" for x in saved)
                )
    print(
        f"\ntotal wall {time.perf_counter() - t_start:.0f} s; load average now "
        f"{machine().rsplit('load average ', 1)[1]}"
    )


if __name__ == "__main__":
    main()
