"""A run in words: what the header, the panes, the headless view, the report and the command
line say about a run, made in one place.

Pure functions of the store's rows (plain dicts), no widgets, as Harlequin keeps its core free
of them: a widget lays these words out and colours them, and never takes a wording from another
widget. Where a line is coloured, it comes as (text, style) segments, the style a Rich style
name (a plain string), for `rich.text.Text.assemble`.

The reward and score formulas shown to users are written from engine.reward's own constants and
functions, read at each call, never typed out: change the weights there and every text follows
(tests/test_view.py computes scores by the text and compares them with engine.reward).

Light imports only (no numpy, no Textual, no TensorFlow): `hptui show` and `hptui runs` use it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len, set_cell_size

from engine import reward
from engine.final import format_final, time_saving, verdict
from engine.metric import MAXIMIZE, Metric
from storage.contract import (
    ACTIVE_RUN_STATUSES,
    BUILTIN_OBJECTIVE,
    CANCELLED,
    CONFIRM_PHASE,
    DATA_PHASE,
    DONE_PHASE,
    DONE_TRIAL_STATUSES,
    FAILED,
    FINAL_FAILED,
    FINAL_PARTIAL,
    FINAL_PHASE,
    INTERRUPTED,
    PARAM_NAMES,
    PPO_PHASE,
    SEARCH_PHASE,
    STARTING_PHASE,
    WARMUP_PHASE,
    final_status,
    is_search_phase,
)
from storage.limits import SHOWN, clip

Row = Mapping[str, Any]  # a row of the store (a run, a trial), as storage.store returns it
Terms = tuple[float, float, float]  # the reward's terms, as engine.reward.reward_terms
Segments = list[tuple[str, str]]  # (text, Rich style)

# --- numbers ----------------------------------------------------------------------------------


def fmt(value: float | None, spec: str) -> str:
    """A number in a format spec (".4f", "g", ...); '-' when unknown."""
    return "-" if value is None else format(value, spec)


def fmt_s(seconds: float | None) -> str:
    """Seconds as m:ss or h:mm:ss; '-' when unknown."""
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def cut(text: str, width: int) -> str:
    """`text` in at most `width` terminal cells (wide characters count two), ending in `…`
    when cut."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    return set_cell_size(text, width - 1).rstrip() + "…"


# --- the run's metric -------------------------------------------------------------------------

# The built-in objective's metric, and anything else that is a plain accuracy: it keeps the
# words hptui always used ("val acc", "test acc", `100·α·acc`).
ACCURACY = Metric()


def run_metric(run: Row | None) -> Metric:
    """The metric a run was created with (its config's `metric`); a run stored before
    objectives had one tuned the LSTM's validation accuracy."""
    cfg = (run or {}).get("config")
    data = cfg.get("metric") if isinstance(cfg, Mapping) else None
    try:
        metric = Metric.from_dict(data if isinstance(data, Mapping) else None)
    except (KeyError, TypeError, ValueError):
        return ACCURACY
    lo, hi = metric.bounds
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        return ACCURACY
    return metric


