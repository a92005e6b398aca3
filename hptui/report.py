"""Reports on a stored run: the summary table, the reward plot as text, the best
hyperparameters as JSON. Shared by the command line and the terminal UI."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.choice import Choice, choose, run_default
from engine.importance import MIN_TRIALS
from hptui.view import (
    MetricWords,
    best_meaning,
    choice_text,
    data_text,
    device_text,
    elapsed_s,
    final_failed_text,
    final_partial_text,
    final_text,
    fmt,
    fmt_s,
    metric_words,
    objective_spec,
    objective_text,
    result_text,
    weights_text,
)
from storage.contract import (
    BUILTIN_OBJECTIVE,
    CONFIRM_PHASE,
    DONE_TRIAL_STATUSES,
    FINAL_FAILED,
    FINAL_PARTIAL,
    final_status,
)
from storage.limits import SHOWN, clip
from storage.store import Store


def confirmed_choice(store: Store, run_id: int) -> Choice | None:
    """The configuration the run recommends once its confirmation stage has measured the
    candidates again (engine.choice, the engine's own rule); None before that stage, when the
    search's best single measurement (Store.best_trial) is the run's best."""
    if not store.trials(run_id, phase=CONFIRM_PHASE, status="finished"):
        return None
    return choose(store.trials(run_id), run_default(store, run_id))


def chosen_trial(store: Store, run_id: int) -> dict[str, Any] | None:
    """The run's best trial: the first trial of the configuration chosen by repeated
    measurements once the confirmation stage has run, the search's best before."""
    choice = confirmed_choice(store, run_id)
    if choice is None:
        return store.best_trial(run_id)
    return store.trial_by_number(run_id, choice.best.trial)


class ReportError(LookupError):
    """Nothing to report (unknown run, no finished trial); the message says which."""


def pruner_settings(store: Store, run: dict[str, Any]) -> dict[str, Any]:
    """The run's current pruner settings: its latest stored version, or, before the engine
    stored one, what the run was created with (a name or settings)."""
    row = store.current_pruner(run["id"])
    if row is not None:
        return dict(row["settings"])
    cfg = (run.get("config") or {}).get("pruner") or "none"
    return {"kind": cfg} if isinstance(cfg, str) else dict(cfg)


def pruner_text(store: Store, run: dict[str, Any]) -> str:
    """The current pruner in words, as the engine described it when it stored the version."""
    row = store.current_pruner(run["id"])
    if row is not None:
        return f"{row['change']} (version {row['version']})"
    kind = pruner_settings(store, run).get("kind", "none")
    return f"{kind} (as the run was created; its engine has not started)"


def pruning_line(store: Store, run: dict[str, Any]) -> str:
    """Pruner, pruned trials and the epochs they were spared, in one line."""
    p = store.pruning_summary(run["id"])
    return (
        f"pruner: {pruner_text(store, run)}; {p['pruned']} trials pruned, "
        f"{p['epochs_saved']} epochs saved"
    )


def print_summary(console: Console, store: Store, run: dict[str, Any]) -> None:
    rid = run["id"]
    words = metric_words(run)  # the run's metric: its values, under its name
    head = f"run {rid}: {clip(run['strategy'])} / {clip(run['profile'])} - {clip(run['status'])}"
    t = Table(title=escape(head))
    t.add_column("phase")
    # "top", not "best": the highest of each column in the phase; the run's one best is the
    # highest score, printed below. (Of a metric other than an accuracy: its best value.)
    for col in ("trials", *DONE_TRIAL_STATUSES, words.top, "top reward", "seconds"):
        t.add_column(escape(col), justify="right")
    for p in store.phase_summary(rid):  # aggregated in SQL: no trial read whole
        t.add_row(
            escape(clip(p["phase"])),
            *(str(p[k]) for k in ("trials", "finished", "failed", "pruned")),
            words.fmt(p["top_val_accuracy"]),
            fmt(p["top_reward"], ".2f"),
            f"{p['seconds']:.0f}",
        )
    console.print(t)
    wall = elapsed_s(run, time.time())
    console.print(objective_text(run), markup=False)
    console.print(data_text(run), markup=False)
    console.print(
        f"{device_text(run)}, {run['workers']} workers; wall time {fmt_s(wall)}; "
        f"{store.search_counts(rid)['search']} search trials",
        markup=False,
    )
    console.print(
        f"epochs trained: {store.epochs_trained(rid)} (search trials; final validation not "
        "included)",
        markup=False,
    )
    console.print(pruning_line(store, run), markup=False)
    best = store.best_trial(rid)
    choice = confirmed_choice(store, rid)
    if best:
        # Once the stage chose, its configuration is printed below: the single best is
        # context (what one lucky measurement said), not a second recommendation.
        config = "" if choice is not None else f": {clip(config_json(best['config']))}"
        label = "best single measurement" if choice is not None else "best"
        console.print(
            f"{label}: trial {best['number']} (space v{best['space_version']}), {words.est} "
            f"{words.fmt(best.get('est_accuracy'))} (measured {words.short} "
            f"{words.fmt(best['val_accuracy'])}), score {fmt(best.get('score'), '.2f')}{config}",
            markup=False,
        )
        console.print(best_meaning(words), markup=False)
    if choice is not None:
        default = vars(choice.default) if choice.default else None
        console.print(clip(choice_text(vars(choice.best), default, words), 2 * SHOWN), markup=False)
        console.print(
            f"chosen configuration: {clip(config_json(choice.best.config))}", markup=False
        )
    final = run.get("final")
    if final_status(final) == FINAL_FAILED:
        console.print(final_failed_text(final, 2 * SHOWN), markup=False)
    elif final:
        # The verdict once, on its own line (result_text), not also at the summary's end.
        summary = final_text(final, words, with_verdict=False)
        console.print(clip(summary, 2 * SHOWN), markup=False)
        console.print(f"verdict: {result_text(final, words)}", markup=False)
        if final_status(final) == FINAL_PARTIAL:
            console.print(final_partial_text(final, 2 * SHOWN), markup=False)
    if run.get("error"):
        console.print(f"error: {clip(run['error'], 2 * SHOWN)}", markup=False)


def config_json(config: Any) -> str:
    """A configuration as JSON, its names as they are (unicode kept)."""
    return json.dumps(config, ensure_ascii=False)


def reward_plot(store: Store, run: dict[str, Any], width: int = 80, height: int = 18) -> str:
    """The reward history per PPO epoch (mean and best), or the best value of the run's
    metric (the highest val acc) up to each trial."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    plt.clear_color()  # plain text: the plot is printed as-is, also into files and pipes
    ups = store.ppo_updates(run["id"])
    if ups:
        xs = [u["ppo_epoch"] for u in ups]
        plt.plot(xs, [u["mean_reward"] for u in ups], label="mean reward", marker="dot")
        plt.plot(xs, [u["best_reward"] for u in ups], label="top reward", marker="x")
        switch = next(
            (
                u["ppo_epoch"]
                for u, v in zip(ups, ups[1:], strict=False)
                if v["traj_len"] != u["traj_len"]
            ),
            None,
        )
        if switch is not None:
            plt.vline(switch + 0.5)
            plt.text(
                f"len {ups[-1]['traj_len']}", x=switch + 0.6, y=max(u["best_reward"] for u in ups)
            )
        # The reward's weights move from accuracy to time as the run goes, so the curve falls
        # even while the accuracies found do not: say so where it is drawn.
        plt.title(f"reward per PPO epoch (falls as the weights move: {weights_text()})")
        plt.xlabel("PPO epoch")
    else:
        words = metric_words(run)
        xs, ys = best_so_far(store.search_accuracies(run["id"]))
        if not ys:
            return "(no finished trials yet)"
        if words.is_accuracy:
            plt.plot(xs, ys, label="top val acc", marker="dot")
            plt.title("highest validation accuracy so far")
        else:  # the highest utility: the best value of the metric
            ys = [words.metric.value(u) for u in ys]
            plt.plot(xs, ys, label=f"best {words.name}", marker="dot")
            plt.title(f"best {words.name} so far")
        plt.xlabel("trial")
    return re.sub(r"\x1b\[[0-9;]*m", "", plt.build())  # no colour codes left over


def print_matters(
    console: Console, store: Store, run: dict[str, Any], *, slices: bool = False, width: int = 80
) -> None:
    """Which hyperparameters mattered (engine.importance): a share of the metric's variation
    each, most important first, with its current range; with `slices`, the metric against
    each hyperparameter as a text plot. With fewer than MIN_TRIALS finished search trials it
    says so, having loaded nothing heavy.

    The engine stores the importance as the run goes (engine.trials, off its loop) and at the
    search's end: that one is printed, "as of" the finished search trials it was computed
    from, with nothing fitted or loaded (scikit-learn alone took a second). Only a run without
    one in its current space version (a run of an older hptui) has it computed here, from the
    same newest READ_MAX trials, fitted on at most FIT_MAX of them."""
    rid = run["id"]
    finished = store.search_counts(rid)["finished"]
    if finished < MIN_TRIALS:
        console.print(
            f"what matters: not enough trials ({finished} finished search trials, "
            f"{MIN_TRIALS} needed)",
            markup=False,
        )
        return
    from engine.importance import READ_MAX
    from engine.space import SearchSpace, SpaceError
    from hptui.matters import add_slices, bar, compute, pct, range_text, slice_text, slice_view
    from hptui.matters import status_text as matters_status
    from hptui.matters import stored as stored_matters

    cur = store.current_space(rid)
    try:
        space = SearchSpace.from_dict(cur["space"] if cur else {})
    except SpaceError as exc:
        console.print(f"what matters: the run's search space cannot be read ({exc})", markup=False)
        return
    version = cur["version"] if cur else None
    row = store.importance(rid)
    trials = None
    if row is not None and row["space_version"] == version:
        m = stored_matters(row, space, version)
        now = "" if row["finished"] == finished else f" (now {finished})"
        title = f"{matters_status(m)}; as of {row['finished']} finished search trials{now}"
    else:
        trials = store.search_results(rid, READ_MAX)
        m = compute(trials, space, version, slices=False)
        title = matters_status(m)
    t = Table(title=escape(f"what matters: {title}"))
    t.add_column("hyperparameter")
    t.add_column("share")
    t.add_column("%", justify="right")
    t.add_column(f"range (space v{version if cur else '?'})")
    for name in m.names:
        share = m.share(name)
        t.add_row(
            escape(clip(name)),
            "" if share is None else bar(share, 20),
            "-" if share is None else pct(share).strip(),
            escape(clip(range_text(space[name]))),
        )
    console.print(t)
    if slices:
        add_slices(m, store.search_results(rid, READ_MAX) if trials is None else trials)
        for name in m.names:
            view = slice_view(m.slices.get(name, []), space[name], m.metric)
            console.print(slice_text(view, width=width), markup=False, highlight=False)


def best_so_far(accuracies: list[float]) -> tuple[list[int], list[float]]:
    """The highest accuracy up to each trial (1, 2, ...) as a step line: only the points where
    it rises, the one before each rise and the last (the same line as one point per trial,
    which at 50,000 trials took plotext most of a second to draw)."""
    xs: list[int] = []
    ys: list[float] = []
    best = 0.0
    for i, acc in enumerate(accuracies, start=1):
        higher = max(best, acc)
        if i == 1 or higher > best or i == len(accuracies):
            if xs and xs[-1] < i - 1:  # the end of the flat stretch before i
                xs.append(i - 1)
                ys.append(best)
            xs.append(i)
            ys.append(higher)
        best = higher
    return xs, ys


def _measured(choice: Choice, words: MetricWords) -> dict[str, Any]:
    """The configuration chosen by repeated measurements: the mean utility (`*_val_accuracy`,
    as stored) and the mean of the metric itself (`*_value`)."""
    return {
        "trial_number": choice.best.trial,
        "measurements": choice.best.n,
        "mean_val_accuracy": choice.best.accuracy,
        "mean_value": words.value(choice.best.accuracy),
        "mean_score": choice.best.score,
        "mean_seconds": choice.best.seconds,
        "is_default": choice.best.is_default,
        "default_mean_val_accuracy": choice.default.accuracy if choice.default else None,
        "default_mean_value": words.value(choice.default.accuracy) if choice.default else None,
        "default_measurements": choice.default.n if choice.default else None,
    }


def export_payload(store: Store, run_id: int) -> dict[str, Any]:
    run = store.run(run_id)
    if run is None:
        raise ReportError(f"no run {run_id} in {store.path}")
    best = store.best_trial(run_id)
    if best is None:
        raise ReportError(f"run {run_id} has no finished trial yet: nothing to export")
    from engine.profiles import PROFILES  # the profile's data settings and final epochs

    profile = PROFILES.get(run["profile"])
    count = store.search_counts(run_id)  # counted in SQL: no trial read whole
    pruning = store.pruning_summary(run_id)
    choice = confirmed_choice(store, run_id)
    if choice is not None:  # the configuration measured again, not the luckiest single one
        best = store.trial_by_number(run_id, choice.best.trial) or best
    final = run.get("final") or {}
    words = metric_words(run)
    # The LSTM's data settings; a user's objective loads its own data.
    lstm = profile is not None and objective_spec(run) == BUILTIN_OBJECTIVE
    return {
        "run_id": run_id,
        "objective": objective_spec(run),
        "trial_id": best["id"],
        "trial_number": best["number"],
        "space_version": best["space_version"],
        "hyperparameters": best["config"],
        # The run's metric and the configuration's measured value of it; `val_accuracy` and
        # `est_accuracy` hold its utility as stored (the accuracy itself for an accuracy).
        "metric": {
            **words.metric.to_dict(),
            "value": words.value(best["val_accuracy"]),
            "est_value": words.value(best.get("est_accuracy")),
        },
        "est_accuracy": best.get("est_accuracy"),
        "val_accuracy": best["val_accuracy"],
        "reward": best["reward"],
        "score": best["score"],
        "best_means": best_meaning(words),
        # What the configuration's repeated measurements say together (engine.choice), and
        # the run's verdict against the default configuration (None before the run's end).
        "chosen": None if choice is None else _measured(choice, words),
        "verdict": final.get("verdict"),
        "retrain": {
            "vocab_size": profile.data.vocab_size if lstm else None,
            "max_len": profile.data.max_len if lstm else None,
            "epochs": profile.final_epochs if profile else None,
            "precision": run["precision"],
            "data_source": run["data_source"],
            "data_location": run["data_location"],
            "seed": run["seed"],
        },
        "trials": count,
        "epochs_trained": store.epochs_trained(run_id),
        "pruned_trials": pruning["pruned"],
        "epochs_saved_by_pruning": pruning["epochs_saved"],
        "pruner": pruner_settings(store, run),
        # The best against the default on the test set (None before the run's end): means
        # over the repeats, each training's accuracy, and the gain's interval. Where some
        # trainings did not finish, its "status" is "partial" or "failed", with a "reason"
        # and the "failed_trials"; `final_validation_status` says which (None: no record).
        "final_validation": run.get("final"),
        "final_validation_status": final_status(run.get("final")),
        "strategy": run["strategy"],
        "profile": run["profile"],
        "data_source": run["data_source"],
        "seed": run["seed"],
    }
