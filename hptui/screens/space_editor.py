"""The search-space editor: every dimension and the pruning rules, checked as you type.
Apply is enabled only while everything is valid and something changed; the app turns the
result into `edit_space` / `edit_rules` commands for the engine."""

from __future__ import annotations

import json
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, TextArea

from engine.reward import parse_rules
from engine.rulecheck import check_rules
from engine.space import SearchSpace, SpaceError
from hptui.widgets.dimension_field import DimensionField
from storage import contract

Commands = list[tuple[str, dict[str, Any]]]


class SpaceEditor(ModalScreen[Commands | None]):
    """Dismisses with the commands to send ([] or None when nothing is applied). `focus`
    names the dimension whose first field has the focus when it opens."""

    BINDINGS = [
        Binding("escape", "cancel", "cancel"),
        Binding("ctrl+s", "apply", "apply"),
    ]

    def __init__(
        self,
        version: int,
        space: dict[str, Any],
        rules: list[dict[str, Any]],
        *,
        focus: str | None = None,
    ) -> None:
        super().__init__()
        self.focus_name = focus
        self.version = version
        self.space = SearchSpace.from_dict(space)
        self.space_data = space
        self.rules_data = rules
        self.rules_text = _rules_text(rules)
        self.rules_error = ""
        self.rules: list[dict[str, Any]] | None = rules

    def compose(self) -> ComposeResult:
        with Vertical(id="editor"):
            yield Label(
                f"Edit search space (now version {self.version}): Tab moves, "
                "ctrl+s applies, Esc cancels",
                id="editor-title",
            )
            with VerticalScroll(id="editor-form"):
                for i, dim in enumerate(self.space.dims):
                    yield DimensionField(dim, i)
                yield Label("pruning rules (JSON list of {name, when, penalty})")
                yield TextArea(
                    self.rules_text, language=None, id="rules", soft_wrap=True, tab_behavior="focus"
                )
                yield Label("", id="error-rules", classes="field-error")
            yield Label("", id="editor-status")
            with Horizontal(id="editor-buttons"):
                yield Button("Apply", variant="primary", id="apply", disabled=True)
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#error-rules").display = False
        for f in self.query(DimensionField):
            f.check()
        self.validate()
        if self.focus_name is not None:
            self.call_after_refresh(self.focus_dimension, self.focus_name)

    def focus_dimension(self, name: str) -> bool:
        """Focus the first field shown of dimension `name` (its low bound or its choices)."""
        for f in self.query(DimensionField):
            if f.dim_name == name:
                inputs = [i for i in f.query(Input) if i.display]
                if inputs:
                    inputs[0].focus()
                    f.scroll_visible(animate=False)
                    return True
        return False

    @on(DimensionField.Changed)
    def _dim_changed(self) -> None:
        self.validate()

    @on(TextArea.Changed, "#rules")
    def _rules_changed(self) -> None:
        self.validate()

    def changes(self) -> dict[str, Any]:
        return {f.dim_name: f.spec() for f in self.query(DimensionField) if f.changed}

    def validate(self) -> bool:
        """Check everything; enable Apply only when valid and changed. Returns validity."""
        fields = list(self.query(DimensionField))
        errors = [f.error for f in fields if f.error]
        changes: dict[str, Any] = {}
        if not errors:
            changes = self.changes()
            if changes:
                try:
                    self.space.edited(changes)  # the engine's own check of the whole edit
                except SpaceError as exc:
                    errors.append(str(exc))
        text = self.query_one("#rules", TextArea).text
        try:
            data = json.loads(text)
            check_rules(parse_rules(data, self.space.names), self.space)
            self.rules, self.rules_error = data, ""
        except json.JSONDecodeError as exc:
            self.rules, self.rules_error = None, f"not valid JSON: {exc}"
        except SpaceError as exc:
            self.rules, self.rules_error = None, str(exc)
        err = self.query_one("#error-rules", Label)
        err.update(self.rules_error)
        err.display = bool(self.rules_error)
        rules_changed = self.rules is not None and self.rules != self.rules_data
        ok = not errors and not self.rules_error
        status = self.query_one("#editor-status", Label)
        if not ok:
            n = len(errors) + bool(self.rules_error)
            status.update(f"{n} problem(s): fix them to apply")
        elif not changes and not rules_changed:
            status.update("no changes yet")
        else:
            what = ", ".join(changes) + (" and rules" if rules_changed else "")
            status.update(f"will change: {what.strip(', ')}")
        status.set_class(not ok, "-invalid")
        self.query_one("#apply", Button).disabled = not ok or not (changes or rules_changed)
        return ok

    def commands(self) -> Commands:
        out: Commands = []
        changes = self.changes()
        if changes:
            out.append((contract.EDIT_SPACE, contract.space_edit(changes, "ui")))
        if self.rules is not None and self.rules != self.rules_data:
            out.append((contract.EDIT_RULES, contract.rules_edit(self.rules, "ui")))
        return out

    def action_apply(self) -> None:
        if self.query_one("#apply", Button).disabled or not self.validate():
            self.notify("nothing to apply, or the edit is invalid", severity="warning")
            return
        self.dismiss(self.commands())

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#apply")
    def _apply_pressed(self) -> None:
        self.action_apply()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()


def _rules_text(rules: list[dict[str, Any]]) -> str:
    """One rule a line: short enough to edit at 80 columns."""
    if not rules:
        return "[]"
    return "[\n" + ",\n".join("  " + json.dumps(r) for r in rules) + "\n]"
