"""Live progress of a headless run in the terminal, read from the store as the UI reads it
(the run row's phase, status and progress, the best trial), at each tick of the engine."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hptui.report import confirmed_choice
from hptui.view import (
    best_text,
    done_trials,
    elapsed_s,
    fmt_s,
    metric_words,
    phase_text,
    remaining_s,
    trials_done_text,
)
from storage.contract import CONFIRM_PHASE, FAILED, FINISHED, PRUNED
from storage.limits import clip
from storage.store import Store


class HeadlessView:
    """Live progress with rich: phase, trials done of planned, best so far, elapsed, remaining.
    When the output is not a terminal (a log file, CI), a plain line every 15 s instead."""

    def __init__(self, db: str | Path, run_id: int, console: Console) -> None:
        from rich.live import Live

        self.db, self.run_id = db, run_id
        self.console = console
        self.tty = self.console.is_terminal
        self.live = Live(self._render(None), console=console, refresh_per_second=4)
        self._store: Store | None = None
        self._last = 0.0
        self._last_line = ""
        self._data_shown = False
        self._chosen: tuple[int, str | None] = (0, None)  # (confirmation trials, its words)

    def __enter__(self) -> HeadlessView:
        if self.tty:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.tty:
            self.live.__exit__(*exc)
        if self._store is not None:
            self._store.close()
            self._store = None

    def update(self, _engine: object = None) -> None:
        """A tick (the engine's on_tick): draw the run as the store has it now."""
        now = time.monotonic()
        if now - self._last < (0.5 if self.tty else 15.0):
            return
        self._last = now
        if self._store is None:
            self._store = Store(self.db, readonly=True)
        run = self._store.run(self.run_id)
        if run is None:
            return
        fields = self.fields(run, self._store.best_trial(self.run_id), self._chosen_text(run))
        if self.tty:
            self.live.update(self._render((run, fields)))
            return
        if run.get("data_source") and not self._data_shown:
            self._data_shown = True
            self.console.print(fields[-1], highlight=False, markup=False, soft_wrap=True)
        line = " | ".join(fields[:-1])
        if line != self._last_line:
            self._last_line = line
            self.console.print(line, highlight=False, markup=False, soft_wrap=True)

    def _chosen_text(self, run: dict[str, Any]) -> str | None:
        """`chosen #19 (mean val acc 0.7807 of 3)` once the confirmation stage has measured
        again (engine.choice, as `show` reports it); recomputed only when it measured more."""
        assert self._store is not None
        confirm = self._store.trials(self.run_id, phase=CONFIRM_PHASE, status=FINISHED)
        if len(confirm) != self._chosen[0]:
            choice = confirmed_choice(self._store, self.run_id)
            words = metric_words(run)
            text = None
            if choice is not None:
                b = choice.best
                text = f"chosen #{b.trial} (mean {words.short} {words.fmt(b.accuracy)} of {b.n})"
            self._chosen = (len(confirm), text)
        return self._chosen[1]

    @staticmethod
    def fields(
        run: dict[str, Any], best: dict[str, Any] | None, chosen: str | None = None
    ) -> list[str]:
        """Run and phase, trials, best (the chosen configuration once the confirmation stage
        has measured again), time, data: the header's words, one line each."""
        p = run.get("progress") or {}
        now = time.time()
        counts = [f"{p[PRUNED]} pruned"] if p.get(PRUNED) else []
        counts.append(f"{p.get(FAILED, 0)} failed")
        counts.append(f"{p.get('running', 0)}/{p.get('workers', run['workers'])} running")
        source = run.get("data_source")
        # The view runs in the engine's own process, on its tick: the engine is alive.
        remaining = remaining_s(run, now, alive=True)
        return [
            f"run {run['id']} {clip(phase_text(run))} [{clip(run['status'])}]",
            f"trials {trials_done_text(p)} ({', '.join(counts)})",
            chosen or (f"best {best_text(best, metric_words(run))}" if best else "best -"),
            f"elapsed {fmt_s(elapsed_s(run, now))}, remaining ~{fmt_s(remaining)}",
            f"data {clip(source)}: {clip(run.get('data_reason'))}" if source else "data -",
        ]

    def _render(self, shown: tuple[dict[str, Any], list[str]] | None) -> Any:
        from rich.progress_bar import ProgressBar

        t = Table.grid(padding=(0, 2))
        if shown is None:
            t.add_row(f"run {self.run_id}", "starting ...")
            return t
        run, (head, trials, best, times, data) = shown
        p = run.get("progress") or {}
        bar = ProgressBar(total=max(1, p.get("planned", 0)), completed=done_trials(p), width=30)
        # Paths and data reasons come from the user: never read as markup.
        t.add_row("[bold]" + escape(head) + "[/]")
        t.add_row(bar, escape(trials))
        t.add_row(escape(best))
        t.add_row(escape(times))
        t.add_row(escape(data))
        return t
