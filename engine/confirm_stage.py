"""The confirmation stage of a run: after the search, before the test set is touched, the
search's top candidates and the default configuration are trained again under new seeds at
the search's fidelity, so that the choice (engine.choice) ranks configurations by repeated
measurements instead of the luckiest single one (the winner's curse)."""

from __future__ import annotations

from engine.choice import candidates, run_default
from engine.profiles import Profile
from engine.space import SearchSpace
from engine.strategies.confirm import Confirmation
from storage import contract
from storage.store import RunStore


def confirm_stage(
    rs: RunStore, space: SearchSpace, profile: Profile, strategy: str
) -> Confirmation | None:
    """The confirmation still to run (trainings finished before a stop or a kill are not run
    again); None when the profile has none or no search trial finished."""
    if profile.confirm_candidates <= 0 or profile.confirm_repeats <= 0:
        return None
    search = [t for t in rs.trials() if contract.is_search_phase(t["phase"])]
    # The search is over: its trials, and so the candidates, are the same on every resume.
    default = run_default(rs.store, rs.run_id)
    top = candidates(search, profile.confirm_candidates, default)
    if not top and not any(t["status"] == contract.FINISHED for t in search):
        rs.log("no finished trial: no confirmation", "warning")
        return None
    finished = rs.trials(phase=contract.CONFIRM_PHASE, status=contract.FINISHED)
    epochs = profile.trial_epochs(strategy)
    rs.update_run(phase=contract.CONFIRM_PHASE)
    r, keep = profile.confirm_repeats, min(profile.confirm_keep, len(top))
    then = f"; then the best {keep} of them and the default, {r} more each" if keep else ""
    rs.log(
        f"confirmation: the search's top {len(top)} and the default configuration, {r} more "
        f"training{'s' if r > 1 else ''} each at {epochs} epochs (new seeds){then}",
    )
    return Confirmation(
        space, top, default, epochs, r, keep=keep, measured=[*search, *finished],
        done={t["extra"].get("key") for t in finished},
    )  # fmt: skip
