"""A run's editable settings, each versioned in the store: the search space, the pruning
rules (penalties) and the learning-curve pruner. Loaded when the engine starts, changed by
the edit commands (engine.commands), read when a trial is launched or asks for a verdict."""

from __future__ import annotations

from typing import Any

from engine.config import EngineError
from engine.pruners import (
    REFERENCE_STATUSES,
    Curve,
    Decision,
    PrunerSettings,
    decide,
    decision_epochs,
)
from engine.reward import Rule, parse_rules
from engine.rulecheck import check_rules
from engine.space import SearchSpace, SpaceError
from storage import contract
from storage.store import RunStore, Store

# Executors whose workers wait for the engine's verdict after an epoch (the local pool's
# processes, Ray's tasks): trials can be stopped there.
PRUNING_EXECUTORS = ("local", "ray")


class RunSettings:
    def __init__(self, store: Store | RunStore, run_id: int | None = None) -> None:
        self.rs = RunStore.of(store, run_id)
        self.store, self.run_id = self.rs.store, self.rs.run_id
        self.space_version = 0
        self.space: SearchSpace | None = None
        self.rules: list[Rule] = []
        self.pruner = PrunerSettings()

    def load(self, pruner: str | dict, executor: str) -> None:
        """The latest space, rules and pruner of the run (`pruner`, the run configuration's,
        becomes version 1 when the run has none yet)."""
        row = self.rs.current_space()
        assert row is not None
        self.space_version = row["version"]
        self.space = SearchSpace.from_dict(row["space"])
        self.rules = parse_rules(row["rules"], self.space.names)
        self._drop_unusable_rules()
        self._load_pruner(pruner, executor)

    def _drop_unusable_rules(self) -> None:
        """Rules an older version accepted that cannot be used (an order comparison on a
        category, a huge penalty) killed the run at every launch; go back to the latest rules
        that can be, as a new space version, so the run carries on and says so."""
        assert self.space is not None
        try:
            check_rules(self.rules, self.space)
            return
        except SpaceError as exc:
            why = str(exc)
        fallback: list[dict[str, Any]] = []
        source = "no rules"
        for v in reversed(self.rs.space_versions()):
            try:
                check_rules(parse_rules(v["rules"], self.space.names), self.space)
            except SpaceError:
                continue
            fallback, source = v["rules"], f"the rules of version {v['version']}"
            break
        change = f"rules of version {self.space_version} cannot be used ({why}); {source} restored"
        self.space_version = self.rs.add_space_version(
            self.space.to_dict(), fallback, change, "engine"
        )
        self.rules = parse_rules(fallback, self.space.names)
        self.rs.log(change, "warning")

    def _load_pruner(self, initial: str | dict, executor: str) -> None:
        row = self.rs.current_pruner()
        try:
            if row is not None:
                self.pruner = PrunerSettings.from_dict(row["settings"])
            else:
                self.pruner = PrunerSettings.from_dict(initial)
                self.rs.add_pruner_version(self.pruner.to_dict(), self.pruner.describe(), "engine")
        except SpaceError as exc:
            raise EngineError(f"run {self.run_id}: unusable pruner settings: {exc}") from None
        self.rs.log(f"pruner: {self.pruner.describe()}")
        if self.pruner.kind != "none" and executor not in PRUNING_EXECUTORS:
            self.rs.log(
                f"the {executor} executor cannot stop a trial after an epoch: "
                "every trial runs to the end (no pruning)",
                "warning",
            )

    # --- edits ----------------------------------------------------------------------------
    def edit(self, kind: str, payload: dict[str, Any]) -> str:
        """A space, rules or pruner edit as a new version; SpaceError refuses it unchanged."""
        if kind == contract.EDIT_PRUNER:
            return self._edit_pruner(payload)
        assert self.space is not None
        if kind == contract.EDIT_SPACE:
            if "space" in payload:
                new_space = SearchSpace.from_dict(payload["space"], like=self.space)
            else:
                new_space = self.space.edited(payload.get("changes", {}))
            rules, change = self.rules, self.space.describe_change(new_space)
            if new_space == self.space:
                raise SpaceError("the edit changes nothing")
        else:
            rules = parse_rules(payload.get("rules"), self.space.names)
            check_rules(rules, self.space)  # the UI sends edits too: the engine is the last gate
            new_space = self.space
            change = "pruning rules: " + "; ".join(r.describe() for r in rules)
        version = self.rs.add_space_version(
            new_space.to_dict(),
            [r.to_dict() for r in rules],
            change,
            payload.get("source", "user"),
        )
        self.space_version, self.space, self.rules = version, new_space, rules
        return f"space version {version}: {change}"

    def _edit_pruner(self, payload: dict[str, Any]) -> str:
        """A new pruner settings version, for trials started from now on."""
        settings = PrunerSettings.from_dict(payload.get("pruner"))
        if settings == self.pruner:
            raise SpaceError("the edit changes nothing")
        version = self.rs.add_pruner_version(
            settings.to_dict(), settings.describe(), payload.get("source", "user")
        )
        self.pruner = settings
        return f"pruner version {version}: {settings.describe()} (for trials started from now)"

    # --- learning-curve pruning (engine.pruners) ----------------------------------------------
    def verdict_epochs(self, epochs: int) -> tuple[int, ...]:
        """Epochs after which a search trial of `epochs` waits for a verdict."""
        return decision_epochs(self.pruner, epochs)

    def decide(self, trial_id: int, epoch: int) -> Decision | None:
        """Stop trial_id after `epoch`? Judged against the run's search curves."""
        curves: dict[int, Curve] = {}
        for tid, status, e, acc in self.rs.search_curves(REFERENCE_STATUSES):
            c = curves.setdefault(tid, Curve(status, {}))
            if acc is not None:
                c.acc[e] = acc  # type: ignore[index]
        return decide(self.pruner, trial_id, epoch, curves)
