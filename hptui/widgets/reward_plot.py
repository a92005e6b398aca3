"""The search plot: the validation accuracy of every finished search trial in order, the best
so far as a line, the store's best trial marked, and where the phase changes. Pruned trials
(stopped after an epoch by the run's pruner) are marked apart at their partial accuracy and
are not in the best so far.

A long run (above `PLOT_POINTS_MAX` points, see hptui.store_reader) is drawn in bins of trial
numbers instead, one mark for each bin's highest and mean accuracy and the best so far as a
line: 50,000 marks were a solid band, and cost seconds to draw.

Validation accuracy, not reward: each trial's reward uses the weights of its own moment, and α
shrinks as the run goes on, so a reward curve falls even while the search improves. A run of
another metric (engine.objective) plots that metric, under its name, in its own units (the
store holds its utility); the best so far is then the lowest where lower is better."""

from __future__ import annotations

import time
from typing import Any

from textual.timer import Timer
from textual_plotext import PlotextPlot

from hptui.store_reader import PlotSource
from hptui.view import ACCURACY_WORDS, MetricWords, is_plotted_trial, phase_word
from storage.contract import FINISHED, PRUNED

# Markers that read without colour (NO_COLOR, 256-colour greys); the legend is in the border,
# not inside the plot, where it hid data.
TRIAL_MARK, RUNNING_BEST_MARK, BEST_MARK, PRUNED_MARK = "x", "•", "@", "-"
LEGEND = (
    f"{TRIAL_MARK} trial  {PRUNED_MARK} pruned  {RUNNING_BEST_MARK} best so far  "
    f"{BEST_MARK} best by score  │ phase"
)
BIN_TOP_MARK, BIN_MEAN_MARK = "^", "·"
BIN_LEGEND = (
    f"{BIN_TOP_MARK} highest per bin  {BIN_MEAN_MARK} mean per bin  "
    f"{RUNNING_BEST_MARK} best so far  {BEST_MARK} best by score  │ phase"
)
# Building the plot takes 5-30 ms of the event loop; while trials stream in it is redrawn at
# most this often (bench/ui_stall.py), and not at all while hidden.
MIN_REDRAW_S = 1.0


def y_range(values: list[float], bounds: tuple[float, float] = (0.0, 1.0)) -> tuple[float, float]:
    """A range around the values, some room either side even for one or two points, within
    the metric's bounds (the [0, 1] of an accuracy) unless the values go past them."""
    lo, hi = min(values), max(values)
    b_lo, b_hi = min(bounds), max(bounds)
    pad = max(0.02 * (b_hi - b_lo), 0.1 * (hi - lo))
    return max(min(b_lo, lo), lo - pad), min(max(b_hi, hi), hi + pad)


