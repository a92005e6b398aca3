"""What the store costs as a run grows: 1k, 10k and 50k trials.

For each size a store is built through the Store API, in the engine's order (trials numbered
as they start, their epochs after them, about 5% failed and 10% pruned, final validation
last; one transaction, through the store's own row insert, so that building takes seconds),
then measured:

- `hptui show RUN` and `hptui export RUN`, each as its own process, as a user types them.
  `show` prints which hyperparameters matter: a checkout whose engine stores it
  (`Store.set_importance`) gets it stored as its engine leaves it at the search's end (the
  same computation, timed: `importance s`), and `show` is timed with it and again without it
  (`old run s`: a run of an hptui before, whose importance `show` computes); `show --slices`
  is timed too;
- `Store.best_trial` and `Store.progress_counts` (the engine's heartbeat), in process;
- the bytes one `Store.set_estimates` call adds to the write-ahead log, with the estimates
  of every finished search trial passed as the engine passes them: once with one value new
  (the others as stored) and once with every value moved a little (a refitted GP's).

Each size is built and measured by the checkout under test in its own process, so an older
checkout can be measured beside this one, alternating per size:

    python bench/scale_store.py [--sizes 1000 10000 50000] [--reps 3] [--baseline CHECKOUT]

With --baseline the two checkouts' `show` and `export` outputs are compared too (the stores
are built from the same seed, so they must be equal): `show`'s up to its importance table,
and the whole of it without a stored importance (an old run's) against the baseline's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
REPO = HERE.parent.parent
EPOCHS = 2  # every search trial's planned epochs, as the quick profile's
FINAL_TRIALS = 6  # final validation: best and default, 3 trainings each


# --- worker side: runs with the measured checkout's `storage` on the path ------------------


def _config(rng: random.Random) -> dict[str, Any]:
    return {
        "lr": math.exp(rng.uniform(math.log(1e-4), math.log(5e-3))),
        "batch_size": rng.choice([16, 32, 64]),
        "lstm_units": rng.choice([32, 64, 128]),
        "dropout": rng.uniform(0.0, 0.5),
        "embed_dim": rng.choice([64, 128]),
        "lstm_layers": rng.choice([1, 2]),
        "optimizer": rng.choice(["adam", "rmsprop", "sgd"]),
    }


def _trial_row(rng: random.Random, run_id: int, number: int, t0: float) -> dict[str, Any]:
    """A search trial as the engine leaves it once its result is in."""
    cfg = _config(rng)
    roll = rng.random()
    status = "failed" if roll < 0.05 else "pruned" if roll < 0.15 else "finished"
    epochs = {"failed": None, "pruned": 1, "finished": EPOCHS}[status]
    # best near lr 1e-3, better with adam, less so with much dropout: something to explain
    peak = 0.25 * math.exp(-((math.log10(cfg["lr"]) + 3.0) ** 2))
    mean = 0.55 + peak + 0.04 * (cfg["optimizer"] == "adam") - 0.1 * cfg["dropout"]
    acc = None if status == "failed" else min(0.88, max(0.5, mean + rng.gauss(0.0, 0.02)))
    seconds = 4.0 + 4.0 * (epochs or 0) * rng.random()
    score = None if acc is None else 60.0 * acc - 0.04 * seconds
    start = t0 + number * 5.0
    return {
        "run_id": run_id, "number": number, "status": status, "phase": "search",
        "strategy": "random", "space_version": 1, "config": cfg,
        "max_epochs": EPOCHS, "epochs_run": epochs, "best_epoch": epochs,
        "val_accuracy": acc, "val_loss": None if acc is None else 1.0 - acc,
        "seconds": seconds, "alpha": 0.6, "beta": 0.4, "penalty": 0.0, "rules_fired": [],
        "reward": score, "score": score,
        "est_accuracy": None if status != "finished" else acc - 0.01,
        "error": "ResourceExhaustedError: OOM" if status == "failed" else None,
        "worker": number % 2, "device": "cpu", "precision": "float32",
        "created_at": start, "started_at": start, "finished_at": start + seconds,
    }  # fmt: skip


def build(store: Any, n: int) -> int:
    """A finished random-search run of n search trials and its final validation."""
    from engine.space import default_space

    rng, t0 = random.Random(n), 1_700_000_000.0
    run_id = store.create_run(
        status="finished", phase="done", strategy="random", profile="quick", seed=1, workers=2,
        config={"strategy": "random", "profile": "quick"}, data_source="sample",
        data_location="bundled", data_reason="bench", device="cpu", precision="float32",
        planned_trials=n, started_at=t0, finished_at=t0 + 5.0 * (n + FINAL_TRIALS + 1),
    )  # fmt: skip
    store.add_space_version(run_id, default_space().to_dict(), [], "initial", "engine")
    with store.conn:
        for number in range(1, n + FINAL_TRIALS + 1):
            row = _trial_row(rng, run_id, number, t0)
            if number > n:  # final validation, after the search
                acc = row["val_accuracy"] or 0.8
                row.update(phase="final", status="finished", epochs_run=EPOCHS,
                           val_accuracy=acc, test_accuracy=acc, est_accuracy=None, score=None,
                           reward=None)  # fmt: skip
            trial_id = store._insert_row("trials", row)
            for epoch in range(1, (row["epochs_run"] or 0) + 1):
                store._insert_row("epochs", {
                    "run_id": run_id, "trial_id": trial_id, "epoch": epoch, "loss": 0.6,
                    "accuracy": 0.7, "val_loss": 0.6, "val_accuracy": row["val_accuracy"],
                    "seconds": row["seconds"] / row["epochs_run"],
                })  # fmt: skip
    return run_id


def _median_ms(fn: Any, reps: int) -> float:
    walls = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t)
    return 1000 * statistics.median(walls)


def _wal_bytes(store: Any, fn: Any) -> int:
    """Bytes `fn` adds to the write-ahead log, from an empty one."""
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    fn()
    wal = Path(f"{store.path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def worker(db: str, n: int) -> dict[str, Any]:
    from storage.store import Store

    store = Store(db)
    t = time.perf_counter()
    run_id = build(store, n)
    built_s = time.perf_counter() - t
    stored = dict(
        store.conn.execute(
            "SELECT id, est_accuracy FROM trials WHERE run_id = ? AND status = 'finished' "
            "AND phase != 'final' ORDER BY id",
            [run_id],
        ).fetchall()
    )
    last = max(stored)
    one_new = {**stored, last: stored[last] + 0.001}
    all_new = {k: v + 1e-6 for k, v in stored.items()}
    out = {
        "run_id": run_id,
        "built_s": built_s,
        "best_ms": _median_ms(lambda: store.best_trial(run_id), 50),
        "progress_ms": _median_ms(lambda: store.progress_counts(run_id), 20),
        "wal_one_new": _wal_bytes(store, lambda: store.set_estimates(run_id, one_new)),
        "wal_all_new": _wal_bytes(store, lambda: store.set_estimates(run_id, all_new)),
    }
    out["importance_s"] = store_importance(store, run_id)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return out


def store_importance(store: Any, run_id: int) -> float | None:
    """Store which hyperparameters matter as the engine does at the search's end, where the
    checkout's store keeps it; the seconds it took (read, fit and write), or None."""
    if not hasattr(store, "set_importance"):
        return None
    import sklearn.gaussian_process  # noqa: F401  (loaded in the engine already: not timed)

    from engine.importance import READ_MAX, record
    from engine.space import SearchSpace

    t = time.perf_counter()
    cur = store.current_space(run_id)
    found = record(store.search_results(run_id, READ_MAX), SearchSpace.from_dict(cur["space"]))
    finished = store.search_counts(run_id)["finished"]
    store.set_importance(run_id, space_version=cur["version"], finished=finished, **found)
    return time.perf_counter() - t


