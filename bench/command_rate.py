"""Commands against a live run: 5 a second for 30 s, and not one lost.

A real engine (in this process, with its real worker processes and the sleeping trainer
`bench.sleep_trainer:train`, 0.25 s a trial) runs a random search too long to end by itself.
Once a trial runs, a second process writes commands into the store as the UI does (a row in
`commands` each), 5 a second for 30 s, cycling through pause, resume, pruner switches and
search-space edits, then a cancel. When the engine has ended, every command row must be
answered (done or refused), none pending, answered in the order sent. Reported: commands
sent and answered, how long each waited for its answer (handled_at - created_at), trials
finished meanwhile, and the load average.

    python bench/command_rate.py [--rate 5] [--seconds 30] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Light imports only at module level: the spawned workers import this module again.
from bench._common import REPO, machine, table  # noqa: E402
from engine.profiles import PROFILES  # noqa: E402
from storage.store import Store  # noqa: E402

TRAINER = "bench.sleep_trainer:train"

SENDER = """
import sys, time
from storage import contract
from storage.store import Store

db, run_id, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
CYCLE = [
    (contract.PAUSE, {}),
    (contract.EDIT_PRUNER, contract.pruner_edit("median", "ui")),
    (contract.RESUME, {}),
    (contract.EDIT_SPACE, contract.space_edit({"batch_size": [16, 32]}, "ui")),
    (contract.EDIT_PRUNER, contract.pruner_edit("none", "ui")),
    (contract.EDIT_SPACE, contract.space_edit({"batch_size": [16, 32, 64]}, "ui")),
]
store = Store(db, create=False)
while not store.trials(run_id, status="running"):
    time.sleep(0.05)
start, n = time.monotonic(), int(rate * seconds)
for i in range(n):
    time.sleep(max(0.0, start + i / rate - time.monotonic()))
    kind, payload = CYCLE[i % len(CYCLE)]
    store.add_command(run_id, kind, payload)
store.add_command(run_id, contract.CANCEL)
print(n + 1, time.monotonic() - start)
"""


def register_profile() -> str:
    """The tiny profile's data, with a random search far longer than the bench."""
    name = "bench-command-rate"
    PROFILES[name] = replace(
        PROFILES["tiny"], name=name, trials_override=100_000, search_epochs=1,
        description="command-rate bench",
    )  # fmt: skip
    return name


def main() -> None:
    from engine.config import RunConfig
    from engine.runner import Engine
    from engine.setup import create_run

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=5.0, help="commands a second")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("HPTUI_CACHE_DIR", str(Path(tmp) / "cache"))
        db = Path(tmp) / "rate.db"
        store = Store(db)
        cfg = RunConfig(
            strategy="random", profile=register_profile(), data="sample",
            workers=args.workers, threads=1, final_validation=False,
        )  # fmt: skip
        run_id = create_run(store, cfg)
        store.close()
        sender = subprocess.Popen(
            [sys.executable, "-c", SENDER, str(db), str(run_id), str(args.rate),
             str(args.seconds)],
            cwd=REPO, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        try:
            status = Engine(db, run_id, trainer=TRAINER).run()
        finally:
            out, _ = sender.communicate(timeout=args.seconds + 120)
        sent, send_s = out.split()
        store = Store(db, readonly=True)
        try:
            rows = store.conn.execute(
                "SELECT id, kind, status, created_at, handled_at FROM commands "
                "WHERE run_id = ? ORDER BY id",
                [run_id],
            ).fetchall()
            trials = len(store.trials(run_id, status="finished"))
        finally:
            store.close()
    by_status: dict[str, int] = {}
    for r in rows:
        by_status[r[2]] = by_status.get(r[2], 0) + 1
    waits = sorted(r[4] - r[3] for r in rows if r[4] is not None)
    in_order = all(a[4] <= b[4] for a, b in zip(rows, rows[1:], strict=False) if a[4] and b[4])
    print(f"engine ended {status}; {sent} commands sent in {float(send_s):.1f} s")
    print(
        table(
            ["sent", "done", "refused", "pending", "answered in order", "trials finished"],
            [
                [
                    len(rows), by_status.get("done", 0), by_status.get("refused", 0),
                    by_status.get("pending", 0), "yes" if in_order else "NO", trials,
                ]
            ],
        )
    )  # fmt: skip
    if waits:
        p95 = waits[min(len(waits) - 1, int(0.95 * len(waits)))]
        print(
            f"wait for an answer: median {statistics.median(waits) * 1000:.0f} ms, "
            f"95th percentile {p95 * 1000:.0f} ms, longest {waits[-1] * 1000:.0f} ms"
        )
    print(f"load average after: {machine().rsplit('load average ', 1)[-1]}")
    lost = len(rows) - len(waits)
    if lost or len(rows) != int(sent) or not in_order:
        raise SystemExit(f"FAILED: {lost} command(s) not answered, or answered out of order")


if __name__ == "__main__":
    main()
