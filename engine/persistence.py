"""A strategy's life in the store: told and saved after each result; on resume, read, restored
and re-told the results it missed. The state is JSON data (engine.state), never a pickle.

A tell can be long (a GP fit, a PPO update), so it runs on a thread of its own: the trial
loop hands it the outcome (`tell_later`) and goes on answering commands, beating and polling
workers; each tick it commits what the finished tells made (`settle`). The loop asks the
strategy for nothing while a tell is in flight (`busy`). The order stays what durability
needs: a result is committed before its tell starts, and a kill between the two is undone on
resume by telling the committed result again (`results_not_told`).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from engine.config import EngineError
from engine.state import StateError, decode_state, encode_state
from engine.strategies.base import Outcome, Proposal, Strategy
from storage import contract
from storage.store import Store


@dataclass
class Told:
    """What one tell made, for the store: the strategy's PPO updates, log lines, state, and
    the numbers the header shows."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    state: bytes | None = None  # None: not a search strategy (nothing to save)
    planned: int | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    pruned: bool = False
    error: BaseException | None = None


class StrategyKeeper:
    """Tells a run's strategy its results and keeps its saved state up to date."""

    def __init__(self, store: Store, run_id: int, name: str) -> None:
        self.store, self.run_id, self.name = store, run_id, name
        # (strategy, proposal, outcome) to tell, or (strategy, None, None): save only
        self._jobs: queue.Queue[tuple[Strategy, Proposal | None, Outcome | None]] = queue.Queue()
        self._told: queue.Queue[Told] = queue.Queue()
        self._in_flight = 0  # tells handed over and not yet settled (loop thread only)
        self._thread: threading.Thread | None = None
        self._last: tuple[int, dict[str, Any]] | None = None  # (planned, progress), cached

    def read_saved(self) -> dict[str, Any] | None:
        """The state saved for the run, decoded as data; a row that is not hptui's JSON
        state is refused (EngineError) before anything else happens."""
        blob = self.store.load_strategy_state(self.run_id)
        if blob is None:
            return None
        try:
            return decode_state(blob, self.name)
        except StateError as exc:
            raise EngineError(f"run {self.run_id} cannot be resumed: {exc}") from None

    def restore(self, strategy: Strategy, saved: dict[str, Any] | None) -> None:
        """Trials that were running when the engine stopped are marked interrupted; a saved
        state is loaded into `strategy` (EngineError when it does not fit), results the state
        missed are told again (see `results_not_told`), and the proposals that were running
        are handed out again first."""
        interrupted = self.store.mark_running_interrupted(self.run_id)
        if saved is None:
            return
        try:
            strategy.load_state_dict(saved)
        except (StateError, KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise EngineError(
                f"run {self.run_id} cannot be resumed: its saved strategy state does not fit "
                f"the {self.name} strategy ({type(exc).__name__}: {exc})"
            ) from None
        missed = results_not_told(self.store, self.run_id, strategy)
        for proposal, outcome in missed:
            self.tell(strategy, proposal, outcome)
        strategy.requeue_pending()
        self.store.log(
            self.run_id,
            f"resumed: strategy state restored, {interrupted} interrupted trial(s) will run "
            "again"
            + (f", {len(missed)} result(s) committed before the stop told to it" if missed else ""),
            "warning",
        )

    def tell(self, strategy: Strategy, p: Proposal, outcome: Outcome) -> None:
        """Tell now, and commit what the tell made."""
        self.tell_later(strategy, p, outcome)
        self.wait()

    def tell_later(self, strategy: Strategy, p: Proposal, outcome: Outcome) -> None:
        """Hand the outcome to the telling thread; `settle` commits what it made."""
        self._hand_over(strategy, p, outcome)

    def save_later(self, strategy: Strategy) -> None:
        """Save the state on the telling thread (encoding a long run's state takes a while);
        `settle` commits it."""
        self._hand_over(strategy, None, None)

    def _hand_over(self, strategy: Strategy, p: Proposal | None, outcome: Outcome | None) -> None:
        if not self.busy:  # read while nothing else touches the strategy (see `numbers`)
            self._last = (strategy.planned_trials, strategy.progress())
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="strategy", daemon=True)
            self._thread.start()
        self._in_flight += 1
        self._jobs.put((strategy, p, outcome))

    @property
    def busy(self) -> bool:
        """A tell is in flight: the strategy is not to be asked or read meanwhile."""
        return self._in_flight > 0

    def settle(self, block: bool = False, timeout: float | None = None) -> None:
        """Commit what finished tells made: with `block`, wait for every tell in flight
        (`timeout`: at most that long, then leave the rest to a later call). An error a tell
        raised is raised here, on the loop's thread."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._in_flight:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                told = self._told.get(block=block, timeout=left)
            except queue.Empty:
                return
            self._in_flight -= 1
            if told.error is not None:
                raise told.error
            self._commit(told)

    def wait(self) -> None:
        self.settle(block=True)

    def numbers(self, strategy: Strategy) -> tuple[int, dict[str, Any]]:
        """(planned trials, progress) of `strategy`: read live when no tell is in flight,
        else as the last tell left them."""
        if not self.busy:
            self._last = (strategy.planned_trials, strategy.progress())
        assert self._last is not None  # set before any tell is handed over
        return self._last

    def _work(self) -> None:
        while True:
            strategy, p, outcome = self._jobs.get()
            try:
                told = self._tell(strategy, p, outcome)
            except BaseException as exc:  # raised again on the loop's thread by `settle`
                told = Told(error=exc)
            self._told.put(told)

    def _tell(self, strategy: Strategy, p: Proposal | None, outcome: Outcome | None) -> Told:
        if p is not None and outcome is not None:
            strategy.tell(p, outcome)
        if not strategy.searching:
            return Told()
        return Told(
            updates=strategy.pop_updates(),
            events=strategy.pop_events(),
            state=encode_state(self.name, strategy.state_dict()),
            planned=strategy.planned_trials,
            progress=strategy.progress(),
            pruned=outcome is not None and outcome.pruned,
        )

    def _commit(self, told: Told) -> None:
        if told.planned is not None:
            self._last = (told.planned, told.progress)
        if told.pruned:  # epochs handed back: an epoch budget plans more trials
            self.store.update_run(self.run_id, planned_trials=told.planned)
        for upd in told.updates:
            self.store.add_ppo_update(self.run_id, **upd)
            self.store.log(
                self.run_id,
                f"PPO epoch {upd['ppo_epoch']} update: mean reward {upd['mean_reward']:.2f}, "
                f"best {upd['best_reward']:.2f}, KL {upd['approx_kl']:.4f}, "
                f"std {upd['mean_std']:.3f}"
                + (
                    f", explained variance {upd['explained_variance']:.2f}"
                    if upd.get("explained_variance") is not None
                    else ""
                ),
            )
        for ev in told.events:
            self.store.log(self.run_id, ev)
        if told.state is not None:
            self.store.save_strategy_state(self.run_id, told.state)

    def save(self, strategy: Strategy) -> None:
        """Save `strategy`'s state now (after the tells in flight)."""
        self.wait()
        self.store.save_strategy_state(self.run_id, encode_state(self.name, strategy.state_dict()))


def results_not_told(
    store: Store, run_id: int, strategy: Strategy
) -> list[tuple[Proposal, Outcome]]:
    """Search results the store holds whose proposals the restored state still has pending:
    the engine committed them, then stopped before it saved the strategy that was told. They
    are told again rather than trained again, in the order they ended. A failed trial is not
    (after too many failures in a row, the last one is left untold on purpose, to run again)."""
    if not strategy.pending:
        return []
    ended: dict[str, dict[str, Any]] = {}
    for t in store.trials(run_id):
        key = (t["extra"] or {}).get("key")
        if key in strategy.pending and t["status"] in (contract.FINISHED, contract.PRUNED):
            ended[key] = t  # final-validation trials never share a search proposal's key
    rows = sorted(ended.values(), key=lambda t: (t["finished_at"] or 0.0, t["id"]))
    return [
        (
            strategy.pending[t["extra"]["key"]],
            Outcome(
                True,
                float(t["val_accuracy"]),
                float(t["seconds"] or 0.0),
                float(t["reward"] or 0.0),
                pruned=t["status"] == contract.PRUNED,
                epochs_run=int(t["epochs_run"] or 0),
            ),
        )
        for t in rows
    ]
