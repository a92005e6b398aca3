"""The hptui terminal UI: watches one run in the store and steers it through commands.

The engine is a separate process and the only writer of run data. This app reads the store
through a read-only `Store` twice a second, off the UI thread, fetching only what changed
(new trials plus the ones still running, new PPO updates and events, the worker rows), and
redraws only the panes whose data changed. It holds a window of the run's trials (the newest,
the best, those the table's filter selects: hptui.trial_window), never the whole history, so
a run of any length opens in about the same time and memory. It writes nothing but rows of
`commands`, each through a short-lived writable connection. It never imports TensorFlow or
the engine's run loop, so it starts in well under a second.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sqlite3
import time
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

from textual import events, on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Container, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Tab, Tabs

from hptui.store_reader import WINDOW, PlotSource, Snapshot, StoreReader
from hptui.trial_window import TrialWindow
from hptui.view import ACCURACY_WORDS, MetricWords, cut, metric_words
from hptui.widgets.event_log import EventLog
from hptui.widgets.matters_pane import MattersPane
from hptui.widgets.penalty_pane import PenaltyPane
from hptui.widgets.proposer_pane import ProposerPane
from hptui.widgets.reward_plot import RewardPlot
from hptui.widgets.run_header import RunHeader
from hptui.widgets.trainers_pane import TrainersPane
from hptui.widgets.trial_detail import TrialDetail
from hptui.widgets.trials_table import TrialsTable
from storage.contract import (
    ACTIVE_RUN_STATUSES,
    CANCEL,
    OPEN_TRIAL_STATUSES,
    PAUSE,
    PAUSED,
    REFUSED,
    RESUME,
    RUNNING,
    STOP,
)
from storage.store import Store, StoreError, engine_alive

POLL_S = 0.5
PPO_UPDATES_KEPT = 50  # the proposer shows the latest update: older ones are let go
FRAME_WAIT_S = 0.25  # the longest a poll waits for a frame between the parts it applies
NARROW_W, NARROW_H = 120, 36  # below either, one pane at a time behind tabs
PANES = [
    ("trials", "Trials"),
    ("detail", "Trial"),
    ("reward", "Accuracy"),
    ("penalties", "Penalties"),
    ("trainers", "Trainers"),
    ("log", "Log"),
    ("proposer", "Proposer"),
    ("matters", "What matters"),
]
# Large terminals: the bottom row, the only full-width cell, shows the log, the proposer or
# what matters.
BOTTOM = ("log", "proposer", "matters")
# What matters is computed again (off the UI's thread) at most this often, and only when the
# finished search trials or the space version changed since.
MATTERS_EVERY_S = 3.0
MAIN_ACTIONS = {
    "pause",
    "edit",
    "export",
    "stop",
    "cancel_run",
    "request_quit",
    "help",
    "pane",
}


def detach_message(run_id: int, db_path: str) -> str:
    db = str(Path(db_path).resolve())
    return (
        f"run {run_id} continues in the background; come back with: hptui attach {run_id} --db {db}"
    )


class HptuiApp(App[None]):
    """Header, reward plot, penalties, trials with detail, trainers and log for one run."""

    CSS_PATH = str(Path(__file__).with_name("app.tcss"))  # absolute: subclasses elsewhere too
    TITLE = "hptui"
    # Quit and help first and short labels: at 80 columns the footer cuts off the last keys.
    BINDINGS = [
        Binding("q", "request_quit", "quit"),
        Binding("question_mark", "help", "help"),
        Binding("p", "pause", "pause"),
        Binding("e", "edit", "space"),
        Binding("space", "edit", "edit space", show=False),
        Binding("x", "export", "export"),
        Binding("s", "stop", "stop"),
        Binding("c", "cancel_run", "cancel"),
        Binding("m", "pane('matters')", "matters"),
        *[
            Binding(str(i + 1), f"pane('{key}')", label, show=False)
            for i, (key, label) in enumerate(PANES)
        ],
    ]

    def __init__(self, db_path: str, run_id: int, *, poll_s: float = POLL_S) -> None:
        super().__init__()
        self.db_path = db_path
        self.run_id = run_id
        self.poll_s = poll_s
        self.reader: StoreReader | None = None
        self.run_row: dict[str, Any] | None = None
        self.window = TrialWindow(WINDOW)
        self.trials: dict[int, dict[str, Any]] = self.window.trials  # the window's, by id
        self.plot_source: PlotSource | None = None
        self.rule_firings: list[dict[str, Any]] | None = None  # over the run, from the store
        self.best: dict[str, Any] | None = None  # as the store ranks trials: the one source
        self.ppo: list[dict[str, Any]] = []
        self.versions: dict[int, dict[str, Any]] = {}
        # The run's metric and current space (JSON form), as the panes show them (_follow_run)
        self.words: MetricWords = ACCURACY_WORDS
        self.space: dict[str, Any] | None = None
        self.watched: dict[int, str] = {}  # command id -> kind, until the engine answers
        self.epochs_cache: dict[int, list[dict[str, Any]]] = {}
        self.selected: int | None = None
        self.narrow = False
        self.current_pane = "trials"
        self.read_errors = 0
        self.polls = 0
        self._polling = False
        self._epochs_loading: int | None = None  # the selected trial, its epochs being read
        self._t0 = time.perf_counter()
        self.first_paint_s: float | None = None
        self.notices: list[tuple[str, str]] = []  # start to first screen with store data
        self.farewell = ""  # printed on the shell after the app closes
        self.matters_key: tuple[int, int] | None = None  # (finished, version) shown there
        self._matters_at = float("-inf")
        self._matters_busy = False
        self._matters_timer: Timer | None = None

    def notify(self, message: str, **kwargs: Any) -> None:  # type: ignore[override]
        """Notifications are also kept in `notices` (severity, text): a record of what the
        user was told, e.g. that the engine refused an edit."""
        self.notices.append((str(kwargs.get("severity", "information")), str(message)))
        super().notify(message, **kwargs)

    # --- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        with Container(id="main"):
            yield Tabs(
                *[Tab(f"{i + 1} {label}", id=f"tab-{key}") for i, (key, label) in enumerate(PANES)],
                id="pane-tabs",
            )
            with Container(id="panes"):
                yield RewardPlot(id="pane-reward", classes="pane")
                with VerticalScroll(id="pane-penalties", classes="pane"):
                    yield PenaltyPane(id="penalties")
                yield TrainersPane(id="pane-trainers", classes="pane")
                yield TrialsTable(id="pane-trials", classes="pane")
                with VerticalScroll(id="pane-detail", classes="pane"):
                    yield TrialDetail(id="detail")
                yield EventLog(id="pane-log", classes="pane")
                yield ProposerPane(id="pane-proposer", classes="pane")
                yield MattersPane(id="pane-matters", classes="pane")
        yield Footer()

    def on_mount(self) -> None:
        # References, not queries, from here on: `App.query_one` searches the screen on top,
        # which is a dialog while one is open.
        self.header = self.query_one(RunHeader)
        self.table = self.query_one(TrialsTable)
        self.plot = self.query_one(RewardPlot)
        self.penalties = self.query_one(PenaltyPane)
        self.trainers = self.query_one(TrainersPane)
        self.event_log = self.query_one(EventLog)
        self.detail = self.query_one(TrialDetail)
        self.proposer = self.query_one(ProposerPane)
        self.matters = self.query_one(MattersPane)
        self.grid = self.query_one("#panes")
        self.bottom = "log"
        self.tabs = self.query_one("#pane-tabs", Tabs)
        self.body = self.query_one("#main")
        self.panes = {key: self.query_one(f"#pane-{key}") for key, _ in PANES}
        for i, (key, label) in enumerate(PANES):
            self.panes[key].border_title = f"{i + 1} {label}"
        self._layout(self.size.width, self.size.height)
        self.table.focus()
        try:
            self.reader = StoreReader(self.db_path, self.run_id)
        except StoreError as exc:
            self.exit(return_code=1, message=str(exc))
            return
        self.run_worker(self.poll, group="poll")
        self.set_interval(self.poll_s, self.poll)

    def on_resize(self, event: events.Resize) -> None:
        if hasattr(self, "body"):  # a resize can come before on_mount
            self._layout(event.size.width, event.size.height)

    def _layout(self, width: int, height: int) -> None:
        """Small terminals: one pane at a time behind tabs; large ones: all panes at once."""
        self.narrow = width < NARROW_W or height < NARROW_H
        self.body.set_class(self.narrow, "narrow")
        self._mark_pane()

    def _mark_pane(self) -> None:
        for key, _ in PANES:
            self.panes[key].set_class(key == self.current_pane, "-current")
        if self.current_pane in BOTTOM:
            self.bottom = self.current_pane
        for key in BOTTOM[1:]:
            self.grid.set_class(self.bottom == key and not self.narrow, f"-{key}")
        self._matters_tick()

    def action_pane(self, key: str) -> None:
        self.tabs.active = f"tab-{key}"
        self._show_pane(key)

    @on(Tabs.TabActivated, "#pane-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab.id:
            self._show_pane(event.tab.id.removeprefix("tab-"), focus=False)

    def _show_pane(self, key: str, focus: bool = True) -> None:
        self.current_pane = key
        self._mark_pane()
        target = self._focus_target(key)
        if focus and target is not None:
            target.focus()

    def _focus_target(self, key: str) -> Widget | None:
        """What takes the focus when a pane is shown: the pane, or in what matters its bars."""
        pane = self.panes[key]
        if key == "matters":
            return self.matters.bars
        return pane if pane.focusable else None

    def action_focus_next(self) -> None:
        # One pane at a time: Tab shows the next pane rather than focusing a hidden one,
        # where the arrows would move nothing visible.
        if self.narrow and not self.screen.is_modal:
            self._cycle_pane(1)
        else:
            super().action_focus_next()

    def action_focus_previous(self) -> None:
        if self.narrow and not self.screen.is_modal:
            self._cycle_pane(-1)
        else:
            super().action_focus_previous()

    def _cycle_pane(self, step: int) -> None:
        keys = [k for k, _ in PANES]
        key = keys[(keys.index(self.current_pane) + step) % len(keys)]
        self.action_pane(key)
        if self._focus_target(key) is None:
            self.tabs.focus()  # the tabs are shown: the arrows move between panes

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The palette's Quit asks, like `q`, whether to detach from or stop an active run."""
        for cmd in super().get_system_commands(screen):
            if cmd.title == "Quit":
                yield SystemCommand(
                    "Quit", "Quit: detach from the run or stop it (as q)", self.action_request_quit
                )
            else:
                yield cmd

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The main screen's keys do nothing (and leave the Footer) while a dialog is open.
        if action in MAIN_ACTIONS and self.screen.is_modal:
            return False
        return True

    # --- reading the store ------------------------------------------------------------------
    async def poll(self) -> None:
        """Read what changed, off the UI thread, and show it. A read that fails (a locked or
        busy file) is dropped: the next tick tries again. One poll at a time, its showing
        included."""
        if self._polling or self.reader is None:
            return
        self._polling = True
        try:
            try:
                snap = await asyncio.to_thread(
                    self.reader.fetch, list(self.watched), self._epochs_wanted()
                )
            except (sqlite3.Error, LookupError) as exc:
                self.read_errors += 1
                if isinstance(exc, LookupError):
                    self.header.update(str(exc))
                return
            if not self._alive():
                return  # the app closed while reading
            self.polls += 1
            await self._apply(snap)
        finally:
            self._polling = False

    def _epochs_wanted(self) -> int | None:
        tid = self.selected
        if tid is None:
            return None
        t = self.trials.get(tid)
        if tid not in self.epochs_cache or (t is not None and t["status"] in OPEN_TRIAL_STATUSES):
            return tid
        return None

    async def _next_frame(self) -> None:
        """Let the screen paint what was applied so far. A poll's changes are applied in parts,
        one painted frame each, so the event loop runs one short step per part rather than one
        long one for all the panes (bench/ui_stall.py)."""
        painted = asyncio.Event()
        self.call_after_refresh(painted.set)
        try:
            await asyncio.wait_for(painted.wait(), FRAME_WAIT_S)
        except TimeoutError:
            pass  # closing, or a screen that does not paint: go on

    def _alive(self) -> bool:
        return self.is_running and self.header.is_attached

    async def _apply(self, s: Snapshot) -> None:
        """Header, table and log together (their "best" is the same), then the trainers,
        the selected trial, the penalties and the proposer, then the plot: one frame each."""
        self.run_row = s.run
        self.window.add(s.trials)
        self.window.keep(s.best_ids)
        if s.versions is not None:
            self.versions = {v["version"]: v for v in s.versions}
        self._follow_run()
        self.ppo = [*self.ppo, *s.ppo_updates][-PPO_UPDATES_KEPT:]
        if s.best_read:
            self.best = s.best
            if s.best is not None:
                self.window.keep([s.best["id"]])
            if s.best is not None and s.best != self.trials.get(s.best["id"]):
                # a fresher read of that trial (its score can change without a new trial)
                self.trials[s.best["id"]] = s.best
                self.table.upsert([s.best])
        if s.epochs is not None:
            self.epochs_cache[s.epochs[0]] = s.epochs[1]
        self.header.stopped = s.stopped
        self.header.show(s.run, self.best, time.time())
        if s.trials:
            self.table.upsert(s.trials)
            self._let_go()
        self.table.set_best(self.best["id"] if self.best else None)
        self.table.set_total(s.total)
        for c in s.commands:
            kind = self.watched.pop(c["id"], c["kind"])
            if c["status"] == REFUSED:
                self.notify(f"{kind} refused: {c['message']}", severity="error", timeout=8)
            else:
                self.notify(c["message"] or f"{kind} done", timeout=4)
        # The log's new lines change its scroll size, as new rows change the table's: both
        # in this frame, so that one layout pass serves them.
        self.event_log.add_events(s.events)
        if self.first_paint_s is None:
            self.call_after_refresh(self._painted)

        await self._next_frame()
        if not self._alive():
            return
        self.trainers.show(s.workers, self.trials, self.space)
        if self.selected is None and self.trials:
            self.selected = self.table.current_trial_id()
        if self.selected != self._epochs_loading:  # else shown once, with them, when read
            self._show_detail()

        if s.plot is not None:
            self.plot_source = s.plot
        if s.rule_firings is not None:
            self.rule_firings = s.rule_firings
        if self.plot_source is not None and (s.plot is not None or s.best_read):
            self.plot.show_source(self.plot_source, self.best)
        aggregates = s.rule_firings is not None
        if s.trials or s.ppo_updates or s.versions is not None or s.best_read or aggregates:
            ordered = sorted(self.trials.values(), key=lambda t: t["number"])
            if s.trials or s.versions is not None or aggregates:
                cur = self.versions.get(self.run_row["space_version"]) if self.run_row else None
                by_version = {
                    v: {r["name"]: float(r["penalty"]) for r in row["rules"]}
                    for v, row in self.versions.items()
                }
                rules = cur["rules"] if cur else []
                self.penalties.show(rules, ordered, by_version, self.rule_firings)
            self.proposer.show(self.trials, self.ppo, self.versions, self.selected)
        if self.plot.stale:  # the plot's drawing in a frame of its own, at most once a second
            await self._next_frame()
            if self._alive():
                self.plot.flush()
        self._matters_tick()

    # --- what matters ----------------------------------------------------------------------------
    def _matters_shown(self) -> bool:
        return self.current_pane == "matters" if self.narrow else self.bottom == "matters"

    def _matters_tick(self) -> None:
        """Compute what matters again, in a thread, if the pane is shown and the finished
        search trials or the space version changed; at most every MATTERS_EVERY_S."""
        if not hasattr(self, "matters") or self.reader is None or self.run_row is None:
            return
        if self._matters_busy or not self._matters_shown():
            return
        cur = self.versions.get(self.run_row["space_version"])
        if cur is None:
            return
        key = (self.plot_source.finished if self.plot_source else 0, int(cur["version"]))
        if key == self.matters_key:
            return
        wait = self._matters_at + MATTERS_EVERY_S - time.monotonic()
        if wait > 0:
            if self._matters_timer is None:
                self._matters_timer = self.set_timer(wait, self._matters_later)
            return
        self._matters_busy, self._matters_at = True, time.monotonic()
        # Started once the screen has painted: the first computation imports scikit-learn,
        # which holds the interpreter for a while (BENCHMARKS.md, section 11).
        self.call_after_refresh(
            self.run_worker,
            partial(self._compute_matters, key, cur),
            thread=True,
            group="matters",
        )

    def _matters_later(self) -> None:
        self._matters_timer = None
        self._matters_tick()

    def _compute_matters(self, key: tuple[int, int], version: dict[str, Any]) -> None:
        """In a worker thread: read the finished search trials, fit, hand the result back."""
        from engine.importance import READ_MAX
        from engine.space import SearchSpace, SpaceError
        from hptui.matters import compute

        result: Any = None  # the data, or what went wrong in words
        try:
            if self.reader is not None:
                trials = self.reader.search_results(READ_MAX)
                space = SearchSpace.from_dict(version["space"])
                result = compute(trials, space, int(version["version"]))
        except sqlite3.Error:
            pass  # a busy or closing store: tried again at the next change
        except SpaceError as exc:
            result = f"the run's search space cannot be read: {exc}"
        except Exception as exc:  # an analysis must not take the app down
            result = f"what matters could not be computed: {type(exc).__name__}: {exc}"
        try:
            self.call_from_thread(self._matters_done, key, result)
        except RuntimeError:
            pass  # the app closed meanwhile

    def _matters_done(self, key: tuple[int, int], result: Any) -> None:
        self._matters_busy = False
        if result is not None and self._alive():
            self.matters_key = key  # a failure too: tried again when the trials change
            if isinstance(result, str):
                self.matters.show_problem(result)
            else:
                self.matters.show(result)
        self._matters_tick()  # trials may have finished meanwhile

    def _follow_run(self) -> None:
        """The panes follow the run's metric and current space: the table's columns, the
        plot's values, the trial's and the trainers' configurations. Changes only with a new
        space version (an edit)."""
        run = self.run_row
        words = metric_words(run)
        cur = self.versions.get(run["space_version"]) if run else None
        space = cur["space"] if cur is not None and isinstance(cur.get("space"), dict) else None
        if words == self.words and space == self.space:
            return
        self.words, self.space = words, space
        self.table.set_run(space, words)
        self.plot.set_words(words)
        self.detail.set_run(space, words)
        self.proposer.words = words
        self.penalties.words = words
        i = [key for key, _ in PANES].index("reward")
        # the metric's name as it is, never read as markup
        label = Content(f"{i + 1} {'Accuracy' if words.is_accuracy else cut(words.name, 14)}")
        self.panes["reward"].border_title = label
        tab = self.tabs.get_tab("tab-reward")
        if tab is not None:
            tab.label = label

    def _let_go(self) -> None:
        """The window's oldest trials go once it overflows (the selected and the pinned
        proposer step stay), their rows and epochs with them."""
        gone = self.window.evict(also_keep=[self.selected, self.proposer.pinned])
        if gone:
            self.table.remove(gone)
            for tid in gone:
                self.epochs_cache.pop(tid, None)

    @on(TrialsTable.FilterChanged)
    def _filter_changed(self, event: TrialsTable.FilterChanged) -> None:
        """The window holds the newest trials the filter selects too: read them now."""
        any_filter = event.phase is not None or event.status is not None
        self.window.wanted = self.table.wants if any_filter else None
        if any_filter:
            self.run_worker(partial(self._load_window, event.phase, event.status), group="window")

    async def _load_window(self, phase: str | None, status: str | None) -> None:
        if self.reader is None:
            return
        try:
            trials = await asyncio.to_thread(self.reader.window, phase, status)
        except sqlite3.Error:
            return  # the filter still shows what the window holds
        if not self._alive():
            return
        # rows read earlier than the latest poll's must not undo it: only trials not held
        new = [t for t in trials if t["id"] not in self.trials]
        self.window.add(new)
        self.table.upsert(new)

    def _painted(self) -> None:
        if self.first_paint_s is None:
            self.first_paint_s = time.perf_counter() - self._t0
            # Everything alive now (Textual, the widgets, the first rows) lives as long as the
            # app: keep it out of the collector's full passes, which otherwise stall the event
            # loop for 50-100 ms now and then while rows stream in (bench/ui_stall.py).
            gc.freeze()

    def _show_detail(self) -> None:
        t = self.trials.get(self.selected) if self.selected is not None else None
        eps = self.epochs_cache.get(self.selected, []) if self.selected is not None else []
        is_best = t is not None and self.best is not None and t["id"] == self.best["id"]
        self.detail.show(t, eps, is_best)

    # --- selecting a trial ---------------------------------------------------------------------
    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self.select_trial(int(event.row_key.value))

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.select_trial(int(event.row_key.value))
            if self.narrow:
                self.action_pane("detail")

    def select_trial(self, trial_id: int) -> None:
        if trial_id == self.selected:
            return
        self.selected = trial_id
        self.proposer.show(self.trials, self.ppo, self.versions, self.selected)
        if self._epochs_wanted() is not None:
            # its epochs now, not at the next tick; a light read, not a whole poll. The trial
            # is shown once, with them: each showing lays the screen out again.
            self._epochs_loading = trial_id
            self.run_worker(partial(self._load_epochs, trial_id), group="epochs")
        else:
            self._show_detail()

    async def _load_epochs(self, trial_id: int) -> None:
        eps = None  # unread: the next poll reads them
        try:
            if self.reader is not None:
                eps = await asyncio.to_thread(self.reader.epochs, trial_id)
        except sqlite3.Error:
            pass
        finally:
            if self._epochs_loading == trial_id:
                self._epochs_loading = None
        if self.is_running and self.detail.is_attached:
            if eps is not None:
                self.epochs_cache[trial_id] = eps
            self._show_detail()

    # --- commands ---------------------------------------------------------------------------------
    def send_command(self, kind: str, payload: dict[str, Any] | None = None) -> int | None:
        """Write one `commands` row through a short-lived writable connection."""
        try:
            store = Store(self.db_path)
            try:
                cid = store.add_command(self.run_id, kind, payload)
            finally:
                store.close()
        except (StoreError, sqlite3.Error) as exc:
            self.notify(f"could not send {kind}: {exc}", severity="error")
            return None
        self.watched[cid] = kind
        if self.run_row is not None and not engine_alive(self.run_row):
            self.notify(
                f"{kind} sent, but no engine runs this run now: it waits for "
                f"`hptui resume {self.run_id}`",
                severity="warning",
            )
        else:
            self.notify(f"{kind} sent", timeout=2)
        return cid

    def _status(self) -> str:
        return self.run_row["status"] if self.run_row else "unknown"

    def _require_active(self, what: str) -> bool:
        if self._status() in ACTIVE_RUN_STATUSES:
            return True
        self.notify(f"run {self.run_id} is {self._status()}: cannot {what}", severity="warning")
        return False

    def action_pause(self) -> None:
        status = self._status()
        if status == PAUSED:
            self.send_command(RESUME)
        elif status == RUNNING:
            self.send_command(PAUSE)
        else:
            self.notify(
                f"run {self.run_id} is {status}: cannot pause or resume", severity="warning"
            )

    def action_stop(self) -> None:
        if not self._require_active("stop"):
            return
        from hptui.screens.confirm import ConfirmScreen

        self.push_screen(
            ConfirmScreen(
                f"Stop run {self.run_id}? Running trials finish, then the run ends.", "Stop"
            ),
            lambda yes: self.send_command(STOP) if yes else None,
        )

    def action_cancel_run(self) -> None:
        if not self._require_active("cancel"):
            return
        from hptui.screens.confirm import ConfirmScreen

        self.push_screen(
            ConfirmScreen(
                f"Cancel run {self.run_id}? Running trials are killed and the run ends.",
                "Cancel run",
            ),
            lambda yes: self.send_command(CANCEL) if yes else None,
        )

    def action_edit(self) -> None:
        if not self._require_active("edit its space"):
            return
        assert self.run_row is not None
        cur = self.versions.get(self.run_row["space_version"])
        if cur is None:
            self.notify("the search space has not been read yet", severity="warning")
            return
        # imported here: the editor needs the engine's space parser (and numpy)
        from hptui.screens.space_editor import SpaceEditor

        # From what matters, the editor opens at the hyperparameter selected there.
        focus = self.matters.selected if self.matters.bars.has_focus else None
        editor = SpaceEditor(cur["version"], cur["space"], cur["rules"], focus=focus)
        self.push_screen(editor, self._edited)

    def _edited(self, commands: list[tuple[str, dict[str, Any]]] | None) -> None:
        for kind, payload in commands or []:
            self.send_command(kind, payload)

    def action_export(self) -> None:
        from hptui.screens.export_prompt import ExportPrompt

        if self.best is None:
            self.notify(f"run {self.run_id} has no finished trial yet: nothing to export")
            return
        default = Path.cwd() / f"hptui-run-{self.run_id}-best.json"  # absolute: no guessing
        self.push_screen(ExportPrompt(str(default), self.best, self.words), self.export_to)

    def export_to(self, path: str | None) -> Path | None:
        """Write exactly what `hptui export RUN` prints."""
        if not path:
            return None
        from hptui.report import ReportError, export_payload

        out = Path(path).expanduser()
        try:
            if out.is_dir():
                raise ReportError(f"{out} is a directory; give a file name")
            store = Store(self.db_path, readonly=True)
            try:
                payload = export_payload(store, self.run_id)
            finally:
                store.close()
            out.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", "utf-8")
        except (ReportError, StoreError, sqlite3.Error) as exc:
            self.notify(f"export: {exc}", severity="error")
            return None
        except OSError as exc:
            self.notify(f"export: cannot write {out} ({exc.strerror})", severity="error")
            return None
        self.notify(f"best trial {payload['trial_number']} written to {out}")
        return out

    def action_help(self) -> None:
        from hptui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.words))

    def action_request_quit(self) -> None:
        status = self._status()
        if status not in (RUNNING, PAUSED):
            self.exit()
            return
        from hptui.screens.quit_prompt import QuitPrompt

        self.push_screen(QuitPrompt(self.run_id, status), self._quit_answer)

    def _quit_answer(self, answer: str | None) -> None:
        if answer == "stop":
            self.send_command(STOP)
            self.exit()
        elif answer == "detach":
            # printed on the shell once the screen is restored: where the run went, how back
            self.farewell = detach_message(self.run_id, self.db_path)
            self.exit(message=self.farewell)

    def on_unmount(self) -> None:
        if self.reader is not None:
            self.reader.close()
