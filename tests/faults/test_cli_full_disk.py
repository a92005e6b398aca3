"""Steering a run whose store's disk is full: a clear message, never an internal error."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.clitools import hptui, make_run


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB filesystem (tmpfs) to fill up; needs root."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(path: Path) -> None:
    with open(path, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass


@pytest.mark.parametrize("command", ["pause", "cancel", "resume"])
def test_steering_on_a_full_disk_says_the_disk_is_full(small_disk: Path, command: str) -> None:
    db = small_disk / "s.db"
    run_id = make_run(db)
    _fill(small_disk / "junk")
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
