"""The proposer: what the PPO policy believes and why it proposed a step.

Three parts, all read from rows the engine already stored:
- the policy's mean and spread per hyperparameter over the last PPO epochs, in the space's own
  units (the mean over an epoch's steps of the policy mean it sampled from, mapped through the
  space, and the range mean ± one standard deviation mapped the same way);
- the latest policy update's statistics (KL, clip fraction, entropy, mean std, losses);
- one PPO step: the state it started from and the action it took (both decoded), how the
  action was chosen (the GP screening: EI, the GP's estimate against the incumbent), and the
  reward's parts.

Decoding uses the engine's space mappings, the reward's parts engine.reward's formula through
hptui.view (numpy only: the UI never imports TensorFlow or scikit-optimize).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from engine.space import REWARD_SCALE, Real, SearchSpace, SpaceError
from hptui.view import (
    ACCURACY_WORDS,
    MetricWords,
    Terms,
    fmt,
    reward_segments,
    told_reward_parts,
)
from storage.contract import PPO_PHASE

MAX_EPOCH_COLUMNS = 8
WIDE, SIDE = 140, 62  # from WIDE columns on, the text goes beside the table, in SIDE columns


def fmt_value(space: SearchSpace | None, name: str, v: Any, digits: int = 2) -> str:
    """A hyperparameter's value as the pane shows it: log-scaled reals in scientific
    notation with `digits` decimals (3: a proposal's 4 significant digits), other reals at 3
    significant digits, whole numbers and categories as themselves."""
    if isinstance(v, str):
        return v
    if isinstance(v, float):
        dim = _dim(space, name)
        if isinstance(dim, Real) and dim.log:
            return f"{v:.{digits}e}"
        return f"{v:.3g}"
    return str(v)


def _dim(space: SearchSpace | None, name: str) -> Any:
    if space is None:
        return None
    try:
        return space[name]
    except KeyError:
        return None


def decode(space: SearchSpace, vec: Sequence[float]) -> dict[str, Any]:
    """Action coordinates in [-1, 1] -> a configuration in the space's units."""
    return space.from_action(np.clip(np.asarray(vec[: len(space.dims)], float), -1.0, 1.0))


def ppo_steps(trials: Mapping[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """The PPO trials, by number."""
    return sorted(
        (t for t in trials.values() if t.get("phase") == PPO_PHASE), key=lambda t: t["number"]
    )


Belief = dict[str, tuple[Any, Any, Any]]  # per hyperparameter: (mean, low, high)


def epoch_belief(ts: list[dict[str, Any]], space: SearchSpace) -> Belief | None:
    """One PPO epoch's belief: the average policy mean of its steps (action coordinates)
    mapped through `space`, low and high that mean minus and plus the average policy std;
    None when a step's vectors are too short for the space."""
    n = len(space.dims)
    means = [t["extra"]["screen"]["policy_mean"] for t in ts]
    if any(len(m) < n for m in means):
        return None
    mean = np.mean([m[:n] for m in means], axis=0)
    stds = [t["extra"]["screen"].get("policy_std") for t in ts]
    std = (
        np.mean([s[:n] for s in stds], axis=0)
        if all(s is not None and len(s) >= n for s in stds)
        else np.zeros(n)
    )
    mid, lo, hi = decode(space, mean), decode(space, mean - std), decode(space, mean + std)
    return {name: (mid[name], lo[name], hi[name]) for name in space.names}


class BeliefCache:
    """Each PPO epoch's belief, worked out again only when its steps or its space changed:
    a run of 2,000 PPO epochs recomputed them all (0.8 s) on every new trial. `computed`
    counts the epochs worked out."""

    def __init__(self) -> None:
        self.by_epoch: dict[int, tuple[tuple[Any, ...], Belief | None]] = {}
        self.computed = 0

    def get(self, epoch: int, ts: list[dict[str, Any]], space: SearchSpace) -> Belief | None:
        # a step's policy mean and std are written with the step and never change: the
        # steps' ids and the space say whether the epoch's belief can have changed
        signature = (tuple(t["id"] for t in ts), id(space))
        found = self.by_epoch.get(epoch)
        if found is None or found[0] != signature:
            self.computed += 1
            found = (signature, epoch_belief(ts, space))
            self.by_epoch[epoch] = found
        return found[1]

    def forget_except(self, epochs: set[int]) -> None:
        """Epochs whose steps the window let go are not kept either."""
        for epoch in [e for e in self.by_epoch if e not in epochs]:
            del self.by_epoch[epoch]


def epoch_beliefs(
    steps: list[dict[str, Any]], space_of: Any, cache: BeliefCache | None = None
) -> dict[int, Belief]:
    """Per PPO epoch, per hyperparameter: (mean, low, high) in the space's units. The mean is
    the epoch's average policy mean (action coordinates) mapped through the space of the
    epoch's last step; low and high are that mean minus and plus the average policy std.
    With a `cache`, only the epochs whose steps changed are worked out."""
    cache = cache if cache is not None else BeliefCache()
    by_epoch: dict[int, list[dict[str, Any]]] = {}
    for t in steps:
        screen = (t.get("extra") or {}).get("screen") or {}
        if t.get("ppo_epoch") is not None and screen.get("policy_mean") is not None:
            by_epoch.setdefault(int(t["ppo_epoch"]), []).append(t)
    cache.forget_except(set(by_epoch))
    out: dict[int, Belief] = {}
    for epoch, ts in sorted(by_epoch.items()):
        space = space_of(ts[-1])
        if space is None:
            continue
        belief = cache.get(epoch, ts, space)
        if belief is not None:
            out[epoch] = belief
    return out


class ProposerPane(VerticalScroll, can_focus=True):
    """The proposer view. `show` takes the app's trials, PPO updates and space versions; the
    numbers shown are kept in `beliefs`, `step`, `state_cfg`, `action_cfg`, `terms`, `last_update`
    and `text` (plain text)."""

    BINDINGS = [
        Binding("left,comma", "step(-1)", "prev step", show=False),
        Binding("right,full_stop", "step(1)", "next step", show=False),
        Binding("home", "first_step", "first step", show=False),
        Binding("end", "follow", "follow", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.body = Static("no PPO step yet", id="proposer-body")
        self.trials: Mapping[int, dict[str, Any]] = {}
        self.updates: list[dict[str, Any]] = []
        self.versions: Mapping[int, dict[str, Any]] = {}
        self.selected: int | None = None
        self.pinned: int | None = None  # a step picked with the arrows; None: follow the table
        self._spaces: dict[int, tuple[Any, SearchSpace | None]] = {}
        self.steps: list[dict[str, Any]] = []
        self.beliefs: dict[int, Belief] = {}
        self.belief_cache = BeliefCache()
        self.step: dict[str, Any] | None = None
        self.state_cfg: dict[str, Any] | None = None
        self.prev_reward: float | None = None
        self.action_cfg: dict[str, Any] | None = None
        self.terms: tuple[Terms, float, bool] | None = None  # (terms, total, failed)
        self.last_update: dict[str, Any] | None = None
        self.words: MetricWords = ACCURACY_WORDS  # the run's metric (the GP's numbers)
        self.text = ""
        self.notes = ""  # the lines below (or beside) the table alone, as plain text
        self._width = 0
        self._dirty = False

    def compose(self) -> Any:
        yield self.body

    def on_resize(self) -> None:
        if self.size.width != self._width:
            self._width = self.size.width
            self._redraw()

    def on_show(self) -> None:
        if self._dirty:
            self._redraw()

    # --- data -----------------------------------------------------------------------------
    def show(
        self,
        trials: Mapping[int, dict[str, Any]],
        updates: list[dict[str, Any]],
        versions: Mapping[int, dict[str, Any]],
        selected: int | None,
    ) -> None:
        """New data, or a new trial selected in the trials table (a PPO one is then shown)."""
        if selected != self.selected:
            self.pinned = None  # a new selection in the table wins over the arrows
        self.trials, self.updates, self.versions, self.selected = (
            trials,
            updates,
            versions,
            selected,
        )
        if self.display and self.region.area:
            self._redraw()
        else:  # hidden (another tab, or the log in the bottom row): drawn once shown
            self._dirty = True

    def space_of(self, t: dict[str, Any]) -> SearchSpace | None:
        """The space a trial was drawn under (actions map onto its ranges)."""
        v = t.get("space_version")
        row = self.versions.get(v) if v is not None else None
        if row is None and self.versions:
            row = self.versions[max(self.versions)]
        if row is None:
            return None
        cached = self._spaces.get(row["version"])
        if cached is None or cached[0] is not row["space"]:
            try:
                space: SearchSpace | None = SearchSpace.from_dict(row["space"])
            except SpaceError:
                space = None
            cached = (row["space"], space)
            self._spaces[row["version"]] = cached
        return cached[1]

    def current_step(self) -> dict[str, Any] | None:
        """The pinned step, else the PPO trial selected in the table, else the latest."""
        if self.pinned is not None and self.pinned in self.trials:
            return self.trials[self.pinned]
        sel = self.trials.get(self.selected) if self.selected is not None else None
        if sel is not None and sel.get("phase") == PPO_PHASE:
            return sel
        return self.steps[-1] if self.steps else None

    # --- keys -----------------------------------------------------------------------------
    def action_step(self, delta: int) -> None:
        if not self.steps:
            return
        cur = self.current_step()
        ids = [t["id"] for t in self.steps]
        i = ids.index(cur["id"]) if cur is not None and cur["id"] in ids else len(ids) - 1
        self.pinned = ids[max(0, min(len(ids) - 1, i + delta))]
        self._redraw()

    def action_first_step(self) -> None:
        if self.steps:
            self.pinned = self.steps[0]["id"]
            self._redraw()

    def action_follow(self) -> None:
        self.pinned = None
        self._redraw()

    # --- drawing ----------------------------------------------------------------------------
    def _redraw(self) -> None:
        self._dirty = False
        self.steps = ppo_steps(self.trials)
        self.beliefs = epoch_beliefs(self.steps, self.space_of, self.belief_cache)
        self.last_update = self.updates[-1] if self.updates else None
        t = self.step = self.current_step()
        self.state_cfg = self.action_cfg = self.prev_reward = self.terms = None
        space = self.space_of(t) if t is not None else None
        extra = (t.get("extra") or {}) if t is not None else {}
        if space is not None:
            n = len(space.dims)
            state, action = extra.get("state"), extra.get("action")
            if state is not None and len(state) >= n:
                self.state_cfg = decode(space, state)
                if len(state) > n:
                    self.prev_reward = float(state[n]) * REWARD_SCALE
            if action is not None and len(action) >= n:
                self.action_cfg = decode(space, action)
        told = told_reward_parts(t) if t is not None else None
        if told is not None:
            self.terms = (told[0], sum(told[0]), told[1])
        body = self._renderable(t, space, extra)
        self.body.update(body)
        self.text = _plain(body, self.scrollable_content_region.width or 74)

    def _renderable(
        self, t: dict[str, Any] | None, space: SearchSpace | None, extra: dict[str, Any]
    ) -> RenderableType:
        if t is None and not self.beliefs and self.last_update is None:
            return Text("no PPO step yet: the policy proposes after the warm-up", style="dim")
        head = Text()
        if t is not None:
            i = next((k for k, s in enumerate(self.steps) if s["id"] == t["id"]), 0)
            head.append(f"step #{t['number']}", style="bold")
            head.append(
                f" ({i + 1}/{len(self.steps)}) · PPO ep {t.get('ppo_epoch')}"
                f" traj {t.get('trajectory')} step {t.get('step')} · {t.get('status')}"
            )
            if self.pinned is not None:
                how = "picked ←/→ End"
            elif self.selected is not None and t["id"] == self.selected:
                how = "selected ←/→"
            else:
                how = "latest ←/→"
            head.append(f" · {how}", style="dim")
        lines: list[RenderableType] = []
        if t is not None:
            lines.append(self._chosen(t, extra))
            lines.append(self._reward_line(t, extra))
        lines.append(self._update_line())
        width = self.scrollable_content_region.width or 74
        self.notes = _plain(Group(*lines), width - SIDE if width >= WIDE else width)
        if width >= WIDE:  # the table, and beside it why the step was chosen and its reward
            side = Table.grid(padding=(0, 3))
            side.add_column(no_wrap=True)
            side.add_column(ratio=1)
            side.add_row(self._table(space, width - SIDE), Group(*lines))
            return Group(head, side)
        return Group(head, self._table(space, width), *lines)

    def _table(self, space: SearchSpace | None, width: int) -> Table:
        """Rows: the hyperparameters; columns: the policy mean of the last epochs, the spread
        of the latest, and the step's state and action."""
        space = space or (self.space_of(self.steps[-1]) if self.steps else None)
        names = space.names if space is not None else []
        epochs = sorted(self.beliefs)
        # as many epoch columns as fit: the names (11 or more), range 18, state and action 9,
        # each epoch 8, and 2 between columns
        name_w = max([11, *(cell_len(n) for n in names)])
        fit = max(1, (width - name_w - 42) // 10)
        shown = epochs[-min(fit, MAX_EPOCH_COLUMNS) :]
        tbl = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold")
        tbl.add_column("", style="dim", no_wrap=True)
        for e in shown:
            tbl.add_column(f"μ ep{e}", justify="right", no_wrap=True)
        if shown:
            tbl.add_column(f"ep{shown[-1]} μ±σ", justify="right", no_wrap=True)
        tbl.add_column("state", justify="right", no_wrap=True)
        tbl.add_column("action", justify="right", style="bold", no_wrap=True)
        for name in names:
            row: list[Any] = [Text(name)]
            for e in shown:
                b = self.beliefs[e].get(name)
                row.append("-" if b is None else fmt_value(space, name, b[0]))
            if shown:
                b = self.beliefs[shown[-1]].get(name)
                if b is None:
                    row.append("-")
                else:
                    lo, hi = fmt_value(space, name, b[1]), fmt_value(space, name, b[2])
                    row.append(lo if lo == hi else f"{lo}..{hi}")
            for cfg in (self.state_cfg, self.action_cfg):
                row.append("-" if cfg is None else fmt_value(space, name, cfg[name], 3))
            # names and values as they are: a category such as `[c]` is not markup
            tbl.add_row(*(cell if isinstance(cell, Text) else Text(cell) for cell in row))
        prev = "-" if self.prev_reward is None else f"{self.prev_reward:.2f}"
        tbl.add_row("prev reward", *([""] * (len(shown) + (1 if shown else 0))), prev, "")
        return tbl

    def _chosen(self, t: dict[str, Any], extra: dict[str, Any]) -> Text:
        screen = extra.get("screen")
        line = Text("chosen: ", style="bold")
        if not screen:
            line.append("no screening recorded for this step", style="dim")
        else:
            line.append(str(screen.get("by", "?")))
            if screen.get("from"):
                line.append(f" · from {screen['from']}")
            if screen.get("ei") is not None:
                line.append(f" · EI {screen['ei']:.4f}")
            est, sd, inc = screen.get("est_acc"), screen.get("est_sd"), screen.get("incumbent")
            w = self.words  # the GP models utilities: shown as the metric
            if est is not None:
                line.append(f" · GP {w.fmt(est)}")
                if sd is not None:
                    line.append(f" ± {w.num(sd * w.span)}")
                if inc is not None:
                    diff = (w.value(est) or 0.0) - (w.value(inc) or 0.0)
                    line.append(f" vs incumbent {w.fmt(inc)} ({w.num(diff, '+' + w.spec)})")
        return line

    def _reward_line(self, t: dict[str, Any], extra: dict[str, Any]) -> Text:
        """The reward's parts on one line; α, β, the rules that fired and the critic's
        expectation on the next."""
        if self.terms is None:
            line = Text("reward ", style="bold")
            line.append(f"not yet ({t.get('status')})", style="dim")
        else:
            terms, total, failed = self.terms
            line = Text.assemble(("reward ", "bold"), *reward_segments(terms, total, self.words))
            stored = t.get("reward")
            if failed:
                told = "accuracy 0" if self.words.is_accuracy else "utility 0"
                line.append(f"  failed: told as {told}", style="red")
            elif stored is not None and abs(stored - total) > 5e-3:
                line.append(f"  (stored {stored:.2f})", style="red")
        notes = []
        if t.get("alpha") is not None and t.get("beta") is not None:
            notes.append(f"α {t['alpha']:.2f} β {t['beta']:.2f}")
        fired = t.get("rules_fired") or []
        if fired:
            notes.append(f"P: {', '.join(fired)}")
        if extra.get("value") is not None:
            notes.append(f"critic expected {extra['value']:.2f}")
        if extra.get("logprob") is not None:
            notes.append(f"log-prob {extra['logprob']:.2f}")
        if notes:
            line.append("\n  " + " · ".join(notes), style="dim")
        return line

    def _update_line(self) -> Text:
        u = self.last_update
        line = Text("update ", style="bold")
        if u is None:
            line.append("none yet", style="dim")
            return line
        line.append(f"after ep {u['ppo_epoch']} ({u['n_steps']} steps)")
        line.append(
            f" · KL {fmt(u.get('approx_kl'), '.4f')} · clip {fmt(u.get('clip_fraction'), '.3f')}"
            f" · entropy {fmt(u.get('entropy'), '.3f')} · mean std {fmt(u.get('mean_std'), '.3f')}"
            f" · actor loss {fmt(u.get('actor_loss'), '.4f')}"
            f" · critic loss {fmt(u.get('critic_loss'), '.4f')}"
        )
        return line


def _plain(r: RenderableType, width: int) -> str:
    """Plain text of a renderable at the pane's width, kept for tests and captures."""
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(r)
    return console.export_text()
