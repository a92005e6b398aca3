"""The `hptui` command line: start, watch, steer and report runs.

The heavy parts (TensorFlow, the engine, the Textual app) are imported only by the
commands that need them, so `hptui runs` or `hptui show` answer at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hptui.outfile import STDOUT, TargetError, check_target, write_atomically
from hptui.report import (
    ReportError,
    confirmed_choice,
    export_payload,
    print_matters,
    print_summary,
    pruner_settings,
    pruner_text,
    reward_plot,
)
from hptui.view import (
    best_meaning,
    metric_words,
    objective_label,
    objective_spec,
    objective_text,
    param_text,
    resume_final_text,
)
from storage import contract
from storage.contract import (
    ACTIVE_RUN_STATUSES,
    BUILTIN_OBJECTIVE,
    BUILTIN_OBJECTIVES,
    CANCELLED,
    CONFIRM_PHASE,
    DEFAULT_TRAINER,
    DONE_PHASE,
    FINAL_PHASE,
    FINISHED,
    PRECISIONS,
    PROFILE_NAMES,
    PRUNERS,
    RESUMABLE_RUN_STATUSES,
    STRATEGIES,
)
from storage.limits import SHOWN, clip
from storage.schema import SCHEMA_VERSION
from storage.store import (
    Store,
    StoreError,
    StoreNeedsMigration,
    default_db_path,
    disk_full,
    engine_alive,
)

console = Console()
err_console = Console(stderr=True)


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 1, no traceback."""

    exit_code = 1


class UsageError(CliError):
    """A bad argument that only its use reveals (an --objective that does not import or
    is malformed): exit code 2, as for the arguments the parser refuses."""

    exit_code = 2


# --- helpers ----------------------------------------------------------------------------------


def _bounded(kind: type, low: float, high: float, what: str) -> Any:
    """An argparse type: a `kind` number in [low, high], with a message naming the problem."""

    def parse(text: str) -> Any:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if v < low and high >= 2**31 - 1:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {text}")
        if not low <= v <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low}, {high}], got {text}")
        return v

    return parse


_positive_int = _bounded(int, 1, 2**31 - 1, "a whole number")
_seed = _bounded(int, 0, 2**31 - 1, "a whole number")
_count = _bounded(int, 0, 100, "a whole number")
_fraction = _bounded(float, 1e-3, 1024, "a number")


def open_store(path: str | Path, *, readonly: bool, create: bool = False) -> Store:
    """Open a store; only `hptui run` creates one (`create=True`): a command that reads or
    steers a run given a mistyped --db says so instead of leaving an empty store behind."""
    try:
        try:
            return Store(path, readonly=readonly, create=create)
        except StoreNeedsMigration as old:
            # A store from an older hptui: migrate it once (writable), then read it.
            try:
                Store(path, create=False).close()
            except StoreError as exc:
                raise StoreError(f"{old}; migrating it failed: {exc}") from None
            err_console.print(
                f"hptui: {path}: store migrated to schema {SCHEMA_VERSION}",
                markup=False,
                highlight=False,
            )
            return Store(path, readonly=readonly)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:  # a name too long for the file system, a permission, ...
        raise CliError(f"--db {path}: {exc.strerror or exc}") from None


def get_run(
    store: Store, run_id: int, *, intact: bool = False, space: bool = False
) -> dict[str, Any]:
    """The run's row; `intact`: refuse one lacking what reports rely on, `space` too one
    without a search space (what `space` and the engine rely on)."""
    run = store.run(run_id)
    if run is None:
        known = ", ".join(str(r["id"]) for r in store.runs()) or "none"
        raise CliError(f"no run {run_id} in {store.path} (runs: {known})")
    problem = run_damage(store, run, space=space) if intact else None
    if problem:
        raise CliError(
            f"run {run_id} in {store.path} is damaged: {problem}; restore the store from a copy"
        )
    return run


def run_damage(store: Store, run: dict[str, Any], *, space: bool) -> str | None:
    """What a hand-edited or damaged run row lacks (None: nothing)."""
    if not isinstance(run.get("config"), dict):
        return "its configuration (runs.config) is not a JSON object"
    if not isinstance(run.get("started_at"), int | float):
        return "it has no start time (runs.started_at is empty)"
    if space and store.current_space(run["id"]) is None:
        return "it has no search space (no space_versions row)"
    return None


