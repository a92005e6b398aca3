"""The run's life: take the lock, catch signals, set the run up (data, strategy, workers),
run the search's trial loop and then final validation's, and end with the run's status.

The engine is the only writer of run data; everything the UI shows is in the store. Its
parts, one job each: engine.lock (lock, heartbeat, the wait for disk space), engine.setup
(data, strategy, executor), engine.persistence (the strategy's saved state),
engine.trial_loop (ask, launch, poll, verdicts, time limits, commands), engine.trials (the
trials in flight), engine.confirm_stage (the top candidates measured again),
engine.final_stage (final validation), engine.progress (the header's
numbers).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.config import EngineError, RunConfig
from engine.confirm_stage import confirm_stage
from engine.device import one_blas_thread, quiet_fits, threads_per_worker
from engine.executor import Executor, WorkerSettings
from engine.final_stage import final_stage, record_final
from engine.lock import RunLock, StoppedWhileFull, say
from engine.persistence import StrategyKeeper
from engine.preflight import check_startable
from engine.profiles import PROFILES
from engine.progress import run_progress
from engine.settings import RunSettings
from engine.setup import (
    build_strategy,
    import_tensorflow_quietly,
    log_path_for,
    make_executor,
    prepare_run_data,
)
from engine.strategies.base import Strategy
from engine.trial_loop import End, Ending, RunParts, TrialLoop
from engine.trials import TrialBook
from storage import contract
from storage.contract import DEFAULT_TRAINER, final_to_retry
from storage.store import LockLost, Store

# The run's status after a loop that ended so (DONE goes on to the next stage, or finishes).
END_STATUS = {
    End.DONE: contract.FINISHED,
    End.STOPPED: contract.FINISHED,
    End.CANCELLED: contract.CANCELLED,
    End.FAILED: contract.FAILED,
    End.INTERRUPTED: contract.INTERRUPTED,  # resumable; `cancelled` is a user's cancel
}

# Why final validation ended before all its trainings had run, where a command ended it.
FINAL_CUT_SHORT = {
    End.STOPPED: "stopped by the user (hptui stop) before its trainings finished",
    End.CANCELLED: "cancelled by the user (hptui cancel)",
}


class Engine:
    def __init__(
        self,
        db_path: str | Path,
        run_id: int,
        *,
        executor: Executor | None = None,
        on_tick: Callable[[Engine], None] | None = None,
        trainer: str = DEFAULT_TRAINER,
    ) -> None:
        self.db_path, self.run_id = str(db_path), run_id
        self.lock = RunLock(self.db_path, run_id)
        self.store = self.lock.store = Store(db_path, create=False, on_full=self.lock.on_disk_full)
        self.rs = self.store.for_run(run_id)  # the run's handle
        run = self.rs.run()
        if run is None:
            raise EngineError(f"no run {run_id} in {db_path}")
        self.cfg = RunConfig(**run["config"])
        self.profile = PROFILES[self.cfg.profile]
        self.workers = int(run["workers"])
        self.executor, self.on_tick, self.trainer = executor, on_tick, trainer
        self.settings = RunSettings(self.rs)
        self.trials = TrialBook(self.rs)
        self.keeper = StrategyKeeper(self.rs, name=self.cfg.strategy)
        self.strategy: Strategy | None = None  # the search's, built once the data is ready

    def run(self) -> str:
        """Run (or resume) the run to its end; returns its status."""
        self.lock.take()
        try:
            saved = check_startable(self.store, self.run_id, self.cfg, self.keeper)
        except EngineError:
            self.rs.update_run(engine_pid=None)  # refused: nothing else changes
            self.store.close()
            raise
        old_handlers = {
            s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)
        }
        # A hang-up (the terminal or SSH session closing) leaves the engine running.
        old_handlers[signal.SIGHUP] = signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            return self._run(saved)
        except LockLost as exc:
            # Another engine has the run: write nothing, stop our workers, say so.
            print(f"hptui engine: {exc}", file=sys.stderr, flush=True)
            raise
        except StoppedWhileFull:
            # Nothing can be written: the run stays as the store has it (finished trials
            # committed, running ones marked interrupted by the resume).
            say(
                self.db_path,
                f"hptui: run {self.run_id} stopped by a signal while waiting for disk space; "
                f"finished trials are kept. Free some space, then carry on with: "
                f"hptui resume {self.run_id} --db {self.db_path}",
            )
            return "interrupted"
        except Exception as exc:
            with contextlib.suppress(StoppedWhileFull):  # a signal while the disk is full
                error = f"{type(exc).__name__}: {exc}"
                self.rs.update_run(status=contract.FAILED, error=error, finished_at=time.time())
                self.rs.log(f"engine failed: {error}", "error")
            raise
        finally:
            self.trials.close()
            if self.executor is not None:
                self.executor.shutdown()
            for s, h in old_handlers.items():
                signal.signal(s, h)
            with contextlib.suppress(LockLost, StoppedWhileFull):
                self.rs.update_run(engine_pid=None)
            self.store.close()

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.lock.interrupted = True

    def _run(self, saved: dict[str, Any] | None) -> str:
        run = self.rs.run()
        assert run is not None
        final = run.get("final")
        if run["status"] in contract.ENDED_RUN_STATUSES and final and not final_to_retry(final):
            return run["status"]
        parts = self._set_up(saved)
        search = TrialLoop(parts, parts.search)
        ending = search.run()
        self.trials.close(wait=True)  # the last estimates, before the stages after the search
        status = search.status  # a pause carries over from stage to stage
        space = self.settings.space
        assert space is not None
        if ending.why is End.DONE:
            confirm = confirm_stage(self.rs, space, self.profile, self.cfg.strategy)
            if confirm is not None:
                loop = TrialLoop(parts, confirm, status=status)
                ending, status = loop.run(), loop.status
        if ending.why is End.DONE and self.cfg.final_validation:
            stage = final_stage(self.rs, space, self.profile)
            if stage is not None:
                ending = TrialLoop(parts, stage, status=status).run()
                if ending.why is not End.INTERRUPTED:  # a resume carries an interrupted one on
                    cut_short = FINAL_CUT_SHORT.get(ending.why)
                    record_final(self.rs, stage, self.profile, cut_short)
        return self._end(ending)

    def _set_up(self, saved: dict[str, Any] | None) -> RunParts:
        """Data, settings, the strategy (restored from `saved` on a resume) and the workers."""
        one_blas_thread()
        quiet_fits()
        self.rs.update_run(status=contract.RUNNING, error=None)
        log_path = str(log_path_for(self.db_path, self.run_id))
        self.rs.update_run(log_path=log_path)
        with self.lock.beating():  # minutes with a cold cache; the TensorFlow import, seconds
            self.rs.update_run(phase=contract.DATA_PHASE)
            ref = prepare_run_data(self.rs, self.cfg, self.profile)
            if self.cfg.strategy == "bayes-ppo":
                import_tensorflow_quietly(log_path)
        self.settings.load(self.cfg.pruner, self.cfg.executor)
        assert self.settings.space is not None
        strategy = build_strategy(self.cfg, self.profile, self.settings.space, self.workers)
        self.keeper.restore(strategy, saved)
        self.strategy = strategy
        self.rs.update_run(planned_trials=strategy.planned_trials)
        if self.executor is None:
            threads = self.cfg.threads or threads_per_worker(self.workers)
            worker = WorkerSettings(
                ref, threads, self.cfg.precision, log_path, self.trainer,
                objective=self.cfg.objective,
            )  # fmt: skip
            self.executor = make_executor(self.cfg, self.workers, worker)
        with self.lock.beating():
            self.executor.start()
        self.rs.log(f"{self.workers} workers started")
        on_tick = self.on_tick
        return RunParts(
            self.rs, self.cfg, self.lock, self.settings, self.trials,
            self.keeper, self.executor, self.progress, strategy, self.workers,
            on_tick=(lambda: on_tick(self)) if on_tick else None,
        )  # fmt: skip

    def _end(self, ending: Ending) -> str:
        """The run's status from why its last loop ended, stored and logged."""
        status = END_STATUS[ending.why]
        if ending.why is End.INTERRUPTED:
            print(
                f"hptui: run {self.run_id} interrupted; finished trials are kept. Carry on "
                f"with: hptui resume {self.run_id} --db {self.db_path}",
                file=sys.stderr,
                flush=True,
            )
        self.rs.update_run(
            status=status,
            finished_at=time.time(),
            **({"phase": contract.DONE_PHASE} if status == contract.FINISHED else {}),
            **({"error": ending.reason} if ending.reason else {}),
        )
        self.lock.beat(self.progress, force=True)
        self.rs.log(f"run {status}")
        return status

    def progress(self) -> dict[str, Any]:
        """The header's numbers, stored with each heartbeat."""
        return run_progress(
            self.rs, self.cfg, self.profile,
            None if self.strategy is None else self.keeper.numbers(self.strategy),
            running=len(self.trials.running), workers=self.workers,
            pruner=self.settings.pruner.kind,
        )  # fmt: skip
