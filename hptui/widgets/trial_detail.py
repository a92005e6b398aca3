"""One trial in full: hyperparameters, per-epoch curve, reward breakdown, error. The run's
metric is shown under its own name and in its own units (the store holds its utility)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from hptui.view import (
    ACCURACY_WORDS,
    MetricWords,
    fmt,
    param_text,
    ranking_text,
    reward_parts,
    reward_segments,
)
from hptui.widgets.fitted_static import FittedStatic
from storage.contract import FINAL_PHASE, PRUNED

BARS = "▁▂▃▄▅▆▇█"


def spark(values: list[float | None]) -> str:
    """A one-line curve of the values (unknown ones as a space)."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    lo, hi = min(known), max(known)
    span = hi - lo or 1.0
    return "".join(
        " " if v is None else BARS[int((v - lo) / span * (len(BARS) - 1))] for v in values
    )


class TrialDetail(FittedStatic):
    """Shows the selected trial; `trial` and `epochs` hold what is shown."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("select a trial (↑/↓ in the trials table)", **kwargs)
        self.trial: dict[str, Any] | None = None
        self.epochs: list[dict[str, Any]] = []
        self.is_best = False
        self.space: Mapping[str, Any] | None = None  # the run's current space (JSON form)
        self.words: MetricWords = ACCURACY_WORDS
        self._body: RenderableType = ""
        self._text: str | None = ""

    @property
    def text(self) -> str:
        """The plain text shown, made when asked for (for tests and checks): the event loop
        does not spend milliseconds on it each time the selected trial changes."""
        if self._text is None:
            self._text = _plain(self._body)
        return self._text

    def set_run(self, space: Mapping[str, Any] | None, words: MetricWords) -> None:
        """The run's current space and metric: how values are shown (from the next `show`)."""
        if space != self.space or words != self.words:
            self.space, self.words = space, words
            self.trial = None  # shown again, in the new words

    def show(
        self, trial: dict[str, Any] | None, epochs: list[dict[str, Any]], is_best: bool = False
    ) -> None:
        if trial == self.trial and epochs == self.epochs and is_best == self.is_best:
            return
        self.trial, self.epochs, self.is_best = trial, epochs, is_best
        body = (
            self.render_trial(trial, epochs, is_best, self.space, self.words)
            if trial
            else Text("no trial selected")
        )
        self.show_content(body)
        self._body, self._text = body, None

    @staticmethod
    def render_trial(
        t: dict[str, Any],
        epochs: list[dict[str, Any]],
        is_best: bool = False,
        space: Mapping[str, Any] | None = None,
        words: MetricWords = ACCURACY_WORDS,
    ) -> RenderableType:
        head = Text()
        head.append(f"trial {t['number']}", style="bold")
        head.append(f"  {t.get('status')} · {t.get('phase')}")
        role = (t.get("extra") or {}).get("role") if t.get("phase") == FINAL_PHASE else None
        if t.get("ppo_epoch") is not None:
            head.append(f" · PPO epoch {t['ppo_epoch']} traj {t['trajectory']} step {t['step']}")
        head.append(f" · space v{t.get('space_version')}")
        if t.get("worker") is not None:
            head.append(f" · worker {t['worker']}")
        if t.get("device"):
            head.append(f" · {t['device']} {t.get('precision') or ''}")
        parts: list[RenderableType] = [head]
        if role is not None:
            of = (t.get("extra") or {}).get("best_trial")
            what = f"the best configuration (trial {of})" if role == "best" else role
            what = "the default configuration" if role == "default" else what
            acc = words.fmt(t.get("test_accuracy"))
            extra = t.get("extra") or {}
            if (extra.get("repeats") or 1) > 1:
                what += f", training {int(extra.get('repeat', 0)) + 1} of {extra['repeats']}"
            test = "test accuracy" if words.is_accuracy else words.test
            parts.append(Text(f"final validation of {what}: {test} {acc}", style="bold"))
        pruned = (t.get("extra") or {}).get("pruned") if t.get("status") == PRUNED else None
        if pruned:
            parts.append(
                Text(
                    f"pruned by {pruned.get('pruner')} after epoch {pruned.get('epoch')} of "
                    f"{t.get('max_epochs')}: {pruned.get('reason')}",
                    style="dark_orange",
                )
            )
        if t.get("score") is not None:
            line = Text(f"score {t['score']:.2f}", style="bold")
            if is_best:
                line.append("  ★ best trial", style="bold green")
            line.append(f"  ({ranking_text(words)})", style="dim")
            parts.append(line)

        hp = Table.grid(padding=(0, 2))
        hp.add_column(style="dim")
        hp.add_column()
        dims = space if isinstance(space, Mapping) else {}
        for k, v in (t.get("config") or {}).items():
            hp.add_row(Text(str(k)), Text(param_text(v, dims.get(k))))  # never markup
        parts.append(hp)

        rp = reward_parts(t)
        if rp is not None:
            r = Text.assemble("reward ", *reward_segments(rp, t["reward"], words))
            r.append(f"   α {t['alpha']:.2f} β {t['beta']:.2f}", style="dim")
            if t.get("rules_fired"):
                r.append(f"  rules: {', '.join(t['rules_fired'])}", style="yellow")
            parts.append(r)

        if epochs:
            parts.extend(epoch_parts(epochs, words))
        else:
            parts.append(Text("no epochs recorded yet", style="dim"))
        if t.get("error"):
            parts.append(Text(f"error: {t['error']}", style="bold red"))
        return Group(*parts)


def _plain(r: RenderableType) -> str:
    """Plain text of a renderable, kept for tests and change checks."""
    console = Console(width=100, record=True, file=io.StringIO(), color_system=None)
    console.print(r)
    return console.export_text()


# (header, epoch key, format): what a Keras training reports besides the metric
TRAINING_COLUMNS = (
    ("loss", "loss", ".3f"),
    ("acc", "accuracy", ".3f"),
    ("v.loss", "val_loss", ".3f"),
)


def epoch_parts(epochs: list[dict[str, Any]], words: MetricWords) -> list[RenderableType]:
    """The epochs' table and the metric's curve. A training's own loss and accuracy are
    shown where it reported them (a plain objective reports the metric alone)."""
    known = [c for c in TRAINING_COLUMNS if any(e.get(c[1]) is not None for e in epochs)]
    et = Table(box=None, padding=(0, 1), header_style="bold")
    for col in ("ep", *(c[0] for c in known), words.short, "sec"):
        et.add_column(Text(col), justify="right")
    for e in epochs:
        et.add_row(
            str(e["epoch"]),
            *(fmt(e.get(key), spec) for _, key, spec in known),
            words.fmt(e.get("val_accuracy")),
            fmt(e.get("seconds"), ".1f"),
        )
    curve = spark([words.value(e.get("val_accuracy")) for e in epochs])
    return [et, Text(f"{words.short} per epoch  {curve}", style="cyan")]
