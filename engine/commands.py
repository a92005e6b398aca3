"""The engine's handling of the commands table: what each kind does to a run, on its own.

`apply_command` decides from the command and the run's state what happens and says it in one
line; the engine (a `CommandTarget`) carries it out. `handle_pending` answers every pending
command of a run in the order they were sent: done with that line, or refused with the reason
(the run unchanged). Both are testable without an engine or a worker.
"""

from __future__ import annotations

from typing import Any, Protocol

from engine.space import SpaceError
from storage import contract
from storage.store import Store


class CommandTarget(Protocol):
    """What a command acts on: a run's status, its running trials and its settings."""

    status: str

    def running_count(self) -> int: ...

    def set_status(self, status: str) -> None: ...

    def cancel_running(self) -> None:
        """Kill the running trials; they end `cancelled`."""

    def edit(self, kind: str, payload: dict[str, Any]) -> str:
        """A new version of the space, rules or pruner; SpaceError refuses it."""


def apply_command(kind: str, payload: dict[str, Any], target: CommandTarget) -> str:
    """Carry out one command on `target`; returns what was done. SpaceError: refused, with
    nothing changed."""
    if not isinstance(payload, dict):
        raise SpaceError(f"{kind}: the payload is not a JSON object")
    status = target.status
    if kind == contract.PAUSE:
        if status == contract.RUNNING:
            target.set_status(contract.PAUSED)
            return "paused: no new trials start; running ones finish"
        return f"pause ignored: run is {status}"
    if kind == contract.RESUME:
        if status == contract.PAUSED:
            target.set_status(contract.RUNNING)
            return "resumed"
        return f"resume ignored: run is {status}"
    if kind == contract.STOP:
        target.set_status(contract.STOPPING)
        return f"stopping: {target.running_count()} running trial(s) will finish, then the run ends"
    if kind == contract.CANCEL:
        n = target.running_count()
        target.cancel_running()
        target.set_status(contract.CANCELLED)
        return f"cancelled: {n} running trial(s) killed"
    if kind in contract.EDIT_KINDS:
        return target.edit(kind, payload)
    raise SpaceError(f"unknown command {kind!r}")


def handle_pending(store: Store, run_id: int, target: CommandTarget) -> int:
    """Answer the run's pending commands, oldest first; returns how many were answered."""
    pending = store.pending_commands(run_id)
    for cmd in pending:
        kind, payload = cmd["kind"], cmd["payload"] or {}
        try:
            message = apply_command(kind, payload, target)
        except SpaceError as exc:
            store.finish_command(cmd["id"], contract.REFUSED, str(exc))
            store.log(run_id, f"{kind} refused: {exc}", "warning")
            continue
        store.finish_command(cmd["id"], contract.DONE, message)
        store.log(run_id, message)
    return len(pending)
