"""Helpers for the fault tests that drive `hptui` as a real process."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from engine.config import RunConfig
from engine.setup import create_run
from storage.store import Store

REPO = Path(__file__).resolve().parents[2]


def hptui(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m hptui.cli ARGS` as its own process; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "hptui.cli", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", **(env or {})},
    )


def make_run(
    db: Path, strategy: str = "random", seed: int = 5, workers: int = 2, **config: Any
) -> int:
    store = Store(db)
    try:
        cfg = RunConfig(
            strategy=strategy, profile="tiny", data="sample", workers=workers, seed=seed, **config
        )
        return create_run(store, cfg)
    finally:
        store.close()


def write(db: Path, sql: str, params: tuple = ()) -> None:
    """Edit a store behind hptui's back, as someone crafting or damaging a file would."""
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.execute(sql, params)
    finally:
        conn.close()
