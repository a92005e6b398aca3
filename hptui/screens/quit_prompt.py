"""Quitting while the run is active: leave it going (detach) or stop it."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class QuitPrompt(ModalScreen[str]):
    """Dismisses with "detach", "stop" or "" (stay)."""

    BINDINGS = [
        Binding("d", "answer('detach')", "detach"),
        Binding("s", "answer('stop')", "stop run"),
        Binding("escape", "answer('')", "stay"),
    ]

    def __init__(self, run_id: int, status: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.status = status

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(
                f"Run {self.run_id} is {self.status}. Leave it going in the background "
                f"(`hptui attach {self.run_id}` comes back to it), or stop it?"
            )
            with Horizontal(classes="buttons"):
                yield Button("Detach (d)", variant="primary", id="detach")
                yield Button("Stop run and quit (s)", variant="error", id="stop")
                yield Button("Stay (Esc)", id="stay")

    def on_mount(self) -> None:
        self.query_one("#detach", Button).focus()

    def action_answer(self, answer: str) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss("" if event.button.id == "stay" else str(event.button.id))
