"""The header's numbers, stored with each heartbeat (storage.contract.ENGINE_PROGRESS_KEYS
and the strategy's own): counts, the plan, the workers and the remaining time."""

from __future__ import annotations

from typing import Any

from engine.config import RunConfig
from engine.eta import FINAL_TRIALS, EtaInputs, remaining_seconds
from engine.profiles import Profile
from storage.store import RunStore


def run_progress(
    rs: RunStore,
    cfg: RunConfig,
    profile: Profile,
    numbers: tuple[int, dict[str, Any]] | None,
    *,
    running: int,
    workers: int,
    pruner: str,
) -> dict[str, Any]:
    """The progress of the run `rs` binds; `numbers` are the strategy's planned trials and own
    progress (engine.persistence.StrategyKeeper.numbers), None before it is built."""
    c = rs.progress_counts()
    planned = numbers[0] if numbers is not None else 0
    eta = remaining_seconds(
        EtaInputs.of(
            c,
            planned_trials=planned,
            planned_epochs=profile.epochs_for(cfg.strategy),
            max_epochs=profile.trial_epochs(cfg.strategy),
            workers=workers,
            final_epochs=profile.final_epochs if cfg.final_validation else 0,
            final_trials=FINAL_TRIALS * profile.final_repeats,
            confirm_epochs=profile.confirm_epochs(cfg.strategy),
        )
    )
    out = {
        "finished": c["finished"],
        "failed": c["failed"],
        "pruned": c["pruned"],
        "pruner": pruner,
        "planned": planned,
        "running": running,
        "workers": workers,
        "eta_s": eta,
    }
    if numbers is not None:
        out.update(numbers[1])
    return out