@dataclass(frozen=True)
class MetricWords:
    """How the panes, the headless view and the command line name a run's metric and show
    its values. The store holds utilities (`val_accuracy`, `test_accuracy`, estimates: higher
    is better); what is shown is the metric itself (`Metric.value`), under its own name. An
    accuracy keeps hptui's own words."""

    metric: Metric = ACCURACY

    @property
    def is_accuracy(self) -> bool:
        return self.metric == ACCURACY

    @property
    def name(self) -> str:
        return clip(self.metric.name, 60)

    @property
    def short(self) -> str:
        """`val acc`, or the metric's name: beside a value, a column's header."""
        return "val acc" if self.is_accuracy else self.name

    @property
    def long(self) -> str:
        """`val accuracy`, or the metric's name: a plot's title."""
        return "val accuracy" if self.is_accuracy else self.name

    @property
    def est(self) -> str:
        """The GP's estimate of it: `est acc`, `est val_loss`."""
        return "est acc" if self.is_accuracy else f"est {self.name}"

    @property
    def test(self) -> str:
        """Measured on the test set: `test acc`, `test val_loss`."""
        return "test acc" if self.is_accuracy else f"test {self.name}"

    @property
    def symbol(self) -> str:
        """What the reward's formulas call it: `acc`, or `u` (the metric's utility)."""
        return "acc" if self.is_accuracy else "u"

    @property
    def top(self) -> str:
        """The best of a column of values: `top val acc` (the highest), `best val_loss`."""
        return "top val acc" if self.is_accuracy else f"best {self.name}"

    @property
    def higher_is_better(self) -> bool:
        return self.metric.direction == MAXIMIZE

    @property
    def span(self) -> float:
        """One unit of utility in the metric's units."""
        lo, hi = self.metric.bounds
        return hi - lo

    @property
    def spec(self) -> str:
        """The format of a value: 4 decimals for an accuracy (or a metric of about its
        size), fewer the larger the bounds, so every value shows 4 or 5 digits."""
        return ".4f" if self.is_accuracy else self.metric.value_format()

    def value(self, utility: float | None) -> float | None:
        """The metric of a stored utility (None when unknown)."""
        if utility is None:
            return None
        return float(utility) if self.is_accuracy else self.metric.value(float(utility))

    def num(self, value: float | None, spec: str | None = None) -> str:
        """A value of the metric (not a utility) as shown; '-' when unknown."""
        if value is None:
            return "-"
        return format(value + 0.0, spec or self.spec)  # + 0.0: never -0.0000

    def fmt(self, utility: float | None, spec: str | None = None) -> str:
        """A stored utility shown as the metric: `0.7345`, `0.3120`; '-' when unknown."""
        return self.num(self.value(utility), spec)

    def width(self) -> int:
        """The cells a value takes (a sign included), at the bounds."""
        return max(len(self.num(b)) for b in self.metric.bounds) + 1

    def direction_text(self) -> str:
        """`val_loss (minimize, bounds 0..2)`: the metric as declared."""
        lo, hi = self.metric.bounds
        bounds = "" if (lo, hi) == (0.0, 1.0) else f", bounds {lo:g}..{hi:g}"
        return f"{self.name} ({self.metric.direction}{bounds})"

    def utility_text(self) -> str:
        """What `u` is in the formulas, for a metric that is not an accuracy."""
        if self.is_accuracy:
            return ""
        lo, hi = self.metric.bounds
        if self.higher_is_better:
            scaled = f"(v − {lo:g}) / ({hi:g} − {lo:g})"
        else:
            scaled = f"({hi:g} − v) / ({hi:g} − {lo:g})"
        return f"u = the utility of {self.name} v: {scaled}, 1 at its best bound, 0 at its worst"


ACCURACY_WORDS = MetricWords()


def metric_words(run: Row | None) -> MetricWords:
    """The words of a run's metric (the accuracy's for a run without one)."""
    metric = run_metric(run)
    return ACCURACY_WORDS if metric == ACCURACY else MetricWords(metric)


# --- the run's objective and space --------------------------------------------------------------


def objective_spec(run: Row | None) -> str:
    """What a run tunes, as stored: a built-in's name, a file's path or module:attr."""
    cfg = (run or {}).get("config")
    spec = cfg.get("objective") if isinstance(cfg, Mapping) else None
    return str(spec) if spec else BUILTIN_OBJECTIVE


def objective_label(spec: str) -> str:
    """The objective in a few words: a built-in's name, a file's name (`obj.py`,
    `obj.py:other`), module:attr."""
    head, sep, attr = spec.rpartition(":")
    if not sep or not attr.isidentifier():
        head, attr = spec, ""
    if "/" in head:
        head = head.rsplit("/", 1)[1]
    return clip(head + (f":{attr}" if attr and attr != "objective" else ""), 60)


def objective_text(run: Row | None) -> str:
    """`objective: digits; metric val_accuracy (maximize)`: what a run tunes and measures."""
    return f"objective: {clip(objective_spec(run))}; metric {metric_words(run).direction_text()}"


def is_lstm_space(names: Iterable[Any]) -> bool:
    """Whether a space (or its names) is the built-in LSTM's: its panes keep their words."""
    return set(names) == set(PARAM_NAMES)


def param_text(value: Any, dim: Mapping[str, Any] | None = None) -> str:
    """A hyperparameter's value as shown, by its dimension's kind (`dim`: its JSON form, as
    stored with the space): log-scaled reals at 3 significant digits in scientific notation
    (`1.00e-03`), other reals at 3 significant digits, whole numbers whole, categories as
    themselves; '-' when unknown."""
    if value is None:
        return "-"
    if isinstance(value, float):
        kind = dim.get("type") if isinstance(dim, Mapping) else None
        if kind == "real" and dim.get("log"):  # type: ignore[union-attr]
            return f"{value:.2e}"
        if kind == "integer" and value.is_integer():
            return str(int(value))
        return f"{value:.3g}"
    return str(value)


