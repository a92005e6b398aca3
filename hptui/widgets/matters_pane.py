"""What matters: per hyperparameter its share of the metric's variation as a bar, most
important first, and beside it the slice plot of the metric against the selected one (↑ ↓
pick it; `e` edits its range). The app computes the data off its thread (hptui.matters.compute)
and hands it to `show`; this only lays it out."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option
from textual_plotext import PlotextPlot

from hptui.matters import (
    LEGEND,
    Matters,
    SliceView,
    bar,
    draw,
    pct,
    slice_view,
    status_text,
)

NAME_W, BAR_W = 12, 12  # cells: a name (cut with …), its bar, then the percentage


class SlicePlot(PlotextPlot):
    """The metric against one hyperparameter; what is drawn is kept in `view`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.view: SliceView | None = None
        self.empty = "no finished trials yet"

    def on_mount(self) -> None:
        super().on_mount()
        self._draw()

    def show(self, view: SliceView | None, empty: str = "") -> None:
        self.view, self.empty = view, empty or self.empty
        self._draw()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if self.view is None:
            plt.title(self.empty)
        else:
            draw(plt, self.view)
        self.refresh()


class MattersPane(Horizontal):
    """`order`: the dimensions as the bars list them; `selected`: the one highlighted."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data: Matters | None = None
        self.order: list[str] = []
        self.selected: str | None = None
        self.shows = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="matters-left"):
            yield Label("reading the finished trials…", id="matters-status")
            yield OptionList(id="matters-bars")
        yield SlicePlot(id="matters-slice")

    def on_mount(self) -> None:
        self.bars = self.query_one("#matters-bars", OptionList)
        self.status = self.query_one("#matters-status", Label)
        self.plot = self.query_one(SlicePlot)
        self.border_subtitle = LEGEND

    def show(self, m: Matters) -> None:
        """New data: the bars in order, the same dimension kept selected."""
        self.data, self.shows = m, self.shows + 1
        self.status.update(status_text(m))
        keep = self.selected
        self.order = m.names
        self.selected = keep if keep in self.order else (self.order[0] if self.order else None)
        self.bars.set_options(
            Option(self._prompt(name, m.share(name)), id=f"d{i}")
            for i, name in enumerate(self.order)
        )
        if self.order:
            self.bars.highlighted = self.order.index(keep) if keep in self.order else 0
        self._show_slice()

    def show_problem(self, text: str) -> None:
        """Why there is nothing to show (the last data, if any, stays below it)."""
        self.status.update(text)

    def _prompt(self, name: str, share: float | None) -> Text:
        label = Text(name, no_wrap=True, overflow="ellipsis")
        label.truncate(NAME_W, overflow="ellipsis", pad=True)
        if share is None:
            return Text.assemble(label, " ", ("-".ljust(BAR_W), "dim"))
        return Text.assemble(label, " ", (bar(share, BAR_W), "cyan"), " ", pct(share))

    @on(OptionList.OptionHighlighted, "#matters-bars")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option_index < len(self.order):
            self.selected = self.order[event.option_index]
            self._show_slice()

    def _show_slice(self) -> None:
        m, name = self.data, self.selected
        if m is None or name is None or name not in m.space.names:
            self.plot.show(None, "no finished trials yet")
            return
        dim = m.space[name]
        self.plot.show(slice_view(m.slices.get(name, []), dim, m.metric))
