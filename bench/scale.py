"""Scale, in one table: what a run costs hptui as it grows, engine, UI and command line side
by side, against the targets.

It runs the three scale benches' own measurements in one invocation:
- the engine (`bench/scale_engine.py`): real `Engine` runs with sleeping trainers of
  `--engine-trials` trials: the overhead ratio, engine CPU per result, the longest loop stall;
- the store and command line (`bench/scale_store.py`): stores of `--sizes` trials, `show` and
  `export` wall time;
- the UI (`bench/scale_ui.py`): first paint and key answer at 80x24 and 160x48, RSS, and the
  slowest key while a writer adds 50 trials a second.

    python bench/scale.py [--engine-trials 200 2000] [--sizes 1000 10000 50000]

The component benches say how each number is taken, and take `--baseline` for before/after.
Each row is one n; a bench that did not run at that n leaves its columns empty (the engine
runs take their n in real time: 2,000 sleeping 0.25-s trials on 2 workers are 4 minutes).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import scale_engine, scale_store, scale_ui  # noqa: E402
from bench._common import machine, table  # noqa: E402

TARGETS = (
    "targets: ratio <= 1.03 at 200 and <= 1.05 at 2,000; engine CPU <= 50 ms a result at "
    "10,000; no stall over 1 s; first paint <= 2 s and keys <= 200 ms at 50,000; show and "
    "export <= 0.5 s at 50,000; RSS independent of n"
)
HEADERS = [
    "trials", "ratio", "engine CPU ms/result", "longest stall s",
    "paint s 80x24 / 160x48", "key ms 80x24 / 160x48", "RSS MB", "writer: slowest key ms",
    "show s", "export s",
]  # fmt: skip


def engine_row(n: int, workers: int) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as d:
        r = scale_engine.run_once(Path(d), n, workers, "random")
    return {
        "ratio": f"{r['ratio']:.3f}",
        "engine CPU ms/result": f"{r['cpu_ms']:.1f}",
        "longest stall s": f"{r['stall_s']:.2f}",
    }


def store_row(n: int, reps: int) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as d:
        m = scale_store.measure(REPO, Path(d), n, reps)
    return {"show s": f"{m['show_s']:.2f}", "export s": f"{m['export_s']:.2f}"}


def ui_row(n: int) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as d:
        db = str(Path(d) / f"ui-{n}.db")
        run_id = str(scale_ui._run(REPO, ["--build", db, str(n)])["run_id"])
        small, large = (
            scale_ui._run(REPO, ["--worker", db, run_id, str(w), str(h), "0"])
            for w, h in scale_ui.SIZES
        )
        w, h = scale_ui.WRITER_SIZE
        busy = scale_ui._run(REPO, ["--worker", db, run_id, str(w), str(h), "1"])
    return {
        "paint s 80x24 / 160x48": f"{small['paint_s']:.2f} / {large['paint_s']:.2f}",
        "key ms 80x24 / 160x48": f"{1000 * small['key_s']:.0f} / {1000 * large['key_s']:.0f}",
        "RSS MB": f"{max(small['rss_mb'], large['rss_mb']):.0f}",
        "writer: slowest key ms": f"{1000 * busy['key_max_s']:.0f}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine-trials", type=int, nargs="*", default=[200, 2000])
    ap.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000, 50000])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3, help="runs of show and export (median)")
    args = ap.parse_args()
    print(f"machine: {machine()}", flush=True)
    rows: dict[int, dict[str, Any]] = {}
    for n in args.engine_trials:
        rows.setdefault(n, {}).update(engine_row(n, args.workers))
        print(f"engine, {n} trials: {rows[n]}", flush=True)
    for n in args.sizes:
        rows.setdefault(n, {}).update(store_row(n, args.reps))
        rows[n].update(ui_row(n))
        print(f"store and UI, {n} trials: {rows[n]}", flush=True)
    print()
    print(table(HEADERS, [[f"{n:,}", *(rows[n].get(h, "") for h in HEADERS[1:])]
                          for n in sorted(rows)]))  # fmt: skip
    print(TARGETS)
    print(f"load average after: {machine().rsplit('load average ', 1)[-1]}")


if __name__ == "__main__":
    main()
