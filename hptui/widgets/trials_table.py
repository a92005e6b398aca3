"""The live, sortable trials table."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist, RowKey

from hptui.view import (
    ACCURACY_WORDS,
    MetricWords,
    cut,
    fmt,
    is_lstm_space,
    param_text,
)
from hptui.widgets.steady_scroll import SteadyScrollView
from storage.contract import (
    CANCELLED,
    FAILED,
    FINAL_PHASE,
    FINISHED,
    INTERRUPTED,
    PRUNED,
    QUEUED,
    RUNNING,
    TRIAL_PHASES,
)

STATUS_STYLE = {
    QUEUED: "dim",
    RUNNING: "bold cyan",
    FINISHED: "green",
    FAILED: "bold red",
    INTERRUPTED: "yellow",
    CANCELLED: "magenta",
    PRUNED: "dark_orange",  # stopped by the run's pruner after an epoch
}
Column = tuple[str, str, int]  # (key, label, width)
# The most telling columns first: the trial and its metric, the run's hyperparameters, then
# where PPO drew it. Fixed widths: cells change as trials run (running -> finished) and are
# never measured again. Only the columns that fit whole are shown (a column cut at the edge
# showed `128` as `1`); the trial pane has every value.
HEAD: list[Column] = [
    ("n", "#", 3),
    ("best", "★", 1),
    ("status", "status", 11),
    ("phase", "phase", 8),
    ("acc", "val acc", 7),  # the run's metric: its label and width follow it (metric_column)
    ("score", "score", 6),
    ("reward", "reward", 6),
    ("pen", "pen", 3),
    ("sec", "sec", 5),
]
TAIL: list[Column] = [("ppo", "ep/tr/st", 8), ("v", "v", 2)]
MIN_COLUMNS = 5  # #, best, status, phase, the metric: always shown
PARAM_LABEL = 7  # a hyperparameter's header: its name, cut to this many cells where longer


@dataclass(frozen=True)
class Param:
    """A hyperparameter's column: its key, label and width, and how a value is shown."""

    key: str
    name: str
    label: str
    width: int
    show: Callable[[Any], str]
    right: bool = True  # numbers to the right, words to the left


def _formatted(spec: str) -> Callable[[Any], str]:
    def show(v: Any) -> str:
        try:
            return fmt(v, spec)
        except (TypeError, ValueError):  # a value of another kind (an edited dimension)
            return str(v)

    return show


# The built-in LSTM's columns, as they always were: short labels, in the order that reads.
LSTM_PARAMS = [
    Param("lr", "lr", "lr", 8, _formatted(".2e")),
    Param("bs", "batch_size", "batch", 5, _formatted("d")),
    Param("units", "lstm_units", "units", 5, _formatted("d")),
    Param("layers", "lstm_layers", "lay", 3, _formatted("d")),
    Param("drop", "dropout", "drop", 4, _formatted(".2f")),
    Param("emb", "embed_dim", "emb", 4, _formatted("d")),
    Param("opt", "optimizer", "opt", 4, lambda v: "-" if v is None else str(v), right=False),
]


def param_columns(space: Mapping[str, Any] | None) -> list[Param]:
    """The hyperparameters' columns of a space (its JSON form, as stored), in its order: each
    as wide as its values (by its kind: log reals `1.00e-03`, other reals 3 significant
    digits, whole numbers, categories as text) and its name cut to fit. The LSTM's space
    keeps its own short columns; no space yet: the LSTM's."""
    if not space or is_lstm_space(space):
        return LSTM_PARAMS
    out = []
    for i, (name, dim) in enumerate(space.items()):
        dim = dim if isinstance(dim, Mapping) else {"type": "categorical", "choices": dim}
        width = max(3, min(_values_width(dim), 12))
        width = max(width, min(cell_len(name), PARAM_LABEL))
        words = dim.get("type") == "categorical" and any(
            isinstance(c, str | bool) for c in dim.get("choices") or []
        )
        out.append(Param(f"hp{i}", name, cut(name, width), width, _shower(dim), not words))
    return out


def _shower(dim: Mapping[str, Any]) -> Callable[[Any], str]:
    def show(v: Any) -> str:
        return param_text(v, dim)

    return show