class RewardPlot(PlotextPlot):
    """What is drawn is kept on the widget (`mode`, `xs`, `series`, `boundaries`, `best_x`,
    `ylim`, `plot_title`), so tests and callers can read it without looking at pixels.

    `show` takes new data; `flush` draws it (the app calls it in a frame of its own) if the
    last drawing is `MIN_REDRAW_S` old, else a timer draws it later; a hidden plot is drawn
    when shown. `stale` says a drawing is owed, `draws` counts them."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode = "empty"  # the phase of the newest trial shown: "warmup", "ppo", "search"
        self.form = "points"  # one mark per trial, or "bins" (a long run's aggregates)
        self.xs: list[float] = []
        self.series: dict[str, list[float]] = {}
        self.boundaries: list[tuple[float, str]] = []  # (x, phase that starts there)
        self.best_x: float | None = None
        self.best_y: float | None = None
        self.ylim: tuple[float, float] = (0.0, 1.0)
        self.plot_title = "no finished trials yet"
        self.markers = {"val acc": TRIAL_MARK, "best so far": RUNNING_BEST_MARK}
        self.pruned_xs: list[float] = []  # pruned search trials: number, partial accuracy
        self.pruned_ys: list[float] = []
        self._key: tuple[Any, ...] = ()
        self.stale = True
        self.draws = 0
        self._drawn_at = float("-inf")
        self._later: Timer | None = None
        self._built: tuple[tuple[Any, ...], Any] | None = None
        self.words: MetricWords = ACCURACY_WORDS  # the run's metric: what is plotted

    def set_words(self, words: MetricWords) -> None:
        """The run's metric: its values are plotted, under its name (shown from the next
        data on)."""
        if words != self.words:
            self.words, self._key = words, ()

    def on_mount(self) -> None:
        super().on_mount()
        self.border_subtitle = LEGEND
        self._redraw()

    def render(self) -> Any:
        """The built plot, built again only when its drawing, size or theme changed: Textual
        renders a widget again after a layout pass, and building costs 5-30 ms."""
        key = (self.draws, self.size, self.theme, self.app.theme)
        if self._built is None or self._built[0] != key:
            self._built = (key, super().render())
        return self._built[1]

    def on_show(self) -> None:
        # A tab just picked shows the latest data at once: the once-a-second limit is for
        # trials streaming into a plot already in view.
        if self.stale:
            self._redraw(limit=False)

    def flush(self) -> bool:
        """Draw what `show` took, if due and shown; True when drawn."""
        drawn = self.draws
        self._redraw()
        return self.draws > drawn

    def _redraw(self, limit: bool = True) -> None:
        """Draw now if shown and (with `limit`) not drawn within `MIN_REDRAW_S`; else later:
        at the next `flush` (the app's next read), a timer if none comes, or once shown
        (`on_show`)."""
        if not self.stale or not self.display or not self.region.area:
            return  # hidden (another tab): drawn when shown
        wait = self._drawn_at + MIN_REDRAW_S - time.monotonic()
        if wait > 0 and limit:
            if self._later is None:
                self._later = self.set_timer(wait + MIN_REDRAW_S, self._drawn_later)
            return
        self.stale = False
        self._drawn_at = time.monotonic()
        self.draws += 1
        self._draw()

    def _drawn_later(self) -> None:
        self._later = None
        self._redraw()

    def show(self, trials: list[dict[str, Any]], best: dict[str, Any] | None) -> None:
        """`trials` ordered by number; only finished search trials are drawn. `best` is the
        store's best trial (`Store.best_trial`)."""
        fin = _search_points(trials, FINISHED)
        xs = [float(t["number"]) for t in fin]
        utilities = [float(t["val_accuracy"]) for t in fin]
        value = self._value
        accs = [value(u) for u in utilities]
        running, top = [], 0.0
        for u in utilities:
            top = max(top, u) if running else u
            running.append(value(top))
        bounds = [
            ((a["number"] + b["number"]) / 2, str(b["phase"]))
            for a, b in zip(fin, fin[1:], strict=False)
            if a["phase"] != b["phase"]
        ]
        best_x, best_y = self._best(best)
        pruned = _search_points(trials, PRUNED)
        pxs = [float(t["number"]) for t in pruned]
        pys = [value(float(t["val_accuracy"])) for t in pruned]
        key = (tuple(xs), tuple(accs), tuple(bounds), best_x, best_y, tuple(pxs), tuple(pys))
        if key == self._key:
            return  # nothing changed: no redraw
        self._key = key
        self.form = "points"
        self.pruned_xs, self.pruned_ys = (pxs, pys) if fin else ([], [])
        self.xs, self.boundaries, self.best_x, self.best_y = xs, bounds, best_x, best_y
        self.series = {"val acc": accs, "best so far": running} if fin else {}
        self.mode = str(fin[-1]["phase"]) if fin else "empty"
        if fin:
            phases = " → ".join(phase_word(p) for p in dict.fromkeys(str(t["phase"]) for t in fin))
            self.plot_title = f"{self.words.long} per trial ({phases})"
            self.ylim = y_range(accs + self.pruned_ys, self.words.metric.bounds)
        else:
            self.plot_title = "no finished trials yet"
        self.stale = True

    def show_source(self, source: PlotSource, best: dict[str, Any] | None) -> None:
        """The data the store reader read: points (drawn as `show` draws trials) or bins."""
        if source.bins is None:
            self.show(source.points or [], best)
        else:
            self.show_bins(source.bins, source.phase_starts, source.finished, best)

    def show_bins(
        self,
        bins: list[dict[str, Any]],
        phase_starts: list[tuple[str, int]],
        finished: int,
        best: dict[str, Any] | None,
    ) -> None:
        """A long run: per bin of trial numbers (`Store.search_accuracy_bins`) its highest and
        mean accuracy at the bin's middle, and the best so far at the bin's end."""
        xs = [(b["first"] + b["last"]) / 2 for b in bins]
        value = self._value
        top_utilities = [float(b["top"]) for b in bins]  # the highest utility: the best value
        tops = [value(u) for u in top_utilities]
        means = [value(float(b["mean"])) for b in bins]
        running, top = [], 0.0
        for u in top_utilities:
            top = max(top, u) if running else u
            running.append(value(top))
        bounds = [(start - 0.5, phase) for phase, start in phase_starts[1:]]
        best_x, best_y = self._best(best)
        key = ("bins", tuple(xs), tuple(tops), tuple(means), tuple(bounds), best_x, best_y)
        if key == self._key:
            return
        self._key = key
        self.form = "bins"
        self.xs, self.boundaries, self.best_x, self.best_y = xs, bounds, best_x, best_y
        self.series = {"top": tops, "mean": means, "best so far": running}
        self.pruned_xs, self.pruned_ys = [], []
        self.mode = phase_starts[-1][0] if phase_starts else "search"
        width = max((b["last"] - b["first"] + 1 for b in bins), default=1)
        most = "highest" if self.words.higher_is_better else "lowest"
        self.plot_title = (
            f"{self.words.long}, {finished:,} trials in bins of ≤{width}: {most}, mean"
        )
        bounds_ = self.words.metric.bounds
        self.ylim = y_range(tops + means, bounds_) if bins else (min(bounds_), max(bounds_))
        self.stale = True

    def _value(self, utility: float) -> float:
        """The metric of a stored utility (an accuracy is its own)."""
        return utility if self.words.is_accuracy else self.words.metric.value(utility)

    def _best(self, best: dict[str, Any] | None) -> tuple[float | None, float | None]:
        """Where the store's best trial is drawn."""
        if best is None or best.get("val_accuracy") is None:
            return None, None
        return float(best["number"]), self._value(float(best["val_accuracy"]))

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.plot_title)
        legend = BIN_LEGEND if self.form == "bins" else LEGEND
        if not self.words.higher_is_better:
            legend = legend.replace("highest per bin", "lowest per bin")
        self.border_subtitle = legend
        if not self.xs:
            self.refresh()
            return
        plt.xlabel("trial")
        plt.ylim(*self.ylim)
        lo, hi = min(self.xs + self.pruned_xs), max(self.xs + self.pruned_xs)
        plt.xlim(lo - 1, hi + 1)
        ticks = trial_ticks(int(lo), int(hi))
        plt.xticks(ticks, [str(t) for t in ticks])  # trial numbers: never "2.5"
        for x, phase in self.boundaries:
            plt.vline(x, "magenta")
            plt.text(phase_word(phase), x=x, y=self.ylim[1], color="magenta")
        plt.plot(self.xs, self.series["best so far"], marker=RUNNING_BEST_MARK, color="green")
        if self.form == "bins":
            plt.scatter(self.xs, self.series["mean"], marker=BIN_MEAN_MARK, color="cyan")
            plt.scatter(self.xs, self.series["top"], marker=BIN_TOP_MARK, color="cyan")
        else:
            plt.scatter(self.xs, self.series["val acc"], marker=TRIAL_MARK, color="cyan")
        if self.pruned_xs:
            plt.scatter(self.pruned_xs, self.pruned_ys, marker=PRUNED_MARK, color="orange")
        if self.best_x is not None and self.best_y is not None:
            plt.scatter([self.best_x], [self.best_y], marker=BEST_MARK, color="orange")
        self.refresh()


def trial_ticks(lo: int, hi: int, most: int = 6) -> list[int]:
    """At most `most` whole trial numbers from `lo` to `hi`, evenly stepped."""
    step = max(1, -(-(hi - lo) // max(1, most - 1)))
    return list(range(lo, hi + 1, step))


def _search_points(trials: list[dict[str, Any]], status: str) -> list[dict[str, Any]]:
    """Search and confirmation trials (not final validation) of one status that have an
    accuracy to plot."""
    return [
        t
        for t in trials
        if t["status"] == status and is_plotted_trial(t) and t.get("val_accuracy") is not None
    ]
