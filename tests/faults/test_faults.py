"""Faults done for real, then the store checked: integrity ok, no finished trial lost or
repeated, and the run carries on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import RunConfig
from engine.runner import Engine
from engine.setup import create_run
from storage.contract import CONFIRM_PHASE, FINAL_PHASE
from storage.store import Store
from tests.conftest import FAKE_TRAINER
from tests.faults.conftest import REPO, Engines, fill_disk, query, wait_until

SEARCH = f"phase NOT IN ('{FINAL_PHASE}', '{CONFIRM_PHASE}')"


def new_run(db: Path, strategy: str = "bayes-ppo", seed: int = 5) -> int:
    store = Store(db)
    try:
        return create_run(
            store, RunConfig(strategy=strategy, profile="tiny", data="sample", workers=2, seed=seed)
        )
    finally:
        store.close()


def finished(db: Path) -> set[tuple]:
    return set(
        query(
            db,
            f"SELECT id, json_extract(extra, '$.key'), val_accuracy FROM trials "
            f"WHERE status = 'finished' AND {SEARCH}",
        )
    )


@pytest.mark.slow
def test_sigkill_engine_three_times_then_resume_loses_and_repeats_nothing(
    tmp_path: Path, fault_env: None, engines: Engines
) -> None:
    db = tmp_path / "kill.db"
    run_id = new_run(db)
    kept: set[tuple] = set()
    for kill_after in (2, 5, 8):
        proc = engines.start(db, run_id)
        wait_until(lambda n=kill_after: len(finished(db)) >= n, 120, f"{kill_after} trials")
        # Kill while a trial is running, so there is something to interrupt.
        wait_until(
            lambda: query(db, "SELECT count(*) FROM trials WHERE status = 'running'")[0][0] > 0,
            30,
            "a running trial",
        )
        before = finished(db)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert before >= kept, "a finished trial vanished"
        kept = before
    final = engines.start(db, run_id)
    out, _ = final.communicate(timeout=180)
    assert final.returncode == 0, out.decode()[-2000:]

    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    after = finished(db)
    assert kept <= after, "finished trials lost across kills"
    keys = query(
        db,
        f"SELECT json_extract(extra, '$.key'), count(*) FROM trials "
        f"WHERE status = 'finished' AND {SEARCH} GROUP BY 1 HAVING count(*) > 1",
    )
    assert keys == [], f"proposals trained to the end twice: {keys}"
    # tiny bayes-ppo plans 3 warm-up + 2x1 + 2x2 PPO steps: all done exactly once
    assert len(after) == 9
    assert query(db, "SELECT count(*) FROM trials WHERE status = 'interrupted'")[0][0] >= 3
    assert query(db, "SELECT status, phase FROM runs WHERE id = ?", (run_id,)) == [
        ("finished", "done")
    ]
    assert query(db, "SELECT count(*) FROM ppo_updates")[0][0] == 2
    # the chosen and the default configuration, or the default alone when it was chosen
    assert query(db, "SELECT count(*) FROM trials WHERE phase = 'final' AND status = 'finished'")[
        0
    ][0] in (1, 2)
    assert (
        query(db, "SELECT count(*) FROM trials WHERE phase = 'confirm' AND status = 'finished'")[0][
            0
        ]
        == 2
    )
    events = [m for (m,) in query(db, "SELECT message FROM events")]
    assert sum("resumed: strategy state restored" in m for m in events) == 3


def test_second_engine_is_refused_and_a_dead_ones_lock_is_taken_over(
    tmp_path: Path, fault_env: None, engines: Engines, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "1.0")
    db = tmp_path / "lock.db"
    run_id = new_run(db, strategy="random")
    first = engines.start(db, run_id)
    wait_until(lambda: query(db, "SELECT count(*) FROM trials")[0][0] > 0, 60, "a trial")
    second = engines.start(db, run_id)
    out, _ = second.communicate(timeout=60)
    assert second.returncode == 1
    assert f"run {run_id} is already being run by engine pid {first.pid}" in out.decode()

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    # The heartbeat is still fresh, but the pid is dead on this host: taken over at once.
    third = engines.start(db, run_id)
    out, _ = third.communicate(timeout=120)
    assert third.returncode == 0, out.decode()[-2000:]
    assert query(db, "SELECT status FROM runs")[0][0] == "finished"


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("exit", "died with exit code 3"),
        ("oom", "MemoryError: cannot allocate"),
        ("nan", "loss became NaN"),
    ],
)
def test_failing_trials_fail_alone_and_the_run_finishes(
    tmp_path: Path, fault_env: None, monkeypatch: pytest.MonkeyPatch, mode: str, error: str
) -> None:
    monkeypatch.setenv("HPTUI_FAULT_MODE", mode)
    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "0.05")
    db = tmp_path / f"{mode}.db"
    run_id = new_run(db, strategy="random", seed=11)
    assert Engine(db, run_id, trainer=FAKE_TRAINER).run() == "finished"
    rows = query(
        db, f"SELECT json_extract(config, '$.optimizer'), status, error FROM trials WHERE {SEARCH}"
    )
    assert len(rows) == 4
    assert {r[0] for r in rows} == {"adam", "sgd"}, "seed 11 should draw both optimizers"
    for optimizer, status, err in rows:
        if optimizer == "sgd":
            assert status == "failed" and error in err
        else:
            assert status == "finished" and err is None
    assert query(db, "PRAGMA integrity_check") == [("ok",)]


def test_full_disk_under_the_store_waits_and_loses_nothing(
    small_disk: Path, fault_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "0.2")
    db = small_disk / "full.db"
    junk = small_disk / "junk"
    run_id = new_run(db, strategy="random", seed=3)
    engine = Engine(db, run_id, trainer=FAKE_TRAINER)
    calls: list[str] = []
    real_hook = engine.store.on_full
    assert real_hook is not None

    def on_full(exc: Exception) -> None:
        calls.append(str(exc))
        if len(calls) >= 3:  # someone frees space
            junk.unlink()
        real_hook(exc)

    engine.store.on_full = on_full

    def fill_after_first_result(e: Engine) -> None:
        # After the first result, something else fills the disk to the last byte.
        if calls or junk.exists() or not e.store.trials(run_id, status="finished"):
            return
        fill_disk(junk)

    engine.on_tick = fill_after_first_result
    assert engine.run() == "finished"
    assert len(calls) >= 3 and "full" in calls[0]
    rows = query(db, f"SELECT status FROM trials WHERE {SEARCH}")
    assert [s for (s,) in rows] == ["finished"] * 4
    assert (
        query(
            db,
            f"SELECT count(*) FROM epochs WHERE trial_id IN (SELECT id FROM trials WHERE {SEARCH})",
        )[0][0]
        == 4
    )
    assert query(db, "PRAGMA integrity_check") == [("ok",)]


def test_readers_never_see_database_is_locked(tmp_path: Path) -> None:
    """A writer process inserting as fast as it can; a read-only reader polling like the UI."""
    db = tmp_path / "busy.db"
    run_id = new_run(db, strategy="random")
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time\n"
                "from storage.store import Store\n"
                "s = Store(sys.argv[1]); end = time.time() + 4\n"
                "while time.time() < end:\n"
                "    tid, _ = s.add_trial(1, {'lr': 1e-3}, status='running', phase='search',\n"
                "                         strategy='random', space_version=1)\n"
                "    s.add_epoch(1, tid, epoch=1, loss=0.5)\n"
                "    s.update_trial(tid, status='finished', val_accuracy=0.5)\n"
                "    s.log(1, 'x')\n"
            ),
            str(db),
        ],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONPATH": "."},
    )
    errors: list[str] = []
    reads = 0
    reader = Store(db, readonly=True)
    try:
        while writer.poll() is None:
            try:
                reader.run(run_id)
                reader.trials(run_id)
                reader.events(run_id, after_id=max(0, reads - 50))
                reads += 1
            except Exception as exc:  # any failure to read counts
                errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        reader.close()
    assert writer.returncode == 0
    assert errors == []
    assert reads > 20
    written = query(db, "SELECT count(*) FROM trials")[0][0]
    assert written > 100, f"the writer managed only {written} trials"


def test_sigterm_while_waiting_for_disk_space_stops_and_loses_nothing(
    small_disk: Path, fault_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "1.0")
    db = small_disk / "full.db"
    junk = small_disk / "junk"
    run_id = new_run(db, strategy="random", seed=3)
    # The engine's stderr on another disk, so its message can be read while this one is full.
    err_path = tmp_path / "engine.err"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hptui.cli", "engine", str(run_id), "--db", str(db),
             "--trainer", FAKE_TRAINER],
            cwd=REPO, stdout=err, stderr=err, start_new_session=True,
        )  # fmt: skip
    try:
        wait_until(lambda: len(finished(db)) >= 1, 120, "a finished trial")
        fill_disk(junk)
        wait_until(
            lambda: "waiting for disk space" in err_path.read_text(), 120, "the engine to wait"
        )
        kept = finished(db)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)  # it stops, instead of waiting for space for ever
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    text = err_path.read_text()
    assert "stopped by a signal while waiting for disk space" in text, text
    assert f"hptui resume {run_id}" in text and "Traceback" not in text, text
    assert proc.returncode == 0, text

    junk.unlink()  # space again: the run carries on from the store
    assert kept and kept <= finished(db)
    assert Engine(db, run_id, trainer=FAKE_TRAINER).run() == "finished"
    assert kept <= finished(db)
    assert len(finished(db)) == 4
    keys = query(
        db,
        f"SELECT json_extract(extra, '$.key') FROM trials WHERE status = 'finished' AND {SEARCH} "
        "GROUP BY 1 HAVING count(*) > 1",
    )
    assert keys == [], f"proposals trained to the end twice: {keys}"
    assert query(db, "PRAGMA integrity_check") == [("ok",)]


WRITE_NOTE = """
import sys
from engine.lock import say
say(sys.argv[1], "waiting for disk space")
print("returned")
"""


def test_the_waiting_note_never_goes_to_a_file_on_the_full_disk(
    small_disk: Path, tmp_path: Path
) -> None:
    db = small_disk / "s.db"
    on_disk = small_disk / "run.log"  # where the detached engine's stderr goes
    elsewhere = tmp_path / "run.log"
    on_disk.write_bytes(b"")
    reserve = small_disk / "reserve"
    reserve.write_bytes(b"\0" * 65536)
    fill_disk(small_disk / "junk")
    reserve.unlink()  # the last 64 KB, which the store needs: the note must not take them
    for log in (on_disk, elsewhere):
        with open(log, "ab") as fh:
            out = subprocess.run(
                [sys.executable, "-c", WRITE_NOTE, str(db)],
                cwd=REPO, stdout=subprocess.PIPE, stderr=fh, text=True, timeout=60,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )  # fmt: skip
        assert out.returncode == 0 and out.stdout.strip() == "returned"
    assert on_disk.read_bytes() == b""
    assert "waiting for disk space" in elsewhere.read_text()


def test_the_wait_for_space_beats_when_it_can_and_ends_at_a_signal(
    tmp_path: Path, fault_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    import engine.lock

    monkeypatch.setattr(engine.lock, "FULL_RETRY_S", 0.3)
    db = tmp_path / "beat.db"
    run_id = new_run(db, strategy="random")
    eng = Engine(db, run_id, trainer=FAKE_TRAINER)
    lock = eng.lock
    lock.take()
    full = sqlite3.OperationalError("database or disk is full")
    try:
        before = query(db, "SELECT heartbeat FROM runs")[0][0]
        lock.last_beat = 0.0
        lock.on_disk_full(full)  # one wait: the heartbeat write got through
        assert query(db, "SELECT heartbeat FROM runs")[0][0] > before
        # A heartbeat that cannot be written (a read-only connection refuses it for real)
        # does not end the wait.
        writable = eng.store.conn
        eng.store.conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        lock.last_beat = 0.0
        lock.on_disk_full(full)
        eng.store.conn.close()
        eng.store.conn = writable
        # SIGTERM or SIGINT (the engine's handler sets the flag): the wait ends at once
        eng._on_signal(signal.SIGTERM, None)
        with pytest.raises(engine.lock.StoppedWhileFull):
            lock.on_disk_full(full)
    finally:
        eng.store.close()


@pytest.mark.slow
def test_sigkill_in_the_confirmation_stage_then_resume_repeats_nothing(
    tmp_path: Path, fault_env: None, engines: Engines
) -> None:
    db = tmp_path / "confirm.db"
    run_id = new_run(db, strategy="random", seed=3)
    confirmed = "SELECT id FROM trials WHERE phase = 'confirm' AND status = 'finished'"
    proc = engines.start(db, run_id)
    wait_until(lambda: len(query(db, confirmed)) >= 1, 120, "a confirmation trial")
    before = set(query(db, confirmed))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    out, _ = engines.start(db, run_id).communicate(timeout=180)
    assert query(db, "SELECT status, phase FROM runs") == [("finished", "done")], out.decode()
    after = set(query(db, confirmed))
    assert before <= after and len(after) == 2  # tiny: one candidate and the default
    keys = query(
        db,
        "SELECT json_extract(extra, '$.key'), count(*) FROM trials WHERE status = 'finished' "
        "GROUP BY 1 HAVING count(*) > 1",
    )
    assert keys == [], f"trained to the end twice: {keys}"
    assert query(db, "SELECT count(*) FROM trials WHERE phase = 'search'")[0][0] == 4
