"""Remake the README's picture: a real search (the built-in `digits` objective, the quick
profile, seconds on a CPU) is started in its own engine process, and once a third of its
trials are in, the terminal UI opens on it and saves its screen as SVG while the trainers are
still running.

    python scripts/screenshot.py [--out docs/hptui.svg] [--size 160x44] [--objective digits]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def wait_for_trials(db: Path, run_id: int, n: int, timeout: float = 300.0) -> None:
    from storage.store import Store

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            store = Store(db, readonly=True)
            try:
                done = len(store.trials(run_id, status="finished"))
                run = store.run(run_id)
            finally:
                store.close()
            if done >= n or (run and run["status"] not in ("running", "paused")):
                return
        time.sleep(0.5)
    raise SystemExit(f"run {run_id} had fewer than {n} finished trials after {timeout:.0f} s")


async def snap(db: Path, run_id: int, size: tuple[int, int], out: Path) -> None:
    from hptui.app import HptuiApp

    app = HptuiApp(str(db), run_id)
    async with app.run_test(size=size) as pilot:
        await pilot.pause(3.0)  # the first polls: trials, plot, trainers, log
        app.save_screenshot(filename=out.name, path=str(out.parent))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "hptui.svg"))
    p.add_argument("--size", default="160x44", help="columns x rows")
    p.add_argument("--objective", default="digits")
    p.add_argument("--after", type=int, default=14, help="finished trials before the picture")
    args = p.parse_args(argv)
    cols, rows = (int(v) for v in args.size.lower().split("x"))
    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "runs.db"
        cmd = [sys.executable, "-m", "hptui.cli", "run", "--objective", args.objective,
               "--profile", "quick", "--db", str(db)]  # fmt: skip
        # No terminal: `run` falls back to its headless view; the picture is the UI's own.
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_trials(db, 1, args.after)
            asyncio.run(snap(db, 1, (cols, rows), out))
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
