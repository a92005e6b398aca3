"""What "What matters" shows, for the UI's pane and `hptui show`: the importance bars in words
and the slice plot of the metric against one hyperparameter, drawn on any plotext object (the
widget's or the module itself, for text). No Textual here.

`compute` reads nothing: it takes the finished search trials (Store.search_results) and the
current space, and returns everything the pane draws, so it can run off the UI's thread.
`stored` makes the same of what the engine stored (Store.importance), with nothing fitted."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.importance import (
    MIN_TRIALS,
    Importance,
    SlicePoint,
    from_record,
    importance,
    slice_points,
)

CURRENT_MARK, OLD_MARK = "x", "o"  # read without colour: the current space's / older versions'
LEGEND = f"{CURRENT_MARK} trial  {OLD_MARK} older space version  │ current range"
METRIC_WORDS = {"score": "score", "val_accuracy": "val acc"}


@dataclass
class Matters:
    """The pane's data: the importance (None: too few trials, or a flat metric), the slice
    points of every dimension, and the space they are drawn in."""

    space: Any  # engine.space.SearchSpace
    version: int | None
    trials: int  # finished search trials read
    result: Importance | None
    slices: dict[str, list[SlicePoint]] = field(default_factory=dict)
    metric: str = "score"

    @property
    def names(self) -> list[str]:
        """The dimensions, most important first (the space's order without a result)."""
        if self.result is None:
            return list(self.space.names)
        return [n for n, _ in self.result.ranked()]

    def share(self, name: str) -> float | None:
        return None if self.result is None else self.result.shares.get(name)


def compute(
    trials: Sequence[Mapping[str, Any]],
    space: Any,
    version: int | None = None,
    *,
    slices: bool = True,
) -> Matters:
    """Importance and (with `slices`) slices of `trials` (finished search trials) in
    `space`."""
    from engine.importance import metric_name

    result = importance(trials, space)
    m = Matters(space, version, len(trials), result)
    m.metric = result.metric if result is not None else metric_name(trials)
    if slices:
        add_slices(m, trials)
    return m


def stored(row: Mapping[str, Any], space: Any, version: int | None = None) -> Matters:
    """The importance the engine stored (Store.importance), without slices, in `space`."""
    return Matters(space, version, int(row["trials_read"]), from_record(row), metric=row["metric"])


def add_slices(m: Matters, trials: Sequence[Mapping[str, Any]]) -> None:
    """The slice points of every dimension of `m`'s space, from `trials`."""
    names = m.space.names
    m.slices = {n: slice_points(trials, m.space, n, current_version=m.version) for n in names}


RELIABLE_TRIALS = 60


def status_text(m: Matters) -> str:
    """One line over the bars: what they explain and from how many trials, or why none."""
    metric = METRIC_WORDS.get(m.metric, m.metric)
    if m.result is None:
        if m.trials < MIN_TRIALS:
            return f"not enough trials: {m.trials} finished of {MIN_TRIALS} needed"
        return f"the {metric} does not vary over {m.trials} trials: nothing to explain"
    fitted = m.result.fitted
    of = f" (fitted on {fitted})" if fitted < m.result.trials else ""
    # On a synthetic objective and the surrogate, the most important dimension came out
    # right in 11-15 of 20 runs at 20 trials and 18-20 of 20 from 60 on (BENCHMARKS.md,
    # section 11): under that the order is a hint, and the line says so.
    rough = f"; rough under {RELIABLE_TRIALS}" if m.result.trials < RELIABLE_TRIALS else ""
    return f"share of the {metric}'s variation, {m.result.trials} trials{of}{rough}"


def bar(share: float, width: int) -> str:
    """`█████▌` : a share of 1 fills `width` cells, in eighths."""
    eighths = max(0, round(share * width * 8))
    full, part = divmod(eighths, 8)
    return ("█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")).ljust(width)[:width]


def pct(share: float) -> str:
    return f"{100 * share:5.1f}%"


def range_text(dim: Any) -> str:
    """The current range in words: `1e-05..0.1 log`, `{16, 32, 64}`."""
    if hasattr(dim, "choices"):
        return "{" + ", ".join(str(c) for c in dim.choices) + "}"
    return f"{dim.low:g}..{dim.high:g}" + (" log" if getattr(dim, "log", False) else "")


