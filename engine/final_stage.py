"""Final validation as a stage of the run (SPEC §6): the trainings it still needs, as a
strategy for the trial loop, and its summary once they are done (engine.final's numbers)."""

from __future__ import annotations

from typing import Any

from engine.choice import choose
from engine.final import default_summary, final_summary, format_final
from engine.profiles import Profile
from engine.space import DEFAULT_CONFIG, SearchSpace
from engine.strategies.final import ROLES, FinalValidation
from storage import contract
from storage.store import Store


def final_stage(
    store: Store, run_id: int, space: SearchSpace, profile: Profile
) -> FinalValidation | None:
    """The final validation still to run (its trainings done before a stop are not run
    again); None when no search trial finished."""
    choice = choose(t for t in store.trials(run_id) if t["phase"] != contract.FINAL_PHASE)
    if choice is None:
        store.log(run_id, "no finished trial: no final validation", "warning")
        return None
    best = {"number": choice.best.trial, "config": choice.best.config, "n": choice.best.n}
    repeats = profile.final_repeats
    store.update_run(run_id, phase=contract.FINAL_PHASE)
    # The default chosen: nothing to compare it with, it is trained once per repeat.
    roles = ("default",) if choice.default_is_best else ROLES
    store.log(
        run_id,
        f"final validation: best (trial {best['number']}, mean of {choice.best.n} "
        "measurements) and default, "
        + (f"{repeats} trainings each, " if repeats > 1 else "")
        + f"up to {profile.final_epochs} epochs each (early stopping)",
    )
    return FinalValidation(
        space,
        best,
        DEFAULT_CONFIG,
        profile.final_epochs,
        repeats=repeats,
        done=final_trainings(store, run_id).keys(),
        roles=roles,
    )


def record_final(store: Store, run_id: int, stage: FinalValidation, profile: Profile) -> None:
    """The summary of the pairs trained (best and default under one seed), stored and logged."""
    done = final_trainings(store, run_id)
    if stage.roles == ("default",):
        alone = [done["default", r] for r in range(stage.repeats) if ("default", r) in done]
        if alone:
            summary = default_summary(alone, profile.final_epochs, stage.best.get("n", 1))
            store.update_run(run_id, final=summary)
            store.log(run_id, format_final(summary))
        return
    pairs = [
        (done["best", r], done["default", r])
        for r in range(stage.repeats)
        if ("best", r) in done and ("default", r) in done
    ]
    if not pairs:
        return
    summary = final_summary(stage.best, pairs, profile.final_epochs)
    store.update_run(run_id, final=summary)
    store.log(run_id, format_final(summary))


def final_trainings(store: Store, run_id: int) -> dict[tuple[str, int], dict[str, Any]]:
    """The finished final-validation trials by (role, repeat)."""
    return {
        (t["extra"].get("role"), int(t["extra"].get("repeat", 0))): t
        for t in store.trials(run_id, phase=contract.FINAL_PHASE, status=contract.FINISHED)
    }
