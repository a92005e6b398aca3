"""What the engine, the store, the command line and the UI agree on, in one light module.

Run, trial and command statuses; the command kinds and the payloads they carry; the names a
run is configured with (strategies, profiles, precisions, pruners); the keys of the progress
the engine writes into its run row for the header and the headless view; the messages an
executor reports. It imports nothing but the standard library (no numpy, no scikit-optimize),
so the command line starts fast, and nothing from `engine` or `hptui`, so every layer can
import it. The schema's CHECK constraints list the same statuses (tests/test_contract.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

# --- statuses (a run's and a trial's share the words they have in common) ----------------------

QUEUED, RUNNING, PAUSED, STOPPING = "queued", "running", "paused", "stopping"
FINISHED, FAILED, INTERRUPTED, CANCELLED, PRUNED = (
    "finished",
    "failed",
    "interrupted",
    "cancelled",
    "pruned",
)

# --- runs -------------------------------------------------------------------------------------

# `cancelled`: by the user (`hptui cancel`), over for good. `interrupted`: stopped by a
# signal (Ctrl+C, SIGTERM) or unable to start (its data gone); `hptui resume` carries on.
RUN_STATUSES = (RUNNING, PAUSED, STOPPING, FINISHED, FAILED, CANCELLED, INTERRUPTED)
ACTIVE_RUN_STATUSES = (RUNNING, PAUSED, STOPPING)  # an engine acts on commands
ENDED_RUN_STATUSES = (FINISHED, FAILED, CANCELLED, INTERRUPTED)  # no engine runs it
RESUMABLE_RUN_STATUSES = (FAILED, INTERRUPTED)  # ended, but `hptui resume` carries on
# A run's phase, in the order a run goes through them.
STARTING_PHASE, DATA_PHASE, DONE_PHASE = "starting", "data", "done"
WARMUP_PHASE, PPO_PHASE, SEARCH_PHASE, FINAL_PHASE = "warmup", "ppo", "search", "final"
CONFIRM_PHASE = "confirm"
# a trial's phase, in run order
TRIAL_PHASES = (WARMUP_PHASE, PPO_PHASE, SEARCH_PHASE, CONFIRM_PHASE, FINAL_PHASE)
PHASES = (STARTING_PHASE, DATA_PHASE, *TRIAL_PHASES, DONE_PHASE)
# The phases after the search. Confirmation trains the search's top candidates and the
# default again (engine.confirm_stage); final validation trains the chosen configuration and
# the default on the test set. Neither is counted, scored, ranked by a single measurement or
# pruned as a search trial; every other phase is the search.
STAGE_PHASES = (CONFIRM_PHASE, FINAL_PHASE)


def is_search_phase(phase: str | None) -> bool:
    return phase not in STAGE_PHASES


# --- the final validation's record (the run row's JSON `final`) -------------------------------

# Its "status": "done" (every pair of trainings finished: the summary), "partial" (some did:
# the summary of those, with "reason" and "failed_trials") or "failed" (none did: "reason",
# "failed_trials"). A record stored before this key existed is a complete summary.
FINAL_DONE, FINAL_PARTIAL, FINAL_FAILED = "done", "partial", "failed"


def final_status(final: Mapping[str, Any] | None) -> str | None:
    """The final validation's outcome as stored; None when there is no record."""
    if not final:
        return None
    return str(final.get("status") or FINAL_DONE)


def final_to_retry(final: Mapping[str, Any] | None) -> bool:
    """Whether some of the final validation's trainings failed: `hptui resume` on the
    finished run trains them again (the search is not run again)."""
    return final_status(final) in (FINAL_PARTIAL, FINAL_FAILED)


# --- trials -----------------------------------------------------------------------------------

TRIAL_STATUSES = (QUEUED, RUNNING, FINISHED, FAILED, INTERRUPTED, CANCELLED, PRUNED)
OPEN_TRIAL_STATUSES = (QUEUED, RUNNING)  # may still change
# A search trial is done, and counted in "trials done", when it ran to its end (or was
# pruned): the engine's progress holds a count of each (ENGINE_PROGRESS_KEYS).
DONE_TRIAL_STATUSES = (FINISHED, FAILED, PRUNED)

# --- names a run is configured with ------------------------------------------------------------

# The built-in LSTM's hyperparameters (engine.objectives.imdb_lstm); every run's configuration,
# of any space, is in the trial's `config`. Where a run's space is exactly these, the UI keeps
# the LSTM's own short columns and one-line summary.
PARAM_NAMES = ("lr", "batch_size", "lstm_units", "dropout", "embed_dim", "lstm_layers", "optimizer")

