"""What an engine checks before it changes anything in a run it is about to carry on, and
what `hptui resume` checks before it starts one: the run is not over (a user's cancel), its
saved strategy state is ours, and its data source is still there."""

from __future__ import annotations

from typing import Any

from engine.config import EngineError, RunConfig
from engine.data import missing_source
from engine.persistence import StrategyKeeper
from storage.contract import ACTIVE_RUN_STATUSES, BUILTIN_OBJECTIVE
from storage.store import Store


def cancelled_text(run_id: int) -> str:
    return (
        f"run {run_id} was cancelled (hptui cancel): it is over and is not resumed; "
        "start a new one with hptui run"
    )


def resume_problem(run: dict[str, Any], cfg: RunConfig) -> str | None:
    """Why the run cannot be carried on now (None: it can), in words for the user."""
    rid = run["id"]
    if run["status"] == "cancelled":
        return cancelled_text(rid)
    missing = missing_source(cfg.data) if cfg.objective == BUILTIN_OBJECTIVE else None
    missing = missing or missing_objective(cfg.objective)
    if missing:
        return (
            f"run {rid} cannot be resumed now: {missing}. Put it back, then "
            f"`hptui resume {rid}` carries on where the run stopped"
        )
    return None


def missing_objective(spec: str) -> str | None:
    """What is gone of a run's objective file (None: nothing, or not a file)."""
    from engine.objective import objective_file

    named = objective_file(spec)
    if named is None or named[0].is_file():
        return None
    return f"its objective file {named[0]} is gone"


def check_startable(
    store: Store, run_id: int, cfg: RunConfig, keeper: StrategyKeeper
) -> dict[str, Any] | None:
    """The run's saved strategy state, once the run is known to be startable; EngineError
    otherwise. A run whose data is gone is left `interrupted`, its running trials too, so
    it shows as resumable, not as running or failed."""
    run = store.run(run_id)
    assert run is not None
    problem = resume_problem(run, cfg)
    if problem is None:
        return keeper.read_saved()
    if run["status"] != "cancelled":
        store.mark_running_interrupted(run_id)
        if run["status"] in ACTIVE_RUN_STATUSES:
            store.update_run(run_id, status="interrupted", error=problem)
        store.log(run_id, problem, "error")
    raise EngineError(problem)
