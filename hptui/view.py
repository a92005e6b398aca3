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

from collections.abc import Mapping
from typing import Any

from engine import reward
from engine.final import time_saving, verdict
from storage.contract import (
    ACTIVE_RUN_STATUSES,
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


def best_text(best: Row) -> str:
    """`#9 score 61.20 (val acc 0.7540)`: the best trial as the store ranks it."""
    s = f"#{best['number']}"
    if best.get("score") is not None:
        s += f" score {best['score']:.2f}"
    if best.get("val_accuracy") is not None:
        s += f" (val acc {best['val_accuracy']:.4f})"
    return s


def verdict_of(final: Row) -> str:
    """The run's verdict in words (engine.final.verdict), also for a summary stored before
    verdicts were."""
    if final.get("verdict"):
        return str(final["verdict"])
    gain = final["best_test_accuracy"] - final["default_test_accuracy"]
    saving = time_saving(final["best_seconds"], final["default_seconds"])
    return verdict(gain, final.get("gain_interval"), saving)


def result_text(final: Row) -> str:
    """The end-of-run result in one line that fits 80 columns: the verdict, and the chosen
    configuration against the default on the test set with the gain's interval in points
    (means of the final validation's repeated trainings, where it repeats); or, where final
    validation failed, that it did and why."""
    if final_status(final) == FINAL_FAILED:
        return final_failed_text(final)
    if final.get("default_is_best"):
        return verdict_of(final)  # no gain of the default against itself
    b, d = final["best_test_accuracy"], final["default_test_accuracy"]
    h = final.get("gain_interval")
    interval = f" ± {100 * h:.1f}" if h is not None else ""
    on = "val (no test set)" if final.get("measured_on") == "validation" else "test"
    text = (
        f"{on}: #{final['best_trial']} {b:.3f} vs default {d:.3f}: "
        f"{100 * (b - d):+.1f}{interval} pts, {verdict_of(final)}"
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


def choice_text(chosen: Row, default: Row | None) -> str:
    """The configuration the run recommends (engine.choice), from its repeated measurements:
    `chosen: trial 12, mean val acc 0.7810 of 3 measurements (default 0.7650 of 3)`."""
    text = (
        f"chosen: trial {chosen['trial']}, mean val acc {chosen['accuracy']:.4f} of "
        f"{chosen['n']} measurements"
    )
    if chosen.get("is_default"):
        return text + " (the default configuration)"
    if default is not None:
        text += f" (default {default['accuracy']:.4f} of {default['n']})"
    return text


def _n(x: float) -> str:
    """A constant of the formula: 60, 0.04 (`g` drops float noise such as 60.00000000000001)."""
    return f"{x:g}"


def reward_term_names() -> tuple[str, str, str]:
    """The reward's terms as written: (`100·α·acc`, `−0.1·β·T`, `−P`)."""
    return f"{_n(reward.ACC_SCALE)}·α·acc", f"−{_n(reward.TIME_SCALE)}·β·T", "−P"


def reward_formula() -> str:
    """`r = 100·α·acc − 0.1·β·T − P`: each trial's reward, under its own moment's weights."""
    return f"r = {_n(reward.ACC_SCALE)}·α·acc − {_n(reward.TIME_SCALE)}·β·T − P"


def weights_text() -> str:
    """How α and β move over a run: `α 0.9 → 0.6, β 0.1 → 0.4`."""
    a0, b0 = reward.adaptive_weights(0.0)
    a1, b1 = reward.adaptive_weights(1.0)
    return f"α {_n(a0)} → {_n(a1)}, β {_n(b0)} → {_n(b1)}"


def score_formula() -> str:
    """`score = 60·acc − 0.04·T − P`: the reward under the run's final weights, the same for
    every trial (engine.reward.score)."""
    alpha, beta = reward.adaptive_weights(reward.RANKING_PROGRESS)
    return f"score = {_n(reward.ACC_SCALE * alpha)}·acc − {_n(reward.TIME_SCALE * beta)}·T − P"


def ranking_text() -> str:
    """What the score is, beside a trial's score."""
    return f"{score_formula()}: the reward under one set of weights for every trial; it ranks them"


def best_meaning() -> str:
    """What "best" means, wherever a best trial is printed (`hptui show`, `runs`, `export`)."""
    return (
        "best = highest score (the reward under the run's final weights: "
        f"{score_formula()}, T the trial's seconds, P its penalty); after the confirmation "
        "stage, chosen = the highest mean score of repeated measurements; "
        "est acc = a GP's estimate over the run's trials, for information"
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


def reward_segments(terms: Terms, total: float) -> Segments:
    """`59.37 (100·α·acc) -0.25 (−0.1·β·T) -5.00 (−P) = 54.12`, each term in its colour."""
    names = reward_term_names()
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
    return f"device: {clip(run['device'])}, precision {clip(run['precision'])}"
