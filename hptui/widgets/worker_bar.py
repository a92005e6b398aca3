"""One trainer slot: which trial, how far through it, and the configuration it trains."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Label, ProgressBar

from hptui.view import config_text, is_lstm_space


def config_summary(cfg: dict[str, Any] | None, space: Mapping[str, Any] | None = None) -> str:
    """A configuration on one line: the built-in LSTM's as it reads best (`lr 1.0e-03 ·
    batch 32 · 1×64 LSTM · ...`), any other as name=value pairs in its space's order."""
    if not cfg:
        return ""
    if is_lstm_space(cfg):
        try:
            return (
                f"lr {cfg['lr']:.1e} · batch {cfg['batch_size']} · "
                f"{cfg['lstm_layers']}×{cfg['lstm_units']} LSTM · drop "
                f"{cfg['dropout']:.2f} · emb {cfg['embed_dim']} · {cfg['optimizer']}"
            )
        except (TypeError, ValueError):  # a value of another kind: the plain form
            pass
    return config_text(cfg, space)


def worker_fraction(w: dict[str, Any]) -> tuple[int, int]:
    """(done, total) batches over all epochs; epochs are numbered from 1."""
    epochs, batches = w.get("epochs") or 0, w.get("batches") or 0
    epoch, batch = w.get("epoch") or 0, w.get("batch") or 0
    if not epochs or not batches:
        return 0, 1
    return max(0, (epoch - 1) * batches + batch), epochs * batches


class WorkerBar(Vertical):
    """Label, progress bar and configuration of one worker slot."""

    def __init__(self, slot: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slot = slot
        self.state: tuple[Any, ...] = ()
        self.space: Mapping[str, Any] | None = None  # the run's current space (JSON form)

    def compose(self) -> ComposeResult:
        yield Label(f"worker {self.slot}: idle", classes="worker-title")
        # its own line: after the title, in a narrow pane, the numbers were cut off
        yield Label("", classes="worker-progress")
        yield ProgressBar(total=1, show_eta=False, show_percentage=True)
        yield Label("", classes="worker-config")

    def show(
        self,
        w: dict[str, Any],
        trial: dict[str, Any] | None,
        space: Mapping[str, Any] | None = None,
    ) -> None:
        self.space = space
        state = (
            w.get("trial_id"),
            w.get("epoch"),
            w.get("epochs"),
            w.get("batch"),
            w.get("batches"),
            trial.get("number") if trial else None,
        )
        if state == self.state:
            return
        self.state = state
        title = self.query_one(".worker-title", Label)
        bar = self.query_one(ProgressBar)
        conf = self.query_one(".worker-config", Label)
        where = self.query_one(".worker-progress", Label)
        if w.get("trial_id") is None:
            title.update(f"worker {self.slot}: idle", layout=False)
            where.update("", layout=False)
            bar.update(total=1, progress=0)
            conf.update("", layout=False)
            self.remove_class("-busy")
            return
        done, total = worker_fraction(w)
        num = f"trial {trial['number']}" if trial else f"trial id {w['trial_id']}"
        # fixed one-line labels (app.tcss): repaint only
        title.update(f"worker {self.slot}: {num}", layout=False)
        where.update(
            f"epoch {w.get('epoch') or 0}/{w.get('epochs') or '?'}"
            f" · batch {w.get('batch') or 0}/{w.get('batches') or '?'}",
            layout=False,
        )
        bar.update(total=total, progress=done)
        summary = config_summary(trial.get("config") if trial else None, self.space)
        conf.update(Content(summary), layout=False)  # names and values as they are
        self.add_class("-busy")
