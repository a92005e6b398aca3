"""Steering a run whose store's disk is full: a clear message, never an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.clitools import hptui, make_run
from tests.faults.conftest import fill_disk


@pytest.mark.parametrize("command", ["pause", "cancel", "resume"])
def test_steering_on_a_full_disk_says_the_disk_is_full(small_disk: Path, command: str) -> None:
    db = small_disk / "s.db"
    run_id = make_run(db)
    fill_disk(small_disk / "junk")
    out = hptui(
        command,
        str(run_id),
        "--headless" if command == "resume" else "--db",
        *(["--db", str(db)] if command == "resume" else [str(db)]),
        timeout=60,
    )
    text = " ".join((out.stdout + out.stderr).split())
    assert out.returncode == 1, text
    assert "internal error" not in text and "Traceback" not in text, text
    assert "the disk holding the store is full" in text, text