# --- parent side ---------------------------------------------------------------------------


def measure_store(checkout: Path, db: Path, n: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(HERE), "--worker", str(db), str(n)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(checkout)},
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"building {n} trials with {checkout} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def time_cli(checkout: Path, args: list[str], reps: int) -> tuple[float, str]:
    """Median wall seconds of `hptui ARGS` as its own process, and its output."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "COLUMNS": "200"}
    walls, out = [], ""
    for _ in range(reps):
        t = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "hptui.cli", *args], cwd=checkout, capture_output=True,
            text=True, env=env,
        )  # fmt: skip
        walls.append(time.perf_counter() - t)
        if done.returncode != 0:
            raise SystemExit(f"hptui {' '.join(args)} failed: {done.stderr[-1000:]}")
        out = done.stdout
    return statistics.median(walls), out


def measure(checkout: Path, tmp: Path, n: int, reps: int) -> dict[str, Any]:
    db = tmp / f"{checkout.name}-{n}.db"
    m = measure_store(checkout, db, n)
    run, at = str(m["run_id"]), ["--db", str(db)]
    m["show_s"], m["show_out"] = time_cli(checkout, ["show", run, *at], reps)
    m["slices_s"], _ = time_cli(checkout, ["show", run, "--slices", *at], reps)
    m["export_s"], m["export_out"] = time_cli(checkout, ["export", run, *at], reps)
    m["old_show_s"], m["old_show_out"] = m["show_s"], m["show_out"]
    if m["importance_s"] is not None:  # as a run of an hptui that stored none
        conn = sqlite3.connect(db)
        with conn:
            conn.execute("DELETE FROM importance")
        conn.close()
        m["old_show_s"], m["old_show_out"] = time_cli(checkout, ["show", run, *at], reps)
    db.unlink()
    return m


def _secs(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def row(label: str, n: int, m: dict[str, Any]) -> list[str]:
    mb = 2**20
    return [
        f"{n:,}", label, f"{m['show_s']:.2f}", f"{m['old_show_s']:.2f}", f"{m['slices_s']:.2f}",
        f"{m['export_s']:.2f}", _secs(m["importance_s"]), f"{m['best_ms']:.2f}",
        f"{m['progress_ms']:.2f}", f"{m['wal_one_new'] / mb:.2f}", f"{m['wal_all_new'] / mb:.2f}",
    ]  # fmt: skip


def before_matters(show: str) -> str:
    """`show`'s output up to its importance table."""
    return show.split("what matters:", 1)[0]


