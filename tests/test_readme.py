"""The README: short, and every command in it run here (or by CI: `bash scripts/test`).

Each line of its bash blocks must be known to COVERED below, so a command added to the README
without a test fails here. The steering commands run for real against a live run of the
built-in digits objective; the main job and the examples run with the `tiny` profile added
(the README's own profile, quick, takes minutes: tests/test_examples.py runs the examples too).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# README command -> how it is covered: "run" (the steering test runs it as written), "tiny"
# (run here with --profile tiny added), or the test or CI step that runs it.
COVERED = {
    "bash scripts/hptui run --headless --data auto": "tiny",
    "bash scripts/test": "CI (.ci/run)",
    "hptui runs": "run",
    "hptui pause 1; hptui resume 1": "run",
    "hptui space 1 --set lr=1e-4:5e-3:log --set batch_size=16,32": "run",
    "hptui show 1 --slices": "run",
    "hptui export 1 -o best.json": "run",
    "hptui run --headless --objective examples/keras_digits.py": "tiny",
    "hptui run --headless --objective examples/sklearn_digits.py --pruner median": "tiny",
    "python examples/search_from_python.py": "tests/test_examples.py",
}


def readme_commands() -> list[str]:
    """The command lines of the README's bash blocks, comments cut."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line]


def test_readme_is_short_and_every_command_is_covered() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 150
    commands = readme_commands()
    assert commands, "no bash block found"
    assert set(commands) == set(COVERED), set(commands) ^ set(COVERED)
    assert (ROOT / "docs" / "hptui.svg").is_file()  # the picture the README shows


def hptui(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "hptui.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HPTUI_DB": str(cwd / "hptui.db")},
    )
    if check:
        assert done.returncode == 0, f"hptui {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def run_status(cwd: Path) -> str:
    """Run 1's status; "" while the store or the run is still being made."""
    import sqlite3

    conn = sqlite3.connect(cwd / "hptui.db")
    try:
        row = conn.execute("SELECT status FROM runs WHERE id = 1").fetchone()
    except sqlite3.OperationalError:  # the schema is not written yet
        return ""
    finally:
        conn.close()
    return row[0] if row else ""


@pytest.mark.slow
def test_readme_steering_commands_run_against_a_live_run(tmp_path: Path) -> None:
    """The Steering block as written, in order, while a digits run is going."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HPTUI_DB": str(tmp_path / "hptui.db")}
    engine = subprocess.Popen(
        [sys.executable, "-m", "hptui.cli", "run", "--headless", "--objective", "digits"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "hptui.db").exists() or run_status(tmp_path) != "running":
            assert time.monotonic() < deadline, "the run did not start"
            time.sleep(0.2)
        runs = hptui("runs", cwd=tmp_path)
        assert "digits" in runs.stdout
        for line in ("hptui pause 1; hptui resume 1",
                     "hptui space 1 --set lr=1e-4:5e-3:log --set batch_size=16,32"):  # fmt: skip
            for command in line.split(";"):
                hptui(*command.split()[1:], cwd=tmp_path)
        assert engine.wait(timeout=300) == 0
    finally:
        if engine.poll() is None:
            engine.kill()
    assert run_status(tmp_path) == "finished"
    show = hptui("show", "1", "--slices", cwd=tmp_path)
    assert "lr" in show.stdout
    hptui("export", "1", "-o", "best.json", cwd=tmp_path)
    assert '"hyperparameters"' in (tmp_path / "best.json").read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize(
    "command", [c for c, how in COVERED.items() if how == "tiny" and "examples/" in c]
)
def test_readme_objective_commands_run(tmp_path: Path, command: str) -> None:
    args = command.split()[1:]  # after `hptui`
    args = [str(ROOT / a) if a.startswith("examples/") else a for a in args]
    done = hptui(*args, "--profile", "tiny", cwd=tmp_path)
    assert "verdict" in done.stdout
    assert run_status(tmp_path) == "finished"


@pytest.mark.slow
def test_readme_main_job_runs(tmp_path: Path) -> None:
    """`bash scripts/hptui run --headless --data auto`, with the tiny profile."""
    done = subprocess.run(
        [
            "bash",
            str(ROOT / "scripts" / "hptui"),
            "run",
            "--headless",
            "--data",
            "auto",
            "--profile",
            "tiny",
        ],  # fmt: skip
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "HPTUI_DB": str(tmp_path / "hptui.db")},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert run_status(tmp_path) == "finished"
