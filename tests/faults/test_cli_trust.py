"""The command line says what is wrong with the user's files and numbers, in words, before
anything is created: real `hptui` processes, real files."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from storage.schema import APPLICATION_ID, MIGRATIONS
from tests.faults.clitools import REPO, hptui, make_run, write


def _clear_error(out: subprocess.CompletedProcess[str], *words: str) -> None:
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert "internal error" not in text and "Traceback" not in text, text
    for w in words:
        assert w in " ".join(text.split()), text


def _bad_data_files(tmp: Path) -> dict[str, Path]:
    files = {
        "empty archive": tmp / "empty.tar.gz",
        "unrelated file": tmp / "notes.tar.gz",
        "truncated archive": tmp / "cut.tar.gz",
        "corrupt npz": tmp / "imdb.npz",
        "empty folder": tmp / "aclImdb",
    }
    files["empty archive"].write_bytes(b"")
    files["unrelated file"].write_text("shopping list: eggs, milk\n")
    sample = REPO / "engine" / "sample" / "imdb_sample.tar.xz"
    files["truncated archive"].write_bytes(sample.read_bytes()[:4000])
    with zipfile.ZipFile(files["corrupt npz"], "w") as z:
        z.writestr("x_train.npy", b"not an array")
    files["empty folder"].mkdir()
    return files


def test_a_bad_data_file_is_refused_before_a_run_exists(tmp_path: Path) -> None:
    env = {"HPTUI_CACHE_DIR": str(tmp_path / "cache")}
    for what, path in _bad_data_files(tmp_path).items():
        db = tmp_path / "s.db"
        out = hptui(
            "run", "--headless", "--profile", "tiny", "--data", str(path), "--db", str(db), env=env
        )
        _clear_error(out, f"--data {path}")
        assert not db.exists(), what  # no store, no failed run row


def test_empty_data_and_too_many_workers_are_refused(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    _clear_error(hptui("run", "--headless", "--data", "", "--db", str(db)), "--data is empty")
    out = hptui("run", "--headless", "--data", "sample", "--workers", "1000", "--db", str(db))
    _clear_error(out, "--workers 1000: too many")
    assert not db.exists()


def test_a_damaged_store_is_named_not_an_internal_error(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    run_id = make_run(db)
    write(db, "DROP TABLE trials")
    for args in (["runs"], ["show", str(run_id)], ["export", str(run_id)]):
        _clear_error(hptui(*args, "--db", str(db)), "damaged hptui store", "table trials")
    db2 = tmp_path / "s2.db"
    run_id = make_run(db2)
    write(db2, "ALTER TABLE runs DROP COLUMN phase")
    _clear_error(hptui("runs", "--db", str(db2)), "runs.phase")


def test_an_overlong_store_name_is_a_clear_error(tmp_path: Path) -> None:
    out = hptui("runs", "--db", str(tmp_path / ("x" * 300 + ".db")))
    _clear_error(out, "--db")


@pytest.mark.parametrize("kind", ["latin-1", "directory"])
def test_a_space_file_that_is_not_utf8_json_is_refused(tmp_path: Path, kind: str) -> None:
    db = tmp_path / "s.db"
    run_id = make_run(db)
    f = tmp_path / "edit.json"
    if kind == "directory":
        f.mkdir()
        words = ["is a directory"]
    else:
        f.write_bytes(
            '{"optimizer": {"type": "categorical", "values": ["adam"]}, "x": "é"}'.encode("latin-1")
        )
        words = ["not UTF-8"]
    for opt in ("--file", "--rules"):
        _clear_error(hptui("space", str(run_id), opt, str(f), "--db", str(db)), *words)


def _schema_1_store(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.executescript(MIGRATIONS[0])
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO runs (id, created_at, started_at, status, phase, strategy, profile, seed,"
        " workers, config) VALUES (1, ?, ?, 'finished', 'done', 'random', 'tiny', 5, 2, '{}')",
        (time.time() - 60, time.time() - 60),
    )
    conn.commit()
    conn.close()


def test_read_commands_migrate_an_older_store(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    _schema_1_store(db)
    out = hptui("runs", "--db", str(db))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "migrated" in out.stderr and "random" in out.stdout
    out = hptui("show", "1", "--db", str(db))
    assert out.returncode == 0, out.stdout + out.stderr
    _clear_error(hptui("export", "1", "--db", str(db)), "no finished trial")


def _zombie() -> subprocess.Popen:
    """A process killed and not yet reaped: its pid still answers kill(pid, 0)."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    os.kill(p.pid, signal.SIGKILL)
    time.sleep(0.5)
    return p


def _dead_engine(db: Path, run_id: int, pid: int) -> None:
    write(
        db,
        "UPDATE runs SET engine_pid = ?, engine_host = ?, heartbeat = ? WHERE id = ?",
        (pid, socket.gethostname(), time.time(), run_id),
    )


def test_steering_a_run_whose_engine_was_just_killed_says_so(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    run_id = make_run(db)
    z = _zombie()
    try:
        _dead_engine(db, run_id, z.pid)  # a fresh heartbeat, but the process is gone
        out = hptui("pause", str(run_id), "--db", str(db), timeout=30)
        assert out.returncode == 0, out.stderr
        assert "no engine is running it now" in " ".join(out.stdout.split())
        assert "pause sent" not in out.stdout
    finally:
        z.wait()


def test_resume_within_the_heartbeat_window_of_a_killed_engine_starts_one(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    run_id = make_run(db)
    z = _zombie()
    proc = None
    try:
        _dead_engine(db, run_id, z.pid)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hptui.cli",
                "resume",
                str(run_id),
                "--headless",
                "--db",
                str(db),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO), "HPTUI_CACHE_DIR": str(tmp_path / "c")},
            start_new_session=True,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "engine not running; resuming it from the store" in first, first
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        z.wait()
