"""Engine scale: what a result costs the engine, and how long its loop can stall, as a run grows.

Real `Engine` runs with real worker processes, the trainer swapped for
`bench.sleep_trainer:train` (it sleeps; see bench/engine_overhead.py), at several run sizes.
Per run it prints:

- ratio: (last finish - first start) / ideal, ideal = the trials' sleep / workers (1.00 is
  a loop that keeps every worker busy);
- engine CPU per result: the engine process's CPU seconds (every thread: the loop, the
  estimates, the strategy's tells) over the run, per trial; worker processes not included;
- longest stall: the longest time between two turns of the engine's loop (its `on_tick`),
  during which no command is answered, no heartbeat written and no worker given a trial;
  the loop's own poll is 0.2 s, so 0.2-0.3 s is an idle loop.

Runs of the two checkouts to compare are best made side by side, alternating, under one load:
this file runs against any checkout whose engine has `Engine(db, run_id, trainer=,
on_tick=)` (copy it into the other checkout's bench/ and run it there).

    python bench/scale_engine.py --trials 200 1000 2000 [--strategy random] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.profiles import PROFILES  # noqa: E402
from storage.store import Store  # noqa: E402

TRAINER = "bench.sleep_trainer:train"


def _imports() -> tuple[Any, Any, Any]:
    """RunConfig, create_run and Engine from this checkout (older ones kept the first two in
    engine.runner)."""
    from engine.runner import Engine

    try:
        from engine.config import RunConfig
        from engine.setup import create_run
    except ImportError:  # a checkout from before the engine split
        from engine.runner import RunConfig, create_run  # type: ignore[no-redef]
    return RunConfig, create_run, Engine


def _fields(obj: Any) -> set[str]:
    return {f.name for f in fields(obj)}


def cpu_seconds() -> float:
    """CPU seconds of this process, every thread (the engine runs in it here)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_once(tmp: Path, trials: int, workers: int, strategy: str) -> dict[str, Any]:
    run_config, create_run, engine_cls = _imports()
    name = f"bench-scale-{trials}"
    # The search's loop alone: no confirmation stage after it (older checkouts have none).
    no_confirm = (
        {"confirm_candidates": 0} if "confirm_candidates" in _fields(PROFILES["tiny"]) else {}
    )
    PROFILES[name] = replace(
        PROFILES["tiny"], name=name, trials_override=trials, search_epochs=1,
        description="engine scale bench", **no_confirm,
    )  # fmt: skip
    db = tmp / f"scale-{strategy}-{trials}-{time.monotonic_ns()}.db"
    store = Store(db)
    cfg = run_config(
        strategy=strategy, profile=name, data="sample", workers=workers, threads=1,
        final_validation=False,
    )  # fmt: skip
    run_id = create_run(store, cfg)
    store.close()
    ticks: list[float] = []
    engine = engine_cls(
        db, run_id, trainer=TRAINER, on_tick=lambda _e: ticks.append(time.monotonic())
    )
    cpu0 = cpu_seconds()
    status = engine.run()
    cpu = cpu_seconds() - cpu0
    assert status == "finished", status
    store = Store(db, readonly=True)
    rows = [r for r in store.trials(run_id) if r["status"] == "finished"]
    store.close()
    ideal = sum(r["seconds"] for r in rows) / workers
    span = max(r["finished_at"] for r in rows) - min(r["started_at"] for r in rows)
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    return {
        "trials": len(rows),
        "ratio": span / ideal,
        "cpu_ms": 1e3 * cpu / len(rows),
        "stall_s": max(gaps) if gaps else float("nan"),
        "wall_s": span,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, nargs="+", default=[200, 1000, 2000])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--strategy", default="random")
    ap.add_argument("--label", default=Path(__file__).resolve().parent.parent.name)
    args = ap.parse_args()
    print(f"load {os.getloadavg()[0]:.1f}; {args.strategy}, {args.workers} workers")
    print("checkout | trials | ratio | engine CPU ms/result | longest stall s | wall s")
    with tempfile.TemporaryDirectory() as d:
        for n in args.trials:
            r = run_once(Path(d), n, args.workers, args.strategy)
            print(
                f"{args.label} | {r['trials']} | {r['ratio']:.3f} | {r['cpu_ms']:.1f} | "
                f"{r['stall_s']:.2f} | {r['wall_s']:.0f}",
                flush=True,
            )
    print(f"load {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
