"""Final validation as a stage of the run (SPEC §6): the trainings it still needs, as a
strategy for the trial loop, and its summary once they are done (engine.final's numbers)."""

from __future__ import annotations

from typing import Any

from engine.choice import choose, run_default
from engine.final import default_summary, final_summary, format_final
from engine.metric import Metric
from engine.profiles import Profile
from engine.space import SearchSpace
from engine.strategies.final import ROLES, FinalValidation
from storage import contract
from storage.contract import FINAL_DONE, FINAL_FAILED, FINAL_PARTIAL
from storage.limits import MAX_MESSAGE, clip
from storage.store import RunStore


def final_stage(rs: RunStore, space: SearchSpace, profile: Profile) -> FinalValidation | None:
    """The final validation still to run (its trainings done before a stop are not run
    again); None when no search trial finished."""
    default = run_default(rs.store, rs.run_id)
    choice = choose((t for t in rs.trials() if t["phase"] != contract.FINAL_PHASE), default)
    if choice is None:
        rs.log("no finished trial: no final validation", "warning")
        return None
    best = {"number": choice.best.trial, "config": choice.best.config, "n": choice.best.n}
    repeats = profile.final_repeats
    # A record of a failed final validation is cleared while it is tried again (a resume).
    rs.update_run(phase=contract.FINAL_PHASE, final=None)
    # The default chosen: nothing to compare it with, it is trained once per repeat.
    roles = ("default",) if choice.default_is_best else ROLES
    rs.log(
        f"final validation: best (trial {best['number']}, mean of {choice.best.n} "
        "measurements) and default, "
        + (f"{repeats} trainings each, " if repeats > 1 else "")
        + f"up to {profile.final_epochs} epochs each (early stopping)",
    )
    return FinalValidation(
        space,
        best,
        default,
        profile.final_epochs,
        repeats=repeats,
        done=final_trainings(rs).keys(),
        roles=roles,
    )


def run_metric(rs: RunStore) -> Metric:
    """The metric the run was created with (its log lines show its values)."""
    run = rs.run() or {}
    cfg = run.get("config") if isinstance(run.get("config"), dict) else {}
    try:
        return Metric.from_dict(cfg.get("metric"))
    except (KeyError, TypeError, ValueError):
        return Metric()


def record_final(
    rs: RunStore,
    stage: FinalValidation,
    profile: Profile,
    cut_short: str | None = None,
) -> None:
    """Store and log what final validation found: the summary of the pairs trained (best and
    default under one seed); and, where a pair is missing, which trainings failed and why
    (`cut_short`: the stage was stopped or cancelled before it finished), so that a finished
    run never ends with no result and no word about it."""
    done = final_trainings(rs)
    metric = run_metric(rs)
    if stage.roles == ("default",):
        alone = [done["default", r] for r in range(stage.repeats) if ("default", r) in done]
        if alone:
            summary = default_summary(alone, profile.final_epochs, stage.best.get("n", 1))
            rs.update_run(final={**summary, "status": FINAL_DONE})
            rs.log(format_final(summary, metric))
            return
        # none of the default's trainings finished: the failure is recorded below
    pairs = [
        (done["best", r], done["default", r])
        for r in range(stage.repeats)
        if ("best", r) in done and ("default", r) in done
    ]
    failed = missed_trainings(rs, done)
    if len(pairs) == stage.repeats:
        summary = {**final_summary(stage.best, pairs, profile.final_epochs), "status": FINAL_DONE}
        rs.update_run(final=summary)
        rs.log(format_final(summary, metric))
        return
    reason = failure_reason(failed, cut_short)
    record = {"reason": reason, "failed_trials": failed, "planned_repeats": stage.repeats}
    if pairs:
        summary = final_summary(stage.best, pairs, profile.final_epochs)
        rs.update_run(final={**summary, **record, "status": FINAL_PARTIAL})
        rs.log(
            f"{format_final(summary, metric)}; {stage.repeats - len(pairs)} of {stage.repeats} "
            f"pairs of trainings did not finish: {reason}",
            "warning",
        )
        return
    failure = {
        "status": FINAL_FAILED,
        **record,
        "best_trial": stage.best["number"],
        "epochs": profile.final_epochs,
    }
    rs.update_run(final=failure)
    rs.log(f"final validation failed: {reason}", "error")


def missed_trainings(
    rs: RunStore, done: dict[tuple[str, int], dict[str, Any]]
) -> list[dict[str, Any]]:
    """The final-validation trials that ended without a result, for a (role, repeat) that no
    other trial finished (a retry that succeeded makes an earlier failure moot)."""
    out = []
    for t in rs.trials(phase=contract.FINAL_PHASE):
        role, repeat = t["extra"].get("role"), int(t["extra"].get("repeat", 0))
        if t["status"] == contract.FINISHED or (role, repeat) in done:
            continue
        out.append(
            {
                "trial": t["number"],
                "role": role,
                "repeat": repeat + 1,
                "status": t["status"],
                "error": clip(t["error"] or t["status"], MAX_MESSAGE),
            }
        )
    return out


def failure_reason(failed: list[dict[str, Any]], cut_short: str | None) -> str:
    """One line: the trainings that failed (the first two, then how many more), and why the
    stage ended early, where it did."""
    parts = [
        f"trial {f['trial']} ({f['role']} configuration) {f['status']}: {f['error']}"
        for f in failed[:2]
    ]
    if len(failed) > 2:
        parts.append(f"and {len(failed) - 2} more")
    if cut_short:
        parts.append(cut_short)
    return "; ".join(parts) or "no training finished"


def final_trainings(rs: RunStore) -> dict[tuple[str, int], dict[str, Any]]:
    """The finished final-validation trials by (role, repeat)."""
    return {
        (t["extra"].get("role"), int(t["extra"].get("repeat", 0))): t
        for t in rs.trials(phase=contract.FINAL_PHASE, status=contract.FINISHED)
    }
