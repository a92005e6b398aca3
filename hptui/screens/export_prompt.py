"""Asks where to write the best configuration as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from hptui.view import ACCURACY_WORDS, MetricWords, best_text, ranking_text


class ExportPrompt(ModalScreen[str | None]):
    """Dismisses with the path typed (Enter) or None (Esc). `best` is the store's best trial,
    the one that is written."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(
        self, default: str, best: dict[str, Any], words: MetricWords = ACCURACY_WORDS
    ) -> None:
        super().__init__()
        self.default = default
        self.best = best
        self.words = words  # the run's metric

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(
                f"Export the hyperparameters of the best trial, "
                f"{best_text(self.best, self.words)}, as `hptui export` prints them, to:",
                id="export-what",
                markup=False,
            )
            yield Input(self.default, id="export-path")
            yield Label(
                f"{ranking_text(self.words)}. A relative path is relative to {Path.cwd()}. "
                "Enter writes, Esc cancels",
                classes="hint",
                markup=False,
                id="export-hint",
            )

    @on(Input.Submitted, "#export-path")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
