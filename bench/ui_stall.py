"""How long does the UI's event loop stall while the engine writes fast?

A writer process inserts trials, epochs, worker rows and events into a store at a high rate
while the app runs headless (Textual's `run_test`) on that store; a 10 ms interval timer
inside the app records the gap between its ticks. The same is measured with no writer, and
both are printed side by side (max and p99 stall = gap beyond 10 ms). Target: max < 100 ms.
`--busy N` starts N pure-Python busy loops for both measurements, so a loaded machine (load
about N plus what else runs) is reproducible; the printout says how many and the load average.
`--trainers N` starts N busy loops at the niceness the engine gives its trainers instead: the
load of the run's own training, which is how the machine is loaded while a user watches.

    python bench/ui_stall.py [--seconds 20] [--trials-per-s 20] [--busy 2] [--trainers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.executor import TRAINER_NICE, lower_priority  # noqa: E402
from engine.reward import DEFAULT_RULES  # noqa: E402
from engine.space import DEFAULT_CONFIG, default_space  # noqa: E402
from hptui.app import HptuiApp  # noqa: E402
from storage.store import Store  # noqa: E402

TICK_S = 0.01
WRITES_PER_TRIAL = 15
CFG = {**DEFAULT_CONFIG, "optimizer": "sgd"}  # the baseline, with SGD


def make_store(path: Path) -> int:
    s = Store(path)
    run_id = s.create_run(
        status="running",
        phase="warmup",
        strategy="bayes-ppo",
        profile="bench",
        seed=0,
        workers=4,
        config={},
        progress={"finished": 0, "failed": 0, "planned": 10**6, "running": 4, "workers": 4},
    )
    s.add_space_version(
        run_id, default_space().to_dict(), [r.to_dict() for r in DEFAULT_RULES], "initial", "bench"
    )
    s.close()
    return run_id


def writer(path: str, run_id: int, trials_per_s: float, stop: Any, counts: Any) -> None:
    """Per trial, as the engine writes them (each its own commit): insert it running,
    10 worker progress rows, 2 epochs, finish it, 1 event: 15 writes."""
    s = Store(path)
    n = 0
    t0 = time.perf_counter()
    while not stop.is_set():
        n += 1
        slot = n % 4
        tid, num = s.add_trial(
            run_id,
            {**CFG, "lr": 1e-3 * (1 + n % 7)},
            status="running",
            phase="warmup",
            strategy="bayes-ppo",
            space_version=1,
            alpha=0.9,
            beta=0.1,
            penalty=10.0,
            rules_fired=["sgd_high_lr"],
            started_at=time.time(),
            worker=slot,
        )
        for e in (1, 2):
            for batch in range(0, 10, 2):
                s.set_worker(run_id, slot, trial_id=tid, epoch=e, epochs=2, batch=batch, batches=10)
            s.add_epoch(
                run_id,
                tid,
                epoch=e,
                loss=0.6,
                accuracy=0.7,
                val_loss=0.6,
                val_accuracy=0.5 + (n % 50) / 100,
                seconds=0.1,
            )
        s.update_trial(
            tid,
            status="finished",
            val_accuracy=0.5 + (n % 50) / 100,
            seconds=1.0,
            reward=40.0 + n % 10,
            finished_at=time.time(),
        )
        s.log(run_id, f"trial {num} finished: val acc {0.5 + (n % 50) / 100:.4f}")
        counts[0] = n
        ahead = n / trials_per_s - (time.perf_counter() - t0)  # keep to the rate
        if ahead > 0:
            time.sleep(ahead)
    s.close()


def busy_loop(stop: Any, nice: int = 0) -> None:
    """Pure Python on one core until told to stop: the load of another process (`nice` 0)
    or of a trainer (the engine's TRAINER_NICE)."""
    lower_priority(nice)
    n = 0
    while not stop.is_set():
        for _ in range(100_000):
            n += 1


async def measure(db: Path, run_id: int, seconds: float) -> tuple[list[float], HptuiApp]:
    app = HptuiApp(str(db), run_id)
    gaps: list[float] = []
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(1.0)  # start-up and the first read are not part of the measure
        last = time.perf_counter()

        def tick() -> None:
            nonlocal last
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

        app.set_interval(TICK_S, tick)
        cpu0 = time.thread_time()
        await asyncio.sleep(seconds)
        app.ui_cpu_ms_per_s = (time.thread_time() - cpu0) * 1000 / seconds  # type: ignore[attr-defined]
    return gaps, app


def stats(gaps: list[float]) -> tuple[float, float, int]:
    stalls = sorted(max(0.0, g - TICK_S) * 1000 for g in gaps)
    p99 = statistics.quantiles(stalls, n=100)[98] if len(stalls) > 100 else max(stalls)
    return max(stalls), p99, len(stalls)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--trials-per-s", type=float, default=20.0)
    ap.add_argument(
        "--busy", type=int, default=0, help="busy-loop processes run during both measurements"
    )
    ap.add_argument(
        "--trainers",
        type=int,
        default=0,
        help=f"busy-loop processes at the trainers' niceness (+{TRAINER_NICE}), during both",
    )
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    busy_stop = mp.Event()
    nices = [0] * args.busy + [TRAINER_NICE] * args.trainers
    busy = [mp.Process(target=busy_loop, args=(busy_stop, n), daemon=True) for n in nices]
    for b in busy:
        b.start()
    try:
        results = run_both(args)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    finally:
        busy_stop.set()
        for b in busy:
            b.join(5)
            if b.is_alive():
                b.kill()
                b.join()
    print(
        f"UI event-loop stall over {args.seconds:.0f} s, 10 ms timer (160x48, poll 0.5 s); "
        f"{os.cpu_count()} cores, {args.busy} busy-loop processes of the bench's own and "
        f"{args.trainers} at the trainers' niceness, "
        f"load average {load0:.1f} at the start, {load} at the end (other processes inflate "
        "stalls)"
    )
    report(results)


def run_both(args: argparse.Namespace) -> dict[str, tuple[Any, ...]]:
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for label, with_writer in (("no writer", False), ("writer", True)):
            db = Path(tmp) / f"{label.replace(' ', '-')}.db"
            run_id = make_store(db)
            stop, counts = mp.Event(), mp.Array("q", 1)
            proc = None
            if with_writer:
                proc = mp.Process(
                    target=writer, args=(str(db), run_id, args.trials_per_s, stop, counts)
                )
                proc.start()
            t0 = time.perf_counter()
            gaps, app = asyncio.run(measure(db, run_id, args.seconds))
            wall = time.perf_counter() - t0
            stop.set()
            if proc is not None:
                proc.join(10)
            n = counts[0]
            results[label] = (
                app.ui_cpu_ms_per_s,  # type: ignore[attr-defined]
                *stats(gaps),
                n,
                n * WRITES_PER_TRIAL / wall,
                app.polls,
                app.read_errors,
                app.table.row_count,
            )
    return results


def report(results: dict[str, tuple[Any, ...]]) -> None:
    print(
        f"{'':12}{'UI CPU ms/s':>12}{'max ms':>9}{'p99 ms':>9}{'ticks':>7}{'trials':>8}"
        f"{'writes/s':>10}{'reads':>7}{'errors':>7}{'rows':>7}"
    )
    for label, (cpu, mx, p99, ticks, n, wps, polls, errs, rows) in results.items():
        print(
            f"{label:12}{cpu:12.0f}{mx:9.1f}{p99:9.1f}{ticks:7d}{n:8d}{wps:10.0f}{polls:7d}"
            f"{errs:7d}{rows:7d}"
        )
    base, loaded = results["no writer"], results["writer"]
    print(
        f"writer / no writer: max stall {loaded[1] / max(base[1], 0.1):.1f}x, "
        f"p99 {loaded[2] / max(base[2], 0.1):.1f}x, UI CPU {loaded[0] / max(base[0], 0.1):.1f}x;"
        f" target max < 100 ms: {'met' if loaded[1] < 100 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
