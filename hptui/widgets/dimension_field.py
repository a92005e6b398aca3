"""One search-space dimension in the space editor: type, bounds or choices, log scale,
checked as you type with the engine's own parser."""

from __future__ import annotations

import re
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Checkbox, Input, Label, Select

from engine.space import (
    FLAG,
    INT,
    TEXT,
    Dimension,
    SpaceError,
    parse_dimension,
    parse_flag,
    parse_number,
)
from hptui.view import cut

NAME_CELLS = 11  # the name's column (app.tcss .dim-name), less a cell of room


def parse_value(like: Dimension, what: str, text: str) -> int | float | str | bool:
    """A value typed in a field: a number for numeric dimensions, text or true/false for
    categorical ones."""
    if like.kind == TEXT:
        return text.strip()
    if like.kind == FLAG:
        return parse_flag(like.name, text.strip())
    return parse_number(like.name, text, what)


def field_key(name: str, index: int) -> str:
    """A widget id part for a dimension: its name where that is a valid id, else its place."""
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name) else f"dim{index}"


class DimensionField(Vertical):
    """Edits one dimension; posts `DimensionField.Changed` whenever a field changes.
    `dimension` is the parsed value (None while invalid), `error` the problem."""

    class Changed(Message):
        def __init__(self, field: DimensionField) -> None:
            super().__init__()
            self.field = field

    def __init__(self, dimension: Dimension, index: int, **kwargs: Any) -> None:
        key = field_key(dimension.name, index)
        super().__init__(id=f"dim-{key}", classes="dim-field", **kwargs)
        self.dim_name, self.key = dimension.name, key
        self.original = dimension
        self.initial = dimension.to_dict()
        self.dimension: Dimension | None = self.original
        self.error = ""

    def compose(self) -> ComposeResult:
        n, spec = self.key, self.initial
        kind = spec.get("type", "categorical")
        # A whole-number dimension takes an integer range, a real one a real range; one of
        # text or true/false values only choices.
        ranged = {INT: "integer", FLAG: "", TEXT: ""}.get(self.original.kind, "real")
        kinds = [(ranged, ranged)] if ranged else []
        choices = ", ".join(str(c) for c in spec.get("choices", []))
        with Horizontal(classes="dim-row"):
            # a long name cut to the column (its whole in the tooltip and the messages)
            name = Label(cut(self.dim_name, NAME_CELLS), classes="dim-name", markup=False)
            name.tooltip = self.dim_name
            yield name
            yield Select(
                [*kinds, ("categorical", "categorical")],
                value=kind,
                allow_blank=False,
                compact=True,
                disabled=not ranged,
                id=f"type-{n}",
                classes="dim-type",
            )
            yield Input(
                _num_text(spec.get("low")),
                placeholder="low",
                compact=True,
                id=f"low-{n}",
                classes="dim-real dim-num",
            )
            yield Input(
                _num_text(spec.get("high")),
                placeholder="high",
                compact=True,
                id=f"high-{n}",
                classes="dim-real dim-num",
            )
            log = bool(spec.get("log"))
            yield Checkbox(log_label(log), log, id=f"log-{n}", classes="dim-real")
            yield Input(
                choices,
                placeholder="choices, comma separated",
                compact=True,
                id=f"choices-{n}",
                classes="dim-cat",
            )
        yield Label("", id=f"error-{n}", classes="field-error")

    def on_mount(self) -> None:
        self._show_kind()

    def _kind(self) -> str:
        return str(self.query_one(f"#type-{self.key}", Select).value)

    def _show_kind(self) -> None:
        real = self._kind() != "categorical"
        for w in self.query(".dim-real"):
            w.display = real
        for w in self.query(".dim-cat"):
            w.display = not real

    def spec(self) -> dict[str, Any]:
        """The dimension spec the fields describe (raises SpaceError on a non-number)."""
        n, like = self.key, self.original
        if self._kind() != "categorical":
            return {
                "type": self._kind(),
                "low": parse_value(like, "low", self.query_one(f"#low-{n}", Input).value),
                "high": parse_value(like, "high", self.query_one(f"#high-{n}", Input).value),
                "log": self.query_one(f"#log-{n}", Checkbox).value,
            }
        text = self.query_one(f"#choices-{n}", Input).value
        items = [s for s in (x.strip() for x in text.split(",")) if s]
        return {"type": "categorical", "choices": [parse_value(like, "choice", s) for s in items]}

    def check(self) -> None:
        """Parse the fields; show the engine's message under the field when invalid."""
        try:
            self.dimension = parse_dimension(self.dim_name, self.spec(), like=self.original)
            self.error = ""
        except SpaceError as exc:
            self.dimension, self.error = None, str(exc)
        label = self.query_one(f"#error-{self.key}", Label)
        label.update(self.error)
        label.display = bool(self.error)
        self.set_class(bool(self.error), "-invalid")
        self.set_class(self.changed, "-changed")

    @property
    def changed(self) -> bool:
        return self.dimension is not None and self.dimension != self.original

    @on(Input.Changed)
    @on(Checkbox.Changed)
    def _field_changed(self, event: Message) -> None:
        event.stop()
        if isinstance(event, Checkbox.Changed):
            event.checkbox.label = log_label(event.value)
        self.check()
        self.post_message(self.Changed(self))

    @on(Select.Changed)
    def _kind_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._show_kind()
        self.check()
        self.post_message(self.Changed(self))


def log_label(on: bool) -> str:
    """The checkbox's state in words too: its mark differs only by colour in plain text."""
    return "log: on" if on else "log: off"


def _num_text(v: Any) -> str:
    """A bound as typed: whole numbers whole (`123456789`, not `1.23457e+08`)."""
    if v is None:
        return ""
    return str(v) if isinstance(v, int) else f"{v:g}"
