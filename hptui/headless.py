"""Live progress of a headless run in the terminal, drawn by the engine's tick."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hptui.report import fmt_num, fmt_s


class HeadlessView:
    """Live progress with rich: phase, trials done of planned, best so far, elapsed, remaining.
    When the output is not a terminal (a log file, CI), a plain line every 15 s instead."""

    def __init__(self, run_id: int, console: Console) -> None:
        from rich.live import Live

        self.run_id = run_id
        self.console = console
        self.tty = self.console.is_terminal
        self.live = Live(self._render(None), console=console, refresh_per_second=4)
        self._last = 0.0
        self._last_line = ""
        self._data_shown = False
        self._started: float | None = None

    def __enter__(self) -> HeadlessView:
        if self.tty:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.tty:
            self.live.__exit__(*exc)

    def update(self, engine: Any) -> None:
        now = time.monotonic()
        if now - self._last < (0.5 if self.tty else 15.0):
            return
        self._last = now
        if self.tty:
            self.live.update(self._render(engine))
            return
        fields = self._fields(engine)
        if engine.data_ref and not self._data_shown:
            self._data_shown = True
            self.console.print(fields[-1], highlight=False, markup=False, soft_wrap=True)
        line = " | ".join(fields[:-1])
        if line != self._last_line:
            self._last_line = line
            self.console.print(line, highlight=False, markup=False, soft_wrap=True)

    def _fields(self, engine: Any) -> list[str]:
        p = engine.progress()
        phase = engine._phase
        if phase == "warmup":
            phase = f"warm-up {p.get('warmup_done', 0)}/{p.get('warmup_total', 0)}"
        elif phase == "ppo":
            phase = (
                f"PPO epoch {p.get('ppo_epoch')}/{p.get('ppo_epochs')} "
                f"(trajectory length {p.get('traj_len')})"
            )
        done = p["finished"] + p["failed"]
        best = engine.store.best_trial(engine.run_id)
        return [
            f"run {engine.run_id} {phase} [{engine.status}]",
            f"trials {done}/{p['planned']} ({p['failed']} failed, "
            f"{p['running']}/{p['workers']} running)",
            f"best trial {best['number']}: est acc {fmt_num(best.get('est_accuracy'), 4)}, "
            f"val acc {best['val_accuracy']:.4f}"
            if best
            else "best -",
            f"elapsed {fmt_s(self._elapsed(engine))}, remaining ~{fmt_s(p['eta_s'])}",
            f"data {ref.source}: {ref.reason}" if (ref := engine.data_ref) else "data -",
        ]

    def _elapsed(self, engine: Any) -> float:
        """Seconds since the run started, from the stored start (never an engine clock, which
        a resume or the first trial's start would move): it never jumps backwards."""
        if self._started is None:
            run = engine.store.run(engine.run_id) or {}
            self._started = run.get("started_at") or run.get("created_at") or time.time()
        return max(0.0, time.time() - self._started)

    def _render(self, engine: Any) -> Any:
        from rich.progress_bar import ProgressBar

        t = Table.grid(padding=(0, 2))
        if engine is None:
            t.add_row(f"run {self.run_id}", "starting ...")
            return t
        head, trials, best, times, data = self._fields(engine)
        p = engine.progress()
        bar = ProgressBar(
            total=max(1, p["planned"]), completed=p["finished"] + p["failed"], width=30
        )
        # Paths and data reasons come from the user: never read as markup.
        t.add_row("[bold]" + escape(head) + "[/]")
        t.add_row(bar, escape(trials))
        t.add_row(escape(best))
        t.add_row(escape(times))
        t.add_row(escape(data))
        return t
