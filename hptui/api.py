"""Searches started from Python: `hptui.search(objective, ...)`.

The run is created in the store and run by the same engine as `hptui run`, in a process of
its own (`python -m hptui.cli engine RUN`): the caller waits for it and gets a
`SearchResult`, and meanwhile anyone can watch or steer it as any other run
(`hptui attach RUN --db DB`, `hptui show`, `hptui stop`).

The engine's worker processes import the objective by reference, so an `Objective` object
passed in must be reachable by name: a top-level name in a module or script, found here
(its module's file, or its module's name inside a package, and the name it is bound to).
One defined inside a function, or typed into an interactive session, cannot be; give a
spec string instead ("path/to/file.py[:name]", "module:name" or a built-in name).
"""

from __future__ import annotations

import inspect
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from engine.objective import (
    Metric,
    Objective,
    ObjectiveError,
    importing,
    kind_of,
    load_objective,
    resolve_spec,
)
from storage.contract import ACTIVE_RUN_STATUSES, FINISHED, PROFILE_NAMES, PRUNERS, STRATEGIES

# Waiting on the engine: how often the headless view is redrawn, and how long an
# interrupted engine is given to stop its workers and save the run (it then is resumable).
TICK_S = 0.25
INTERRUPT_WAIT_S = 60.0


@dataclass(frozen=True)
class SearchResult:
    """What a search found. `best_value` is the objective's metric (its own units and
    direction) of `best_config`: the mean of its measurements where the confirmation stage
    measured it again. `status` is the run's: finished, failed, cancelled or interrupted
    (resumable with `hptui resume RUN --db DB`); `error` says why a run did not finish."""

    run_id: int
    db: str
    status: str
    best_config: dict[str, Any] | None
    best_value: float | None
    metric: str
    direction: str
    error: str | None = None
    log: str = field(default="", repr=False)  # the run's log file (engine and workers)

    @property
    def ok(self) -> bool:
        return self.status == FINISHED