STRATEGIES = ("bayes-ppo", "bayes", "random", "grid")
PROFILE_NAMES = ("seed", "quick", "tiny")  # engine.profiles.PROFILES
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
PRUNERS = ("none", "median", "asha")
DEFAULT_TRAINER = "engine.trainer:train_trial"
BUILTIN_OBJECTIVE = "imdb-lstm"  # engine.objectives.imdb_lstm: what `hptui run` tunes by default
BUILTIN_OBJECTIVES = (BUILTIN_OBJECTIVE, "digits")  # engine.objective.BUILTIN

# --- commands (the one table the UI and the command line write) --------------------------------

PAUSE, RESUME, STOP, CANCEL = "pause", "resume", "stop", "cancel"
EDIT_SPACE, EDIT_RULES, EDIT_PRUNER = "edit_space", "edit_rules", "edit_pruner"
CONTROL_KINDS = (PAUSE, RESUME, STOP, CANCEL)
EDIT_KINDS = (EDIT_SPACE, EDIT_RULES, EDIT_PRUNER)
COMMAND_KINDS = CONTROL_KINDS + EDIT_KINDS
COMMAND_STATUSES = ("pending", "done", "refused")
PENDING, DONE, REFUSED = COMMAND_STATUSES
Source = Literal["cli", "ui", "user", "engine"]


def space_edit(changes: Mapping[str, Any], source: Source) -> dict[str, Any]:
    """The payload of an `edit_space` command: name -> new dimension (engine.space)."""
    return {"changes": dict(changes), "source": source}


def rules_edit(rules: Sequence[Mapping[str, Any]], source: Source) -> dict[str, Any]:
    """The payload of an `edit_rules` command: the whole new list of pruning rules, as given
    (the engine checks them, engine.reward.parse_rules)."""
    return {"rules": rules, "source": source}


def pruner_edit(kind: str, source: Source) -> dict[str, Any]:
    """The payload of an `edit_pruner` command: the pruner for trials started from now."""
    return {"pruner": {"kind": kind}, "source": source}


# --- progress (the run row's JSON `progress`, written by the engine at each heartbeat) -----------

ENGINE_PROGRESS_KEYS = (
    FINISHED,  # search trials of each DONE_TRIAL_STATUSES so far
    FAILED,
    PRUNED,
    "pruner",  # the pruner's kind
    "planned",  # search trials the strategy plans in all
    "running",
    "workers",
    "eta_s",  # seconds left, engine.eta (None before a trial has finished)
)
# Added by the bayes-ppo strategy (engine.strategies.bayes_ppo.BayesPPO.progress).
PPO_PROGRESS_KEYS = (
    "warmup_done",
    "warmup_total",
    "ppo_epoch",  # the PPO epoch under way, 1-based
    "ppo_epochs",
    "ppo_epochs_done",
    "traj_len",
    "len_switch_epoch",  # the first PPO epoch with the late trajectory length
)

# --- executor messages (plain dicts, as they cross process boundaries) --------------------------


class ReadyMsg(TypedDict):
    kind: Literal["ready"]
    slot: int
    pid: int | None
    device: str
    precision: str


class StartedMsg(TypedDict):
    kind: Literal["started"]
    slot: int
    trial_id: int


class ProgressMsg(TypedDict):
    kind: Literal["progress"]
    slot: int
    trial_id: int
    epoch: int
    epochs: int
    batch: int
    batches: int | None


class EpochMsg(TypedDict, total=False):
    kind: Literal["epoch"]
    slot: int
    trial_id: int
    epoch: int
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float
    verdict: bool  # the worker waits for the engine's verdict (go on, or stop here)


class ResultMsg(TypedDict):
    kind: Literal["result"]
    slot: int
    trial_id: int
    result: dict[str, Any]  # engine.trainer.TrialResult.to_dict()


class FailedMsg(TypedDict):
    kind: Literal["failed"]
    slot: int
    trial_id: int
    error: str


class RetryMsg(TypedDict):
    kind: Literal["retry"]
    slot: int
    trial_id: int
    error: str
    attempt: int


class WorkerRestartedMsg(TypedDict):
    kind: Literal["worker_restarted"]
    slot: int
    old_pid: int | None
    exitcode: int | None


class WorkerRetiredMsg(TypedDict):
    kind: Literal["worker_retired"]  # replaced by the recycling rule, after `trials` trials
    slot: int
    old_pid: int | None
    trials: int


ExecutorMessage = (
    ReadyMsg
    | StartedMsg
    | ProgressMsg
    | EpochMsg
    | ResultMsg
    | FailedMsg
    | RetryMsg
    | WorkerRestartedMsg
    | WorkerRetiredMsg
)
