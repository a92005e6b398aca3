"""What the workers report, put where it belongs: news of a worker (ready, a trial run again,
a worker replaced) and a trial's progress and epochs go to the store as they come; the log
line of a trial's end is worded here."""

from __future__ import annotations

import math
from typing import Any

from engine.metric import Metric
from engine.strategies.base import Outcome, Proposal
from storage.store import RunStore

EPOCH_KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")


def record_worker_news(rs: RunStore, m: dict[str, Any]) -> bool:
    """Store a message about a worker rather than a trial; False for any other message."""
    kind = m["kind"]
    if kind == "ready":
        rs.update_run(device=m["device"], precision=m["precision"])
        rs.set_worker(m["slot"], pid=m["pid"])
    elif kind == "retry":  # its worker or node was lost: the trial runs again from the start
        rs.store.clear_epochs(m["trial_id"])
        rs.log(
            f"trial {m['trial_id']}: {m['error']}; running it again (retry {m['attempt']})",
            "warning",
        )
    elif kind == "worker_retired":  # the recycling rule (Objective.trials_per_worker)
        n = m["trials"]
        rs.log(
            f"worker {m['slot']} (pid {m['old_pid']}) retired after {n} trial"
            f"{'s' if n != 1 else ''} (the objective's trials_per_worker); started a new one",
        )
        rs.set_worker(m["slot"], trial_id=None, pid=None)
    elif kind == "worker_restarted":
        rs.log(
            f"worker {m['slot']} (pid {m['old_pid']}) exited with code {m['exitcode']}; "
            "started a new one",
            "warning",
        )
        rs.set_worker(m["slot"], trial_id=None, pid=None)
    else:
        return False
    return True


def record_progress(rs: RunStore, m: dict[str, Any]) -> None:
    """Where a trial is in its training, for the trainers pane."""
    rs.set_worker(
        m["slot"], trial_id=m["trial_id"], epoch=m["epoch"], epochs=m["epochs"],
        batch=m["batch"], batches=m["batches"],
    )  # fmt: skip


def record_epoch(rs: RunStore, m: dict[str, Any]) -> None:
    """One epoch of a trial; a loss that is not a number is stored as NULL."""
    rs.add_epoch(m["trial_id"], **{k: _finite(m[k]) for k in EPOCH_KEYS})


def result_line(
    number: int,
    proposal: Proposal,
    res: dict[str, Any],
    outcome: Outcome,
    searching: bool,
    metric: Metric | None = None,
) -> str:
    """The log line of a trial that ended with a result: its validation accuracy, or the
    run's `metric` under its own name (the result holds the metric's utility)."""
    how = "finished"
    if outcome.pruned:
        how = f"pruned after epoch {res['epochs_run']} of {proposal.epochs}"
    if metric is None or metric == Metric():
        name, test_name, spec = "val acc", "test acc", ".4f"

        def shown(u: float) -> float:
            return u
    else:
        name, test_name, spec = metric.name, f"test {metric.name}", metric.value_format()
        shown = metric.value
    tail = f", reward {outcome.reward:.2f}" if searching else ""
    if not searching and res.get("test_accuracy") is not None:  # final validation's
        tail = f", {test_name} {shown(res['test_accuracy']):{spec}}"
    return (
        f"trial {number} ({proposal.phase}) {how}: {name} {shown(res['val_accuracy']):{spec}}, "
        f"{res['seconds']:.1f} s{tail}"
    )


def _finite(v: Any) -> Any:
    return v if not isinstance(v, float) or math.isfinite(v) else None