def _values_width(dim: Mapping[str, Any]) -> int:
    """The cells a dimension's values take: at its ends and a few points between."""
    kind = dim.get("type")
    if kind == "categorical":
        return max((cell_len(param_text(c, dim)) for c in dim.get("choices") or []), default=1)
    try:
        lo, hi = float(dim["low"]), float(dim["high"])
    except (KeyError, TypeError, ValueError):
        return 8
    if kind == "integer":
        return max(len(str(int(lo))), len(str(int(hi))))
    points = [lo + (hi - lo) * k / 7 for k in range(8)]
    return max(len(param_text(float(v), dim)) for v in points)


def metric_column(words: MetricWords) -> Column:
    """The metric's column: `val acc` for an accuracy, else its name (cut to fit)."""
    if words.is_accuracy:
        return ("acc", "val acc", 7)
    width = max(words.width(), min(cell_len(words.short), 10))
    return ("acc", cut(words.short, width), width)


def table_columns(params: list[Param], words: MetricWords = ACCURACY_WORDS) -> list[Column]:
    head = [metric_column(words) if key == "acc" else (key, lab, w) for key, lab, w in HEAD]
    return [*head, *((p.key, p.label, p.width) for p in params), *TAIL]


COLUMNS = table_columns(LSTM_PARAMS)  # a run of the built-in LSTM
KEYS = [k for k, _, _ in COLUMNS]
SORTABLE = [k for k in KEYS if k != "best"]
PHASE_FILTERS = [None, *TRIAL_PHASES]
STATUS_FILTERS = [None, FINISHED, PRUNED, RUNNING, FAILED, INTERRUPTED, CANCELLED]
FINAL_ROLE = {"best": "fin best", "default": "fin dflt"}
BEST_MARK = "★"


def _num(v: Any, spec: str) -> Text:
    return Text(fmt(v, spec), justify="right")


def phase_label(t: dict[str, Any]) -> str:
    """The phase; final-validation rows say which configuration they validate."""
    if t.get("phase") == FINAL_PHASE:
        role = (t.get("extra") or {}).get("role")
        return FINAL_ROLE.get(role, FINAL_PHASE)
    return t.get("phase") or "-"


def trial_cells(
    t: dict[str, Any],
    best: bool = False,
    params: list[Param] = LSTM_PARAMS,
    words: MetricWords = ACCURACY_WORDS,
) -> dict[str, Any]:
    """The cells of one trial by column key: the metric as the run names it (not its
    utility), the hyperparameters of `params` from the trial's configuration."""
    ppo = "-" if t.get("ppo_epoch") is None else f"{t['ppo_epoch']}/{t['trajectory']}/{t['step']}"
    status = t.get("status", "?")
    cells = {
        "n": _num(t["number"], "d"),
        "best": Text(BEST_MARK if best else "", style="bold green"),
        "status": Text(status, style=STATUS_STYLE.get(status, "")),
        "phase": phase_label(t),
        "acc": Text(words.fmt(t.get("val_accuracy")), justify="right"),
        "score": _num(t.get("score"), ".2f"),
        "reward": _num(t.get("reward"), ".2f"),
        "pen": _num(t.get("penalty"), "g"),
        "sec": _num(t.get("seconds"), ".1f"),
        "ppo": ppo,
        "v": _num(t.get("space_version"), "d"),
    }
    config = t.get("config")
    for p in params:
        # a row without its configuration (written by hand) has the LSTM's columns
        v = config.get(p.name) if isinstance(config, dict) else t.get(p.name)
        cells[p.key] = Text(p.show(v), justify="right" if p.right else None)
    return cells


def fitting_columns(width: int, padding: int = 1, columns: list[Column] = COLUMNS) -> list[str]:
    """The leading columns that fit whole in `width` cells."""
    keys, used = [], 0
    for key, _, w in columns:
        used += w + 2 * padding
        if used > width and len(keys) >= MIN_COLUMNS:
            break
        keys.append(key)
    return keys


