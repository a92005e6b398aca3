"""A run's set-up: its configuration, data, strategy (new, or restored from its saved state),
executor, log file and trial seeds."""

from __future__ import annotations

import os
import sys
import zlib
from dataclasses import asdict
from pathlib import Path

from engine.config import EngineError, RunConfig
from engine.data import DataRef, prepare_data
from engine.device import default_workers, gpu_names
from engine.executor import Executor, LocalPoolExecutor, WorkerSettings
from engine.objective import Objective, ObjectiveError, load_objective
from engine.profiles import PROFILES, Profile
from engine.space import SearchSpace
from engine.strategies.base import Strategy
from engine.strategies.bayes import BayesSearch
from engine.strategies.bayes_ppo import BayesPPO
from engine.strategies.grid import GridSearch
from engine.strategies.random_search import RandomSearch
from storage import contract
from storage.contract import STRATEGIES
from storage.store import RunStore, Store


def build_strategy(cfg: RunConfig, profile: Profile, space: SearchSpace, workers: int) -> Strategy:
    p = profile
    if cfg.strategy == "random":
        return RandomSearch(space, p.search_trials, p.search_epochs, cfg.seed)
    if cfg.strategy == "grid":
        return GridSearch(space, p.search_trials, p.search_epochs, cfg.seed)
    if cfg.strategy == "bayes":
        return BayesSearch(
            space,
            p.search_trials,
            max(2, p.search_trials // 4),
            p.search_epochs,
            cfg.seed,
            batch=workers,
            asynchronous=cfg.bayes_async,
            initial=[space.default_config()],
        )
    if cfg.strategy == "bayes-ppo":
        warmup = BayesSearch(
            space,
            p.warmup_calls,
            p.warmup_initial,
            p.warmup_epochs,
            cfg.seed,
            batch=workers,
            phase=contract.WARMUP_PHASE,
            early_stopping=True,  # as PPO steps; no effect on a 1-epoch warm-up
            asynchronous=cfg.bayes_async,
            initial=[space.default_config()],
        )
        return BayesPPO(space, warmup, p.ppo, cfg.seed)
    raise EngineError(f"unknown strategy {cfg.strategy!r} (known: {', '.join(STRATEGIES)})")


def run_objective(cfg: RunConfig) -> Objective:
    """The objective a run tunes, imported and checked (EngineError says what is wrong)."""
    try:
        return load_objective(cfg.objective)
    except ObjectiveError as exc:
        raise EngineError(str(exc)) from None


def create_run(store: Store, cfg: RunConfig, objective: Objective | None = None) -> int:
    """A new run row with space version 1 (the objective's space, defaults and rules); the
    engine fills in the rest when it starts."""
    objective = objective or run_objective(cfg)
    cfg.metric = objective.metric_info().to_dict()
    if cfg.strategy not in STRATEGIES:
        raise EngineError(f"unknown strategy {cfg.strategy!r} (known: {', '.join(STRATEGIES)})")
    if cfg.profile not in PROFILES:
        raise EngineError(f"unknown profile {cfg.profile!r} (known: {', '.join(PROFILES)})")
    orphans = store.orphan_strategy_states()
    if orphans:
        # Only a damaged or hand-made store has state for runs it does not hold; a row planted
        # for the next run id would otherwise be loaded by this run's engine.
        raise EngineError(
            f"{store.path} holds saved strategy state for run(s) "
            f"{', '.join(map(str, orphans))} that it has no record of (a damaged or tampered "
            "store); refusing to start a run in it"
        )
    workers = cfg.workers or default_workers(len(gpu_names()))
    run_id = store.create_run(
        status=contract.RUNNING,
        phase="starting",
        strategy=cfg.strategy,
        profile=cfg.profile,
        seed=cfg.seed,
        workers=workers,
        config=asdict(cfg),
    )
    store.add_space_version(
        run_id,
        objective.search_space().to_dict(),
        [dict(r) for r in objective.rules],
        "initial space",
        "engine",
    )
    store.log(
        run_id,
        f"run {run_id} created: objective {objective.name or cfg.objective}, strategy "
        f"{cfg.strategy}, profile {cfg.profile}, {workers} workers, seed {cfg.seed}",
    )
    if cfg.profile_reason:
        store.log(run_id, cfg.profile_reason)
    return run_id


def make_executor(cfg: RunConfig, workers: int, settings: WorkerSettings) -> Executor:
    if cfg.executor == "local":
        return LocalPoolExecutor(workers, settings)
    if cfg.executor == "ray":
        try:
            from engine.ray_executor import RayExecutor
        except ImportError as exc:
            raise EngineError(
                f"the Ray executor needs Ray: pip install 'hptui[ray]' ({exc})"
            ) from None
        return RayExecutor(
            workers,
            settings,
            address=cfg.ray_address,
            cpus_per_trial=cfg.cpus_per_trial,
            gpus_per_trial=cfg.gpus_per_trial,
            retries=cfg.trial_retries,
        )
    raise EngineError(f"unknown executor {cfg.executor!r} (known: local, ray)")


def log_path_for(db_path: str | Path, run_id: int) -> Path:
    p = Path(db_path)
    d = p.parent / f"{p.name}.logs"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"run-{run_id}.log"


def trial_seed(run_seed: int, key: str) -> int:
    """A trial's training seed, from the run seed and the proposal's key (not its number,
    which depends on the order trials finish in)."""
    return zlib.crc32(f"{run_seed}:{key}".encode()) % (2**31 - 1)


def import_tensorflow_quietly(log_path: str) -> None:
    """Import TensorFlow for the PPO agent with its C++ start-up chatter (CUDA probing,
    oneDNN notes) sent to the run's log, not over the terminal. The agent's small networks
    run on the CPU: the GPUs are left to the trainers."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    try:
        import tensorflow as tf

        try:
            tf.config.set_visible_devices([], "GPU")
        except RuntimeError:  # already initialised in this process
            pass
        tf.config.list_logical_devices()
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)


def prepare_run_data(rs: RunStore, cfg: RunConfig, profile: Profile) -> DataRef | None:
    """The run's data, ready for the workers; where it came from is stored and logged.
    A user's objective loads its own data in each worker (None here)."""
    if cfg.objective != contract.BUILTIN_OBJECTIVE:
        rs.update_run(
            data_source="objective", data_location=cfg.objective,
            data_reason="the objective loads its own data",
        )  # fmt: skip
        return None
    rs.log(f"preparing data ({cfg.data}) ...")
    ref = prepare_data(cfg.data, profile.data)
    rs.update_run(data_source=ref.source, data_location=ref.location, data_reason=ref.reason)
    rs.log(
        f"data: {ref.source} ({ref.n_train} train / {ref.n_val} val / "
        f"{ref.n_test} test, {ref.max_len} tokens): {ref.reason}",
    )
    return ref
