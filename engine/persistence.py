"""A strategy's life in the store: told and saved after each result; on resume, read, restored
and re-told the results it missed. The state is JSON data (engine.state), never a pickle.

A tell can be long (a GP fit, a PPO update), so it runs on a thread of its own: the trial
loop hands it the outcome (`tell_later`) and goes on answering commands, beating and polling
workers; each tick it commits what the finished tells made (`settle`). The loop asks the
strategy for nothing while a tell is in flight (`busy`). The order stays what durability
needs: a result is committed before its tell starts, and a kill between the two is undone on
resume by telling the committed result again (`results_not_told`).

A save costs the same however long the run: the parts of the state that only grow (the
strategy's `logs()`, its results) are written as chunks of the entries new since the last
save, a large part that changes now and then (its `parts()`: bayes-ppo's PPO agent) only when
it changed, and the rest (random state, counters) whole, with how many entries of each log are
valid, all in one transaction (engine.state, Store.save_strategy_state).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from engine.config import EngineError
from engine.state import (
    Head,
    StateError,
    decode_head,
    encode_entries,
    encode_part,
    encode_state,
    join,
)
from engine.strategies.base import Outcome, Proposal, Strategy
from storage import contract
from storage.store import RunStore, Store


@dataclass
class Saved:
    """One save of a strategy's state, for the store: the state without its logs and parts,
    the chunks of the logs' new entries (log, index of the first, chunk; None: the rows from
    there dropped), and the parts that changed (name, part)."""

    head: bytes
    history: list[tuple[str, int, bytes | None]] = field(default_factory=list)
    parts: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Bytes handed to the store."""
        chunks = sum(len(c) for _, _, c in self.history if c is not None)
        return len(self.head) + chunks + sum(len(p) for _, p in self.parts)


@dataclass
class Told:
    """What one tell made, for the store: the strategy's PPO updates, log lines, state, and
    the numbers the header shows."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    state: Saved | None = None  # None: not a search strategy (nothing to save)
    planned: int | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    pruned: bool = False
    error: BaseException | None = None


class StrategyKeeper:
    """Tells a run's strategy its results and keeps its saved state up to date."""

    def __init__(
        self, store: Store | RunStore, run_id: int | None = None, name: str | None = None
    ) -> None:
        """`StrategyKeeper(store, run_id, name)` or `StrategyKeeper(run, name=name)`."""
        if name is None:
            raise TypeError("StrategyKeeper needs the strategy's name")
        self.rs = RunStore.of(store, run_id)
        self.store, self.run_id, self.name = self.rs.store, self.rs.run_id, name
        # (strategy, proposal, outcome) to tell, or (strategy, None, None): save only
        self._jobs: queue.Queue[tuple[Strategy, Proposal | None, Outcome | None]] = queue.Queue()
        self._told: queue.Queue[Told] = queue.Queue()
        self._in_flight = 0  # tells handed over and not yet settled (loop thread only)
        self._thread: threading.Thread | None = None
        self._last: tuple[int, dict[str, Any]] | None = None  # (planned, progress), cached
        # Per log, the list saved and how many of its entries the saves so far hold; per part,
        # its number when last saved (set by whichever thread saves, one at a time: the
        # keeper's, or the loop's once it waited).
        self._saved: dict[str, tuple[list[Any], int]] = {}
        self._saved_parts: dict[str, int] = {}
        self._read: Head | None = None  # what `read_saved` read: the logs and parts apart

    def read_saved(self) -> dict[str, Any] | None:
        """The state saved for the run, decoded as data and whole again; a row that is not
        hptui's JSON state, or a history or part that does not fit it, is refused
        (EngineError) before anything else happens."""
        blob = self.rs.load_strategy_state()
        if blob is None:
            return None
        try:
            head = decode_head(blob, self.name)
            self._read = Head({}, dict(head.logs), list(head.parts))
            return join(
                head,
                lambda log: self.rs.load_strategy_history(log),
                lambda name: self.rs.load_strategy_part(name),
            )
        except StateError as exc:
            raise EngineError(f"run {self.run_id} cannot be resumed: {exc}") from None

    def restore(self, strategy: Strategy, saved: dict[str, Any] | None) -> None:
        """Trials that were running when the engine stopped are marked interrupted; a saved
        state is loaded into `strategy` (EngineError when it does not fit), results the state
        missed are told again (see `results_not_told`), and the proposals that were running
        are handed out again first."""
        interrupted = self.rs.mark_running_interrupted()
        if saved is None:
            return
        try:
            strategy.load_state_dict(saved)
        except (StateError, KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise EngineError(
                f"run {self.run_id} cannot be resumed: its saved strategy state does not fit "
                f"the {self.name} strategy ({type(exc).__name__}: {exc})"
            ) from None
        # The logs and parts held apart, as loaded: the next save appends to the logs, and
        # writes a part again once it changed. Any other (a state saved whole by an older
        # hptui) is written by the next save.
        read = self._read or Head({}, {}, [])
        self._saved = {
            name: (entries, len(entries))
            for name, entries in strategy.logs().items()
            if read.logs.get(name) == len(entries)
        }
        self._saved_parts = {
            name: version for name, (version, _) in strategy.parts().items() if name in read.parts
        }
        missed = results_not_told(self.store, self.run_id, strategy)
        for proposal, outcome in missed:
            self.tell(strategy, proposal, outcome)
        strategy.requeue_pending()
        self.rs.log(
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
            state=self._save(strategy),
            planned=strategy.planned_trials,
            progress=strategy.progress(),
            pruned=outcome is not None and outcome.pruned,
        )

    def _commit(self, told: Told) -> None:
        if told.planned is not None:
            self._last = (told.planned, told.progress)
        if told.pruned:  # epochs handed back: an epoch budget plans more trials
            self.rs.update_run(planned_trials=told.planned)
        for upd in told.updates:
            self.rs.add_ppo_update(**upd)
            self.rs.log(
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
            self.rs.log(ev)
        if told.state is not None:
            self.rs.save_strategy_state(told.state.head, told.state.history, told.state.parts)

    def save(self, strategy: Strategy) -> None:
        """Save `strategy`'s state now (after the tells in flight)."""
        self.wait()
        saved = self._save(strategy)
        self.rs.save_strategy_state(saved.head, saved.history, saved.parts)

    def _save(self, strategy: Strategy) -> Saved:
        """`strategy`'s state as the store keeps it: each log's entries since the last save (the
        whole log when the strategy holds another list, or a shorter one, than that save saw),
        each part whose number changed since, and the rest of the state. The saves are
        committed in the order they are made."""
        history: list[tuple[str, int, bytes | None]] = []
        saved: dict[str, tuple[list[Any], int]] = {}
        for name, entries in strategy.logs().items():
            n = len(entries)
            seen, done = self._saved.get(name, (None, 0))
            start = done if seen is entries and done <= n else 0
            if start < n:
                history.append((name, start, encode_entries(entries[start:n])))
            elif start == 0 and seen is not entries:
                history.append((name, 0, None))  # rows left from before: no longer valid
            saved[name] = (entries, n)
        parts, versions = [], {}
        for name, (version, part) in strategy.parts().items():
            if self._saved_parts.get(name) != version:
                parts.append((name, encode_part(part())))
            versions[name] = version
        head = encode_state(
            self.name,
            strategy.state_dict(whole=False),
            {name: n for name, (_, n) in saved.items()},
            list(versions),
        )
        self._saved, self._saved_parts = saved, versions
        return Saved(head, history, parts)


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