def sort_key(cell: Any, reverse: bool = False) -> tuple[int, float, tuple[int, ...]]:
    """Numbers by value, words alphabetically, '-' (unknown) last in either direction
    (so the order is reversed here, not by the table)."""
    s = cell.plain if isinstance(cell, Text) else str(cell)
    sign = -1 if reverse else 1
    if s in ("", "-"):
        return (2, 0.0, ())
    try:
        return (0, sign * float(s), ())
    except ValueError:
        return (1, 0.0, tuple(sign * ord(c) for c in s))


class _StylesOnce:
    """A component's styles with their Rich style worked out once (see render_lines)."""

    __slots__ = ("_styles", "rich_style")

    def __init__(self, styles: Any, rich_style: Style) -> None:
        self._styles, self.rich_style = styles, rich_style

    def __getattr__(self, name: str) -> Any:
        return getattr(self._styles, name)


OrderKey = tuple[Any, int]  # (sort_key of the sort column's cell, trial id): a total order


class TrialsTable(DataTable, SteadyScrollView):
    """Rows keyed by trial id and updated in place; sorted by a column (newest first by
    default). `o` picks the next sort column, `O` reverses it; `f` filters by phase and `F`
    by status. The best trial (as the store ranks them) is marked ★.

    The order is kept in `order`, a sorted list of (sort key, trial id): a trial that arrives
    or changes in the sort column is put in its place by bisection, and the rows' positions
    are renumbered from it, so no row's key is worked out again. Sorting every row on every
    new trial cost 0.9 s a key press at 50,000 trials. `full_sorts` counts whole sorts (a
    new sort column, a filter, new columns). The app gives it a window of the run's trials
    (hptui.trial_window) and `remove`s those let go; `total` is how many the run has."""

    class FilterChanged(Message):
        """The filter changed: the app reads the newest trials it selects."""

        def __init__(self, phase: str | None, status: str | None) -> None:
            super().__init__()
            self.phase, self.status = phase, status

    BINDINGS = [
        Binding("o", "next_sort", "sort", show=False),  # in the help: the footer is full
        Binding("O", "reverse_sort", "reverse", show=False),
        Binding("f", "next_phase_filter", "filter phase", show=False),
        Binding("F", "next_status_filter", "filter status", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, fixed_columns=1, **kwargs)
        self.sort_column = "n"
        self.sort_reverse = True
        self.trials: dict[int, dict[str, Any]] = {}
        self.rows_by_id: dict[int, dict[str, Any]] = {}  # cells of the rows shown
        self.best_id: int | None = None
        self.phase_filter: str | None = None
        self.status_filter: str | None = None
        self.shown_columns: list[str] = []
        # The run's columns: its metric and the hyperparameters of its current space
        # (`set_run`); until it is known, the built-in LSTM's.
        self.params: list[Param] = LSTM_PARAMS
        self.words: MetricWords = ACCURACY_WORDS
        self.all_columns: list[Column] = COLUMNS
        # Every re-sort makes the rendered cells and lines stale; Textual's default caches keep
        # 10,000 cells and 1,000 lines (each a Strip with its own caches), a heap the garbage
        # collector then walks in 50-100 ms pauses while rows stream in. A screenful is a few
        # hundred cells and at most a few dozen lines, so smaller caches cost nothing.
        self._cell_render_cache = LRUCache(2000)
        self._line_cache = LRUCache(200)
        self._row_render_cache = LRUCache(200)
        self._cell_styles: LRUCache[tuple, tuple[Style, Style]] = LRUCache(4000)
        self._redraw_styles: dict[tuple[str, ...], _StylesOnce] | None = None
        self.order: list[OrderKey] = []
        self.order_keys: dict[int, OrderKey] = {}
        self.row_keys: dict[int, RowKey] = {}
        self.full_sorts = 0
        self.total: int | None = None  # the run's trials in the store; None: those held

    # --- redrawing quickly ---------------------------------------------------------------
    def render_lines(self, crop: Region) -> list[Strip]:
        # DataTable works out the same few Rich styles again for every line (its own, the
        # header's, the fixed column's and the stripe's: a walk up the DOM each, a third of a
        # redraw); during one redraw they cannot change, so each is worked out once.
        self._redraw_styles = {}
        try:
            return super().render_lines(crop)
        finally:
            self._redraw_styles = None

    @property
    def rich_style(self) -> Style:
        memo = self._redraw_styles
        if memo is None:
            return super().rich_style
        if () not in memo:
            memo[()] = _StylesOnce(None, super().rich_style)
        return memo[()].rich_style

    def get_component_styles(self, *names: str) -> Any:
        memo = self._redraw_styles
        if memo is None:
            return super().get_component_styles(*names)
        if names not in memo:
            styles = super().get_component_styles(*names)
            memo[names] = _StylesOnce(styles, styles.rich_style)
        return memo[names]

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cell_styles.clear()

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        """A one-line cell that fits its column is laid out here, as DataTable's own rendering
        would (the same characters in the same styles, tested against it), in a few
        microseconds rather than the ~150 us of Rich's general path. A new row or a re-sort
        redraws every visible cell, a few hundred of them: that was the event loop's longest
        stall while trials stream in (bench/ui_stall.py). Anything else goes the general way."""
        lines = self._fast_cell(row_index, column_index, base_style, width, cursor, hover)
        if lines is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        return lines

    def _fast_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool,
        hover: bool,
    ) -> list[list[Segment]] | None:
        if row_index < -1 or column_index < 0 or self.show_row_labels and self._labelled_row_exists:
            return None
        header = row_index == -1
        column_key = self._column_locations.get_key(column_index)
        if column_key is None or column_key not in self.columns:
            return None
        if header:
            if self.header_height != 1:
                return None
            row_key = self._header_row_key
            cell: object = self.columns[column_key].label
        else:
            row_key = self._row_locations.get_key(row_index)
            row = self.rows.get(row_key) if row_key is not None else None
            if row is None or row.height != 1:
                return None
            cell = self._data.get(row_key, {}).get(column_key)
        if isinstance(cell, Text):
            if cell.spans or cell.justify not in (None, "default", "left", "right"):
                return None
            plain, text_style, justify = cell.plain, cell.style, cell.justify
        elif isinstance(cell, str):
            if "[" in cell:  # possibly markup: DataTable parses it
                return None
            plain, text_style, justify = cell, Style.null(), None
        else:
            return None
        pad = self.cell_padding
        inner = width - 2 * pad
        used = cell_len(plain)
        if "\n" in plain or used > inner or inner < 0:
            return None
        key = (
            row_key,
            column_key,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        cached = self._cell_render_cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        bare, styled = self._cell_style(
            row_index, column_index, header, base_style, cursor, hover, text_style
        )
        room = inner - used
        if justify == "right":  # Rich pads a justified line inside the text: its style
            segments = [Segment(" " * pad, bare), Segment(" " * room + plain, styled)]
            segments.append(Segment(" " * pad, bare))
        elif justify == "left":
            segments = [Segment(" " * pad, bare), Segment(plain + " " * room, styled)]
            segments.append(Segment(" " * pad, bare))
        else:  # the line is padded to the cell's width outside the text
            segments = [Segment(" " * pad, bare), Segment(plain, styled)]
            segments.append(Segment(" " * (room + pad), bare))
        lines = [[seg for seg in segments if seg.text]]
        self._cell_render_cache[key] = lines
        return lines

    def _cell_style(
        self,
        row_index: int,
        column_index: int,
        header: bool,
        base_style: Style,
        cursor: bool,
        hover: bool,
        text_style: str | Style,
    ) -> tuple[Style, Style]:
        """(padding style, text style) of the cell at a screen position. They depend on the
        position (its row and column go into the style, for the mouse), the row's stripe,
        the cursor and the cell's own style, not on which trial is there: kept across
        re-sorts, which move every trial to another position."""
        key = (
            row_index,
            column_index,
            header,
            base_style,
            cursor,
            hover,
            text_style,
            self.show_cursor,
            self._show_hover_cursor,
            self._pseudo_class_state,
        )
        found = self._cell_styles.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        fixed = not header and (row_index < self.fixed_rows or column_index < self.fixed_columns)
        component, post = self._get_styles_to_render_cell(
            header,
            False,
            fixed,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        pre = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component
        own = self.app.console.get_style(text_style) if isinstance(text_style, str) else text_style
        found = (pre + post, pre + own + post)
        self._cell_styles[key] = found
        return found

    def on_mount(self) -> None:
        self._set_columns(fitting_columns(80, columns=self.all_columns))
        self._subtitle()

    def on_resize(self) -> None:
        # the vertical scrollbar's gutter is always kept (app.tcss): the width is stable
        width = self.scrollable_content_region.width
        if width > 0:
            keys = fitting_columns(width, self.cell_padding, self.all_columns)
            if keys != self.shown_columns:
                self._set_columns(keys)
                self._rebuild()

    def set_run(self, space: Mapping[str, Any] | None, words: MetricWords) -> None:
        """The run's current space (its JSON form) and metric: the hyperparameters' columns
        and the metric's. Every row is laid out again only when the columns change (a new
        run, an edit that changed a dimension's kind or values' width)."""
        params = param_columns(space)
        columns = table_columns(params, words)
        if columns == self.all_columns and params == self.params and words == self.words:
            return
        self.params, self.words, self.all_columns = params, words, columns
        if self.sort_column not in self._sortable():
            self.sort_column, self.sort_reverse = "n", True
        if not self.is_mounted:
            return
        width = self.scrollable_content_region.width or 80
        self._set_columns(fitting_columns(width, self.cell_padding, columns))
        self._rebuild()
        self._subtitle()

    def _sortable(self) -> list[str]:
        return [k for k, _, _ in self.all_columns if k != "best"]

    def _set_columns(self, keys: list[str]) -> None:
        self.clear(columns=True)
        self._forget_rows()
        self.shown_columns = keys
        for key, label, width in self.all_columns:
            if key in keys:
                self.add_column(label, key=key, width=width)

    def wants(self, t: dict[str, Any]) -> bool:
        return (self.phase_filter is None or t.get("phase") == self.phase_filter) and (
            self.status_filter is None or t.get("status") == self.status_filter
        )

    def _row(self, cells: dict[str, Any]) -> list[Any]:
        return [cells[k] for k in self.shown_columns]

    def upsert(self, trials: list[dict[str, Any]]) -> None:
        """Add new trials and update changed ones, each put in its place in the order. A
        cursor on the top row stays there (following the newest trial); one moved down stays
        on its trial."""
        if not trials:
            return
        current = self.current_trial_id() if self.cursor_row > 0 else None
        moved = False
        for t in trials:
            self.trials[t["id"]] = t
            moved = self._put(t) or moved
        if moved:
            self._placed(current)
        self._subtitle()

    def remove(self, trial_ids: Iterable[int]) -> None:
        """Let trials go (the app's window moved on): their rows and what is known of them."""
        current = self.current_trial_id() if self.cursor_row > 0 else None
        gone = False
        for tid in trial_ids:
            self.trials.pop(tid, None)
            gone = self._drop_row(tid) or gone
        if gone:
            self._placed(current)
        self._subtitle()

    def set_total(self, total: int) -> None:
        if total != self.total:
            self.total = total
            self._subtitle()

    def _order_key(self, tid: int) -> OrderKey:
        return (sort_key(self.rows_by_id[tid][self.sort_column], self.sort_reverse), tid)

    def _forget_rows(self) -> None:
        self.rows_by_id, self.order, self.order_keys, self.row_keys = {}, [], {}, {}

    def _drop_row(self, tid: int) -> bool:
        """Remove one trial's row, if shown; True when it was."""
        if tid not in self.rows_by_id:
            return False
        self.remove_row(self.row_keys.pop(tid))
        del self.rows_by_id[tid]
        key = self.order_keys.pop(tid)
        del self.order[bisect_left(self.order, key)]
        return True

    def _put(self, t: dict[str, Any]) -> bool:
        """Show, update or hide one trial's row; True when the order changed."""
        tid = t["id"]
        old = self.rows_by_id.get(tid)
        if not self.wants(t):
            return self._drop_row(tid)
        cells = trial_cells(t, tid == self.best_id, self.params, self.words)
        self.rows_by_id[tid] = cells
        if old is None:
            self.row_keys[tid] = self.add_row(*self._row(cells), key=str(tid))
            self.order_keys[tid] = key = self._order_key(tid)
            insort(self.order, key)
            return True
        for k in self.shown_columns:
            a, b = old[k], cells[k]
            if str(a) != str(b) or (isinstance(b, Text) and a.style != b.style):
                self.update_cell(str(tid), k, b)
        key = self._order_key(tid)
        if key == self.order_keys[tid]:
            return False
        del self.order[bisect_left(self.order, self.order_keys[tid])]
        self.order_keys[tid] = key
        insort(self.order, key)
        return True

    def _placed(self, keep: int | None) -> None:
        """Number the rows as `order` has them (what `DataTable.sort` does after sorting),
        then keep the cursor: on its trial (`keep`), or on the top row, now another trial."""
        self._row_locations = TwoWayDict(
            {self.row_keys[tid]: i for i, (_, tid) in enumerate(self.order)}
        )
        self._update_count += 1
        self.refresh()
        if not self.row_count:
            return
        if keep is not None:
            try:
                self.move_cursor(row=self.get_row_index(str(keep)), animate=False)
            except RowDoesNotExist:
                pass
        else:
            # the cursor stayed on row 0, now another trial: say so, as a move would
            row_key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
            self.post_message(self.RowHighlighted(self, self.cursor_row, row_key))

    def set_best(self, trial_id: int | None) -> None:
        """Move the ★ to the store's best trial."""
        if trial_id == self.best_id:
            return
        old, self.best_id = self.best_id, trial_id
        for tid in (old, trial_id):
            if tid is not None and tid in self.trials:
                self._put(self.trials[tid])

    def _rebuild(self) -> None:
        """All rows again: after a filter or the columns changed."""
        keep = self.current_trial_id()
        self.clear()
        self._forget_rows()
        for t in self.trials.values():
            self._put(t)
        self._resort(keep)

    def current_trial_id(self) -> int | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except (RowDoesNotExist, LookupError):
            return None
        return int(key.value) if key.value is not None else None

    def _resort(self, keep: int | None) -> None:
        """The whole order worked out again: a new sort column or direction, or new rows."""
        self.full_sorts += 1
        self.order = sorted(self._order_key(tid) for tid in self.rows_by_id)
        self.order_keys = {tid: key for key in self.order for tid in [key[1]]}
        self._placed(keep)

    def _subtitle(self) -> None:
        label = {k: lab for k, lab, _ in self.all_columns}.get(self.sort_column, self.sort_column)
        parts = [f"sorted by {label} {'↓' if self.sort_reverse else '↑'}"]
        if self.phase_filter:
            parts.append(f"phase {self.phase_filter}")
        if self.status_filter:
            parts.append(f"status {self.status_filter}")
        total = len(self.trials) if self.total is None else max(self.total, len(self.trials))
        parts.append(f"{self.row_count}/{total:,} shown · f/F filter")
        self.border_subtitle = " · ".join(parts)

    def set_sort(self, column: str, reverse: bool) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self._resort(self.current_trial_id())
        self._subtitle()

    def set_filter(self, phase: str | None, status: str | None) -> None:
        self.phase_filter, self.status_filter = phase, status
        self._rebuild()
        self._subtitle()
        self.post_message(self.FilterChanged(phase, status))

    def action_next_sort(self) -> None:
        keys = [k for k in self._sortable() if k in self.shown_columns]
        i = keys.index(self.sort_column) if self.sort_column in keys else -1
        nxt = keys[(i + 1) % len(keys)]
        self.set_sort(nxt, self.sort_reverse)

    def action_reverse_sort(self) -> None:
        self.set_sort(self.sort_column, not self.sort_reverse)

    def action_next_phase_filter(self) -> None:
        i = PHASE_FILTERS.index(self.phase_filter)
        self.set_filter(PHASE_FILTERS[(i + 1) % len(PHASE_FILTERS)], self.status_filter)

    def action_next_status_filter(self) -> None:
        i = STATUS_FILTERS.index(self.status_filter)
        self.set_filter(self.phase_filter, STATUS_FILTERS[(i + 1) % len(STATUS_FILTERS)])

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        column = str(event.column_key.value)
        if column not in self._sortable():
            return
        reverse = not self.sort_reverse if column == self.sort_column else False
        self.set_sort(column, reverse)