def config_text(config: Mapping[str, Any] | None, space: Mapping[str, Any] | None = None) -> str:
    """A configuration on one line, `lr=1.00e-03 · hidden=187 · activation=relu`, in the
    space's order (`space`: the space's JSON form; values by their dimension's kind)."""
    if not config:
        return ""
    space = space if isinstance(space, Mapping) else {}
    names = [n for n in space if n in config] + [n for n in config if n not in space]
    return " · ".join(f"{n}={param_text(config[n], space.get(n))}" for n in names)


# --- which trials count -----------------------------------------------------------------------


def is_search_trial(t: Row) -> bool:
    """A trial of the search: not of the stages after it (confirmation, final validation),
    which train chosen configurations again and are never counted, scored or pruned as
    search trials."""
    return is_search_phase(t.get("phase"))


def is_plotted_trial(t: Row) -> bool:
    """A trial the accuracy plot draws: the search's, and the confirmation stage's (its
    repeated measurements of the top candidates, after a boundary of their own)."""
    return is_search_trial(t) or t.get("phase") == CONFIRM_PHASE


def done_trials(progress: Row) -> int:
    """Search trials done (finished, failed or pruned), from the engine's progress."""
    return sum(int(progress.get(status) or 0) for status in DONE_TRIAL_STATUSES)


def trials_done_text(progress: Row) -> str:
    """`7/40`: search trials done of planned ('?' before the strategy planned them)."""
    return f"{done_trials(progress)}/{progress.get('planned', '?')}"


# --- phase and time ---------------------------------------------------------------------------

PHASE_WORDS = {
    STARTING_PHASE: "starting",
    DATA_PHASE: "preparing data",
    WARMUP_PHASE: "warm-up",
    PPO_PHASE: "PPO",
    SEARCH_PHASE: "search",
    CONFIRM_PHASE: "confirmation",
    FINAL_PHASE: "final validation",
    DONE_PHASE: "done",
}


def phase_word(phase: str | None) -> str:
    """A phase's name as users read it (`warmup` -> `warm-up`)."""
    return PHASE_WORDS.get(phase or STARTING_PHASE, str(phase))


def phase_text(run: Row) -> str:
    """Where the run is: `warm-up 3/16`, `PPO epoch 2/4 (trajectory length 2)`,
    `search 7/40`, `final validation`, ...; a failed or cancelled run says so instead."""
    p = run.get("progress") or {}
    phase, status = run.get("phase"), run.get("status")
    if status in (FAILED, CANCELLED, INTERRUPTED):
        return str(status)
    if phase == WARMUP_PHASE:
        return f"{phase_word(phase)} {p.get('warmup_done', 0)}/{p.get('warmup_total', '?')}"
    if phase == PPO_PHASE:
        return (
            f"PPO epoch {p.get('ppo_epoch', '?')}/{p.get('ppo_epochs', '?')}"
            f" (trajectory length {p.get('traj_len', '?')})"
        )
    if phase == SEARCH_PHASE:
        return f"{phase_word(phase)} {trials_done_text(p)}"
    return phase_word(phase)


def elapsed_s(run: Row, now: float) -> float | None:
    """Wall time since the run started, until it ended. From the stored start, never the
    engine's own clock (which a resume restarts): it never goes backwards."""
    start = run.get("started_at") or run.get("created_at")
    if start is None:
        return None
    end = run.get("finished_at") if run.get("status") not in ACTIVE_RUN_STATUSES else None
    return max(0.0, (end or now) - start)


def remaining_s(run: Row, now: float, alive: bool) -> float | None:
    """The engine's estimate of the time left (engine.eta), carried on from its heartbeat to
    `now` while an engine runs the run (`alive`); None before a trial has finished."""
    eta = (run.get("progress") or {}).get("eta_s")
    beat = run.get("heartbeat")
    if eta is not None and alive and beat and run.get("status") in ACTIVE_RUN_STATUSES:
        eta = max(0.0, eta - max(0.0, now - beat))
    return eta


# --- the best trial and what "best" means --------------------------------------------------


def best_text(best: Row, words: MetricWords = ACCURACY_WORDS) -> str:
    """`#9 score 61.20 (val acc 0.7540)`, `#9 score 61.20 (val_loss 0.3120)`: the best trial
    as the store ranks it, with its measured metric."""
    s = f"#{best['number']}"
    if best.get("score") is not None:
        s += f" score {best['score']:.2f}"
    if best.get("val_accuracy") is not None:
        s += f" ({words.short} {words.fmt(best['val_accuracy'])})"
    return s


