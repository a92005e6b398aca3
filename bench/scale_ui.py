"""How long the terminal UI takes to open a run of 1k, 10k and 50k trials, and what it holds.

For each size a finished random-search run is built as `bench/scale_store.py` builds it (its
trials and epochs), plus one event per trial (what the log pane reads). Then, for each
terminal size (80x24: one pane at a time behind tabs; 160x48: every pane at once), a real
`HptuiApp` runs headless (Textual's `run_test`) in a process of its own, with the checkout
under test first on the path, and the bench measures:

- first paint: seconds from creating the app until the trials table has rows and a frame
  with them was painted;
- key answer: median seconds from pressing a pane key (alternately `3`, the accuracy plot,
  and `1`, the trials) until the pane shown changed and the next frame was painted (the key
  is sent as the terminal driver sends it: Pilot's `press` also waits out the tabs' underline
  animation, 0.4 s that the screen does not wait for);
- RSS after the first paint (MB, the process's resident memory);
- with a writer adding 50 trials a second (and an event each) to a copy of the store, at
  160x48 (every pane in view): the key answer (median and slowest of 20 presses 0-0.5 s
  apart, so that some land while a poll's rows are applied), and the CPU seconds the UI
  process spends per second over 5 s of it.

    python bench/scale_ui.py [--sizes 1000 10000 50000] [--baseline OTHER_CHECKOUT]

The stores are built once per size (in a temporary folder) and measured by each checkout in
turn, so both see the same files.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
REPO = HERE.parent.parent
SIZES = [(80, 24), (160, 48)]
KEY_PRESSES = 6
WRITER_KEY_PRESSES = 20  # spread over the polls' cycle: a key can land during a poll's work
PAINT_LIMIT_S = 120.0
WRITER_RATE = 50.0  # trials a second
WRITER_SIZE = (160, 48)
CPU_WINDOW_S = 5.0


# --- worker side: runs with the measured checkout first on the path ------------------------


def build_store(db: str, n: int) -> int:
    """The scale_store run of n trials and one event per trial."""
    from bench.scale_store import build
    from storage.store import Store

    store = Store(db)
    run_id = build(store, n)
    with store.conn:
        store.conn.executemany(
            "INSERT INTO events (run_id, created_at, level, message) VALUES (?, ?, 'info', ?)",
            [(run_id, 1_700_000_000.0 + 5 * i, f"trial {i} finished") for i in range(1, n + 1)],
        )
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return run_id


def write_trials(db: str, run_id: int, rate: float, seconds: float) -> None:
    """Trials as the engine writes them (started, then their result) and an event each, at
    `rate` a second, for `seconds`."""
    from bench.scale_store import _config
    from storage.store import Store

    store, rng = Store(db), random.Random(0)
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < seconds:
        cfg = _config(rng)
        tid, number = store.add_trial(
            run_id, cfg, status="running", phase="search", strategy="random", space_version=1
        )
        acc = rng.uniform(0.5, 0.88)
        store.update_trial(
            tid, status="finished", val_accuracy=acc, score=60 * acc, reward=60 * acc,
            seconds=4.0, epochs_run=2, finished_at=time.time(),
        )  # fmt: skip
        store.log(run_id, f"trial {number} finished")
        i += 1
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
    store.close()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _painted(app: Any) -> None:
    """Wait for the next frame to be painted."""
    done = asyncio.Event()
    app.call_after_refresh(done.set)
    await asyncio.wait_for(done.wait(), 30)


def send_key(app: Any, key: str) -> None:
    """A key press as the terminal driver delivers one."""
    from textual import events

    event = events.Key(key, key)
    event.set_sender(app)
    app._driver.send_message(event)


async def measure_app(
    db: str, run_id: int, size: tuple[int, int], writer: bool = False
) -> dict[str, Any]:
    from hptui.app import HptuiApp

    t0 = time.perf_counter()
    app = HptuiApp(db, run_id)
    out: dict[str, Any] = {}
    async with app.run_test(size=size):
        while not app.table.row_count:
            if time.perf_counter() - t0 > PAINT_LIMIT_S:
                raise SystemExit("no rows in the trials table")
            await asyncio.sleep(0.01)
        await _painted(app)
        out["paint_s"] = time.perf_counter() - t0
        out["rss_mb"] = rss_mb()
        proc = None
        if writer:
            seconds = 60 + 2 * PAINT_LIMIT_S  # ended below, once measured
            proc = subprocess.Popen(
                [sys.executable, str(HERE), "--writer", db, str(run_id), str(WRITER_RATE),
                 str(seconds)],
            )  # fmt: skip
            await asyncio.sleep(2.0)  # the trials stream in
            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.sleep(CPU_WINDOW_S)
            out["cpu_per_s"] = (time.process_time() - cpu) / (time.perf_counter() - wall)
        try:
            answers = await key_answers(app, WRITER_KEY_PRESSES if writer else KEY_PRESSES, writer)
            out["key_s"], out["key_max_s"] = statistics.median(answers), max(answers)
        finally:
            if proc is not None:
                proc.kill()
                proc.wait()
        out["rows"] = app.table.row_count
    return out


async def key_answers(app: Any, presses: int, spread: bool) -> list[float]:
    """Seconds from a pane key to the next frame with that pane, per press."""
    answers, rng = [], random.Random(1)
    for i in range(presses):
        if spread:
            await asyncio.sleep(rng.uniform(0.0, 0.5))
        key, pane = ("3", "reward") if i % 2 == 0 else ("1", "trials")
        t = time.perf_counter()
        send_key(app, key)
        while app.current_pane != pane:
            await asyncio.sleep(0.001)
        await _painted(app)
        answers.append(time.perf_counter() - t)
    return answers


def worker(db: str, run_id: int, width: int, height: int, writer: int) -> dict[str, Any]:
    if writer:  # on a copy: the other checkout measures the same store
        copy = f"{db}.writer.db"
        shutil.copyfile(db, copy)
        try:
            return asyncio.run(measure_app(copy, run_id, (width, height), writer=True))
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(copy + suffix).unlink(missing_ok=True)
    return asyncio.run(measure_app(db, run_id, (width, height)))


# --- parent side ---------------------------------------------------------------------------


def _run(checkout: Path, args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(HERE), *args],
        capture_output=True,
        text=True,
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": f"{checkout}{os.pathsep}{REPO}"},
    )
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} with {checkout} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    sys.path.insert(0, str(REPO))
    from bench._common import machine, table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    ap.add_argument("--baseline", type=Path, help="another checkout, measured alternately")
    args = ap.parse_args()
    checkouts = {"this": REPO}
    if args.baseline:
        checkouts = {"before": args.baseline.resolve(), "after": REPO}
    print(f"machine: {machine()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            db = str(Path(tmp) / f"ui-{n}.db")
            run_id = _run(REPO, ["--build", db, str(n)])["run_id"]
            for label, path in checkouts.items():
                row = [f"{n:,}", label]
                for w, h in SIZES:
                    m = _run(path, ["--worker", db, str(run_id), str(w), str(h), "0"])
                    row += [f"{m['paint_s']:.2f}", f"{1000 * m['key_s']:.0f}", f"{m['rss_mb']:.0f}"]
                w, h = WRITER_SIZE
                m = _run(path, ["--worker", db, str(run_id), str(w), str(h), "1"])
                row += [f"{1000 * m['key_s']:.0f} / {1000 * m['key_max_s']:.0f}"]
                row += [f"{m['cpu_per_s']:.2f}"]
                rows.append(row)
                print(table(HEADERS, rows[-1:]), flush=True)
    print()
    print(table(HEADERS, rows))
    print(f"load average after: {machine().rsplit('load average ', 1)[-1]}")


HEADERS = [
    "trials", "checkout",
    "80x24 paint s", "80x24 key ms", "80x24 RSS MB",
    "160x48 paint s", "160x48 key ms", "160x48 RSS MB",
    "writer: key ms (median / max)", "writer: CPU s/s",
]  # fmt: skip

if __name__ == "__main__":
    if sys.argv[1:2] == ["--build"]:
        print(json.dumps({"run_id": build_store(sys.argv[2], int(sys.argv[3]))}))
    elif sys.argv[1:2] == ["--worker"]:
        print(json.dumps(worker(sys.argv[2], *map(int, sys.argv[3:7]))))
    elif sys.argv[1:2] == ["--writer"]:
        write_trials(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
    else:
        main()