def search(
    objective: Objective | str,
    *,
    strategy: str = "bayes-ppo",
    profile: str = "quick",
    db: str | os.PathLike[str] = "hptui.db",
    workers: int | None = None,
    threads: int | None = None,
    seed: int = 42,
    pruner: str = "none",
    trial_timeout: float | None = None,
    final_validation: bool = True,
    headless: bool = True,
    quiet: bool = False,
) -> SearchResult:
    """Search `objective`'s space and wait for the run to end; see the module's text.

    `objective`: an Objective bound to a top-level name of a module or script, or a spec
    string as `hptui run --objective` takes. `headless`: live progress printed here (True),
    or the terminal UI (False; closing it leaves the run going, and this call waits for it).
    `quiet`: nothing printed. Ctrl-C interrupts the run (resumable) and re-raises.
    The other arguments are `hptui run`'s options of the same names.

    Raises ObjectiveError for an objective that cannot be used (nothing is created then),
    ValueError for a bad argument."""
    if importing():
        raise ObjectiveError(
            "hptui.search() was called while hptui imported the objective's file (each "
            'worker imports it): call it under `if __name__ == "__main__":`'
        )
    _check_arguments(strategy, profile, pruner, workers, threads, seed, trial_timeout)
    spec = objective_spec(objective)
    loaded = load_objective(spec)  # as the engine's workers will import it, checked here

    from engine.config import EngineError, RunConfig
    from engine.setup import create_run, log_path_for
    from storage.store import Store

    cfg = RunConfig(
        objective=spec,
        strategy=strategy,
        profile=profile,
        workers=workers,
        threads=threads,
        seed=seed,
        final_validation=final_validation,
        pruner=pruner,
        trial_timeout=trial_timeout,
    )
    db_path = Path(db).expanduser().resolve()
    store = Store(db_path, create=True)
    try:
        run_id = create_run(store, cfg, loaded)
    except EngineError as exc:
        raise ValueError(str(exc)) from None
    finally:
        store.close()
    log = log_path_for(db_path, run_id)
    proc = _start_engine(db_path, run_id, log, spec)
    console = _console(quiet)
    if console is not None:
        console.print(
            f"run {run_id} in {db_path}; watch or steer it with: hptui attach {run_id} "
            f"--db {db_path}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    try:
        _wait(proc, db_path, run_id, console, headless)
    except KeyboardInterrupt:
        _interrupt(proc, run_id, db_path, console)
        raise
    return _result(db_path, run_id, proc.returncode, log, console)


def _check_arguments(
    strategy: str,
    profile: str,
    pruner: str,
    workers: int | None,
    threads: int | None,
    seed: int,
    trial_timeout: float | None,
) -> None:
    for what, value, known in (
        ("strategy", strategy, STRATEGIES),
        ("profile", profile, PROFILE_NAMES),
        ("pruner", pruner, PRUNERS),
    ):
        if value not in known:
            raise ValueError(f"{what} {value!r} is not one of: {', '.join(known)}")
    for what, n in (("workers", workers), ("threads", threads)):
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(f"{what} must be a whole number >= 1 (or None), got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise ValueError(f"seed must be a whole number in [0, 2**31), got {seed!r}")
    if trial_timeout is not None and not (
        isinstance(trial_timeout, int | float) and trial_timeout >= 1.0
    ):
        raise ValueError(
            f"trial_timeout must be at least 1 second (or None), got {trial_timeout!r}"
        )


# --- an Objective object, by reference --------------------------------------------------------


def objective_spec(objective: Objective | str) -> str:
    """The spec the engine's workers import `objective` by: a spec string as it is (a
    file's path made absolute); an Objective, by its module's file (or its dotted name
    inside a package) and the name it is bound to there."""
    if isinstance(objective, str):
        return resolve_spec(objective)
    if not isinstance(objective, Objective):
        raise ObjectiveError(
            f"hptui.search: the objective is {kind_of(objective)}; give an Objective or a spec "
            "('path/to/file.py[:name]', 'module:name' or a built-in name)"
        )
    if objective.source:  # it was loaded by its spec
        return resolve_spec(objective.source)
    for module in _homes(objective):
        names = [n for n, v in vars(module).items() if v is objective]
        if names:
            return _spec_in(module, "objective" if "objective" in names else names[0])
    raise ObjectiveError(
        "hptui.search: this Objective is not bound to a top-level name of a module or script "
        "(one made inside a function, say), and the engine's workers import it by name: "
        "define it at the top of a .py file (objective = Objective(...)) or pass a spec, "
        "'path/to/file.py:name'"
    )


def _homes(objective: Objective) -> Iterator[ModuleType]:
    """Modules that may bind `objective`, likeliest first: those of its functions, then of
    the callers on the stack, then __main__."""
    seen: set[str] = set()
    names = [
        getattr(fn, "__module__", None)
        for fn in (objective.train, objective.build_model, objective.load_data)
    ]
    frame = inspect.currentframe()
    while frame is not None:
        names.append(frame.f_globals.get("__name__"))
        frame = frame.f_back
    names.append("__main__")
    for name in names:
        if name and name not in seen and name != __name__:
            seen.add(name)
            module = sys.modules.get(name)
            if module is not None:
                yield module


def _spec_in(module: ModuleType, name: str) -> str:
    # Inside a package (a script run with `python -m pkg.script` too): by its dotted name,
    # so that its relative imports work in the workers.
    dotted = getattr(module.__spec__, "name", None) if module.__name__ == "__main__" else None
    dotted = dotted or (module.__name__ if module.__name__ != "__main__" else None)
    if dotted and module.__package__:
        return f"{dotted}:{name}"
    try:
        file = inspect.getsourcefile(module)
    except TypeError:
        file = None
    if not file:
        raise ObjectiveError(
            f"hptui.search: the objective {name!r} is defined in {module.__name__}, which has "
            "no file (an interactive session?), and the engine's workers import it from one: "
            "write it in a .py file and import it from there"
        )
    return f"{Path(file).resolve()}:{name}"


# --- the engine, in a process of its own ----------------------------------------------------


def _start_engine(db: Path, run_id: int, log: Path, spec: str) -> subprocess.Popen[bytes]:
    """The engine, as `hptui run` starts it: its own session (a Ctrl-C here is passed on
    by `_interrupt`), its output in the run's log. It finds hptui where this process did,
    and a package's objective ("pkg.module:name") on this process's import path."""
    paths = [str(Path(__file__).resolve().parents[1])]
    module = spec.rpartition(":")[0] if ":" in spec else spec
    if not module.endswith(".py"):
        paths += [p or os.getcwd() for p in sys.path if p == "" or Path(p).is_dir()]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hptui.cli", "engine", str(run_id), "--db", str(db)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,
        )


def _console(quiet: bool) -> Any:
    if quiet:
        return None
    from rich.console import Console

    return Console()


def _wait(
    proc: subprocess.Popen[bytes], db: Path, run_id: int, console: Any, headless: bool
) -> None:
    if console is None:
        proc.wait()
        return
    if not headless:
        try:
            from hptui.app import HptuiApp
        except ImportError as exc:
            raise ValueError(
                f"the terminal UI is not available ({exc}); use headless=True"
            ) from None
        HptuiApp(str(db), run_id).run()
        if proc.poll() is None:
            console.print(
                f"run {run_id} goes on; waiting for it to end (Ctrl-C interrupts it; "
                f"hptui attach {run_id} --db {db} opens the UI again)",
                markup=False,
                highlight=False,
            )
        proc.wait()
        return
    from hptui.headless import HeadlessView

    with HeadlessView(db, run_id, console) as live:
        while proc.poll() is None:
            live.update()
            time.sleep(TICK_S)


def _interrupt(proc: subprocess.Popen[bytes], run_id: int, db: Path, console: Any) -> None:
    """Ctrl-C: the engine stops as on its own Ctrl-C (running trials end interrupted, the
    run is saved and resumable)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=INTERRUPT_WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if console is not None:
        console.print(
            f"run {run_id} interrupted; carry it on with: hptui resume {run_id} --db {db}",
            markup=False,
            highlight=False,
        )


def _result(db: Path, run_id: int, code: int | None, log: Path, console: Any) -> SearchResult:
    from hptui.report import ReportError, export_payload, print_summary
    from storage.store import Store

    store = Store(db, readonly=True)
    try:
        run = store.run(run_id)
        assert run is not None
        metric = Metric.from_dict(run["config"].get("metric"))
        try:
            best: dict[str, Any] | None = export_payload(store, run_id)
        except ReportError:
            best = None  # no finished trial
        if console is not None and run.get("started_at") is not None:
            print_summary(console, store, run)
    finally:
        store.close()
    status, error = run["status"], run.get("error")
    if status in ACTIVE_RUN_STATUSES:  # the engine died before it could say so
        error = f"the engine exited with code {code}: {_last_line(log)}"
    value = None
    if best is not None:
        chosen = best.get("chosen")
        utility = chosen["mean_val_accuracy"] if chosen else best["val_accuracy"]
        value = None if utility is None else metric.value(float(utility))
    return SearchResult(
        run_id=run_id,
        db=str(db),
        status=status,
        best_config=None if best is None else dict(best["hyperparameters"]),
        best_value=value,
        metric=metric.name,
        direction=metric.direction,
        error=error,
        log=str(log),
    )


def _last_line(log: Path) -> str:
    try:
        with open(log, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - 4096))
            lines = fh.read().decode(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    return lines[-1][:300] if lines else f"see {log}"