def verdict_of(final: Row) -> str:
    """The run's verdict in words (engine.final.verdict), also for a summary stored before
    verdicts were."""
    if final.get("verdict"):
        return str(final["verdict"])
    gain = final["best_test_accuracy"] - final["default_test_accuracy"]
    saving = time_saving(final["best_seconds"], final["default_seconds"])
    return verdict(gain, final.get("gain_interval"), saving, final.get("time_saving_interval"))


def result_text(final: Row, words: MetricWords = ACCURACY_WORDS) -> str:
    """The end-of-run result in one line that fits 80 columns: the verdict, and the chosen
    configuration against the default on the test set with the gain's interval in points
    (means of the final validation's repeated trainings, where it repeats; for a metric
    that is not an accuracy, the difference in its own units); or, where final validation
    failed, that it did and why."""
    if final_status(final) == FINAL_FAILED:
        return final_failed_text(final)
    if final.get("default_is_best"):
        return verdict_of(final)  # no gain of the default against itself
    b, d = final["best_test_accuracy"], final["default_test_accuracy"]
    h = final.get("gain_interval")
    no_test = final.get("measured_on") == "validation"
    if words.is_accuracy:
        interval = f" ± {100 * h:.1f}" if h is not None else ""
        text = (
            f"{'val (no test set)' if no_test else 'test'}: #{final['best_trial']} {b:.3f} vs "
            f"default {d:.3f}: {100 * (b - d):+.1f}{interval} pts, {verdict_of(final)}"
        )
    else:
        vb, vd = words.value(b), words.value(d)
        assert vb is not None and vd is not None
        interval = f" ± {words.num(h * words.span)}" if h is not None else ""
        text = (
            f"{'val (no test set)' if no_test else words.test}: #{final['best_trial']} "
            f"{words.num(vb)} vs default {words.num(vd)}: "
            f"{words.num(vb - vd, '+' + words.spec)}{interval}, {verdict_of(final)}"
        )
    return text + (f"; {final_partial_text(final)}" if final_status(final) == FINAL_PARTIAL else "")


def final_failed_text(final: Row, limit: int = SHOWN) -> str:
    """`final validation failed: trial 9 (best configuration) failed: ...`: no pair of
    trainings finished, so the run has no result."""
    return f"final validation failed: {clip(final.get('reason') or 'no training finished', limit)}"


def final_partial_text(final: Row, limit: int = SHOWN) -> str:
    """`1 of 3 pairs did not finish: ...`: the result is the mean of the pairs that did."""
    planned = final.get("planned_repeats") or final.get("repeats") or 1
    missing = planned - (final.get("repeats") or 0)
    return f"{missing} of {planned} pairs did not finish: {clip(final.get('reason'), limit)}"


def resume_final_text(run: Row) -> str:
    """What `hptui resume` does with a finished run whose final validation failed."""
    final = run.get("final") or {}
    what = (
        final_failed_text(final)
        if final_status(final) == FINAL_FAILED
        else f"final validation is incomplete: {final_partial_text(final)}"
    )
    return (
        f"run {run['id']} is finished, but {what}. Resuming it trains the final "
        "validation's missing trainings again (the search is not run again)"
    )


def choice_text(chosen: Row, default: Row | None, words: MetricWords = ACCURACY_WORDS) -> str:
    """The configuration the run recommends (engine.choice), from its repeated measurements:
    `chosen: trial 12, mean val acc 0.7810 of 3 measurements (default 0.7650 of 3)`."""
    text = (
        f"chosen: trial {chosen['trial']}, mean {words.short} {words.fmt(chosen['accuracy'])} "
        f"of {chosen['n']} measurements"
    )
    if chosen.get("is_default"):
        return text + " (the default configuration)"
    if default is not None:
        text += f" (default {words.fmt(default['accuracy'])} of {default['n']})"
    return text


def final_text(
    final: Row, words: MetricWords = ACCURACY_WORDS, *, with_verdict: bool = True
) -> str:
    """The final validation's summary in words (engine.final.format_final), in the metric's
    own units; `with_verdict=False` where the verdict gets a line of its own."""
    metric = None if words.is_accuracy else words.metric
    return format_final(dict(final), metric, with_verdict=with_verdict)


def _n(x: float) -> str:
    """A constant of the formula: 60, 0.04 (`g` drops float noise such as 60.00000000000001)."""
    return f"{x:g}"


def reward_term_names(words: MetricWords = ACCURACY_WORDS) -> tuple[str, str, str]:
    """The reward's terms as written: (`100·α·acc`, `−0.1·β·T`, `−P`); `u` for the utility
    of a metric that is not an accuracy."""
    return f"{_n(reward.ACC_SCALE)}·α·{words.symbol}", f"−{_n(reward.TIME_SCALE)}·β·T", "−P"