# --- run / resume / engine ------------------------------------------------------------------


def _run_config(args: argparse.Namespace) -> Any:
    from engine.config import RunConfig
    from engine.device import gpu_names

    profile, reason = args.profile, ""
    if profile is None:
        gpus = gpu_names()
        profile = "seed" if gpus else "quick"
        reason = (
            f"profile seed: GPU found ({gpus[0]})"
            if gpus
            else "profile quick: no GPU found, so the small CPU profile (use --profile seed for "
            "the full SPEC budgets)"
        )
    _check_workers(args.workers, args.executor)
    if args.executor == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise CliError(
                "--executor ray needs Ray, which is not installed: pip install 'hptui[ray]'"
            )
    elif args.ray_address or args.gpus_per_trial or args.cpus_per_trial:
        raise CliError("--ray-address, --gpus-per-trial and --cpus-per-trial need --executor ray")
    from engine.objective import resolve_spec

    return RunConfig(
        objective=resolve_spec(args.objective),
        strategy=args.strategy,
        profile=profile,
        data=args.data,
        workers=args.workers,
        threads=args.threads,
        precision=args.precision,
        seed=args.seed,
        final_validation=not args.no_final,
        profile_reason=reason,
        executor=args.executor,
        ray_address=args.ray_address,
        cpus_per_trial=args.cpus_per_trial or 1.0,
        gpus_per_trial=args.gpus_per_trial or 0.0,
        trial_retries=args.retries,
        bayes_async=args.bayes_async,
        max_consecutive_failures=args.max_consecutive_failures,
        trial_timeout=args.trial_timeout,
        pruner=args.pruner,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from engine.config import EngineError

    cfg = _run_config(args)
    objective = _load_objective(cfg.objective)  # refused at once, before the search's imports
    from engine.setup import create_run

    if cfg.objective == BUILTIN_OBJECTIVE:
        _check_data(cfg)
    store = open_store(args.db, readonly=False, create=True)
    try:
        run_id = create_run(store, cfg, objective)
    except EngineError as exc:
        raise CliError(str(exc)) from None
    finally:
        store.close()
    if cfg.profile_reason:
        console.print(f"[yellow]{escape(cfg.profile_reason)}[/]")
    console.print(f"run [bold]{run_id}[/] in {escape(str(args.db))}")
    if _headless(args):
        return run_headless(args.db, run_id)
    spawn_engine(args.db, run_id)
    return open_app(args.db, run_id)


def _load_objective(spec: str) -> Any:
    """The run's objective, imported and checked here, before any run exists."""
    from engine.objective import ObjectiveError, load_objective

    try:
        return load_objective(spec)
    except ObjectiveError as exc:
        raise UsageError(str(exc)) from None


DATA_HELP = "use auto, keras, sample, an aclImdb folder or .tar.gz, or an imdb.npz"


def _check_workers(n: int | None, executor: str) -> None:
    """A bound on --workers: each local worker is a process with its own TensorFlow."""
    if n is None:
        return
    cpus = os.cpu_count() or 1
    limit = max(4, 4 * cpus) if executor == "local" else 1024
    if n > limit:
        where = f"4 x the {cpus} CPU cores here" if executor == "local" else "the Ray limit"
        raise CliError(f"--workers {n}: too many; at most {limit} ({where})")


def _check_data(cfg: Any) -> None:
    """Read a --data file or folder now, before any run exists: a missing, empty, unrelated or
    damaged source is refused with what is wrong with it. The tokenized arrays are cached,
    so the engine does not read the source again."""
    spec = cfg.data
    if not spec.strip():
        raise CliError(f"--data is empty; {DATA_HELP}")
    if spec in ("auto", "keras", "sample"):
        return
    path = Path(spec).expanduser()
    try:
        exists = path.exists()
    except OSError as exc:
        raise CliError(f"--data {spec}: {exc.strerror or exc}") from None
    if not exists:
        raise CliError(f"--data: {spec} does not exist ({DATA_HELP})")
    from engine.data import DataError, prepare_data
    from engine.profiles import PROFILES

    console.print(f"reading {escape(str(path))} ...", highlight=False)
    try:
        prepare_data(spec, PROFILES[cfg.profile].data)
    except DataError as exc:
        raise CliError(f"--data {spec}: {exc}") from None
    except OSError as exc:
        raise CliError(f"--data {spec}: cannot read it ({exc.strerror or exc})") from None


def spawn_engine(db: str | Path, run_id: int) -> int:
    """Start the engine in its own session, so an SSH hang-up or the UI quitting does not
    end it; its output goes to the run's log file, never the terminal."""
    from engine.setup import log_path_for

    log = open(log_path_for(db, run_id), "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hptui.cli", "engine", str(run_id), "--db", str(db)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    return proc.pid


def _has_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _headless(args: argparse.Namespace) -> bool:
    """--headless, or no terminal to draw on (a pipe, a file, cron): then the full-screen UI
    would wait for keys nobody can press and never return, even after the run ends."""
    if args.headless:
        return True
    if _has_terminal():
        return False
    console.print(
        "no terminal (standard input or output is not one): showing the headless view, "
        "as with --headless",
        markup=False,
        highlight=False,
    )
    return True


def open_app(db: str | Path, run_id: int) -> int:
    try:
        from hptui.app import HptuiApp
    except ImportError as exc:
        raise CliError(f"the terminal UI is not available ({exc}); use --headless") from None
    HptuiApp(str(db), run_id).run()
    return 0


def run_headless(db: str | Path, run_id: int) -> int:
    from engine.config import EngineError
    from engine.data import DataError
    from engine.runner import Engine
    from hptui.headless import HeadlessView

    live = HeadlessView(db, run_id, console)
    try:
        engine = Engine(db, run_id, on_tick=live.update)
        with live:
            status = engine.run()
    except (EngineError, StoreError, DataError) as exc:
        raise CliError(str(exc)) from None
    store = open_store(db, readonly=True)
    try:
        print_summary(console, store, get_run(store, run_id, intact=True))
    finally:
        store.close()
    return 0 if status == FINISHED else 1


def cmd_engine(args: argparse.Namespace) -> int:
    """Internal: the detached engine process of `hptui run` / `hptui resume`."""
    from engine.config import EngineError
    from engine.data import DataError
    from engine.runner import Engine

    try:
        Engine(args.db, args.run, trainer=args.trainer).run()
    except (EngineError, StoreError, DataError) as exc:
        raise CliError(str(exc)) from None
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    """Resume a paused run (its engine is alive), or carry on a run whose engine died."""
    store = open_store(args.db, readonly=False)
    try:
        run = get_run(store, args.run)
        if engine_alive(run):
            cid = store.add_command(args.run, contract.RESUME)
            try:
                return _wait_command(store, cid, "resume")
            except EngineGone:
                # Died while we waited: the command stays pending and the new engine takes
                # it; carry on below as for any run whose engine is gone.
                run = get_run(store, args.run)
        retry_final = run["status"] == FINISHED and contract.final_to_retry(run.get("final"))
        if run["status"] == FINISHED and run.get("final") and not retry_final:
            raise CliError(f"run {args.run} is finished: nothing to resume")
        _check_resumable(store, run)
        if retry_final:  # never silently: say what resuming a finished run does
            console.print(resume_final_text(run), markup=False)
    finally:
        store.close()
    console.print(f"run {args.run}: engine not running; resuming it from the store", markup=False)
    if _headless(args):
        return run_headless(args.db, args.run)
    spawn_engine(args.db, args.run)
    return open_app(args.db, args.run)


def _check_resumable(store: Store, run: dict[str, Any]) -> None:
    """Refuse here, with the reason and before an engine starts, a run the engine would
    refuse: cancelled by the user, its data gone, or saved state that is not ours."""
    from engine.config import EngineError, RunConfig
    from engine.persistence import StrategyKeeper
    from engine.preflight import cancelled_text, resume_problem

    if run["status"] == CANCELLED:  # over, whatever else is wrong with it
        raise CliError(cancelled_text(run["id"]))
    get_run(store, run["id"], intact=True, space=True)
    try:
        cfg = RunConfig(**run["config"])
    except TypeError as exc:
        raise CliError(f"run {run['id']} has a damaged configuration ({exc})") from None
    problem = resume_problem(run, cfg)
    if problem:
        raise CliError(problem)
    try:
        StrategyKeeper(store, run["id"], run["strategy"]).read_saved()
    except EngineError as exc:
        raise CliError(str(exc)) from None


def cmd_attach(args: argparse.Namespace) -> int:
    store = open_store(args.db, readonly=True)
    try:
        get_run(store, args.run)
    finally:
        store.close()
    if not _has_terminal():
        raise CliError(
            f"attach opens the terminal UI, and there is no terminal here; use "
            f"`hptui show {args.run}` for a report"
        )
    return open_app(args.db, args.run)


def cmd_control(args: argparse.Namespace) -> int:
    store = open_store(args.db, readonly=False)
    try:
        run = get_run(store, args.run)
        if run["status"] not in ACTIVE_RUN_STATUSES:
            hint = ""
            if run["status"] in RESUMABLE_RUN_STATUSES:
                hint = f" (`hptui resume {args.run}` carries it on)"
            raise CliError(f"run {args.run} is {run['status']}: cannot {args.command}{hint}")
        cid = store.add_command(args.run, args.command)
        try:
            if not engine_alive(run):
                raise EngineGone(args.command)
            return _wait_command(store, cid, args.command)
        except EngineGone:
            console.print(
                f"[yellow]run {args.run}: no engine is running it now (its process is gone); "
                f"the {args.command} is applied when it resumes (`hptui resume {args.run}`)[/]"
            )
            return 0
    finally:
        store.close()


class EngineGone(Exception):
    """The engine a command was sent to is not running (it died before answering)."""


def _wait_command(store: Store, cid: int, what: str, timeout: float = 10.0) -> int:
    """Wait for the engine's answer; raise EngineGone as soon as its process is gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cmd = store.command(cid)
        if cmd and cmd["status"] != contract.PENDING:
            if cmd["status"] == contract.REFUSED:
                raise CliError(f"{what} refused: {cmd['message']}")
            console.print(escape(clip(cmd["message"] or "")))
            return 0
        run = store.run(cmd["run_id"]) if cmd else None
        if run is not None and not engine_alive(run):
            raise EngineGone(what)
        time.sleep(0.1)
    console.print(
        f"{what} sent; the engine is alive but has not answered in {timeout:.0f} s (it acts "
        "on it at its next step; `hptui show` tells when)",
        markup=False,
    )
    return 0


# --- space ------------------------------------------------------------------------------------


def cmd_space(args: argparse.Namespace) -> int:
    from engine.reward import describe_when, parse_rules
    from engine.rulecheck import check_rules
    from engine.space import SearchSpace, SpaceError, format_dimension, parse_assignment

    space_edit = bool(args.set or args.file or args.rules)
    if args.pruner is not None and space_edit:
        raise CliError("--pruner is an edit of its own: give it without --set, --file or --rules")
    store = open_store(args.db, readonly=not (space_edit or args.pruner is not None))
    try:
        run = get_run(store, args.run, intact=True, space=True)
        cur = store.current_space(args.run)
        assert cur is not None  # get_run(space=True) checked it
        space = SearchSpace.from_dict(cur["space"])
        if not space_edit and args.pruner is None:
            t = Table(title=f"run {args.run}: search space version {cur['version']}")
            t.add_column("name")
            t.add_column("kind")
            t.add_column("range / choices")
            t.add_column("default")
            for d in space.dims:
                t.add_row(
                    escape(clip(d.name)),
                    dimension_kind(d),
                    escape(clip(format_dimension(d))),
                    escape(clip(param_text(d.default, d.to_dict()))),
                )
            console.print(objective_text(run), markup=False, highlight=False)
            console.print(t)
            r = Table(title="pruning rules")
            for col in ("name", "when", "penalty"):
                r.add_column(col)
            for rule in parse_rules(cur["rules"], space.names):
                r.add_row(
                    escape(clip(rule.name)),
                    escape(clip(describe_when(rule.when))),
                    f"{rule.penalty:g}",
                )
            console.print(r)
            console.print(f"pruner: {pruner_text(store, run)}", markup=False, highlight=False)
            return 0
        # A failed or interrupted run takes an edit too, applied when it is resumed: one that
        # died of a bad edit is corrected, then resumed.
        if run["status"] not in (*ACTIVE_RUN_STATUSES, *RESUMABLE_RUN_STATUSES):
            what = "pruner" if args.pruner is not None else "space"
            raise CliError(f"run {args.run} is {run['status']}: its {what} can no longer change")
        if args.pruner is not None:
            return _send_pruner_edit(store, run, args.pruner)
        try:
            if args.rules:
                rules_data = _read_json(args.rules)
                check_rules(parse_rules(rules_data, space.names), space)
                return _send_edit(
                    store, run, contract.EDIT_RULES, contract.rules_edit(rules_data, "cli"),
                    "rules edit",
                )  # fmt: skip
            changes: dict[str, Any] = {}
            if args.file:
                data = _read_json(args.file)
                if not isinstance(data, dict):
                    raise SpaceError(f"{args.file}: expected a JSON object of name -> dimension")
                changes.update(data)
            for text in args.set or []:
                name, spec = parse_assignment(text, space)
                changes[name] = spec
            space.edited(changes)  # validate here too: a bad edit never reaches the engine
        except SpaceError as exc:
            raise CliError(f"space edit refused: {exc}") from None
        return _send_edit(
            store, run, contract.EDIT_SPACE, contract.space_edit(changes, "cli"), "space edit"
        )
    finally:
        store.close()


def dimension_kind(d: Any) -> str:
    """`real`, `real, log`, `integer`, `integer, log`, `categorical` (and of what values)."""
    from engine.space import FLAG, INT, TEXT, Categorical

    if isinstance(d, Categorical):
        values = {TEXT: "text", FLAG: "true/false"}.get(d.kind, "numbers")
        return f"categorical ({values})"
    kind = "integer" if d.kind == INT else "real"
    return f"{kind}, log" if d.log else kind


def _send_pruner_edit(store: Store, run: dict[str, Any], kind: str) -> int:
    """Check a pruner edit here (a known kind, a change), then send it to the engine."""
    from engine.pruners import PrunerSettings
    from engine.space import SpaceError

    try:
        new = PrunerSettings.from_dict({"kind": kind})
    except SpaceError as exc:
        raise CliError(f"pruner edit refused: {exc}") from None
    try:
        same = PrunerSettings.from_dict(pruner_settings(store, run)) == new
    except SpaceError:  # unusable stored settings: the edit replaces them
        same = False
    if same:
        raise CliError(
            f"pruner edit refused: run {run['id']} already uses {new.describe()}; nothing to change"
        )
    return _send_edit(
        store, run, contract.EDIT_PRUNER, contract.pruner_edit(kind, "cli"), "pruner edit"
    )


def _send_edit(
    store: Store, run: dict[str, Any], kind: str, payload: dict[str, Any], what: str
) -> int:
    cid = store.add_command(run["id"], kind, payload)
    try:
        if not engine_alive(run):
            raise EngineGone(what)
        return _wait_command(store, cid, what)
    except EngineGone:
        console.print(
            f"run {run['id']}: no engine is running it now; the {what} is applied when it "
            f"resumes (`hptui resume {run['id']}`)",
            markup=False,
        )
        return 0


def _read_json(path: str) -> Any:
    from engine.space import SpaceError

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpaceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SpaceError(f"{path}: is a directory; give a JSON file") from None
    except UnicodeDecodeError as exc:
        raise SpaceError(
            f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8 JSON"
        ) from None
    except OSError as exc:
        raise SpaceError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise SpaceError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise SpaceError(f"{path}: JSON nested too deeply") from None


# --- reports ------------------------------------------------------------------------------------


RUNS_COLUMNS = (
    "id",
    "started",
    "strategy",
    "profile",
    "status",
    "phase",
    "trials",
    "best #",
    "est acc",
    "val acc",
    "epochs",
    "pruner",
    "pruned",
    "saved",
    "data",
    "objective",
)
RUNS_NUMERIC = {"id", "trials", "best #", "est acc", "val acc", "epochs", "pruned", "saved"}
RUNS_NUMERIC |= {"est", "value"}


def choose_confirmed(store: Store, r: dict[str, Any]) -> None:
    """After the confirmation stage, a run's best is the configuration it chose by repeated
    measurements (engine.choice): its first trial, and its mean validation accuracy."""
    choice = confirmed_choice(store, r["id"])
    if choice is None:
        return
    trial = store.trial_by_number(r["id"], choice.best.trial) or {}
    r["best_number"], r["best_val_accuracy"] = choice.best.trial, choice.best.accuracy
    r["best_est_accuracy"] = trial.get("est_accuracy")


def cmd_runs(args: argparse.Namespace) -> int:
    store = open_store(args.db, readonly=True)
    try:
        rows = store.runs()
        for r in rows:
            r["pruner"] = pruner_settings(store, r).get("kind", "none")
            r["pruning"] = store.pruning_summary(r["id"])
            if r["phase"] in (CONFIRM_PHASE, FINAL_PHASE, DONE_PHASE):
                choose_confirmed(store, r)
    finally:
        store.close()
    if not rows:
        console.print(f"no runs in {escape(str(args.db))}")
        return 0
    words = {r["id"]: metric_words(r) for r in rows}
    columns = RUNS_COLUMNS
    if not all(w.is_accuracy for w in words.values()):
        # runs of other metrics: each run's best in its own metric, named beside it
        columns = tuple({"est acc": "est", "val acc": "value"}.get(c, c) for c in RUNS_COLUMNS)
        columns += ("metric",)
    table = [
        (
            str(r["id"]),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created_at"])),
            clip(r["strategy"]),
            clip(r["profile"]),
            clip(r["status"]),
            clip(r["phase"]),
            f"{r['done_trials']}/{r['planned_trials'] or '?'}",
            "-" if r.get("best_number") is None else str(r["best_number"]),
            words[r["id"]].fmt(r.get("best_est_accuracy")),
            words[r["id"]].fmt(r.get("best_val_accuracy")),
            str(r.get("epochs_trained") or 0),
            str(r["pruner"]),
            str(r["pruning"]["pruned"]),
            str(r["pruning"]["epochs_saved"]),
            clip(r["data_source"] or "-"),
            objective_label(objective_spec(r)),
            *([] if columns is RUNS_COLUMNS else [words[r["id"]].direction_text()]),
        )
        for r in rows
    ]
    shared = set(words.values())
    meaning = best_meaning(*shared) if len(shared) == 1 else best_meaning()
    if columns is not RUNS_COLUMNS:
        meaning += "; est and value: each run's best in its own metric (and its direction)"
    note = (
        f"trials: search trials done of planned; {meaning}; "
        "pruned: trials the pruner stopped early, saved: the epochs they did not train"
    )
    widths = [max(cell_len(c), *(cell_len(row[i]) for row in table)) for i, c in enumerate(columns)]
    if not console.is_terminal:
        # A pipe or a file: plain aligned text, every value whole, whatever the width.
        sys.stdout.write(f"runs in {args.db}\n")
        for row in (columns, *table):
            line = "  ".join(v + " " * (w - cell_len(v)) for v, w in zip(row, widths, strict=True))
            sys.stdout.write(line.rstrip() + "\n")
        sys.stdout.write(note + "\n")
        return 0
    if sum(widths) + 3 * len(widths) + 1 > console.width:
        # Too narrow for the table: one block per run, wrapped, nothing cut.
        console.print(f"runs in {args.db}", markup=False, highlight=False)
        for row in table:
            pairs = ", ".join(f"{c} {v}" for c, v in zip(columns[1:], row[1:], strict=True))
            console.print(f"run {row[0]}: {pairs}", markup=False, highlight=False)
        console.print(note, markup=False, highlight=False)
        return 0
    t = Table(title=f"runs in {escape(str(args.db))}", caption=note, box=box.SIMPLE_HEAD)
    for col in columns:
        numeric = col in RUNS_NUMERIC
        t.add_column(col, no_wrap=True, justify="right" if numeric else "left")
    for row in table:
        t.add_row(*(escape(v) for v in row))
    console.print(t)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    store = open_store(args.db, readonly=True)
    try:
        run = get_run(store, args.run, intact=True)
        print_summary(console, store, run)
        versions = store.space_versions(args.run)
        if len(versions) > 1:
            t = Table(title="search-space versions")
            for col in ("version", "time", "source", "change"):
                t.add_column(col)
            for v in versions:
                t.add_row(
                    str(v["version"]),
                    time.strftime("%H:%M:%S", time.localtime(v["created_at"])),
                    escape(clip(v["source"])),
                    escape(clip(v["change"])),
                )
            console.print(t)
        width = min(100, console.width)
        sys.stdout.write(reward_plot(store, run, width=width) + "\n")
        print_matters(console, store, run, slices=args.slices, width=width)
    finally:
        store.close()
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    store = open_store(args.db, readonly=True)
    try:
        get_run(store, args.run)
        try:
            payload = export_payload(store, args.run)
        except ReportError as exc:
            raise CliError(str(exc)) from None
    finally:
        store.close()
    text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    if args.output in (None, STDOUT):
        sys.stdout.write(text)
        return 0
    out = Path(args.output)
    try:
        check_target(out, Path(args.db), force=args.force)
        write_atomically(out, text)
    except TargetError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"-o {out}: cannot write ({exc.strerror or exc})") from None
    console.print(f"best hyperparameters of run {args.run} written to {escape(str(out))}")
    return 0


# --- parser -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hptui",
        description="Hyperparameter search for an IMDB LSTM: Bayesian warm-up, "
        "then PPO, watched and steered from the terminal.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--db",
            default=str(default_db_path()),
            help="the SQLite store (default: $HPTUI_DB or ./hptui.db)",
        )
        return p

    def with_run(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("run", type=_positive_int, help="run id (see `hptui runs`)")
        return with_db(p)

    p = with_db(sub.add_parser("run", help="start a search"))
    p.add_argument("--strategy", choices=STRATEGIES, default="bayes-ppo")
    p.add_argument(
        "--objective",
        default=BUILTIN_OBJECTIVE,
        help="what to tune: path/to/file.py[:attr], module:attr, or a built-in "
        f"({', '.join(BUILTIN_OBJECTIVES)}); default {BUILTIN_OBJECTIVE}, the IMDB LSTM",
    )
    p.add_argument(
        "--profile",
        choices=PROFILE_NAMES,
        help="budgets and data size (default: seed with a GPU, quick without)",
    )
    p.add_argument(
        "--data",
        default="auto",
        help="auto (Keras cache, download, bundled sample), keras, sample, or a path "
        "to an aclImdb folder / .tar.gz or an imdb.npz",
    )
    p.add_argument("--workers", type=_positive_int, help="parallel trainers (default: by device)")
    p.add_argument("--threads", type=_positive_int, help="TensorFlow threads per worker")
    p.add_argument("--precision", choices=PRECISIONS, help="dtype policy (default: by device)")
    p.add_argument("--seed", type=_seed, default=42)
    p.add_argument("--headless", action="store_true", help="no UI: live progress in the terminal")
    p.add_argument(
        "--bayes-async",
        action="store_true",
        help="Bayes asks a point whenever a worker frees (constant liar) instead of in "
        "synchronous batches: workers stay busy, but runs are no longer reproducible",
    )
    p.add_argument(
        "--pruner",
        choices=PRUNERS,
        default="none",
        help="stop hopeless trials after an epoch: median stopping, or asynchronous successive "
        "halving (rungs at 1, 3, 9 epochs, top third goes on)",
    )
    p.add_argument("--no-final", action="store_true", help="skip the final validation")
    p.add_argument(
        "--trial-timeout",
        type=_bounded(float, 1.0, 7 * 24 * 3600.0, "a number of seconds"),
        metavar="SECONDS",
        help="kill a trial running longer than this, and fail it (default: 10 x the median "
        "seconds per epoch so far times its epochs, at least 5 minutes)",
    )
    p.add_argument(
        "--max-consecutive-failures",
        type=_positive_int,
        metavar="N",
        help="end the run failed once N search trials fail in a row (default: 2 x workers)",
    )
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="where trainers run: a local process pool, or Ray tasks",
    )
    p.add_argument("--ray-address", help="Ray cluster address (default: start a local Ray)")
    p.add_argument("--gpus-per-trial", type=_fraction, help="Ray: GPUs per trial, e.g. 0.25")
    p.add_argument("--cpus-per-trial", type=_fraction, help="Ray: CPUs per trial (default 1)")
    p.add_argument(
        "--retries",
        type=_count,
        default=1,
        help="Ray: times a trial whose worker or node was lost runs again",
    )
    p.set_defaults(func=cmd_run)

    with_db(sub.add_parser("runs", help="list runs")).set_defaults(func=cmd_runs)
    p = with_run(
        sub.add_parser("show", help="summary, best configuration, reward history, what mattered")
    )
    p.add_argument(
        "--slices",
        action="store_true",
        help="also plot the metric against each hyperparameter (one plot each)",
    )
    p.set_defaults(func=cmd_show)
    p = with_run(sub.add_parser("export", help="best hyperparameters as JSON"))
    p.add_argument(
        "-o", "--output", help="file to write; - or none: standard output (to pipe it on)"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an existing regular -o file (never a SQLite file, a link or a device)",
    )
    p.set_defaults(func=cmd_export)
    with_run(sub.add_parser("attach", help="open the UI on a run")).set_defaults(func=cmd_attach)
    p = with_run(
        sub.add_parser("resume", help="resume a paused run, or carry on a run whose engine died")
    )
    p.add_argument("--headless", action="store_true")
    p.set_defaults(func=cmd_resume)
    for name, text in (
        (contract.PAUSE, "start no new trial; running ones finish"),
        (contract.STOP, "end the run once running trials finish"),
        (contract.CANCEL, "end the run now, killing running trials"),
    ):
        with_run(sub.add_parser(name, help=text)).set_defaults(func=cmd_control)
    p = with_run(sub.add_parser("space", help="print or edit the search space, rules and pruner"))
    p.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUES",
        help="lr=1e-4:5e-3:log, dropout=0.1:0.3, batch_size=16,32 (repeatable)",
    )
    p.add_argument("--file", help="JSON object of name -> dimension to apply")
    p.add_argument("--rules", help="JSON list of pruning rules replacing the current ones")
    p.add_argument(
        "--pruner",
        metavar="{" + ",".join(PRUNERS) + "}",
        help="switch the run's learning-curve pruner (median stopping, ASHA, or none) for the "
        "trials started from now on",
    )
    p.set_defaults(func=cmd_space)
    # Internal, for `run` and `resume` (no help=, so --help does not list it).
    p = with_run(sub.add_parser("engine"))
    # For tests and benchmarks: a "module:function" trainer run by the same real workers.
    p.add_argument("--trainer", default=DEFAULT_TRAINER, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_engine)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CliError, StoreError) as exc:
        # clipped: a message may quote a long input, and long lines print in quadratic time;
        # one line, whatever the width (the terminal wraps it, a log or a pipe keeps it whole)
        err_console.print(
            f"[bold red]hptui: error:[/] {escape(clip(exc, 2 * SHOWN))}",
            highlight=False,
            soft_wrap=True,
        )
        return getattr(exc, "exit_code", 1)
    except KeyboardInterrupt:
        err_console.print("hptui: interrupted")
        return 130
    except sqlite3.DatabaseError as exc:  # a store damaged after it was opened and checked
        db = getattr(args, "db", "the store")
        if "full" in str(exc).lower() or (isinstance(db, str) and disk_full(db)):
            err_console.print(
                f"[bold red]hptui: error:[/] {escape(str(db))}: the disk holding the store is "
                "full, so nothing was written; a running engine waits for space and loses "
                "nothing. Free some space, then run this command again.",
                highlight=False,
            )
            return 1
        err_console.print(
            f"[bold red]hptui: error:[/] {escape(str(db))}: the store is damaged or unreadable "
            f"({escape(str(exc))}); restore it from a copy or use another --db",
            highlight=False,
        )
        return 1
    except Exception as exc:  # a bug: one clear line for the user, the traceback in a file
        import tempfile
        import traceback

        fd, path = tempfile.mkstemp(prefix="hptui-crash-", suffix=".txt")
        with os.fdopen(fd, "w") as fh:
            traceback.print_exc(file=fh)
        err_console.print(
            f"[bold red]hptui: internal error:[/] {escape(f'{type(exc).__name__}: {exc}')} "
            f"(traceback in {escape(path)}; please report it)",
            highlight=False,
        )
        return 70


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
