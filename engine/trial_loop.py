"""The trial loop: keep every worker busy with one strategy's proposals until it is done.

When a slot frees, ask the strategy; when a result arrives, end the trial (one call: commit,
score, estimate, log line, failure streak, tell and save); between events, answer the
commands table and kill trials past their time limit. The loop returns why it ended; the
run's life around it (engine.runner) turns that into the run's status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from engine.commands import handle_pending
from engine.config import EngineError, RunConfig
from engine.executor import Executor
from engine.lock import RunLock
from engine.messages import record_epoch, record_progress, record_worker_news, result_line
from engine.metric import Metric
from engine.persistence import StrategyKeeper
from engine.settings import RunSettings
from engine.setup import trial_seed
from engine.strategies.base import Proposal, Strategy
from engine.trainer import TrialTask
from engine.trials import TrialBook
from storage import contract
from storage.contract import ExecutorMessage
from storage.store import RunStore, Store

POLL_S = 0.2  # commands are looked at at least this often
# ... and this often while the strategy is being told: its state is committed soon after
# the result (most tells take milliseconds), leaving a kill little to tell again on resume.
TELLING_POLL_S = 0.01
QUICK_TELL_S = 0.05


class End(Enum):
    """Why a trial loop ended."""

    DONE = "done"  # the strategy has nothing more to propose
    STOPPED = "stopped"  # `stop`: the running trials finished, no new ones started
    CANCELLED = "cancelled"  # `cancel`: the running trials were killed
    FAILED = "failed"  # too many search trials failed in a row (the reason says which)
    INTERRUPTED = "interrupted"  # a signal (Ctrl+C, SIGTERM): resumable


@dataclass(frozen=True)
class Ending:
    why: End
    reason: str | None = None


@dataclass
class RunParts:
    """What every trial loop of a run works with, made once by the engine."""

    rs: RunStore  # the run's handle on the store
    cfg: RunConfig
    lock: RunLock
    settings: RunSettings
    trials: TrialBook
    keeper: StrategyKeeper
    executor: Executor
    progress: Callable[[], dict[str, Any]]  # the header's numbers, for the heartbeat
    search: Strategy  # the search strategy, which space edits reach in any stage
    workers: int
    on_tick: Callable[[], None] | None = None

    @property
    def store(self) -> Store:
        return self.rs.store

    @property
    def run_id(self) -> int:
        return self.rs.run_id


class TrialLoop:
    """One stage of a run (the search, final validation) on its own strategy. It is the
    target of the run's commands (engine.commands.CommandTarget) while it runs."""

    def __init__(self, parts: RunParts, strategy: Strategy, status: str = contract.RUNNING) -> None:
        self.parts, self.strategy = parts, strategy
        self.status = status  # the run's control state: running, paused or stopping
        self.max_failures = parts.cfg.max_consecutive_failures or 2 * parts.workers
        self._failed_in_a_row: list[str] = []  # errors of the search trials failed in a row
        self._ending: Ending | None = None
        self._prunes: dict[int, dict[str, Any]] = {}  # trial id -> the decision to prune it
        run = parts.rs.run()
        self.phase = run["phase"] if run else None
        self.metric = Metric.from_dict(parts.cfg.metric)  # the log's words for a result

    def run(self) -> Ending:
        """Keep every slot busy until the strategy is done or the run is told otherwise."""
        p, strategy = self.parts, self.strategy
        while self._ending is None:
            if p.lock.interrupted:
                # Workers are killed at shut-down, not replaced first: Ctrl+C is quick.
                self._end_running(
                    contract.INTERRUPTED, "engine interrupted (signal); resumable", False
                )
                return Ending(End.INTERRUPTED)
            p.keeper.settle()  # commit what the strategy's finished tells made
            handle_pending(p.store, p.run_id, self)
            if self._ending is not None:
                break
            if self.status == contract.RUNNING and not p.keeper.busy:
                self._ask_and_launch()
            idle = not p.trials.running and not p.keeper.busy
            if idle and self.status == contract.STOPPING:
                return Ending(End.STOPPED)
            if idle and strategy.done():
                return Ending(End.DONE)
            if idle and self.status == contract.RUNNING:
                # Nothing running and nothing proposed: a strategy bug; fail loudly, not hang.
                raise EngineError(
                    f"strategy {strategy.name} has nothing to propose and nothing is running"
                )
            for msg in p.executor.poll(TELLING_POLL_S if p.keeper.busy else POLL_S):
                self._on_message(msg)
                if self._ending is not None:
                    break
            if self._ending is None:
                self._kill_overdue()
            p.trials.write_estimates()
            p.lock.beat(p.progress)
            if p.on_tick:
                try:
                    p.on_tick()
                except OSError:  # the terminal went away (hang-up): carry on without it
                    p.on_tick = None
        return self._ending

    # --- trials ---------------------------------------------------------------------------
    def _ask_and_launch(self) -> None:
        """A proposal for each free worker, as far as the strategy has them. The search
        strategy's state is saved once they are launched: every running trial is then a
        proposal of the saved state, so a result committed while its tell is still in
        flight is told again on resume (engine.persistence), never trained again."""
        launched = 0
        for slot in self.parts.executor.free_slots():
            proposal = self.strategy.ask()
            if proposal is None:
                break
            self._launch(slot, proposal)
            launched += 1
        if launched and self.strategy.searching:
            self.parts.keeper.save_later(self.strategy)

    def _launch(self, slot: int, proposal: Proposal) -> None:
        p, s = self.parts, self.parts.settings
        tid = p.trials.launch(proposal, slot, self.strategy.name, s.space_version, s.rules)
        prunable = self.strategy.searching and getattr(p.executor, "supports_verdicts", False)
        task = TrialTask(
            tid,
            proposal.config,
            proposal.epochs,
            early_stopping=proposal.early_stopping,
            evaluate_test=self.strategy.tests,
            seed=trial_seed(p.cfg.seed, proposal.key),
            verdict_epochs=s.verdict_epochs(proposal.epochs) if prunable else (),
        )
        p.executor.submit(slot, task)
        if self.phase != proposal.phase and proposal.phase in contract.TRIAL_PHASES:
            self.phase = proposal.phase
            p.rs.update_run(phase=proposal.phase)

    def _on_message(self, msg: ExecutorMessage) -> None:
        p = self.parts
        m: dict[str, Any] = dict(msg)
        kind, tid = m["kind"], m.get("trial_id")
        if record_worker_news(p.rs, m):
            return  # news of a worker, not of a trial
        if tid not in p.trials.running:
            return  # progress of a trial already cancelled
        if kind == "started":
            p.trials.started(tid)
        elif kind == "progress":
            record_progress(p.rs, m)
        elif kind == "epoch":
            record_epoch(p.rs, m)
            if m.get("verdict"):  # the worker waits: go on, or stop after this epoch
                self._give_verdict(tid, int(m["epoch"]))
        elif kind == "result":
            self.end_trial(tid, result=m["result"])
        elif kind == "failed":
            self.end_trial(tid, error=m["error"])

    def end_trial(
        self, tid: int, *, result: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        """Everything that happens when trial `tid` ends, in order: commit (scored, when a
        search trial), the estimates, the log line, the failure streak, then the strategy is
        told and saved (on the keeper's thread). A failure that makes too many in a row ends
        the loop untold, so a resume after a fix runs it again."""
        p, searching = self.parts, self.strategy.searching
        if result is None:
            t, outcome = p.trials.fail(tid, error or "unknown error")
            p.rs.log(f"trial {t.number} ({t.proposal.phase}) failed: {error}", "error")
            if searching:
                self._failed_in_a_row.append(error or "unknown error")
            if len(self._failed_in_a_row) >= self.max_failures:
                self._give_up()
                return
        else:
            t, outcome = p.trials.finish(tid, result, searching, self._prunes.pop(tid, None))
            self._failed_in_a_row.clear()
            if searching and not outcome.pruned:  # a pruned trial is not a candidate for best
                assert p.settings.space is not None
                p.trials.update_estimates(p.settings.space, p.cfg.seed, p.settings.space_version)
            line = result_line(t.number, t.proposal, result, outcome, searching, self.metric)
            p.rs.log(line)
        p.keeper.tell_later(self.strategy, t.proposal, outcome)
        # Most tells take milliseconds: wait that long, so the freed worker gets its next
        # trial in this turn of the loop; a long one (a GP fit) is left to its thread.
        p.keeper.settle(block=True, timeout=QUICK_TELL_S)
        p.lock.beat(p.progress, force=True)

    def _give_verdict(self, tid: int, epoch: int) -> None:
        """A worker waits after `epoch` of trial `tid`. A decision to prune is logged
        (committed) before the worker is told; the worker is always answered, even when the
        pruner was switched off meanwhile."""
        p = self.parts
        t = p.trials.running[tid]
        d = p.settings.decide(tid, epoch)
        if d is not None and d.prune:
            kind = p.settings.pruner.kind
            self._prunes[tid] = {"epoch": epoch, "pruner": kind, "reason": d.reason}
            p.rs.log(
                f"trial {t.number}: pruning after epoch {epoch} of {t.proposal.epochs} "
                f"({kind}): {d.reason}",
            )
        p.executor.verdict(tid, bool(d and d.prune))  # type: ignore[attr-defined]

    def _kill_overdue(self) -> None:
        """A trial past its time limit (a hung trainer) is killed, its worker replaced, and
        it fails with the reason; otherwise it would hold its worker, and `stop`, forever."""
        p = self.parts
        for tid, slot, reason in p.trials.overdue(p.cfg.trial_timeout):
            p.executor.cancel(tid)
            why = f"{reason}; worker {slot} replaced"
            p.rs.log(f"trial {tid}: {why}", "warning")
            self.end_trial(tid, error=why)
            if self._ending is not None:
                return

    def _give_up(self) -> None:
        n, first = len(self._failed_in_a_row), self._failed_in_a_row[0]
        reason = (
            f"{n} trials in a row failed (--max-consecutive-failures {self.max_failures}); "
            f"the first: {first}"
        )
        self.parts.rs.log(f"run stopped: {reason}", "error")
        self._end_running(contract.INTERRUPTED, "run stopped: too many trials failed in a row")
        self._ending = Ending(End.FAILED, reason)

    def _end_running(self, status: str, why: str, replace: bool = True) -> None:
        p = self.parts
        if replace:
            for tid in p.trials.running:
                p.executor.cancel(tid)
        p.trials.end_all(status, why)
        p.keeper.save(p.search)

    # --- what commands act on (engine.commands.CommandTarget) -------------------------------
    def running_count(self) -> int:
        return len(self.parts.trials.running)

    def set_status(self, status: str) -> None:
        self.status = status
        self.parts.rs.update_run(status=status)

    def cancel_running(self) -> None:
        self._end_running(contract.CANCELLED, "cancelled by the user")
        self._ending = Ending(End.CANCELLED)

    def edit(self, kind: str, payload: dict[str, Any]) -> str:
        p = self.parts
        p.keeper.wait()  # the strategy is changed here, not beside a tell
        message = p.settings.edit(kind, payload)
        if kind == contract.EDIT_SPACE:
            assert p.settings.space is not None
            note = p.search.on_space_change(p.settings.space)
            message += f" ({note})" if note else ""
        if kind != contract.EDIT_PRUNER:
            p.rs.update_run(planned_trials=p.search.planned_trials)
            p.keeper.save(p.search)
        return message
