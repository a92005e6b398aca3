"""Pruning penalties: each rule of the current space version, how often it fired and what it
cost, the penalties of recent trials, and the reward weights now."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.text import Text

from engine.reward import describe_when
from hptui.view import ACCURACY_WORDS, MetricWords, is_search_trial, reward_formula
from hptui.widgets.fitted_static import FittedStatic


def rule_stats(
    trials: list[dict[str, Any]], rules_by_version: dict[int, dict[str, float]]
) -> tuple[dict[str, int], dict[str, float]]:
    """Firings and total penalty per rule over search trials. A rule's cost in a trial is its
    penalty in the space version the trial was drawn under (rules can be edited)."""
    counts: dict[str, int] = {}
    totals: dict[str, float] = {}
    for t in filter(is_search_trial, trials):
        fired = t.get("rules_fired") or []
        for name in fired:
            counts[name] = counts.get(name, 0) + 1
            pen = rules_by_version.get(t.get("space_version") or 0, {}).get(name)
            if pen is None:  # rule unknown in that version: split the trial's total evenly
                pen = (t.get("penalty") or 0.0) / len(fired)
            totals[name] = totals.get(name, 0.0) + pen
    return counts, totals


def rule_stats_of_firings(
    firings: list[dict[str, Any]], rules_by_version: dict[int, dict[str, float]]
) -> tuple[dict[str, int], dict[str, float]]:
    """`rule_stats` from the store's aggregate (`Store.rule_firings`): a long run's counts
    without holding its trials."""
    counts: dict[str, int] = {}
    totals: dict[str, float] = {}
    for row in firings:
        name = str(row["rule"])
        counts[name] = counts.get(name, 0) + int(row["fired"])
        pen = rules_by_version.get(row["version"] or 0, {}).get(name)
        cost = row["fired"] * pen if pen is not None else float(row["even_share"] or 0.0)
        totals[name] = totals.get(name, 0.0) + cost
    return counts, totals


class PenaltyPane(FittedStatic):
    """Rules table, recent penalties and α/β; `counts` and `totals` hold the numbers shown."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("no pruning rules yet", **kwargs)
        self.counts: dict[str, int] = {}
        self.totals: dict[str, float] = {}
        self.alpha: float | None = None
        self.beta: float | None = None
        self._key: Any = None
        self.text = ""
        self.words: MetricWords = ACCURACY_WORDS  # the run's metric: the formula's words

    def show(
        self,
        rules: list[dict[str, Any]],
        trials: list[dict[str, Any]],
        rules_by_version: dict[int, dict[str, float]],
        firings: list[dict[str, Any]] | None = None,
    ) -> None:
        """`trials` ordered by number; `rules` those of the current space version. With
        `firings` (the store's counts over the whole run: the app holds a window of trials)
        the rules' counts come from them, else from `trials`."""
        if firings is None:
            counts, totals = rule_stats(trials, rules_by_version)
        else:
            counts, totals = rule_stats_of_firings(firings, rules_by_version)
        search = [t for t in trials if is_search_trial(t)]
        latest = search[-1] if search else None
        recent = [(t["number"], t.get("penalty") or 0.0) for t in search[-8:]]
        alpha = latest.get("alpha") if latest else None
        beta = latest.get("beta") if latest else None
        key = (repr(rules), counts, totals, recent, alpha, beta, self.words)
        if key == self._key:
            return
        self._key = key
        self.counts, self.totals, self.alpha, self.beta = counts, totals, alpha, beta

        # one rule = a stats line and a dim condition line: readable from 30 columns up
        body = Text()
        names = [r["name"] for r in rules]
        for r in rules:
            n = r["name"]
            fired = counts.get(n, 0)
            body.append(n, style="bold yellow" if fired else "bold")
            body.append(
                f"  −{r.get('penalty', 0):g}  fired {fired}  total {totals.get(n, 0.0):g}\n"
            )
            body.append(f"  if {describe_when(r.get('when', {}))}\n", style="dim")
        for n in sorted(set(counts) - set(names)):  # rules since removed by an edit
            body.append(
                f"{n}  (no longer a rule)  fired {counts[n]}  total {totals[n]:g}\n", style="dim"
            )
        if not rules and not counts:
            body.append("no pruning rules\n", style="dim")
        foot = Text()
        foot.append("recent: ")
        if recent:
            for num, pen in recent:
                foot.append(f"#{num} ")
                foot.append(f"{pen:g}  ", style="yellow" if pen else "dim")
        else:
            foot.append("-")
        foot.append("\n")
        if alpha is not None and beta is not None:
            foot.append(f"α {alpha:.2f}  β {beta:.2f}", style="bold")
            foot.append(f"  ({reward_formula(self.words)})", style="dim")
        self.text = body.plain + foot.plain
        self.show_content(Group(body, foot))  # a layout pass only when the height changes
