"""What a run is asked to do (RunConfig, stored with the run) and the error that ends one
(EngineError). A leaf: the command line, the lock and the settings import it without the
engine's heavier parts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storage.contract import BUILTIN_OBJECTIVE


class EngineError(RuntimeError):
    """The run cannot go on; the message says why."""


@dataclass
class RunConfig:
    strategy: str = "bayes-ppo"
    profile: str = "quick"
    data: str = "auto"
    workers: int | None = None
    threads: int | None = None
    precision: str | None = None
    seed: int = 42
    final_validation: bool = True
    profile_reason: str = ""
    executor: str = "local"  # local process pool, or "ray"
    ray_address: str | None = None  # None: start a local Ray instance
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    trial_retries: int = 1  # Ray: a trial whose worker or node is lost runs again
    bayes_async: bool = False  # Bayes asks whenever a worker frees (busy, not reproducible)
    # The run ends `failed` after this many search trials fail in a row (None: 2 x workers).
    max_consecutive_failures: int | None = None
    # A trial running longer than this many seconds is killed and fails (None: automatic,
    # 10 x the median seconds per epoch so far times its epochs, never under TIMEOUT_FLOOR_S),
    # counted from when its worker started it (engine.trials: a worker's start-up is not).
    trial_timeout: float | None = None
    # Learning-curve pruning (engine.pruners): none, median or asha with default settings, or
    # a PrunerSettings dict; the engine then versions it in the store (editable mid-run).
    pruner: str | dict = "none"
    # What is tuned (engine.objective): a built-in name, path/to/file.py[:attr] or module:attr,
    # and its metric as declared (name, direction, bounds), stored so that the UI and the
    # command line word it without importing the user's code.
    objective: str = BUILTIN_OBJECTIVE
    metric: dict[str, Any] | None = None
