"""The run header: what is running, where it is, and how long it has left."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from hptui.view import (
    best_text,
    done_trials,
    elapsed_s,
    fmt_s,
    metric_words,
    objective_label,
    objective_spec,
    phase_text,
    remaining_s,
    result_text,
    trials_done_text,
)
from storage.contract import (
    ACTIVE_RUN_STATUSES,
    BUILTIN_OBJECTIVE,
    CANCELLED,
    FAILED,
    FINISHED,
    INTERRUPTED,
    PAUSED,
    PRUNED,
    STOPPING,
)
from storage.store import engine_alive

STARTING_S = 30.0  # a run this young with no heartbeat yet: its engine is still starting
BADGES = {
    PAUSED: ("PAUSED", "bold black on yellow"),
    STOPPING: ("STOPPING", "bold black on yellow"),
    FINISHED: ("FINISHED", "bold black on green"),
    FAILED: ("FAILED", "bold white on red"),
    CANCELLED: ("CANCELLED", "bold white on red"),
    INTERRUPTED: ("INTERRUPTED: hptui resume", "bold black on yellow"),
}


class RunHeader(Static):
    """Run and phase; data, device and workers; time and best so far; the result at the end.
    `stopped` says a user's stop ended the run (stored as finished, without a result)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("run ...", **kwargs)
        self.text = ""  # the plain text now shown, for tests and change detection
        self.stopped = False

    def show(self, run: dict[str, Any], best: dict[str, Any] | None, now: float) -> None:
        text = self.render_run(run, best, now, self.stopped)
        if text.plain != self.text:
            self.text = text.plain
            self.set_class(text.plain.count("\n") >= 3, "-result")  # a fourth line
            # fixed height (app.tcss): a repaint, never a layout pass of the screen
            self.update(text, layout=False)

    @staticmethod
    def render_run(
        run: dict[str, Any], best: dict[str, Any] | None, now: float, stopped: bool = False
    ) -> Text:
        p = run.get("progress") or {}
        status = run.get("status", "?")
        active = status in ACTIVE_RUN_STATUSES
        alive = engine_alive(run, now)
        starting = (
            active
            and not run.get("heartbeat")
            and now - (run.get("created_at") or 0.0) < STARTING_S
        )
        t = Text(no_wrap=True, overflow="ellipsis")  # long lines end in … at 80 columns
        t.append(f"run {run['id']} ", style="bold")
        ended_by_stop = stopped and status == FINISHED
        badge = BADGES.get(status)
        if ended_by_stop:
            badge = ("STOPPED by user", "bold black on yellow")
        # the badges first: at 80 columns the end of the line is cut off
        if badge:
            t.append(f" {badge[0]} ", style=badge[1])
        if starting and not alive:
            t.append(" engine starting… ", style="bold black on yellow")
        elif active and not alive:
            t.append(" no engine: hptui resume ", style="bold white on red")
        spec = objective_spec(run)
        if spec != BUILTIN_OBJECTIVE:  # what the run tunes, where it is not the built-in
            t.append(f" {objective_label(spec)} ·")
        t.append(f" {run.get('strategy')} · {run.get('profile')} · ")
        t.append("stopped" if ended_by_stop else phase_text(run), style="bold cyan")
        t.append(f" · space v{run.get('space_version', 1)}")
        if p.get("pruner") and p["pruner"] != "none":
            t.append(f" · pruner {p['pruner']}")
        t.append("\n")
        busy = p.get("running", 0)
        workers = p.get("workers", run.get("workers", "?"))
        t.append(f"data {run.get('data_source') or '-'} · ")
        t.append(f"{run.get('device') or 'device ?'} {run.get('precision') or ''}".rstrip())
        t.append(f" · workers {busy if active else 0}/{workers} busy")
        t.append(f" · trials {trials_done_text(p)}")
        if p.get(PRUNED):
            t.append(f" ({p[PRUNED]} pruned)", style="dark_orange")
        if p.get(FAILED):
            t.append(f" ({p[FAILED]} failed)", style="red")
        t.append("\n")
        t.append(f"elapsed {fmt_s(elapsed_s(run, now))}")
        if active:
            t.append(f" · remaining ~{fmt_s(remaining_s(run, now, alive))}")
        words = metric_words(run)
        if best:
            t.append(" · best ")
            t.append(best_text(best, words), style="bold green")
        if status == FAILED and run.get("error"):
            t.append(f" · {run['error']}", style="red")
        if run.get("final"):
            t.append("\n")
            t.append(result_text(run["final"], words), style="bold")
        elif ended_by_stop:
            t.append("\n")
            t.append(
                f"stopped by the user after {done_trials(p)} of {p.get('planned', '?')} trials: "
                "no final validation",
                style="bold yellow",
            )
        return t