# --- the slice plot -------------------------------------------------------------------------


@dataclass
class SliceView:
    """A slice plot in plotting coordinates (log10 of the value on a log dimension, the
    category's index, spread a little, on a categorical): what `draw` draws, kept as data
    so the widget and tests can read it."""

    name: str
    title: str
    ylabel: str
    xs: list[float]  # trials of the current space version
    ys: list[float]
    old_xs: list[float]  # trials of older versions
    old_ys: list[float]
    xlim: tuple[float, float]
    bounds: list[float]  # the current range's ends (none for a categorical)
    ticks: list[float]
    labels: list[str]
    log: bool = False
    categorical: bool = False


def _spread(number: int | None, i: int) -> float:
    """A fixed offset in [-0.3, 0.3] per trial, so the marks of one category stand apart."""
    k = number if number is not None else i
    return ((k * 0.6180339887) % 1.0 - 0.5) * 0.6


def slice_view(points: Sequence[SlicePoint], dim: Any, metric: str = "score") -> SliceView:
    categorical = hasattr(dim, "choices")
    log = not categorical and bool(getattr(dim, "log", False))
    xs: list[float] = []
    ys: list[float] = []
    old_xs: list[float] = []
    old_ys: list[float] = []
    for i, p in enumerate(points):
        if categorical:
            x = p.x + _spread(p.number, i)
        else:
            x = math.log10(p.x) if log else p.x
        (old_xs if p.old else xs).append(x)
        (old_ys if p.old else ys).append(p.y)
    words = METRIC_WORDS.get(metric, metric)
    title = f"{words} against {dim.name}, now {range_text(dim)}"
    if categorical:
        n = len(dim.choices)
        ticks = [float(i) for i in range(n)]
        labels = [str(c) for c in dim.choices]
        return SliceView(
            dim.name, title, words, xs, ys, old_xs, old_ys, (-0.5, n - 0.5), [], ticks, labels,
            categorical=True,
        )  # fmt: skip
    lo, hi = float(dim.low), float(dim.high)
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    every = xs + old_xs
    left, right = min([lo, *every]), max([hi, *every])
    pad = 0.04 * (right - left or 1.0)
    ticks, labels = _log_ticks(left, right) if log else ([], [])
    return SliceView(
        dim.name, title, words, xs, ys, old_xs, old_ys, (left - pad, right + pad), [lo, hi],
        ticks, labels, log=log,
    )  # fmt: skip


def _log_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    """Whole decades where the range spans two or more, else five evenly spaced points;
    labelled with the values themselves (`1e-04`, `0.003`)."""
    decades = list(range(math.ceil(lo - 1e-9), math.floor(hi + 1e-9) + 1))
    ticks = [float(d) for d in decades] if len(decades) >= 2 else [
        lo + (hi - lo) * k / 4 for k in range(5)
    ]  # fmt: skip
    return ticks, [f"{10**t:.2g}" for t in ticks]


def draw(plt: Any, view: SliceView) -> None:
    """Draw `view` on a plotext object (the caller clears it and sets its size)."""
    plt.title(view.title)
    plt.xlabel(view.name + (" (log scale)" if view.log else ""))
    if not view.xs and not view.old_xs:
        return
    plt.xlim(*view.xlim)
    if view.ticks:
        plt.xticks(view.ticks, view.labels)
    for x in view.bounds:
        plt.vline(x, "magenta")
    if view.old_xs:
        plt.scatter(view.old_xs, view.old_ys, marker=OLD_MARK, color="gray")
    if view.xs:
        plt.scatter(view.xs, view.ys, marker=CURRENT_MARK, color="cyan")


def slice_text(view: SliceView, width: int = 80, height: int = 16) -> str:
    """A slice plot as plain text (`hptui show --slices`)."""
    import re

    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    plt.clear_color()
    draw(plt, view)
    if not view.xs and not view.old_xs:
        return f"{view.title}: no trial has a value of it"
    legend = [f"{CURRENT_MARK} trial"]
    legend += [f"{OLD_MARK} older space version"] if view.old_xs else []
    legend += ["│ current range"] if view.bounds else []
    return "\n" + re.sub(r"\x1b\[[0-9;]*m", "", plt.build()) + "\n" + "  ".join(legend)
