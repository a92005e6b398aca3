"""The run header: what is running, where it is, and how long it has left."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from hptui.report import fmt_s
from storage.store import ACTIVE_RUN_STATUSES, engine_alive


def phase_text(run: dict[str, Any]) -> str:
    """The phase in words: warm-up k/n, PPO epoch k/n with trajectory length, ..."""
    p = run.get("progress") or {}
    phase, status = run.get("phase"), run.get("status")
    if status == "failed":
        return "failed"
    if status in ("cancelled", "interrupted"):
        return str(status)
    if phase == "warmup":
        return f"warm-up {p.get('warmup_done', 0)}/{p.get('warmup_total', '?')}"
    if phase == "ppo":
        return (
            f"PPO epoch {p.get('ppo_epoch', '?')}/{p.get('ppo_epochs', '?')}"
            f" (traj len {p.get('traj_len', '?')})"
        )
    if phase == "search":
        done = p.get("finished", 0) + p.get("failed", 0) + p.get("pruned", 0)
        return f"search {done}/{p.get('planned', '?')}"
    if phase == "final":
        return "final validation"
    if phase == "data":
        return "preparing data"
    return str(phase or "starting")


STARTING_S = 30.0  # a run this young with no heartbeat yet: its engine is still starting
RANKING = "score: the reward under one set of weights for every trial; it ranks them"


def best_text(best: dict[str, Any]) -> str:
    """`#9 score 61.20 (val acc 0.7540)`: the best trial as the store ranks it."""
    score = best.get("score")
    s = f"#{best['number']}"
    if score is not None:
        s += f" score {score:.2f}"
    if best.get("val_accuracy") is not None:
        s += f" (val acc {best['val_accuracy']:.4f})"
    return s


def result_text(final: dict[str, Any]) -> str:
    """The end-of-run result: best against default configuration on the test set (means of
    the final validation's repeated trainings, where it repeats)."""
    n = final.get("repeats") or 1
    epochs = f"{n} x {final['epochs']} epochs" if n > 1 else f"{final['epochs']} epochs"
    return (
        f"result ({epochs}): test acc best #{final['best_trial']} "
        f"{final['best_test_accuracy']:.4f} vs default {final['default_test_accuracy']:.4f}, "
        f"gain {100 * final['accuracy_gain']:+.2f}%, time saving {100 * final['time_saving']:+.1f}%"
    )


def elapsed_s(run: dict[str, Any], now: float) -> float | None:
    """Wall time since the run started (until it ended): never goes backwards, unlike the
    engine's own figure, which counts from its first trial once there is one."""
    start = run.get("started_at") or run.get("created_at")
    if start is None:
        return None
    end = run.get("finished_at") if run.get("status") not in ACTIVE_RUN_STATUSES else None
    return max(0.0, (end or now) - start)


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
        ended_by_stop = stopped and status == "finished"
        badge = {
            "paused": ("PAUSED", "bold black on yellow"),
            "stopping": ("STOPPING", "bold black on yellow"),
            "finished": ("FINISHED", "bold black on green"),
            "failed": ("FAILED", "bold white on red"),
            "cancelled": ("CANCELLED", "bold white on red"),
            "interrupted": ("INTERRUPTED: hptui resume", "bold black on yellow"),
        }.get(status)
        if ended_by_stop:
            badge = ("STOPPED by user", "bold black on yellow")
        # the badges first: at 80 columns the end of the line is cut off
        if badge:
            t.append(f" {badge[0]} ", style=badge[1])
        if starting and not alive:
            t.append(" engine starting… ", style="bold black on yellow")
        elif active and not alive:
            t.append(" no engine: hptui resume ", style="bold white on red")
        t.append(f" {run.get('strategy')} · {run.get('profile')} · ")
        t.append("stopped" if ended_by_stop else phase_text(run), style="bold cyan")
        t.append(f" · space v{run.get('space_version', 1)}")
        if p.get("pruner") and p["pruner"] != "none":
            t.append(f" · pruner {p['pruner']}")
        t.append("\n")
        busy = p.get("running", 0)
        workers = p.get("workers", run.get("workers", "?"))
        done = p.get("finished", 0) + p.get("failed", 0) + p.get("pruned", 0)
        t.append(f"data {run.get('data_source') or '-'} · ")
        t.append(f"{run.get('device') or 'device ?'} {run.get('precision') or ''}".rstrip())
        t.append(f" · workers {busy if active else 0}/{workers} busy")
        t.append(f" · trials {done}/{p.get('planned', '?')}")
        if p.get("pruned"):
            t.append(f" ({p['pruned']} pruned)", style="dark_orange")
        if p.get("failed"):
            t.append(f" ({p['failed']} failed)", style="red")
        t.append("\n")
        eta = p.get("eta_s")
        if active and alive and run.get("heartbeat") and eta is not None:
            # the estimate is written with the heartbeat; carry it on to now
            eta = max(0.0, eta - max(0.0, now - run["heartbeat"]))
        t.append(f"elapsed {fmt_s(elapsed_s(run, now))}")
        if active:
            t.append(f" · remaining ~{fmt_s(eta)}")
        if best:
            t.append(" · best ")
            t.append(best_text(best), style="bold green")
        if status == "failed" and run.get("error"):
            t.append(f" · {run['error']}", style="red")
        if run.get("final"):
            t.append("\n")
            t.append(result_text(run["final"]), style="bold")
        elif ended_by_stop:
            t.append("\n")
            t.append(
                f"stopped by the user after {done} of {p.get('planned', '?')} trials: "
                "no final validation",
                style="bold yellow",
            )
        return t
