"""The run loop: one event-driven loop for every strategy.

When a slot frees, ask the strategy for a configuration; when a result arrives, commit it,
tell the strategy, then look at the commands table. The engine is the only writer of run
data; everything the UI shows is in the store.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sqlite3
import stat
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engine.data import DataRef, prepare_data
from engine.device import threads_per_worker
from engine.estimate import FidelityGP
from engine.eta import EtaInputs, remaining_seconds
from engine.executor import DEFAULT_TRAINER, Executor, WorkerSettings
from engine.final import final_summary, format_final
from engine.profiles import PROFILES
from engine.pruners import REFERENCE_STATUSES, Curve, PrunerSettings, decide, decision_epochs
from engine.reward import (
    DEFAULT_RULES,
    Rule,
    adaptive_weights,
    apply_rules,
    parse_rules,
    reward,
    score,
)
from engine.rulecheck import check_rules
from engine.setup import (
    EngineError,
    RunConfig,
    build_strategy,
    create_run,  # noqa: F401  (the benchmark scripts create their runs through the runner)
    import_tensorflow_quietly,
    log_path_for,
    make_executor,
    trial_seed,
)
from engine.space import DEFAULT_CONFIG, SearchSpace, SpaceError
from engine.state import StateError, decode_state, encode_state
from engine.strategies.base import Outcome, Proposal, Strategy
from engine.trainer import TrialTask
from storage.store import LockLost, Store, StoreError, engine_alive

HEARTBEAT_S = 1.0
TIMEOUT_FLOOR_S = 300.0  # the automatic trial time limit is never shorter
TIMEOUT_FIRST_S = 3600.0  # ... and before any trial has finished, there is no median yet
TIMEOUT_FACTOR = 10.0
POLL_S = 0.2  # commands are looked at at least this often
ESTIMATE_REFIT = 5  # the estimating GP's kernel is re-optimised every 5 results (cheap between)


FULL_RETRY_S = 2.0  # a write that found the disk full is retried this often


class StoppedWhileFull(Exception):
    """A signal (SIGTERM, SIGINT) came while the engine waited for disk space: it stops
    without writing; a resume marks the trials that were running interrupted."""


def _say(db_path: str, text: str) -> None:
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
        self.db_path = str(db_path)
        self._full_noted = 0.0
        self.store = Store(db_path, create=False, on_full=self._on_disk_full)
        run = self.store.run(run_id)
        if run is None:
            raise EngineError(f"no run {run_id} in {db_path}")
        self.run_id = run_id
        self.cfg = RunConfig(**run["config"])
        self.profile = PROFILES[self.cfg.profile]
        self.workers = int(run["workers"])
        self._executor = executor
        self.on_tick = on_tick
        self.trainer = trainer
        self.status = run["status"]
        self.started = time.time()
        self.running: dict[int, tuple[Proposal, int]] = {}  # trial id -> (proposal, slot)
        self._interrupt = False
        self.max_failures = self.cfg.max_consecutive_failures or 2 * self.workers
        self._failed_in_a_row: list[str] = []  # errors of the search trials failed in a row
        self._fail_reason: str | None = None
        self._since: dict[int, float] = {}  # trial id -> monotonic time it started
        self._last_beat = 0.0
        self._phase = run["phase"]
        self.data_ref: DataRef | None = None
        self._saved_state: dict[str, Any] | None = None
        self._estimator: FidelityGP | None = None
        self.pruner = PrunerSettings()
        self._prunes: dict[int, dict[str, Any]] = {}  # trial id -> the decision to prune it

    # --- lock ---------------------------------------------------------------------------
    def _take_lock(self) -> None:
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

    @contextlib.contextmanager
    def _beating(self) -> Iterator[None]:
        """Beat from a thread (its own connection) during a long step that does not come
        back to the loop: data preparation, the TensorFlow import, workers starting."""
        assert self.store.fence is not None
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

    # --- set-up ---------------------------------------------------------------------------
    def _space_and_rules(self) -> tuple[int, SearchSpace, list[Rule]]:
        row = self.store.current_space(self.run_id)
        assert row is not None
        return row["version"], SearchSpace.from_dict(row["space"]), parse_rules(row["rules"])

    def _drop_unusable_rules(self) -> None:
        """Rules an older version accepted that cannot be used (an order comparison on a
        category, a huge penalty) killed the run at every launch; go back to the latest rules
        that can be, as a new space version, so the run carries on and says so."""
        try:
            check_rules(self.rules)
            return
        except SpaceError as exc:
            why = str(exc)
        fallback, source = [r.to_dict() for r in DEFAULT_RULES], "the default rules"
        for v in reversed(self.store.space_versions(self.run_id)):
            try:
                check_rules(parse_rules(v["rules"]))
            except SpaceError:
                continue
            fallback, source = v["rules"], f"the rules of version {v['version']}"
            break
        change = f"rules of version {self.space_version} cannot be used ({why}); {source} restored"
        self.space_version = self.store.add_space_version(
            self.run_id, self.space.to_dict(), fallback, change, "engine"
        )
        self.rules = parse_rules(fallback)
        self.store.log(self.run_id, change, "warning")

    def _prepare(self) -> DataRef:
        self._set_phase("data")
        self.store.log(self.run_id, f"preparing data ({self.cfg.data}) ...")
        ref = prepare_data(self.cfg.data, self.profile.data)
        self.store.update_run(
            self.run_id, data_source=ref.source, data_location=ref.location, data_reason=ref.reason
        )
        self.store.log(
            self.run_id,
            f"data: {ref.source} ({ref.n_train} train / {ref.n_val} val / "
            f"{ref.n_test} test, {ref.max_len} tokens): {ref.reason}",
        )
        return ref

    def _read_saved_state(self) -> dict[str, Any] | None:
        """The strategy state saved for this run, decoded as data (never unpickled); a row
        that is not hptui's JSON state is refused before anything else happens."""
        blob = self.store.load_strategy_state(self.run_id)
        if blob is None:
            return None
        try:
            return decode_state(blob, self.cfg.strategy)
        except StateError as exc:
            raise EngineError(f"run {self.run_id} cannot be resumed: {exc}") from None

    def _restore_strategy(self, strategy: Strategy) -> None:
        interrupted = self.store.mark_running_interrupted(self.run_id)
        if self._saved_state is None:
            return
        try:
            strategy.load_state_dict(self._saved_state)
        except (StateError, KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise EngineError(
                f"run {self.run_id} cannot be resumed: its saved strategy state does not fit "
                f"the {self.cfg.strategy} strategy ({type(exc).__name__}: {exc})"
            ) from None
        strategy.requeue_pending()
        self.store.log(
            self.run_id,
            f"resumed: strategy state restored, {interrupted} interrupted trial(s) will run again",
            "warning",
        )

    def _save_strategy(self) -> None:
        self.store.save_strategy_state(
            self.run_id, encode_state(self.cfg.strategy, self.strategy.state_dict())
        )

    # --- main -----------------------------------------------------------------------------
    def run(self) -> str:
        self._take_lock()
        try:
            self._saved_state = self._read_saved_state()
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
            status = self._run()
            if self._interrupt:
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
            _say(
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

    def _on_disk_full(self, exc: Exception) -> None:
        """The store's disk is full: wait for space and retry the write; results stay in
        memory (and workers wait on their pipes), so nothing is lost. The wait says so on
        stderr (never in a file on the full disk), keeps the heartbeat where a write still
        gets through, and ends at SIGTERM or SIGINT (StoppedWhileFull)."""
        if self._interrupt:
            raise StoppedWhileFull(str(exc))
        now = time.monotonic()
        if now - self._full_noted > 30:
            self._full_noted = now
            _say(
                self.db_path,
                f"hptui engine: {self.db_path}: {exc}; waiting for disk space, retrying every "
                f"{FULL_RETRY_S:g} s (nothing is lost)",
            )
        deadline = now + FULL_RETRY_S
        while True:
            self._beat_while_full()
            if self._interrupt:
                raise StoppedWhileFull(str(exc))
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.1, left))

    def _beat_while_full(self) -> None:
        """The heartbeat, tried once: on a full disk the write may fail, and that is fine
        (on this host a live pid holds the run whatever its heartbeat's age)."""
        now = time.time()
        if now - self._last_beat < HEARTBEAT_S or self.store.fence is None:
            return
        if self.store.heartbeat(*self.store.fence):  # never part of the write that waits
            self._last_beat = now

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._interrupt = True

    def _run(self) -> str:
        run = self.store.run(self.run_id)
        assert run is not None
        if run["status"] in ("finished", "cancelled", "failed") and run.get("final"):
            return run["status"]
        self.store.update_run(self.run_id, status="running", error=None)
        self.status = "running"
        log_path = str(log_path_for(self.db_path, self.run_id))
        self.store.update_run(self.run_id, log_path=log_path)
        with self._beating():  # minutes with a cold cache; the TensorFlow import, seconds
            ref = self.data_ref = self._prepare()
            if self.cfg.strategy == "bayes-ppo":
                import_tensorflow_quietly(log_path)
        self.space_version, self.space, self.rules = self._space_and_rules()
        self._drop_unusable_rules()
        self._load_pruner()
        self.strategy = build_strategy(self.cfg, self.profile, self.space, self.workers)
        self._restore_strategy(self.strategy)
        self.store.update_run(self.run_id, planned_trials=self.strategy.planned_trials)
        if self._executor is None:
            threads = self.cfg.threads or threads_per_worker(self.workers)
            settings = WorkerSettings(
                ref, threads, self.cfg.precision, log_path, trainer=self.trainer
            )
            self._executor = make_executor(self.cfg, self.workers, settings)
        with self._beating():
            self._executor.start()
        self.store.log(self.run_id, f"{self.workers} workers started")

        self._loop(search=True)
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
            phase="done" if final_status == "finished" else self._phase,
            finished_at=time.time(),
            **({"error": self._fail_reason} if self._fail_reason else {}),
        )
        self.status = final_status
        self._beat(force=True)
        self.store.log(self.run_id, f"run {final_status}")
        return final_status

    # --- the loop ---------------------------------------------------------------------------
    def _loop(self, *, search: bool, final_tasks: list[Proposal] | None = None) -> None:
        """Keep every slot busy until the strategy (or the final tasks) are done."""
        queue = list(final_tasks or [])
        while True:
            if self._interrupt:
                # Workers are killed at shut-down, not replaced first: Ctrl+C is quick.
                self._cancel_running(
                    "interrupted", "engine interrupted (signal); resumable", replace=False
                )
                self.status = "cancelled"
                return
            self._handle_commands()
            if self.status in ("cancelled", "failed"):
                return
            if self.status == "running":
                for slot in self._executor.free_slots():
                    p = self.strategy.ask() if search else (queue.pop(0) if queue else None)
                    if p is None:
                        break
                    self._launch(slot, p)
            idle = not self.running
            if idle and (
                self.status == "stopping" or (self.strategy.done() if search else not queue)
            ):
                return
            if idle and self.status == "running" and search:
                # Nothing running and nothing proposed: a strategy bug; fail loudly, not hang.
                raise EngineError(
                    f"strategy {self.strategy.name} has nothing to propose and nothing is running"
                )
            for msg in self._executor.poll(POLL_S):
                self._on_message(msg, search)
                if self.status == "failed":
                    return
            self._kill_overdue(search)
            if self.status == "failed":
                return
            self._beat()
            if self.on_tick:
                try:
                    self.on_tick(self)
                except OSError:  # the terminal went away (hang-up): carry on without it
                    self.on_tick = None

    def _set_phase(self, phase: str) -> None:
        self._phase = phase
        self.store.update_run(self.run_id, phase=phase)

    def _launch(self, slot: int, p: Proposal) -> None:
        alpha, beta = adaptive_weights(p.progress)
        penalty, fired = apply_rules(p.config, self.rules)
        trial_id, number = self.store.add_trial(
            self.run_id,
            p.config,
            status="running",
            phase=p.phase,
            strategy=self.strategy.name if p.phase != "final" else "final",
            ppo_epoch=p.ppo_epoch,
            trajectory=p.trajectory,
            step=p.step,
            space_version=self.space_version,
            max_epochs=p.epochs,
            alpha=alpha,
            beta=beta,
            penalty=penalty,
            rules_fired=fired,
            extra={"key": p.key, **p.extra},
            worker=slot,
            started_at=time.time(),
        )
        task = TrialTask(
            trial_id,
            p.config,
            p.epochs,
            early_stopping=p.early_stopping,
            evaluate_test=p.phase == "final",
            seed=trial_seed(self.cfg.seed, p.key),
            verdict_epochs=self._verdict_epochs(p),
        )
        self._executor.submit(slot, task)
        self.running[trial_id] = (p, slot)
        self._since[trial_id] = time.monotonic()
        self.store.set_worker(
            self.run_id, slot, trial_id=trial_id, epoch=0, epochs=p.epochs, batch=0, batches=None
        )
        if self._phase != p.phase and p.phase in ("warmup", "ppo", "search", "final"):
            self._set_phase(p.phase)

    def _on_message(self, msg: dict[str, Any], search: bool) -> None:
        kind, tid = msg["kind"], msg.get("trial_id")
        if kind == "ready":
            self.store.update_run(self.run_id, device=msg["device"], precision=msg["precision"])
            self.store.set_worker(self.run_id, msg["slot"], pid=msg["pid"])
            return
        if kind == "retry":
            self.store.clear_epochs(tid)
            self.store.log(
                self.run_id,
                f"trial {tid}: {msg['error']}; running it again (retry {msg['attempt']})",
                "warning",
            )
            return
        if kind == "worker_restarted":
            self.store.log(
                self.run_id,
                f"worker {msg['slot']} (pid {msg['old_pid']}) exited "
                f"with code {msg['exitcode']}; started a new one",
                "warning",
            )
            self.store.set_worker(self.run_id, msg["slot"], trial_id=None, pid=None)
            return
        if tid not in self.running:
            return  # progress of a trial already cancelled
        if kind == "started":  # the worker took it (submit time includes a worker's start-up)
            self.store.update_trial(tid, started_at=time.time())
            self._since[tid] = time.monotonic()
            return
        if kind == "progress":
            self.store.set_worker(
                self.run_id,
                msg["slot"],
                trial_id=tid,
                epoch=msg["epoch"],
                epochs=msg["epochs"],
                batch=msg["batch"],
                batches=msg["batches"],
            )
        elif kind == "epoch":
            self.store.add_epoch(
                self.run_id,
                tid,
                **{
                    k: _finite(msg[k])
                    for k in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")
                },
            )
            if msg.get("verdict"):  # the worker waits: go on, or stop after this epoch
                self._give_verdict(tid, int(msg["epoch"]))
        elif kind in ("result", "failed"):
            self._on_done(tid, msg, search)

    def _on_done(self, tid: int, msg: dict[str, Any], search: bool) -> None:
        p, slot = self.running.pop(tid)
        self._since.pop(tid, None)
        trial = self.store.trial(tid)
        assert trial is not None
        alpha, beta, penalty = trial["alpha"], trial["beta"], trial["penalty"]
        prune = self._prunes.pop(tid, None)
        if msg["kind"] == "result":
            res = msg["result"]
            pruned = bool(res.get("pruned")) and search
            r = reward(res["val_accuracy"], res["seconds"], penalty, alpha, beta)
            # Commit the finished trial before anything else happens.
            self.store.update_trial(
                tid,
                status="pruned" if pruned else "finished",
                val_accuracy=res["val_accuracy"],
                val_loss=res["val_loss"],
                seconds=res["seconds"],
                epochs_run=res["epochs_run"],
                best_epoch=res["best_epoch"],
                test_accuracy=res.get("test_accuracy"),
                reward=r if search else None,  # final-validation trials are not rewarded
                score=score(res["val_accuracy"], res["seconds"], penalty) if search else None,
                device=res["device"],
                precision=res["precision"],
                finished_at=time.time(),
                **({"extra": {**trial["extra"], "pruned": prune}} if pruned and prune else {}),
            )
            outcome = Outcome(
                True,
                res["val_accuracy"],
                res["seconds"],
                r,
                pruned=pruned,
                epochs_run=int(res["epochs_run"]),
            )
            self._failed_in_a_row.clear()
            if search and not pruned:  # a pruned trial is not a candidate for best
                self._update_estimates()
            self.store.log(
                self.run_id,
                f"trial {trial['number']} ({p.phase}) "
                + (
                    f"pruned after epoch {res['epochs_run']} of {p.epochs}"
                    if pruned
                    else "finished"
                )
                + ": val acc "
                f"{res['val_accuracy']:.4f}, {res['seconds']:.1f} s"
                + (f", reward {r:.2f}" if search else f", test acc {res['test_accuracy']:.4f}"),
            )
        else:
            err = msg["error"]
            self.store.update_trial(tid, status="failed", error=err, finished_at=time.time())
            # The policy is told a failed step scores like accuracy 0.
            outcome = Outcome(False, 0.0, 0.0, reward(0.0, 0.0, penalty, alpha, beta), err)
            self.store.log(
                self.run_id, f"trial {trial['number']} ({p.phase}) failed: {err}", "error"
            )
            if search:
                self._failed_in_a_row.append(err)
        self.store.set_worker(self.run_id, slot, trial_id=None, epoch=None, batch=None)
        if len(self._failed_in_a_row) >= self.max_failures:
            # Every trial failing means something is wrong with the set-up, not the
            # configurations: stop before the strategy learns from rewards of nothing. The
            # last failure is not told, so a resume after a fix runs it again.
            self._give_up()
            return
        if search:
            self.strategy.tell(p, outcome)
            if outcome.pruned:  # epochs handed back: an epoch budget plans more trials
                self.store.update_run(self.run_id, planned_trials=self.strategy.planned_trials)
            for upd in self.strategy.pop_updates():
                self.store.add_ppo_update(self.run_id, **upd)
                self.store.log(
                    self.run_id,
                    f"PPO epoch {upd['ppo_epoch']} update: mean reward "
                    f"{upd['mean_reward']:.2f}, best {upd['best_reward']:.2f},"
                    f" KL {upd['approx_kl']:.4f}, std {upd['mean_std']:.3f}",
                )
            for ev in self.strategy.pop_events():
                self.store.log(self.run_id, ev)
            self._save_strategy()
        self._beat(force=True)

    # --- commands -------------------------------------------------------------------------------
    def _handle_commands(self) -> None:
        for cmd in self.store.pending_commands(self.run_id):
            kind, payload = cmd["kind"], cmd["payload"] or {}
            try:
                message = self._apply_command(kind, payload)
            except SpaceError as exc:
                self.store.finish_command(cmd["id"], "refused", str(exc))
                self.store.log(self.run_id, f"{kind} refused: {exc}", "warning")
                continue
            self.store.finish_command(cmd["id"], "done", message)
            self.store.log(self.run_id, message)

    def _apply_command(self, kind: str, payload: dict[str, Any]) -> str:
        if kind == "pause":
            if self.status == "running":
                self._set_status("paused")
                return "paused: no new trials start; running ones finish"
            return f"pause ignored: run is {self.status}"
        if kind == "resume":
            if self.status == "paused":
                self._set_status("running")
                return "resumed"
            return f"resume ignored: run is {self.status}"
        if kind == "stop":
            self._set_status("stopping")
            return f"stopping: {len(self.running)} running trial(s) will finish, then the run ends"
        if kind == "cancel":
            n = len(self.running)
            self._cancel_running("cancelled", "cancelled by the user")
            self._set_status("cancelled")
            return f"cancelled: {n} running trial(s) killed"
        if kind in ("edit_space", "edit_rules"):
            return self._edit(kind, payload)
        if kind == "edit_pruner":
            return self._edit_pruner(payload)
        raise SpaceError(f"unknown command {kind!r}")

    def _edit(self, kind: str, payload: dict[str, Any]) -> str:
        if kind == "edit_space":
            if "space" in payload:
                new_space = SearchSpace.from_dict(payload["space"])
            else:
                new_space = self.space.edited(payload.get("changes", {}))
            rules, change = self.rules, self.space.describe_change(new_space)
            if new_space == self.space:
                raise SpaceError("the edit changes nothing")
        else:
            rules = parse_rules(payload.get("rules"))
            check_rules(rules)  # the UI sends edits too: the engine is the last gate
            new_space = self.space
            change = "pruning rules: " + "; ".join(r.describe() for r in rules)
        version = self.store.add_space_version(
            self.run_id,
            new_space.to_dict(),
            [r.to_dict() for r in rules],
            change,
            payload.get("source", "user"),
        )
        self.space_version, self.space, self.rules = version, new_space, rules
        note = self.strategy.on_space_change(new_space) if kind == "edit_space" else ""
        self.store.update_run(self.run_id, planned_trials=self.strategy.planned_trials)
        self._save_strategy()
        return f"space version {version}: {change}" + (f" ({note})" if note else "")

    def _auto_time_limit(self, p: Proposal) -> float:
        """10 x the median wall seconds per epoch of the finished trials, times p's epochs."""
        per_trial = self.store.seconds_per_epoch(self.run_id)
        if not per_trial:
            return TIMEOUT_FIRST_S
        per_epoch = statistics.median(per_trial)
        return max(TIMEOUT_FLOOR_S, TIMEOUT_FACTOR * per_epoch * max(1, p.epochs))

    def _kill_overdue(self, search: bool) -> None:
        """A trial past its time limit (a hung trainer) is killed, its worker replaced, and
        it fails with the reason; otherwise it would hold its worker, and `stop`, forever."""
        now = time.monotonic()
        for tid, (p, slot) in list(self.running.items()):
            elapsed = now - self._since.get(tid, now)
            if self.cfg.trial_timeout:
                limit = float(self.cfg.trial_timeout)
            elif elapsed <= TIMEOUT_FLOOR_S:
                continue  # the automatic limit is never shorter: no need to work it out
            else:
                limit = self._auto_time_limit(p)
            if elapsed <= limit:
                continue
            self._executor.cancel(tid)
            why = f"timed out after {limit:.0f} s (--trial-timeout); worker {slot} replaced"
            self.store.log(self.run_id, f"trial {tid}: {why}", "warning")
            self._on_done(tid, {"kind": "failed", "error": why}, search)
            if self.status == "failed":
                return

    def _give_up(self) -> None:
        n, first = len(self._failed_in_a_row), self._failed_in_a_row[0]
        self._fail_reason = (
            f"{n} trials in a row failed (--max-consecutive-failures {self.max_failures}); "
            f"the first: {first}"
        )
        self.store.log(self.run_id, f"run stopped: {self._fail_reason}", "error")
        self._cancel_running("interrupted", "run stopped: too many trials failed in a row")
        self.status = "failed"

    def _set_status(self, status: str) -> None:
        self.status = status
        self.store.update_run(self.run_id, status=status)

    def _cancel_running(self, status: str, why: str, replace: bool = True) -> None:
        for tid in list(self.running):
            if replace:
                self._executor.cancel(tid)
            _, slot = self.running.pop(tid)
            self.store.update_trial(tid, status=status, error=why, finished_at=time.time())
            self.store.set_worker(self.run_id, slot, trial_id=None)
        self._save_strategy()

    # --- heartbeat and header numbers -----------------------------------------------------------
    def _beat(self, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._last_beat < HEARTBEAT_S:
            return
        self._last_beat = now
        self.store.update_run(self.run_id, heartbeat=now, progress=self.progress())

    def progress(self) -> dict[str, Any]:
        c = self.store.progress_counts(self.run_id)
        planned = self.strategy.planned_trials if hasattr(self, "strategy") else 0
        eta = remaining_seconds(
            EtaInputs(
                planned_trials=planned,
                planned_epochs=self.profile.epochs_for(self.cfg.strategy),
                ended_trials=c["finished"] + c["failed"] + c["pruned"],
                running_trials=c["running"],
                epochs_spent=c["epochs_spent"],
                running_epochs=c["running_epochs"],
                running_epochs_left=c["running_epochs_left"],
                max_epochs=self.profile.trial_epochs(self.cfg.strategy),
                measured_seconds=c["measured_seconds"],
                measured_epochs=c["measured_epochs"],
                workers=self.workers,
                final_epochs=self.profile.final_epochs if self.cfg.final_validation else 0,
                final_epochs_done=c["final_epochs_done"],
            )
        )
        out = {
            "finished": c["finished"],
            "failed": c["failed"],
            "pruned": c["pruned"],
            "pruner": self.pruner.kind,
            "planned": planned,
            "running": len(self.running),
            "workers": self.workers,
            "eta_s": eta,
            "elapsed_s": time.time() - (c["first_started"] or self.started),
        }
        if hasattr(self, "strategy"):
            out.update(self.strategy.progress())
        return out

    # --- learning-curve pruning (engine.pruners) ------------------------------------------------
    def _load_pruner(self) -> None:
        """The run's pruner: its latest settings version, or version 1 from the run config."""
        row = self.store.current_pruner(self.run_id)
        try:
            if row is not None:
                self.pruner = PrunerSettings.from_dict(row["settings"])
            else:
                self.pruner = PrunerSettings.from_dict(self.cfg.pruner)
                self.store.add_pruner_version(
                    self.run_id, self.pruner.to_dict(), self.pruner.describe(), "engine"
                )
        except SpaceError as exc:
            raise EngineError(f"run {self.run_id}: unusable pruner settings: {exc}") from None
        self.store.log(self.run_id, f"pruner: {self.pruner.describe()}")
        if self.pruner.kind != "none" and self.cfg.executor != "local":
            self.store.log(
                self.run_id,
                f"the {self.cfg.executor} executor cannot stop a trial after an epoch: "
                "every trial runs to the end (no pruning)",
                "warning",
            )

    def _verdict_epochs(self, p: Proposal) -> tuple[int, ...]:
        """Epochs after which p's worker waits for a verdict (none for final validation, with
        no pruner, or on an executor that cannot stop a trial after an epoch)."""
        if p.phase == "final" or not getattr(self._executor, "supports_verdicts", False):
            return ()
        return decision_epochs(self.pruner, p.epochs)

    def _curves(self) -> dict[int, Curve]:
        curves: dict[int, Curve] = {}
        for tid, status, epoch, acc in self.store.search_curves(self.run_id, REFERENCE_STATUSES):
            c = curves.setdefault(tid, Curve(status, {}))
            if acc is not None:
                c.acc[epoch] = acc  # type: ignore[index]
        return curves

    def _give_verdict(self, tid: int, epoch: int) -> None:
        """A worker waits after `epoch` of trial `tid`. Decide from the run's curves; a
        decision to prune is logged (committed) before the worker is told. The worker is
        always answered, even when the pruner was switched off meanwhile."""
        p, _ = self.running[tid]
        d = decide(self.pruner, tid, epoch, self._curves()) if p.phase != "final" else None
        if d is not None and d.prune:
            number = self.store.trial(tid)["number"]  # type: ignore[index]
            self._prunes[tid] = {"epoch": epoch, "pruner": self.pruner.kind, "reason": d.reason}
            self.store.log(
                self.run_id,
                f"trial {number}: pruning after epoch {epoch} of {p.epochs} "
                f"({self.pruner.kind}): {d.reason}",
            )
        self._executor.verdict(tid, bool(d and d.prune))  # type: ignore[attr-defined]

    def _edit_pruner(self, payload: dict[str, Any]) -> str:
        """A new pruner settings version, for trials started from now on."""
        settings = PrunerSettings.from_dict(payload.get("pruner"))
        if settings == self.pruner:
            raise SpaceError("the edit changes nothing")
        version = self.store.add_pruner_version(
            self.run_id, settings.to_dict(), settings.describe(), payload.get("source", "user")
        )
        self.pruner = settings
        return f"pruner version {version}: {settings.describe()} (for trials started from now)"

    # --- final validation (SPEC §6) -----------------------------------------------------------
    def _update_estimates(self) -> None:
        """Re-estimate the accuracy of every finished search trial (engine.estimate), stored
        beside the measurement for the UI and `show` (the ranking itself is the score's)."""
        done = [
            t for t in self.store.trials(self.run_id, status="finished") if t["phase"] != "final"
        ]
        if self._estimator is None or self._estimator.space != self.space:
            self._estimator = FidelityGP(self.space, self.cfg.seed, refit_every=ESTIMATE_REFIT)
        configs = [t["config"] for t in done]
        accs = [t["val_accuracy"] for t in done]
        epochs = [t["max_epochs"] or t["epochs_run"] or 1 for t in done]
        est = (
            self._estimator.predict(configs)[0]
            if self._estimator.fit(configs, accs, epochs)
            else accs
        )
        self.store.set_estimates(
            self.run_id, {t["id"]: float(e) for t, e in zip(done, est, strict=True)}
        )

    def _final_validation(self) -> None:
        best = self.store.best_trial(self.run_id)
        if best is None:
            self.store.log(self.run_id, "no finished trial: no final validation", "warning")
            return
        self._set_phase("final")
        default = dict(DEFAULT_CONFIG)
        done = {
            t["extra"].get("role"): t
            for t in self.store.trials(self.run_id, phase="final", status="finished")
        }
        todo = []
        for role, cfg in (("best", best["config"]), ("default", default)):
            if role not in done:
                todo.append(
                    Proposal(
                        cfg,
                        "final",
                        self.profile.final_epochs,
                        # As in the search (SPEC §5's steps): stop when validation loss
                        # rises, best weights restored. Without it a configuration found
                        # best at 2 epochs was scored after overfitting at epoch 3 (test
                        # 0.678 against the default's 0.742 in a real quick run).
                        early_stopping=True,
                        key=f"final-{role}",
                        extra={"role": role, "best_trial": best["number"]},
                    )
                )
        self.store.log(
            self.run_id,
            f"final validation: best (trial {best['number']}) and "
            f"default, up to {self.profile.final_epochs} epochs each (early stopping)",
        )
        self._loop(search=False, final_tasks=todo)
        done = {
            t["extra"].get("role"): t
            for t in self.store.trials(self.run_id, phase="final", status="finished")
        }
        if "best" not in done or "default" not in done:
            return
        b, d = done["best"], done["default"]
        summary = final_summary(best, b, d, self.profile.final_epochs)
        self.store.update_run(self.run_id, final=summary)
        self.store.log(self.run_id, format_final(summary))


def _finite(v: Any) -> Any:
    return v if not isinstance(v, float) or math.isfinite(v) else None
