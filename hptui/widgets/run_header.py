"""The run header: what is running, where it is, and how long it has left."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from storage.store import engine_alive

ACTIVE = ("running", "paused", "stopping")


def fmt_s(seconds: float | None) -> str:
    """Seconds as m:ss or h:mm:ss; '-' when unknown."""
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def phase_text(run: dict[str, Any]) -> str:
    """The phase in words: warm-up k/n, PPO epoch k/n with trajectory length, ..."""
    p = run.get("progress") or {}
    phase, status = run.get("phase"), run.get("status")
    if status == "failed":
        return "failed"
    if status == "cancelled":
        return "cancelled"
    if phase == "warmup":
        return f"warm-up {p.get('warmup_done', 0)}/{p.get('warmup_total', '?')}"
    if phase == "ppo":
        return (
            f"PPO epoch {p.get('ppo_epoch', '?')}/{p.get('ppo_epochs', '?')}"
            f" (traj len {p.get('traj_len', '?')})"
        )
    if phase == "search":
        done = p.get("finished", 0) + p.get("failed", 0)
        return f"search {done}/{p.get('planned', '?')}"
    if phase == "final":
        return "final validation"
    if phase == "data":
        return "preparing data"
    return str(phase or "starting")


class RunHeader(Static):
    """Three lines: run and phase; data, device and workers; time and best so far."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("run ...", **kwargs)
        self.text = ""  # the plain text now shown, for tests and change detection

    def show(self, run: dict[str, Any], best: dict[str, Any] | None, now: float) -> None:
        text = self.render_run(run, best, now)
        if text.plain != self.text:
            self.text = text.plain
            # three lines, fixed height (app.tcss): a repaint, never a layout pass of the screen
            self.update(text, layout=False)

    @staticmethod
    def render_run(run: dict[str, Any], best: dict[str, Any] | None, now: float) -> Text:
        p = run.get("progress") or {}
        status = run.get("status", "?")
        active = status in ACTIVE
        alive = engine_alive(run, now)
        t = Text(no_wrap=True, overflow="ellipsis")  # long lines end in … at 80 columns
        t.append(f"run {run['id']}", style="bold")
        t.append(f" · {run.get('strategy')} · {run.get('profile')} · ")
        t.append(phase_text(run), style="bold cyan")
        t.append(f" · space v{run.get('space_version', 1)}  ")
        badge = {
            "paused": ("PAUSED", "bold black on yellow"),
            "stopping": ("STOPPING", "bold black on yellow"),
            "finished": ("FINISHED", "bold black on green"),
            "failed": ("FAILED", "bold white on red"),
            "cancelled": ("CANCELLED", "bold white on red"),
        }.get(status)
        if badge:
            t.append(f" {badge[0]} ", style=badge[1])
        if active and not alive:
            t.append(" no engine: hptui resume ", style="bold white on red")
        t.append("\n")
        busy = p.get("running", 0)
        workers = p.get("workers", run.get("workers", "?"))
        done = p.get("finished", 0) + p.get("failed", 0)
        t.append(f"data {run.get('data_source') or '-'} · ")
        t.append(f"{run.get('device') or 'device ?'} {run.get('precision') or ''}".rstrip())
        t.append(f" · workers {busy if active else 0}/{workers} busy")
        t.append(f" · trials {done}/{p.get('planned', '?')}")
        if p.get("failed"):
            t.append(f" ({p['failed']} failed)", style="red")
        t.append("\n")
        elapsed, eta = p.get("elapsed_s"), p.get("eta_s")
        if active and alive and run.get("heartbeat"):
            # progress is written with the heartbeat; carry both on to now
            since = max(0.0, now - run["heartbeat"])
            elapsed = None if elapsed is None else elapsed + since
            eta = None if eta is None else max(0.0, eta - since)
        elif run.get("finished_at") and run.get("started_at"):
            elapsed = run["finished_at"] - run["started_at"]
            eta = None
        t.append(f"elapsed {fmt_s(elapsed)}")
        if active:
            t.append(f" · remaining ~{fmt_s(eta)}")
        if best:
            t.append(" · best ")
            t.append(f"#{best['number']} val acc {best['val_accuracy']:.4f}", style="green")
            if best.get("reward") is not None:
                t.append(f" reward {best['reward']:.2f}")
        if status == "failed" and run.get("error"):
            t.append(f" · {run['error']}", style="red")
        return t
