"""Wall time of the commands that do not train: `hptui runs`, `show`, `pause`.

Each command runs as its own process (`python -m hptui.cli ...`), as a user types it, against
a store holding one run with a few finished trials; `pause` finds no engine alive, so it writes
its command row and answers at once (what it costs is the command line's, not an engine's
poll). The store is made by the checkout under test, so an older checkout can be timed too:

    python bench/cli_speed.py [--reps 10] [--repo PATH_TO_ANOTHER_CHECKOUT]

Reported: median and fastest wall seconds per command, with the load average, since the
numbers move with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import REPO, machine, table  # noqa: E402

MAKE_STORE = """
import sys, time
from engine.config import RunConfig
from engine.setup import create_run
from engine.space import DEFAULT_CONFIG
from storage.store import Store
store = Store(sys.argv[1])
run_id = create_run(store, RunConfig(strategy="random", profile="tiny", data="sample", workers=2))
for i in range(8):
    tid, _ = store.add_trial(run_id, {**DEFAULT_CONFIG, "dropout": 0.2, "embed_dim": 64},
        status="running", phase="search", strategy="random", space_version=1, max_epochs=1,
        started_at=time.time())
    store.update_trial(tid, status="finished", val_accuracy=0.5 + i / 100, seconds=2.0,
        epochs_run=1, best_epoch=1, val_loss=0.6, reward=30.0 + i, score=30.0 + i,
        alpha=0.6, beta=0.4, penalty=0.0, finished_at=time.time())
store.update_run(run_id, status="paused")
store.close()
print(run_id)
"""


def make_store(repo: Path, db: Path) -> int:
    out = subprocess.run(
        [sys.executable, "-c", MAKE_STORE, str(db)],
        cwd=repo, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )  # fmt: skip
    return int(out.stdout.strip().splitlines()[-1])


def time_command(repo: Path, args: list[str], reps: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(repo), "COLUMNS": "200"}
    walls = []
    for _ in range(reps):
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "hptui.cli", *args], cwd=repo, capture_output=True, env=env
        )
        walls.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise SystemExit(f"hptui {' '.join(args)} failed: {done.stderr.decode()[-500:]}")
    return walls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--repo", type=Path, default=REPO, help="the checkout to time")
    args = ap.parse_args()
    repo = args.repo.resolve()
    print(f"checkout: {repo}")
    print(f"machine: {machine()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "speed.db"
        run_id = make_store(repo, db)
        for args_ in (["runs"], ["show", str(run_id)], ["pause", str(run_id)]):
            walls = time_command(repo, [*args_, "--db", str(db)], args.reps)
            rows.append(
                [
                    "hptui " + " ".join(args_),
                    f"{statistics.median(walls):.3f}",
                    f"{min(walls):.3f}",
                    str(args.reps),
                ]
            )
    print(table(["command", "median s", "fastest s", "reps"], rows))
    print(f"load average after: {machine().rsplit('load average ', 1)[-1]}")


if __name__ == "__main__":
    main()
