"""Engine overhead: how close does the real run loop keep 2 workers to fully busy?

200 trials of the `random` strategy run through the real `Engine` and its real worker
processes, with the trainer swapped for `bench.sleep_trainer:train` (sleeps 0.25 s, sends one
progress and one epoch message). Reported:

- steady ratio = (last trial finish - first trial start) / ideal, from trials.started_at /
  finished_at in the store, with ideal = sum of the trials' measured sleep / workers;
- total ratio = (engine return - engine construction) / ideal, i.e. with start-up (worker spawn,
  data load) and shut-down;
- where the gap goes: per trial, time between a slot's previous finish and its next start
  (engine work between trials) and in-trial time beyond the sleep (pipes, messages);
- a micro-benchmark of the Store calls the engine makes per trial (each its own commit);
- with ``--profile``: one more run under cProfile, top functions of the engine process.

    python bench/engine_overhead.py [--trials 200] [--workers 2] [--sleep 0.25] [--reps 2]
                                    [--profile] [--quick]

Target: steady ratio <= 1.03.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pickle
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Light imports only at module level: spawned workers re-import the main module (as
# __mp_main__), and the real engine's main module (hptui.cli) is light too. engine.runner
# pulls in scikit-optimize and scikit-learn, so it is imported inside the functions.
from bench._common import machine, table  # noqa: E402
from engine.data import prepare_data  # noqa: E402
from engine.profiles import PROFILES  # noqa: E402
from storage.store import Store  # noqa: E402

TRAINER = "bench.sleep_trainer:train"
DATA = PROFILES["tiny"].data  # a few hundred reviews: the data only has to load


def register_profile(trials: int) -> str:
    """A profile whose random search runs `trials` one-epoch trials on a few hundred reviews."""
    name = f"bench-overhead-{trials}"
    # The tiny test profile's data, with a random-search budget of `trials` single epochs.
    PROFILES[name] = replace(
        PROFILES["tiny"],
        name=name,
        trials_override=trials,
        search_epochs=1,
        confirm_candidates=0,  # the search's loop alone: no confirmation stage after it
        description="engine-overhead bench",
    )
    return name


def run_once(tmp: Path, trials: int, workers: int, profile_engine: bool = False) -> dict[str, Any]:
    """One run through the real engine; timings from the store and the wall clock."""
    from engine.config import RunConfig
    from engine.runner import Engine
    from engine.setup import create_run

    db = tmp / f"overhead-{time.monotonic_ns()}.db"
    store = Store(db)
    cfg = RunConfig(
        strategy="random",
        profile=register_profile(trials),
        data="sample",
        workers=workers,
        threads=1,
        final_validation=False,
    )
    run_id = create_run(store, cfg)
    store.close()
    prof = cProfile.Profile() if profile_engine else None
    t0 = time.time()
    engine = Engine(db, run_id, trainer=TRAINER)
    if prof:
        prof.enable()
    status = engine.run()
    if prof:
        prof.disable()
    t1 = time.time()
    store = Store(db)
    rows = store.trials(run_id)
    store.close()
    assert status == "finished", status
    assert len(rows) == trials and all(r["status"] == "finished" for r in rows)
    busy = sum(r["seconds"] for r in rows)
    ideal = busy / workers
    first = min(r["started_at"] for r in rows)
    last = max(r["finished_at"] for r in rows)
    by_slot: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_slot[r["worker"]].append(r)
    gaps, firsts = [], []
    span = busy_after_first = 0.0
    for slot_rows in by_slot.values():
        slot_rows.sort(key=lambda r: r["started_at"])
        gaps += [
            b["started_at"] - a["finished_at"]
            for a, b in zip(slot_rows, slot_rows[1:], strict=False)
        ]
        # A slot's first trial is submitted before its worker has started (trials.started_at
        # is set at submit), so it carries the worker's start-up; the steady state is measured
        # from each slot's first finish.
        firsts.append(slot_rows[0])
        span += slot_rows[-1]["finished_at"] - slot_rows[0]["finished_at"]
        busy_after_first += sum(r["seconds"] for r in slot_rows[1:])
    inside = [r["finished_at"] - r["started_at"] - r["seconds"] for r in rows]
    later = [x for r, x in zip(rows, inside, strict=True) if r not in firsts]
    out = {
        "ideal": ideal,
        "steady": last - first,
        "total": t1 - t0,
        "startup": first - t0,
        "shutdown": t1 - last,
        "gap_ms": 1e3 * statistics.mean(gaps) if gaps else 0.0,
        "inside_ms": 1e3 * statistics.mean(later),
        "first_extra": statistics.mean(
            r["finished_at"] - r["started_at"] - r["seconds"] for r in firsts
        ),
        "steady2": span / busy_after_first,
        "sleep_ms": 1e3 * busy / trials,
    }
    if prof:
        out["profile"] = prof
    return out


# --- the store micro-benchmark ----------------------------------------------------------


def store_micro(tmp: Path, trials: int) -> dict[str, float]:
    """Mean seconds of each Store call the engine makes per trial, on a fresh store file,
    the calls made in the engine's order for `trials` trials."""
    from engine.config import RunConfig
    from engine.reward import DEFAULT_RULES
    from engine.setup import build_strategy
    from engine.space import default_space
    from engine.strategies.base import Outcome

    db = tmp / "micro.db"
    store = Store(db)
    run_id = store.create_run(
        status="running",
        phase="search",
        strategy="random",
        profile="bench",
        seed=0,
        workers=2,
        config={},
    )
    store.add_space_version(
        run_id, default_space().to_dict(), [r.to_dict() for r in DEFAULT_RULES], "initial", "b"
    )
    profile = PROFILES[register_profile(trials)]
    cfg = RunConfig(strategy="random", profile=profile.name, workers=2)
    strategy = build_strategy(cfg, profile, default_space(), 2)
    times: dict[str, list[float]] = defaultdict(list)

    def timed(name: str, fn: Any, *a: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        out = fn(*a, **kw)
        times[name].append(time.perf_counter() - t)
        return out

    progress = {
        "finished": 1,
        "failed": 0,
        "planned": trials,
        "running": 2,
        "workers": 2,
        "eta_s": 12.0,
        "elapsed_s": 3.0,
        "done": 1,
        "total": trials,
    }
    for i in range(trials):
        slot = i % 2
        p = strategy.ask()
        assert p is not None
        tid, _ = timed(
            "add_trial",
            store.add_trial,
            run_id,
            p.config,
            status="running",
            phase="search",
            strategy="random",
            space_version=1,
            max_epochs=1,
            alpha=0.9,
            beta=0.1,
            penalty=0.0,
            rules_fired=[],
            extra={"key": p.key},
            worker=slot,
            started_at=time.time(),
        )
        timed(
            "set_worker",
            store.set_worker,
            run_id,
            slot,
            trial_id=tid,
            epoch=0,
            epochs=1,
            batch=0,
            batches=None,
        )
        timed(
            "set_worker",
            store.set_worker,
            run_id,
            slot,
            trial_id=tid,
            epoch=1,
            epochs=1,
            batch=0,
            batches=1,
        )
        timed(
            "add_epoch",
            store.add_epoch,
            run_id,
            tid,
            epoch=1,
            loss=0.5,
            accuracy=0.75,
            val_loss=0.55,
            val_accuracy=0.7,
            seconds=0.25,
        )
        timed("trial (read)", store.trial, tid)
        timed(
            "update_trial",
            store.update_trial,
            tid,
            status="finished",
            val_accuracy=0.7,
            val_loss=0.55,
            seconds=0.25,
            epochs_run=1,
            best_epoch=1,
            test_accuracy=None,
            reward=62.0,
            device="cpu",
            precision="float32",
            finished_at=time.time(),
        )
        timed("log", store.log, run_id, f"trial {i + 1} (search) finished: val acc 0.7000")
        timed("set_worker", store.set_worker, run_id, slot, trial_id=None, epoch=None, batch=None)
        strategy.tell(p, Outcome(True, 0.7, 0.25, 62.0))
        blob = timed("pickle state", pickle.dumps, strategy.state_dict())
        timed("save_strategy_state", store.save_strategy_state, run_id, blob)
        timed("log", store.log, run_id, "second event line")
        timed(
            "update_run (heartbeat)",
            store.update_run,
            run_id,
            heartbeat=time.time(),
            progress=progress,
        )
        timed("pending_commands (read)", store.pending_commands, run_id)
    store.close()
    return {k: statistics.mean(v) for k, v in times.items()} | {
        f"{k}#n": len(v) / trials for k, v in times.items()
    }


def print_profile(prof: cProfile.Profile, top: int = 22) -> None:
    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf)
    st.sort_stats("tottime").print_stats(top)
    print(buf.getvalue())
    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf)
    st.sort_stats("cumulative").print_stats(30)
    print(buf.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sleep", type=float, default=0.25, help="seconds each trial sleeps")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--profile", action="store_true", help="one more run under cProfile")
    ap.add_argument("--quick", action="store_true", help="40 trials, 1 repetition")
    args = ap.parse_args()
    if args.quick:
        args.trials, args.reps = 40, 1
    os.environ["HPTUI_BENCH_SLEEP_S"] = str(args.sleep)  # the spawned workers inherit it
    with tempfile.TemporaryDirectory(prefix="hptui-bench-") as d:
        tmp = Path(d)
        os.environ["HPTUI_CACHE_DIR"] = str(tmp / "cache")
        prepare_data("sample", DATA)  # warm the cache: start-up then excludes tokenizing
        print(f"machine: {machine()}")
        print(
            f"{args.trials} trials x {args.sleep} s sleep, {args.workers} workers, "
            f"{args.reps} repetition(s)\n"
        )
        results = [run_once(tmp, args.trials, args.workers) for _ in range(args.reps)]
        rows = [
            [
                i,
                f"{r['ideal']:.2f}",
                f"{r['steady']:.2f}",
                f"{r['steady'] / r['ideal']:.4f}",
                f"{r['steady2']:.4f}",
                f"{r['total'] / r['ideal']:.4f}",
                f"{r['first_extra']:.2f}",
                f"{r['shutdown']:.2f}",
                f"{r['gap_ms']:.2f}",
                f"{r['inside_ms']:.2f}",
            ]
            for i, r in enumerate(results, 1)
        ]
        print(
            table(
                [
                    "rep",
                    "ideal s",
                    "first start..last finish s",
                    "ratio",
                    "ratio after 1st trial",
                    "ratio with start-up",
                    "worker start-up s",
                    "shut-down s",
                    "slot gap ms/trial",
                    "in-trial extra ms",
                ],
                rows,
            )
        )
        ratio = statistics.mean(r["steady"] / r["ideal"] for r in results)
        steady = statistics.mean(r["steady2"] for r in results)
        total = statistics.mean(r["total"] / r["ideal"] for r in results)
        print(
            f"\nfirst start..last finish / ideal {ratio:.4f} (target <= 1.03: "
            f"{'met' if ratio <= 1.03 else 'MISSED'}); after each worker's first trial "
            f"{steady:.4f}; with engine start-up and shut-down {total:.4f}; "
            f"load average now {machine().rsplit('load average ', 1)[1]}"
        )

        micro = store_micro(tmp, args.trials)
        names = [k for k in micro if not k.endswith("#n")]
        per_trial = sum(micro[k] * micro[f"{k}#n"] for k in names)
        listed = (
            "add_trial",
            "update_trial",
            "add_epoch",
            "set_worker",
            "log",
            "save_strategy_state",
        )
        writes = sum(micro[k] * micro[f"{k}#n"] for k in listed)
        print("\nstore calls per trial (mean of", args.trials, "trials, fresh WAL store):")
        print(
            table(
                ["call", "calls/trial", "us/call", "us/trial"],
                [
                    [
                        k,
                        f"{micro[k + '#n']:.0f}",
                        f"{1e6 * micro[k]:.0f}",
                        f"{1e6 * micro[k] * micro[k + '#n']:.0f}",
                    ]
                    for k in names
                ],
            )
        )
        slot_turn = args.sleep
        print(
            f"\nwrites listed in the brief (add_trial, update_trial, add_epoch, set_worker x3,"
            f" log x2, save_strategy_state): {1e3 * writes:.2f} ms/trial = "
            f"{100 * writes / slot_turn:.2f}% of a {args.sleep} s trial"
        )
        print(
            f"all calls above: {1e3 * per_trial:.2f} ms/trial = "
            f"{100 * per_trial / slot_turn:.2f}% of a {args.sleep} s trial"
        )
        if args.profile:
            print("\n--- cProfile of the engine process (one more run) ---")
            r = run_once(tmp, args.trials, args.workers, profile_engine=True)
            print(
                f"profiled run: steady ratio {r['steady'] / r['ideal']:.4f} "
                "(cProfile slows the engine)"
            )
            print_profile(r["profile"])


if __name__ == "__main__":
    main()
