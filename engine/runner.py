"""The run loop: one event-driven loop for every strategy, final validation included.

When a slot frees, ask the strategy for a configuration; when a result arrives, commit it,
tell the strategy, then look at the commands table. The engine is the only writer of run
data; everything the UI shows is in the store. Its parts, one job each: engine.lock (the
run's lock, heartbeat and the wait for disk space), engine.settings (space, rules, pruner),
engine.trials (trials in flight and their results), engine.commands (the commands table),
engine.strategies.final (final validation), engine.eta (the remaining time).
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.commands import handle_pending
from engine.data import DataRef
from engine.device import threads_per_worker
from engine.eta import FINAL_TRIALS, EtaInputs, remaining_seconds
from engine.executor import Executor, WorkerSettings
from engine.final import final_summary, format_final
from engine.lock import RunLock, StoppedWhileFull, say
from engine.preflight import check_startable
from engine.profiles import PROFILES
from engine.settings import RunSettings
from engine.setup import (
    EngineError,
    RunConfig,
    build_strategy,
    create_run,  # noqa: F401  (the benchmark scripts create their runs through the runner)
    import_tensorflow_quietly,
    log_path_for,
    make_executor,
    prepare_run_data,
    restore_strategy,
    save_strategy,
    trial_seed,
)
from engine.space import DEFAULT_CONFIG
from engine.strategies.base import Outcome, Proposal, Strategy
from engine.strategies.final import FinalValidation
from engine.trainer import TrialTask
from engine.trials import TrialBook
from storage import contract
from storage.contract import DEFAULT_TRAINER, ExecutorMessage
from storage.store import LockLost, Store

POLL_S = 0.2  # commands are looked at at least this often


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
        run = self.store.run(run_id)
        if run is None:
            raise EngineError(f"no run {run_id} in {db_path}")
        self.cfg = RunConfig(**run["config"])
        self.profile = PROFILES[self.cfg.profile]
        self.workers = int(run["workers"])
        self._executor = executor
        self.on_tick, self.trainer = on_tick, trainer
        self.status, self.phase = run["status"], run["phase"]
        self.started = time.time()
        self.settings = RunSettings(self.store, run_id)
        self.trials = TrialBook(self.store, run_id)
        self.strategy: Strategy | None = None  # the search's, built once the data is ready
        self.max_failures = self.cfg.max_consecutive_failures or 2 * self.workers
        self._failed_in_a_row: list[str] = []  # errors of the search trials failed in a row
        self._fail_reason: str | None = None
        self.data_ref: DataRef | None = None
        self._prunes: dict[int, dict[str, Any]] = {}  # trial id -> the decision to prune it

    @property
    def executor(self) -> Executor:
        assert self._executor is not None
        return self._executor

    # --- main -----------------------------------------------------------------------------
    def run(self) -> str:
        self.lock.take()
        try:
            saved = check_startable(self.store, self.run_id, self.cfg)
        except EngineError:
            self.store.update_run(self.run_id, engine_pid=None)  # refused: nothing else changes
            self.store.close()
            raise
        old_handlers = {
            s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)
        }
        # A hang-up (the terminal or SSH session closing) leaves the engine running.
        old_handlers[signal.SIGHUP] = signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            status = self._run(saved)
            if self.lock.interrupted:
                print(
                    f"hptui: run {self.run_id} interrupted; finished trials are kept. Carry on "
                    f"with: hptui resume {self.run_id} --db {self.db_path}",
                    file=sys.stderr,
                    flush=True,
                )
            return status
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
                self.store.update_run(
                    self.run_id,
                    status="failed",
                    error=f"{type(exc).__name__}: {exc}",
                    finished_at=time.time(),
                )
                self.store.log(self.run_id, f"engine failed: {type(exc).__name__}: {exc}", "error")
            raise
        finally:
            if self._executor is not None:
                self._executor.shutdown()
            for s, h in old_handlers.items():
                signal.signal(s, h)
            with contextlib.suppress(LockLost, StoppedWhileFull):
                self.store.update_run(self.run_id, engine_pid=None)
            self.store.close()

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.lock.interrupted = True

    def _run(self, saved: dict[str, Any] | None) -> str:
        run = self.store.run(self.run_id)
        assert run is not None
        if run["status"] in contract.ENDED_RUN_STATUSES and run.get("final"):
            return run["status"]
        self.store.update_run(self.run_id, status="running", error=None)
        self.status = "running"
        log_path = str(log_path_for(self.db_path, self.run_id))
        self.store.update_run(self.run_id, log_path=log_path)
        with self.lock.beating():  # minutes with a cold cache; the TensorFlow import, seconds
            self._set_phase("data")
            ref = self.data_ref = prepare_run_data(self.store, self.run_id, self.cfg, self.profile)
            if self.cfg.strategy == "bayes-ppo":
                import_tensorflow_quietly(log_path)
        self.settings.load(self.cfg.pruner, self.cfg.executor)
        assert self.settings.space is not None
        strategy = build_strategy(self.cfg, self.profile, self.settings.space, self.workers)
        restore_strategy(
            self.store,
            self.run_id,
            strategy,
            self.cfg.strategy,
            saved,
            tell=lambda p, o: self._told(strategy, p, o),
        )
        self.strategy = strategy
        self.store.update_run(self.run_id, planned_trials=strategy.planned_trials)
        if self._executor is None:
            threads = self.cfg.threads or threads_per_worker(self.workers)
            settings = WorkerSettings(
                ref, threads, self.cfg.precision, log_path, trainer=self.trainer
            )
            self._executor = make_executor(self.cfg, self.workers, settings)
        with self.lock.beating():
            self.executor.start()
        self.store.log(self.run_id, f"{self.workers} workers started")

        self._loop(strategy)
        if self.status == "running" and self.cfg.final_validation:
            self._final_validation()
        return self._finish()

    def _finish(self) -> str:
        final_status = {"running": "finished", "stopping": "finished", "paused": "finished"}.get(
            self.status, self.status
        )
        self.store.update_run(
            self.run_id,
            status=final_status,
            phase="done" if final_status == "finished" else self.phase,
            finished_at=time.time(),
            **({"error": self._fail_reason} if self._fail_reason else {}),
        )
        self.status = final_status
        self.lock.beat(self.progress, force=True)
        self.store.log(self.run_id, f"run {final_status}")
        return final_status

    def _save_strategy(self) -> None:
        if self.strategy is not None:
            save_strategy(self.store, self.run_id, self.strategy, self.cfg.strategy)

    # --- the loop ---------------------------------------------------------------------------
    def _loop(self, strategy: Strategy) -> None:
        """Keep every slot busy with `strategy`'s proposals until it is done."""
        while True:
            if self.lock.interrupted:
                # Workers are killed at shut-down, not replaced first: Ctrl+C is quick.
                self._end_running("interrupted", "engine interrupted (signal); resumable", False)
                self.status = "interrupted"  # resumable; `cancelled` is a user's cancel
                return
            handle_pending(self.store, self.run_id, self)
            if self.status in ("cancelled", "failed"):
                return
            if self.status == "running":
                for slot in self.executor.free_slots():
                    p = strategy.ask()
                    if p is None:
                        break
                    self._launch(strategy, slot, p)
            idle = not self.trials.running
            if idle and (self.status == "stopping" or strategy.done()):
                return
            if idle and self.status == "running":
                # Nothing running and nothing proposed: a strategy bug; fail loudly, not hang.
                raise EngineError(
                    f"strategy {strategy.name} has nothing to propose and nothing is running"
                )
            for msg in self.executor.poll(POLL_S):
                self._on_message(strategy, msg)
                if self.status == "failed":
                    return
            self._kill_overdue(strategy)
            if self.status == "failed":
                return
            self.lock.beat(self.progress)
            if self.on_tick:
                try:
                    self.on_tick(self)
                except OSError:  # the terminal went away (hang-up): carry on without it
                    self.on_tick = None

    def _set_phase(self, phase: str) -> None:
        self.phase = phase
        self.store.update_run(self.run_id, phase=phase)

    def _launch(self, strategy: Strategy, slot: int, p: Proposal) -> None:
        s = self.settings
        tid = self.trials.launch(p, slot, strategy.name, s.space_version, s.rules)
        prunable = strategy.searching and getattr(self._executor, "supports_verdicts", False)
        task = TrialTask(
            tid,
            p.config,
            p.epochs,
            early_stopping=p.early_stopping,
            evaluate_test=not strategy.searching,
            seed=trial_seed(self.cfg.seed, p.key),
            verdict_epochs=s.verdict_epochs(p.epochs) if prunable else (),
        )
        self.executor.submit(slot, task)
        if self.phase != p.phase and p.phase in contract.TRIAL_PHASES:
            self._set_phase(p.phase)

    def _on_message(self, strategy: Strategy, msg: ExecutorMessage) -> None:
        m: dict[str, Any] = dict(msg)
        kind, tid = m["kind"], m.get("trial_id")
        if kind == "ready":
            self.store.update_run(self.run_id, device=m["device"], precision=m["precision"])
            self.store.set_worker(self.run_id, m["slot"], pid=m["pid"])
        elif kind == "retry":
            self.store.clear_epochs(tid)
            self.store.log(
                self.run_id,
                f"trial {tid}: {m['error']}; running it again (retry {m['attempt']})",
                "warning",
            )
        elif kind == "worker_restarted":
            self.store.log(
                self.run_id,
                f"worker {m['slot']} (pid {m['old_pid']}) exited "
                f"with code {m['exitcode']}; started a new one",
                "warning",
            )
            self.store.set_worker(self.run_id, m["slot"], trial_id=None, pid=None)
        elif tid not in self.trials.running:
            return  # progress of a trial already cancelled
        elif kind == "started":
            self.trials.started(tid)
        elif kind == "progress":
            self.store.set_worker(
                self.run_id, m["slot"], trial_id=tid, epoch=m["epoch"], epochs=m["epochs"],
                batch=m["batch"], batches=m["batches"],
            )  # fmt: skip
        elif kind == "epoch":
            keys = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")
            self.store.add_epoch(self.run_id, tid, **{k: _finite(m[k]) for k in keys})
            if m.get("verdict"):  # the worker waits: go on, or stop after this epoch
                self._give_verdict(tid, int(m["epoch"]))
        elif kind == "result":
            self._on_result(strategy, tid, m["result"])
        elif kind == "failed":
            self._on_failed(strategy, tid, m["error"])

    def _on_result(self, strategy: Strategy, tid: int, res: dict[str, Any]) -> None:
        searching = strategy.searching
        t, outcome = self.trials.finish(tid, res, searching, self._prunes.pop(tid, None))
        self._failed_in_a_row.clear()
        if searching and not outcome.pruned:  # a pruned trial is not a candidate for best
            assert self.settings.space is not None
            self.trials.update_estimates(self.settings.space, self.cfg.seed)
        p = t.proposal
        how = "finished"
        if outcome.pruned:
            how = f"pruned after epoch {res['epochs_run']} of {p.epochs}"
        tail = f", reward {outcome.reward:.2f}"
        if not searching:
            tail = f", test acc {res['test_accuracy']:.4f}"
        self.store.log(
            self.run_id,
            f"trial {t.number} ({p.phase}) {how}: val acc {res['val_accuracy']:.4f}, "
            f"{res['seconds']:.1f} s{tail}",
        )  # fmt: skip
        self._told(strategy, p, outcome)

    def _on_failed(self, strategy: Strategy, tid: int, error: str) -> None:
        t, outcome = self.trials.fail(tid, error)
        phase = t.proposal.phase
        self.store.log(self.run_id, f"trial {t.number} ({phase}) failed: {error}", "error")
        if strategy.searching:
            self._failed_in_a_row.append(error)
        if len(self._failed_in_a_row) >= self.max_failures:
            # Every trial failing means something is wrong with the set-up, not the
            # configurations: stop before the strategy learns from rewards of nothing. The
            # last failure is not told, so a resume after a fix runs it again.
            self._give_up()
            return
        self._told(strategy, t.proposal, outcome)

    def _told(self, strategy: Strategy, p: Proposal, outcome: Outcome) -> None:
        strategy.tell(p, outcome)
        if strategy.searching:
            if outcome.pruned:  # epochs handed back: an epoch budget plans more trials
                self.store.update_run(self.run_id, planned_trials=strategy.planned_trials)
            for upd in strategy.pop_updates():
                self.store.add_ppo_update(self.run_id, **upd)
                self.store.log(
                    self.run_id,
                    f"PPO epoch {upd['ppo_epoch']} update: mean reward "
                    f"{upd['mean_reward']:.2f}, best {upd['best_reward']:.2f},"
                    f" KL {upd['approx_kl']:.4f}, std {upd['mean_std']:.3f}",
                )
            for ev in strategy.pop_events():
                self.store.log(self.run_id, ev)
            # `strategy`, not self.strategy: a resume tells missed results before it is set
            save_strategy(self.store, self.run_id, strategy, self.cfg.strategy)
        self.lock.beat(self.progress, force=True)

    def _give_verdict(self, tid: int, epoch: int) -> None:
        """A worker waits after `epoch` of trial `tid`. A decision to prune is logged
        (committed) before the worker is told; the worker is always answered, even when the
        pruner was switched off meanwhile."""
        t = self.trials.running[tid]
        d = self.settings.decide(tid, epoch)
        if d is not None and d.prune:
            kind = self.settings.pruner.kind
            self._prunes[tid] = {"epoch": epoch, "pruner": kind, "reason": d.reason}
            self.store.log(
                self.run_id,
                f"trial {t.number}: pruning after epoch {epoch} of {t.proposal.epochs} "
                f"({kind}): {d.reason}",
            )
        self.executor.verdict(tid, bool(d and d.prune))  # type: ignore[attr-defined]

    # --- time limits and failures ---------------------------------------------------------
    def _kill_overdue(self, strategy: Strategy) -> None:
        """A trial past its time limit (a hung trainer) is killed, its worker replaced, and
        it fails with the reason; otherwise it would hold its worker, and `stop`, forever."""
        for tid, slot, limit in self.trials.overdue(self.cfg.trial_timeout):
            self.executor.cancel(tid)
            why = f"timed out after {limit:.0f} s (--trial-timeout); worker {slot} replaced"
            self.store.log(self.run_id, f"trial {tid}: {why}", "warning")
            self._on_failed(strategy, tid, why)
            if self.status == "failed":
                return

    def _give_up(self) -> None:
        n, first = len(self._failed_in_a_row), self._failed_in_a_row[0]
        self._fail_reason = (
            f"{n} trials in a row failed (--max-consecutive-failures {self.max_failures}); "
            f"the first: {first}"
        )
        self.store.log(self.run_id, f"run stopped: {self._fail_reason}", "error")
        self._end_running("interrupted", "run stopped: too many trials failed in a row")
        self.status = "failed"

    def _end_running(self, status: str, why: str, replace: bool = True) -> None:
        if replace:
            for tid in self.trials.running:
                self.executor.cancel(tid)
        self.trials.end_all(status, why)
        self._save_strategy()

    # --- what commands act on (engine.commands.CommandTarget) -------------------------------
    def running_count(self) -> int:
        return len(self.trials.running)

    def set_status(self, status: str) -> None:
        self.status = status
        self.store.update_run(self.run_id, status=status)

    def cancel_running(self) -> None:
        self._end_running("cancelled", "cancelled by the user")

    def edit(self, kind: str, payload: dict[str, Any]) -> str:
        message = self.settings.edit(kind, payload)
        if kind == contract.EDIT_SPACE and self.strategy is not None:
            assert self.settings.space is not None
            note = self.strategy.on_space_change(self.settings.space)
            message += f" ({note})" if note else ""
        if kind != contract.EDIT_PRUNER and self.strategy is not None:
            self.store.update_run(self.run_id, planned_trials=self.strategy.planned_trials)
            self._save_strategy()
        return message

    # --- the header's numbers -------------------------------------------------------------
    def progress(self) -> dict[str, Any]:
        c = self.store.progress_counts(self.run_id)
        planned = self.strategy.planned_trials if self.strategy is not None else 0
        eta = remaining_seconds(
            EtaInputs.of(
                c,
                planned_trials=planned,
                planned_epochs=self.profile.epochs_for(self.cfg.strategy),
                max_epochs=self.profile.trial_epochs(self.cfg.strategy),
                workers=self.workers,
                final_epochs=self.profile.final_epochs if self.cfg.final_validation else 0,
                final_trials=FINAL_TRIALS * self.profile.final_repeats,
            )
        )
        out = {
            "finished": c["finished"],
            "failed": c["failed"],
            "pruned": c["pruned"],
            "pruner": self.settings.pruner.kind,
            "planned": planned,
            "running": len(self.trials.running),
            "workers": self.workers,
            "eta_s": eta,
            "elapsed_s": time.time() - (c["first_started"] or self.started),
        }
        if self.strategy is not None:
            out.update(self.strategy.progress())
        return out

    # --- final validation (SPEC §6) -------------------------------------------------------------
    def _final_validation(self) -> None:
        best = self.store.best_trial(self.run_id)
        if best is None:
            self.store.log(self.run_id, "no finished trial: no final validation", "warning")
            return
        self._set_phase("final")
        repeats = self.profile.final_repeats
        assert self.settings.space is not None
        final = FinalValidation(
            self.settings.space,
            best,
            DEFAULT_CONFIG,
            self.profile.final_epochs,
            repeats=repeats,
            done=self._final_trainings().keys(),
        )
        self.store.log(
            self.run_id,
            f"final validation: best (trial {best['number']}) and default, "
            + (f"{repeats} trainings each, " if repeats > 1 else "")
            + f"up to {self.profile.final_epochs} epochs each (early stopping)",
        )
        self._loop(final)
        done = self._final_trainings()
        pairs = [
            (done["best", r], done["default", r])
            for r in range(repeats)
            if ("best", r) in done and ("default", r) in done
        ]
        if not pairs:
            return
        summary = final_summary(best, pairs, self.profile.final_epochs)
        self.store.update_run(self.run_id, final=summary)
        self.store.log(self.run_id, format_final(summary))

    def _final_trainings(self) -> dict[tuple[str, int], dict[str, Any]]:
        """The finished final-validation trials by (role, repeat)."""
        return {
            (t["extra"].get("role"), int(t["extra"].get("repeat", 0))): t
            for t in self.store.trials(self.run_id, phase="final", status="finished")
        }


def _finite(v: Any) -> Any:
    return v if not isinstance(v, float) or math.isfinite(v) else None