def main() -> None:
    sys.path.insert(0, str(REPO))
    from bench._common import machine, table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    ap.add_argument("--reps", type=int, default=3, help="runs of each command (median)")
    ap.add_argument("--baseline", type=Path, help="another checkout, measured alternately")
    ap.add_argument("--quick", action="store_true", help="sizes 1000 and 5000, 1 rep")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.reps = [1000, 5000], 1
    checkouts = {"this": REPO}
    if args.baseline:
        checkouts = {"baseline": args.baseline.resolve(), **checkouts}
    print(f"machine: {machine()}")
    rows, differ = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            got = {
                label: measure(path, Path(tmp), n, args.reps) for label, path in checkouts.items()
            }
            rows += [row(label, n, m) for label, m in got.items()]
            print(table(HEADERS, rows[-len(got) :]), flush=True)
            if args.baseline:
                this, base = got["this"], got["baseline"]
                same = {
                    "export": this["export_out"] == base["export_out"],
                    "show up to its importance table": (
                        before_matters(this["show_out"]) == before_matters(base["show_out"])
                    ),
                    "show of an old run": this["old_show_out"] == base["show_out"],
                }
                differ += [f"{n}: {what} differs" for what, ok in same.items() if not ok]
    print()
    print(table(HEADERS, rows))
    if args.baseline:
        equal = "export, show up to its importance table, and show of an old run equal at every n"
        print("outputs: " + ("; ".join(differ) if differ else equal))
    print(f"load average after: {machine().rsplit('load average ', 1)[-1]}")


HEADERS = [
    "trials", "checkout", "show s", "old run s", "show --slices s", "export s", "importance s",
    "best_trial ms", "progress_counts ms", "set_estimates WAL MB (1 new)", "(all new)",
]  # fmt: skip

if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        print(json.dumps(worker(sys.argv[2], int(sys.argv[3]))))
    else:
        main()
