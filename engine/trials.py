"""The run's trials in flight: launched with the reward weights and penalty of their moment
(carried with them, never read back), then committed as finished, pruned, failed, cancelled or
interrupted; and what the finished ones tell about the running: the accuracy estimates
(engine.estimates, fitted off the loop) and the automatic time limit."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from engine.estimates import EstimateThread, Observation
from engine.importance import MIN_TRIALS, READ_MAX
from engine.reward import Rule, adaptive_weights, apply_rules, reward, score
from engine.space import SearchSpace
from engine.strategies.base import Outcome, Proposal
from storage import contract
from storage.store import RunStore, Store

TIMEOUT_FLOOR_S = 300.0  # the automatic trial time limit is never shorter
TIMEOUT_FIRST_S = 3600.0  # ... and before any trial has finished, there is no median yet
TIMEOUT_FACTOR = 10.0
# A trial's time limit counts from when its worker started it, not from its launch: a fresh
# worker (the first ones, or one that replaced a killed worker) first imports TensorFlow and
# loads the data, seconds to minutes, and a limit that counted that killed trials before they
# began, then the replacement's next trial the same way. A worker that has not started its
# trial this long after the launch is taken for stuck in its start-up: generous, since a
# first CUDA initialisation or a loaded machine can take minutes.
WORKER_START_S = 900.0
# Which hyperparameters matter is computed again (off the loop, with the estimates) once the
# finished search trials grew by this fraction since the last time (by one at least), or the
# space changed, and at the end of the search: about 90 fits over 50,000 trials, each on at
# most engine.importance.FIT_MAX of them. `hptui show` prints the last one, "as of" its count.
IMPORTANCE_GROWTH = 0.1


@dataclass
class Running:
    """A launched trial: its proposal, worker, number, and the reward terms of its moment."""

    proposal: Proposal
    slot: int
    number: int
    alpha: float
    beta: float
    penalty: float
    launched: float  # monotonic seconds when it was sent to a worker
    started: float | None = None  # ... and when the worker began it (None: not yet)

    def since(self) -> float:
        """When its training began, or, until the worker says so, when it was launched."""
        return self.launched if self.started is None else self.started


class TrialBook:
    def __init__(self, store: Store | RunStore, run_id: int | None = None) -> None:
        self.rs = RunStore.of(store, run_id)  # the run's handle; `store` for trials by id
        self.store, self.run_id = self.rs.store, self.rs.run_id
        self.running: dict[int, Running] = {}  # trial id -> its record
        # Read from the store once, then kept up to date here: nothing rescans the
        # finished trials as the run grows.
        self._observations: list[Observation] | None = None  # finished search trials
        self._epoch_seconds: list[float] | None = None  # wall seconds per epoch, finished
        self._estimates: EstimateThread | None = None
        self._space: tuple[SearchSpace, int] | None = None  # the last (space, version) seen
        # (finished search trials, space version) of the importance last asked for or stored
        self._importance_at: tuple[int, int] | None = None

    def launch(
        self, p: Proposal, slot: int, strategy: str, space_version: int, rules: list[Rule]
    ) -> int:
        """Commit a new running trial for `p` on worker `slot`; returns its id."""
        alpha, beta = adaptive_weights(p.progress)
        penalty, fired = apply_rules(p.config, rules)
        trial_id, number = self.rs.add_trial(
            p.config,
            status=contract.RUNNING,
            phase=p.phase,
            strategy=strategy,
            ppo_epoch=p.ppo_epoch,
            trajectory=p.trajectory,
            step=p.step,
            space_version=space_version,
            max_epochs=p.epochs,
            alpha=alpha,
            beta=beta,
            penalty=penalty,
            rules_fired=fired,
            extra={"key": p.key, **p.extra},
            worker=slot,
            started_at=time.time(),
        )
        self.running[trial_id] = Running(p, slot, number, alpha, beta, penalty, time.monotonic())
        self.rs.set_worker(slot, trial_id=trial_id, epoch=0, epochs=p.epochs, batch=0, batches=None)
        return trial_id

    def started(self, trial_id: int) -> None:
        """The worker took it (the launch time included a worker's start-up)."""
        self.store.update_trial(trial_id, started_at=time.time())
        self.running[trial_id].started = time.monotonic()

    def finish(
        self,
        trial_id: int,
        res: dict[str, Any],
        searching: bool,
        prune: dict[str, Any] | None = None,
    ) -> tuple[Running, Outcome]:
        """Commit a result, before anything else happens. A search trial is rewarded and
        scored; one the pruner stopped is `pruned`."""
        t = self.running.pop(trial_id)
        pruned = bool(res.get("pruned")) and searching
        r = reward(res["val_accuracy"], res["seconds"], t.penalty, t.alpha, t.beta)
        extra = {"key": t.proposal.key, **t.proposal.extra, "pruned": prune}
        self.store.update_trial(
            trial_id,
            status=contract.PRUNED if pruned else contract.FINISHED,
            val_accuracy=res["val_accuracy"],
            val_loss=res["val_loss"],
            seconds=res["seconds"],
            epochs_run=res["epochs_run"],
            best_epoch=res["best_epoch"],
            test_accuracy=res.get("test_accuracy"),
            reward=r if searching else None,  # final-validation trials are not rewarded
            score=score(res["val_accuracy"], res["seconds"], t.penalty) if searching else None,
            device=res["device"],
            precision=res["precision"],
            finished_at=time.time(),
            **({"extra": extra} if pruned and prune else {}),
        )
        self._free(t.slot)
        if not pruned:
            self._note_finished(trial_id, t, res, searching)
        outcome = Outcome(
            True,
            res["val_accuracy"],
            res["seconds"],
            r,
            pruned=pruned,
            epochs_run=int(res["epochs_run"]),
        )
        return t, outcome

    def fail(self, trial_id: int, error: str) -> tuple[Running, Outcome]:
        """Commit a failure; the strategy is told it scores like accuracy 0."""
        t = self.running.pop(trial_id)
        self.store.update_trial(
            trial_id, status=contract.FAILED, error=error, finished_at=time.time()
        )
        self._free(t.slot)
        return t, Outcome(False, 0.0, 0.0, reward(0.0, 0.0, t.penalty, t.alpha, t.beta), error)

    def end_all(self, status: str, why: str) -> list[int]:
        """End every running trial as `status` (cancelled, interrupted); returns their ids."""
        ids = list(self.running)
        for tid in ids:
            t = self.running.pop(tid)
            self.store.update_trial(tid, status=status, error=why, finished_at=time.time())
            self.rs.set_worker(t.slot, trial_id=None)
        return ids

    def overdue(self, trial_timeout: float | None) -> list[tuple[int, int, str]]:
        """(trial id, worker, why) of each running trial past its time limit, counted from
        when its worker started it: the run's --trial-timeout, or automatically 10 x the
        median wall seconds per epoch of the finished trials times its epochs (never under
        TIMEOUT_FLOOR_S). A trial its worker has not started is overdue after WORKER_START_S."""
        now, out = time.monotonic(), []
        for tid, t in self.running.items():
            if t.started is None:
                if now - t.launched > WORKER_START_S:
                    why = f"its worker did not start it within {WORKER_START_S:.0f} s"
                    out.append((tid, t.slot, why))
                continue
            elapsed = now - t.started
            if trial_timeout:
                limit, source = float(trial_timeout), "--trial-timeout"
            elif elapsed <= TIMEOUT_FLOOR_S:
                continue  # the automatic limit is never shorter: no need to work it out
            else:
                limit, source = self._auto_time_limit(t.proposal.epochs), "automatic limit"
            if elapsed > limit:
                out.append((tid, t.slot, f"timed out after {limit:.0f} s ({source})"))
        return out

    def _auto_time_limit(self, epochs: int) -> float:
        if self._epoch_seconds is None:
            self._epoch_seconds = self.rs.seconds_per_epoch()
        per_trial = self._epoch_seconds
        if not per_trial:
            return TIMEOUT_FIRST_S
        per_epoch = statistics.median(per_trial)
        return max(TIMEOUT_FLOOR_S, TIMEOUT_FACTOR * per_epoch * max(1, epochs))

    def _free(self, slot: int) -> None:
        self.rs.set_worker(slot, trial_id=None, epoch=None, batch=None)

    def _note_finished(
        self, trial_id: int, t: Running, res: dict[str, Any], searching: bool
    ) -> None:
        if self._epoch_seconds is not None:
            seconds = time.monotonic() - t.since()
            self._epoch_seconds.append(seconds / max(1, int(res["epochs_run"])))
        if searching and self._observations is not None:
            epochs = t.proposal.epochs or int(res["epochs_run"]) or 1
            self._observations.append(
                Observation(trial_id, t.proposal.config, float(res["val_accuracy"]), epochs)
            )

    def update_estimates(self, space: SearchSpace, seed: int, version: int | None = None) -> None:
        """Ask for fresh estimates of every finished search trial's accuracy, stored beside
        the measurement for the UI and `show` (the ranking itself is the score's), and, when
        it is due, which hyperparameters matter in `space` (space `version`). Both are fitted
        on a thread of their own and written by `write_estimates`."""
        if self._observations is None:
            self._observations = [
                Observation(t["id"], t["config"], float(t["val_accuracy"]), _epochs(t))
                for t in self.rs.trials(status=contract.FINISHED)
                if t["phase"] != contract.FINAL_PHASE
            ]
        if self._estimates is None:
            self._estimates = EstimateThread(seed)
        self._estimates.request(space, self._observations)
        if version is not None:
            self._space = (space, version)
            self._ask_importance(space, version)

    def _ask_importance(self, space: SearchSpace, version: int, *, last: bool = False) -> None:
        """Hand the thread the newest finished search trials when the importance is due:
        IMPORTANCE_GROWTH more finished since the last one or another space version; with
        `last` (the search's end), whenever those differ from the last one's."""
        assert self._estimates is not None
        finished = self.rs.search_counts()["finished"]
        if finished < MIN_TRIALS:
            return
        if self._importance_at is None:  # a resumed run: from what its engine stored
            row = self.rs.importance()
            self._importance_at = (row["finished"], row["space_version"]) if row else (0, 0)
        done, done_version = self._importance_at
        if last:
            due = (finished, version) != (done, done_version)
        else:
            step = max(1, int(done * IMPORTANCE_GROWTH))
            due = version != done_version or finished >= done + step
        if not due:
            return
        trials = self.rs.search_results(READ_MAX)
        self._estimates.request_importance(space, trials, finished=finished, space_version=version)
        self._importance_at = (finished, version)

    def write_estimates(self) -> None:
        """Store the estimates that moved since they were last written (none while a fit
        runs): a long run rewrites a few rows, not every finished trial, per result; and the
        importance, when one was computed."""
        if self._estimates is not None:
            changed = self._estimates.take()
            if changed:
                self.rs.set_estimates(changed)
            found = self._estimates.take_importance()
            if found is not None:
                self.rs.set_importance(**found)

    def close(self, wait: bool = False) -> None:
        """Stop the estimating thread; with `wait`, write the estimates it is fitting and the
        importance of every finished search trial."""
        if self._estimates is None:
            return
        if wait:
            if self._space is not None:
                self._ask_importance(*self._space, last=True)
            self._estimates.wait_idle()
            self.write_estimates()
        self._estimates.close()
        self._estimates = None


def _epochs(trial: dict[str, Any]) -> int:
    return int(trial["max_epochs"] or trial["epochs_run"] or 1)
