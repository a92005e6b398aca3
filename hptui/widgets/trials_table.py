"""The live, sortable trials table."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

STATUS_STYLE = {
    "queued": "dim",
    "running": "bold cyan",
    "finished": "green",
    "failed": "bold red",
    "interrupted": "yellow",
    "cancelled": "magenta",
}
# (key, label, width): the most telling columns first, so they fit at 80 columns. Fixed
# widths: cells change as trials run (running -> finished) and are never measured again.
COLUMNS = [
    ("n", "#", 3),
    ("status", "status", 11),
    ("phase", "phase", 6),
    ("acc", "val acc", 7),
    ("reward", "reward", 6),
    ("pen", "pen", 3),
    ("sec", "sec", 5),
    ("lr", "lr", 8),
    ("bs", "batch", 5),
    ("units", "units", 5),
    ("layers", "lay", 3),
    ("drop", "drop", 4),
    ("emb", "emb", 4),
    ("opt", "opt", 4),
    ("ppo", "ep/tr/st", 8),
    ("v", "v", 2),
]


def _num(v: Any, fmt: str) -> Text:
    return Text("-" if v is None else format(v, fmt), justify="right")


def trial_cells(t: dict[str, Any]) -> list[Any]:
    """The row of one trial, in COLUMNS order."""
    ppo = "-" if t.get("ppo_epoch") is None else f"{t['ppo_epoch']}/{t['trajectory']}/{t['step']}"
    status = t.get("status", "?")
    return [
        _num(t["number"], "d"),
        Text(status, style=STATUS_STYLE.get(status, "")),
        t.get("phase") or "-",
        _num(t.get("val_accuracy"), ".4f"),
        _num(t.get("reward"), ".2f"),
        _num(t.get("penalty"), "g"),
        _num(t.get("seconds"), ".1f"),
        _num(t.get("lr"), ".2e"),
        _num(t.get("batch_size"), "d"),
        _num(t.get("lstm_units"), "d"),
        _num(t.get("lstm_layers"), "d"),
        _num(t.get("dropout"), ".2f"),
        _num(t.get("embed_dim"), "d"),
        t.get("optimizer") or "-",
        ppo,
        _num(t.get("space_version"), "d"),
    ]


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


class TrialsTable(DataTable):
    """Rows keyed by trial id and updated in place; sorted by a column (newest first by
    default), re-sorted as rows arrive. `o` picks the next sort column, `O` reverses it."""

    BINDINGS = [
        Binding("o", "next_sort", "sort by"),
        Binding("O", "reverse_sort", "reverse", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.sort_column = "n"
        self.sort_reverse = True
        self.rows_by_id: dict[int, list[Any]] = {}
        # Every re-sort makes the rendered cells and lines stale; Textual's default caches keep
        # 10,000 cells and 1,000 lines (each a Strip with its own caches), a heap the garbage
        # collector then walks in 50-100 ms pauses while rows stream in. A screenful is a few
        # hundred cells and at most a few dozen lines, so smaller caches cost nothing.
        self._cell_render_cache = LRUCache(2000)
        self._line_cache = LRUCache(200)
        self._row_render_cache = LRUCache(200)

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    def upsert(self, trials: list[dict[str, Any]]) -> None:
        """Add new trials and update changed ones, then re-sort. A cursor on the top row stays
        there (following the newest trial); one moved down stays on its trial."""
        if not trials:
            return
        current = self.current_trial_id() if self.cursor_row > 0 else None
        resort = False
        for t in trials:
            cells = trial_cells(t)
            old = self.rows_by_id.get(t["id"])
            if old is None:
                self.add_row(*cells, key=str(t["id"]))
                resort = True
            else:
                for (key, _, _), a, b in zip(COLUMNS, old, cells, strict=False):
                    if str(a) != str(b) or (isinstance(b, Text) and a.style != b.style):
                        self.update_cell(str(t["id"]), key, b)
                        resort = resort or key == self.sort_column
            self.rows_by_id[t["id"]] = cells
        if resort:
            self._resort(current)

    def current_trial_id(self) -> int | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except (RowDoesNotExist, LookupError):
            return None
        return int(key.value) if key.value is not None else None

    def _resort(self, keep: int | None) -> None:
        self.sort(self.sort_column, key=lambda c: sort_key(c, self.sort_reverse))
        if keep is not None:
            try:
                self.move_cursor(row=self.get_row_index(str(keep)), animate=False)
            except RowDoesNotExist:
                pass
        elif self.row_count:
            # the cursor stayed on row 0, now another trial: say so, as a move would
            row_key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
            self.post_message(self.RowHighlighted(self, self.cursor_row, row_key))

    def set_sort(self, column: str, reverse: bool) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self._resort(self.current_trial_id())
        label = {k: lab for k, lab, _ in COLUMNS}[column]
        self.border_subtitle = f"sorted by {label} {'↓' if reverse else '↑'}"

    def action_next_sort(self) -> None:
        keys = [k for k, _, _ in COLUMNS]
        nxt = keys[(keys.index(self.sort_column) + 1) % len(keys)]
        self.set_sort(nxt, self.sort_reverse)

    def action_reverse_sort(self) -> None:
        self.set_sort(self.sort_column, not self.sort_reverse)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        column = str(event.column_key.value)
        reverse = not self.sort_reverse if column == self.sort_column else False
        self.set_sort(column, reverse)
