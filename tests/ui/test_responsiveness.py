"""What keeps the event loop responsive while trials stream in renders exactly what the slow
general paths would (bench/ui_stall.py measures the stalls)."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.geometry import Region
from textual.widgets import DataTable

from hptui.app import HptuiApp
from hptui.widgets.fitted_static import FittedStatic, needs_layout
from hptui.widgets.reward_plot import RewardPlot
from hptui.widgets.trials_table import TrialsTable

from .conftest import Filled, add_finished, refresh


def _trial(i: int, **kw: Any) -> dict[str, Any]:
    t = dict(
        id=i,
        number=i,
        status="finished",
        phase="ppo",
        val_accuracy=0.5 + i / 1000,
        score=30.0 + i,
        reward=40.0 + i,
        penalty=10.0 if i % 2 else 0.0,
        seconds=1.5,
        lr=1e-3 * i,
        batch_size=32,
        lstm_units=64,
        lstm_layers=1,
        dropout=0.2,
        embed_dim=32,
        optimizer="sgd",
        ppo_epoch=1,
        trajectory=2,
        step=i,
        space_version=1,
    )
    t.update(kw)
    return t


def _chars(lines: list[list[Segment]]) -> list[tuple[str, Style | None]]:
    """Each character with its style: two renderings look the same when these are equal."""
    return [(ch, seg.style) for line in lines for seg in line for ch in seg.text]


class _TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield TrialsTable()


def test_fast_cells_render_as_datatable_does() -> None:
    async def go() -> None:
        app = _TableApp()
        async with app.run_test(size=(200, 30)) as pilot:
            table = app.query_one(TrialsTable)
            table.upsert(
                [
                    _trial(1),
                    _trial(2, status="running", val_accuracy=None, score=None, reward=None),
                    _trial(3, phase="final", extra={"role": "best"}, ppo_epoch=None),
                    _trial(4, status="pruned", optimizer=None, lr=123456.0),
                    # the ppo cell is wider than its column: the general way
                    _trial(5, status="interrupted", phase=None, trajectory=100, step=1000),
                ]
            )
            table.set_best(1)
            await pilot.pause()
            assert len(table.shown_columns) == len(table.columns) == 18
            fast = 0
            styles = [Style(), Style(bgcolor="red"), Style(bold=True, color="blue")]
            for row in range(-1, table.row_count):  # -1: the header
                for col, column in enumerate(table.ordered_columns):
                    width = column.get_render_width(table)
                    for base in styles:
                        for cursor, hover in ((False, False), (True, False), (False, True)):
                            table._cell_render_cache.clear()
                            mine = table._fast_cell(row, col, base, width, cursor, hover)
                            table._cell_render_cache.clear()
                            theirs = DataTable._render_cell(
                                table, row, col, base, width, cursor, hover
                            )
                            want = table._render_cell(row, col, base, width, cursor, hover)
                            assert _chars(want) == _chars(theirs), (row, col)
                            if mine is not None:
                                fast += 1
                                assert _chars(mine) == _chars(theirs), (row, col, cursor, hover)
            cells = (table.row_count + 1) * len(table.columns) * len(styles) * 3
            assert fast >= 0.9 * cells  # nearly every cell takes the fast way

    asyncio.run(go())


def test_hidden_plot_is_drawn_with_the_latest_data_when_shown(filled: Filled) -> None:
    """At 80x24 one pane shows at a time: the plot behind its tab takes new trials without
    drawing them, and draws the latest ones when its tab is picked."""

    async def go() -> None:
        # no reads of the app's own: each one is the test's `refresh`
        app = HptuiApp(str(filled.db), filled.run_id, poll_s=3600)
        async with app.run_test(size=(80, 24)) as pilot:
            await refresh(app, pilot)
            plot = app.query_one(RewardPlot)
            assert app.current_pane == "trials" and not plot.display
            assert plot.stale and plot.draws == 0  # nothing drawn while hidden
            add_finished(filled, 1, acc=0.8123)
            await refresh(app, pilot)
            assert plot.xs[-1] == 7.0 and plot.draws == 0
            await pilot.press("3")  # the accuracy pane
            await pilot.pause()
            await pilot.pause()
            assert plot.display and not plot.stale and plot.draws == 1
            assert plot.xs == [1.0, 2.0, 4.0, 5.0, 7.0]
            assert plot.series["val acc"][-1] == 0.8123
            shown = str(plot.render())
            assert "trial" in shown and "val accuracy per trial" in shown
            await pilot.press("1")  # hidden again: a new trial waits for the next showing
            await pilot.pause()
            add_finished(filled, 1, acc=0.6)
            await refresh(app, pilot)
            assert plot.stale and plot.draws == 1
            await pilot.press("3")
            await pilot.pause()
            await pilot.pause()
            assert plot.draws == 2 and not plot.stale and plot.xs[-1] == 8.0

    asyncio.run(go())


def test_needs_layout_only_when_the_height_changes() -> None:
    assert not needs_layout(5, 5, 5)
    assert not needs_layout(3, 7, 10), "both fit in the minimum height"
    assert not needs_layout(7, 10, 10)
    assert needs_layout(7, 11, 10), "grows past the minimum height"
    assert needs_layout(12, 11, 12), "content-sized: shrinks"
    assert needs_layout(12, 3, 12)


class _PaneApp(App[None]):
    CSS = "FittedStatic { height: auto; min-height: 100%; } #pane { height: 10; }"

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="pane"):
            yield FittedStatic("one line")


def test_fitted_static_lays_out_only_when_its_height_changes() -> None:
    async def go() -> None:
        app = _PaneApp()
        async with app.run_test(size=(40, 20)) as pilot:
            await pilot.pause()
            w = app.query_one(FittedStatic)
            assert w.size.height == 10  # held open by the minimum height
            assert w.show_content(Text("a\nb\nc"))  # first measure: laid out
            await pilot.pause()
            assert not w.show_content(Text("a\nb\nc\nd\ne\nf"))  # fits in 10: no layout
            await pilot.pause()
            assert "f" in str(w.render_line(5).text)  # the new content is shown
            tall = Text("\n".join(str(i) for i in range(25)))
            assert w.show_content(tall)  # taller than the pane: laid out, and it grows
            await pilot.pause()
            assert w.size.height == 25
            w.show_content(tall)  # measured at the width left beside the new scrollbar
            await pilot.pause()
            assert not w.show_content(Text("\n".join(f"x{i}" for i in range(25))))
            assert w.show_content(Text("short"))  # shrinks back to the minimum
            await pilot.pause()
            assert w.size.height == 10

    asyncio.run(go())


def test_redraw_with_kept_cell_styles_matches_a_fresh_one() -> None:
    """Cell styles are kept per screen position across re-sorts, and a redraw works out the
    component styles once: the lines drawn are those of a redraw from empty caches."""

    async def go() -> None:
        app = _TableApp()
        async with app.run_test(size=(160, 20)) as pilot:
            table = app.query_one(TrialsTable)
            table.upsert([_trial(i) for i in range(1, 30)])
            await pilot.pause()
            crop = Region(0, 0, table.size.width, table.size.height)
            table.render_lines(crop)  # styles kept for every position on screen
            table.upsert([_trial(i, status="running") for i in range(30, 33)])  # rows move
            table.move_cursor(row=2)
            await pilot.pause()
            kept = [list(strip) for strip in table.render_lines(crop)]
            table.notify_style_update()  # empties every cache of the table
            fresh = [list(strip) for strip in DataTable.render_lines(table, crop)]
            assert _chars(kept) == _chars(fresh)
            assert "running" in "".join(seg.text for seg in kept[1])  # the new rows on top

    asyncio.run(go())


def test_new_rows_move_the_scrollbar_without_laying_out_the_screen() -> None:
    async def go() -> None:
        app = _TableApp()
        async with app.run_test(size=(120, 12)) as pilot:
            table = app.query_one(TrialsTable)
            table.upsert([_trial(i) for i in range(1, 40)])  # a scrollbar appears: laid out
            await pilot.pause()
            screen, layouts = app.screen, []
            real = screen._refresh_layout

            def counted(*args: Any, **kwargs: Any) -> None:
                layouts.append(1)
                real(*args, **kwargs)

            screen._refresh_layout = counted  # type: ignore[method-assign]
            before = table.max_scroll_y
            table.upsert([_trial(i) for i in range(40, 80)])
            await pilot.pause()
            await pilot.pause()
            assert layouts == []
            assert table.max_scroll_y == before + 40
            assert table.vertical_scrollbar.window_virtual_size == table.virtual_size.height
            table.scroll_end(animate=False)
            await pilot.pause()
            assert table.scroll_y == table.max_scroll_y  # the oldest rows are reachable

    asyncio.run(go())
