"""An engine's hold on its run: the lock (a fencing token the store checks before every
write), the heartbeat (also from a thread during long steps), and the wait for disk space
when the store's disk is full."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engine.config import EngineError
from storage.store import Store, StoreError, engine_alive

HEARTBEAT_S = 1.0
FULL_RETRY_S = 2.0  # a write that found the disk full is retried this often


class StoppedWhileFull(Exception):
    """A signal (SIGTERM, SIGINT) came while the engine waited for disk space: it stops
    without writing; a resume marks the trials that were running interrupted."""


def say(db_path: str, text: str) -> None:
    """One line to stderr, unless stderr is a file on the store's disk: the detached engine's
    stderr is the run's log beside the store, and while that disk is full, writing there
    fails or takes the last bytes the store needs. Never raises."""
    try:
        st = os.fstat(2)
        store_dev = os.stat(Path(db_path).resolve().parent).st_dev
        if stat.S_ISREG(st.st_mode) and st.st_dev == store_dev:
            return
        os.write(2, (text + "\n").encode())
    except OSError:
        pass


class RunLock:
    """Take a run, keep it (heartbeats), and wait out a full disk. `interrupted` is set by
    the engine's signal handler and ends a wait for space."""

    def __init__(self, db_path: str, run_id: int) -> None:
        self.db_path, self.run_id = db_path, run_id
        self.store: Store | None = None  # the engine's store, whose `on_full` is ours
        self.interrupted = False
        self.last_beat = 0.0
        self._full_noted = 0.0

    def take(self) -> None:
        """The run's lock, unless a live engine holds it (EngineError says which)."""
        assert self.store is not None
        run = self.store.run(self.run_id)
        assert run is not None
        other = run.get("engine_pid")
        if other and other != os.getpid() and engine_alive(run):
            raise EngineError(
                f"run {self.run_id} is already being run by engine pid {other} on "
                f"{run.get('engine_host')} (heartbeat {time.time() - run['heartbeat']:.0f} s "
                f"ago); use `hptui attach {self.run_id}` to watch it"
            )
        # Only if nobody took it since we looked; every later write checks its token.
        if not self.store.take_lock(self.run_id, run):
            raise EngineError(f"run {self.run_id} was taken by another engine just now")

    def beat(self, progress: Callable[[], dict[str, Any]], force: bool = False) -> None:
        """The heartbeat with the run's progress, at most every HEARTBEAT_S unless forced."""
        assert self.store is not None
        now = time.time()
        if not force and now - self.last_beat < HEARTBEAT_S:
            return
        self.last_beat = now
        self.store.update_run(self.run_id, heartbeat=now, progress=progress())

    @contextlib.contextmanager
    def beating(self) -> Iterator[None]:
        """Beat from a thread (its own connection) during a long step that does not come
        back to the loop: data preparation, the TensorFlow import, workers starting."""
        assert self.store is not None and self.store.fence is not None
        run_id, token = self.store.fence
        stop = threading.Event()

        def beat() -> None:
            try:
                store = Store(self.db_path, create=False)
            except (StoreError, sqlite3.Error):
                return  # the loop's own beat and fence check take over
            try:
                while not stop.wait(HEARTBEAT_S):
                    store.heartbeat(run_id, token)
            finally:
                store.close()

        thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def on_disk_full(self, exc: Exception) -> None:
        """The store's disk is full: wait for space and retry the write; results stay in
        memory (and workers wait on their pipes), so nothing is lost. The wait says so on
        stderr (never in a file on the full disk), keeps the heartbeat where a write still
        gets through, and ends at SIGTERM or SIGINT (StoppedWhileFull)."""
        if self.interrupted:
            raise StoppedWhileFull(str(exc))
        now = time.monotonic()
        if now - self._full_noted > 30:
            self._full_noted = now
            say(
                self.db_path,
                f"hptui engine: {self.db_path}: {exc}; waiting for disk space, retrying every "
                f"{FULL_RETRY_S:g} s (nothing is lost)",
            )
        deadline = now + FULL_RETRY_S
        while True:
            self._beat_while_full()
            if self.interrupted:
                raise StoppedWhileFull(str(exc))
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.1, left))

    def _beat_while_full(self) -> None:
        """The heartbeat, tried once: on a full disk the write may fail, and that is fine
        (on this host a live pid holds the run whatever its heartbeat's age)."""
        now = time.time()
        if self.store is None or self.store.fence is None or now - self.last_beat < HEARTBEAT_S:
            return
        if self.store.heartbeat(*self.store.fence):  # never part of the write that waits
            self.last_beat = now