def reward_formula(words: MetricWords = ACCURACY_WORDS) -> str:
    """`r = 100·α·acc − 0.1·β·T − P`: each trial's reward, under its own moment's weights."""
    return f"r = {_n(reward.ACC_SCALE)}·α·{words.symbol} − {_n(reward.TIME_SCALE)}·β·T − P"


def weights_text() -> str:
    """How α and β move over a run: `α 0.9 → 0.6, β 0.1 → 0.4`."""
    a0, b0 = reward.adaptive_weights(0.0)
    a1, b1 = reward.adaptive_weights(1.0)
    return f"α {_n(a0)} → {_n(a1)}, β {_n(b0)} → {_n(b1)}"


def score_formula(words: MetricWords = ACCURACY_WORDS) -> str:
    """`score = 60·acc − 0.04·T − P`: the reward under the run's final weights, the same for
    every trial (engine.reward.score)."""
    alpha, beta = reward.adaptive_weights(reward.RANKING_PROGRESS)
    return (
        f"score = {_n(reward.ACC_SCALE * alpha)}·{words.symbol} − "
        f"{_n(reward.TIME_SCALE * beta)}·T − P"
    )


def ranking_text(words: MetricWords = ACCURACY_WORDS) -> str:
    """What the score is, beside a trial's score."""
    return (
        f"{score_formula(words)}: the reward under one set of weights for every trial; "
        "it ranks them"
    )


def best_meaning(words: MetricWords = ACCURACY_WORDS) -> str:
    """What "best" means, wherever a best trial is printed (`hptui show`, `runs`, `export`)."""
    utility = f"; {words.utility_text()}" if not words.is_accuracy else ""
    return (
        "best = highest score (the reward under the run's final weights: "
        f"{score_formula(words)}, T the trial's seconds, P its penalty{utility}); after the "
        "confirmation stage, chosen = the highest mean score of repeated measurements; "
        f"{words.est} = a GP's estimate over the run's trials, for information"
    )


# --- a trial's reward in parts ------------------------------------------------------------------


def reward_parts(t: Row) -> Terms | None:
    """The reward's terms of a search trial with a reward, by engine.reward's formula; None
    for the others (final validation has no reward)."""
    acc, sec, a, b = t.get("val_accuracy"), t.get("seconds"), t.get("alpha"), t.get("beta")
    if t.get("reward") is None or acc is None or sec is None or a is None or b is None:
        return None
    return reward.reward_terms(acc, sec, float(t.get("penalty") or 0.0), a, b)


def told_reward_parts(t: Row) -> tuple[Terms, bool] | None:
    """(terms, failed): the reward a PPO step was told. A failed step is told as accuracy 0
    and 0 seconds. None while the step runs or when α/β are unknown."""
    terms = reward_parts(t)
    if terms is not None:
        return terms, False
    a, b = t.get("alpha"), t.get("beta")
    if t.get("status") == FAILED and a is not None and b is not None:
        return reward.reward_terms(0.0, 0.0, float(t.get("penalty") or 0.0), a, b), True
    return None


def reward_segments(terms: Terms, total: float, words: MetricWords = ACCURACY_WORDS) -> Segments:
    """`59.37 (100·α·acc) -0.25 (−0.1·β·T) -5.00 (−P) = 54.12`, each term in its colour."""
    names = reward_term_names(words)
    # + 0.0: a zero term prints as 0.00, never -0.00
    acc_term, time_term, pen_term = (x + 0.0 for x in terms)
    return [
        (f"{acc_term:.2f}", "green"),
        (f" ({names[0]}) ", ""),
        (f"{time_term:+.2f}", "yellow"),
        (f" ({names[1]}) ", ""),
        (f"{pen_term:+.2f}", "red" if pen_term else "dim"),
        (f" ({names[2]})", ""),
        (f" = {total:.2f}", "bold"),
    ]


def data_text(run: Row) -> str:
    """Where the run's reviews came from, and why (stored text, cut to a printable length)."""
    if not run.get("data_source"):
        return "data: not prepared yet"
    return f"data: {clip(run['data_source'])} ({clip(run['data_reason'])})"


def device_text(run: Row) -> str:
    """Where the run's trainers ran; a run that ended before a worker was ready has none."""
    if not run.get("device"):
        return "device: not reached (no worker started)"
    if not run.get("precision"):  # a plain objective trains as it likes
        return f"device: {clip(run['device'])}"
    return f"device: {clip(run['device'])}, precision {clip(run['precision'])}"
