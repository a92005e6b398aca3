"""The Ray executor: the same trainer functions as the local pool, run as Ray tasks on a local
Ray instance or a cluster (`--executor ray --ray-address HEAD:6379`).

- The built-in objective: the tokenized arrays are loaded once on the driver and put in the
  object store once; every task gets the same ObjectRef (numpy arrays are shared zero-copy by
  the workers of a node, and a node fetches them once). The prepared-data file is only valid
  on this machine.
- A user's objective (engine.objective) is imported in the Ray worker, as in a pool worker
  (engine.executor.objective_trainer, once per worker process). How it gets there:
  - a file (path/to/file.py[:attr]) travels by content: the driver reads it once, at start,
    and puts its bytes in the object store; a worker writes them to
    `$TMPDIR/hptui-objectives/<sha256>/<file name>` (once per node) and imports that copy.
    So every node runs the file as it was when the run started, whether or not the path
    exists there, and an edited file is a new module in a reused worker. Modules the file
    imports from its own folder are found only where that folder exists at the same path
    (the engine's node, a shared file system); elsewhere they must be installed.
  - module:attr (and the built-in names) are imported by name: the module must be installed
    on every node, as hptui itself is.
  A Ray worker runs trial after trial: an objective's `trials_per_worker` is not applied.
- Messages (ready, started, progress, epoch) go back live through a mailbox, a small async
  actor on the driver's node: a task puts each message and waits until it is stored, so every
  message is there before the task's result is. After an epoch the engine is to judge
  (pruning, `task.verdict_epochs`), the task puts the epoch and waits in the mailbox for the
  answer that `verdict()` posts, as a pool worker waits on its pipe (`supports_verdicts`).
- A lost worker or node fails the attempt; the trial runs again on the same slot up to
  `retries` times (a `retry` message each time), then fails with the cause. Ray's own task
  retries are off (`max_retries=0`) so that the policy is ours and visible in the run's log.
- A `TrialError` (the configuration's fault) fails the trial at once, as in the local pool.
- Nothing Ray prints reaches the terminal: worker output stays in Ray's session logs
  (`log_to_driver=False`), and the driver's Ray logging goes to the run's log file.

`ray` is imported only here; without it, importing this module raises ImportError, which the
runner turns into "pip install 'hptui[ray]'".
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayError, RayTaskError, TaskCancelledError

from engine.executor import (
    DEFAULT_TRAINER,
    Message,
    WorkerSettings,
    data_trainer,
    failure_text,
    objective_trainer,
    train_with_verdicts,
)
from engine.objective import objective_file
from engine.trainer import TrialError, TrialTask
from storage.contract import BUILTIN_OBJECTIVE


# --- a user's objective, shipped to the workers -----------------------------------------------
@dataclass(frozen=True)
class ShippedObjective:
    """What a Ray worker needs to import the run's objective: its spec and, for a file, the
    file's name, attribute, bytes and their sha256 (None: the file could not be read on the
    driver; the worker then tries the path and fails with the usual message)."""

    spec: str
    name: str = ""
    attr: str = ""
    folder: str = ""
    content: bytes | None = None
    digest: str = ""


def ship_objective(spec: str) -> ShippedObjective:
    named = objective_file(spec)
    if named is None:
        return ShippedObjective(spec)
    file, attr = named
    try:
        content = file.read_bytes()
    except OSError:
        return ShippedObjective(spec)
    digest = hashlib.sha256(content).hexdigest()
    return ShippedObjective(spec, file.name, attr, str(file.resolve().parent), content, digest)


def objective_copy(shipped: ShippedObjective, root: str | None = None) -> str:
    """The spec to import on this node: a shipped file written once under
    `root`/hptui-objectives/<sha256>/ (atomically: workers of a node may race), else the spec
    as it is."""
    if shipped.content is None:
        return shipped.spec
    folder = Path(root or tempfile.gettempdir()) / "hptui-objectives" / shipped.digest
    path = folder / shipped.name
    if not (path.is_file() and _sha256(path) == shipped.digest):
        folder.mkdir(parents=True, exist_ok=True)
        part = folder / f".{shipped.name}.{os.getpid()}.part"
        part.write_bytes(shipped.content)
        os.replace(part, path)
    return f"{path}:{shipped.attr}"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# The trainer of each objective this Ray worker process has imported (a process runs many
# trials, of one run or of several): (objective, threads, precision) -> trainer.
_OBJECTIVE_TRAINERS: dict[tuple[str, int, str | None], tuple[Any, str, str]] = {}


def _objective_trainer(
    shipped: ShippedObjective, threads: int, precision: str | None
) -> tuple[Any, str, str]:
    key = (shipped.digest or shipped.spec, threads, precision)
    if key not in _OBJECTIVE_TRAINERS:
        spec = objective_copy(shipped)
        # The file's own folder, where it exists on this node: its helper modules import.
        extra = shipped.folder if shipped.folder and os.path.isdir(shipped.folder) else None
        if extra:
            sys.path.append(extra)
        try:
            train, device, policy, _ = objective_trainer(spec, threads, precision)
        finally:
            if extra and extra in sys.path:
                sys.path.remove(extra)
        _OBJECTIVE_TRAINERS[key] = train, device, policy
    return _OBJECTIVE_TRAINERS[key]


# --- the mailbox: messages out, verdicts in -----------------------------------------------------
class Mailbox:
    """An async actor (one per executor): tasks `put` their messages and `ask` for verdicts;
    the driver `take`s the messages and `answer`s the verdicts. `ask` waits (without holding
    the actor) until the verdict is posted; the driver keeps one `take` waiting, which
    returns as soon as a message arrives, so a verdict is asked for without a poll's delay."""

    def __init__(self) -> None:
        self._messages: list[dict[str, Any]] = []
        self._waiting: dict[int, asyncio.Future] = {}  # attempt token -> its verdict
        self._arrived = asyncio.Event()  # a message (or a `wake`) since the last take

    async def put(self, msg: dict[str, Any]) -> None:
        self._messages.append(msg)
        self._arrived.set()

    async def ask(self, msg: dict[str, Any]) -> bool:
        answer = asyncio.get_running_loop().create_future()
        self._waiting[msg["_token"]] = answer
        await self.put(msg)
        try:
            return bool(await answer)
        finally:
            self._waiting.pop(msg["_token"], None)

    async def take(self, wait: float = 0.0) -> list[dict[str, Any]]:
        """The messages so far, oldest first; with none, waits up to `wait` seconds for the
        first (or a `wake`)."""
        if not self._messages and wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), wait)
        out, self._messages = self._messages, []
        self._arrived.clear()
        return out

    async def wake(self) -> None:
        """End the waiting `take` now (or the next one at once)."""
        self._arrived.set()

    async def answer(self, token: int, stop: bool) -> bool:
        """Post the verdict of the attempt `token`; False if it is not waiting for one."""
        fut = self._waiting.get(token)
        if fut is None or fut.done():
            return False
        fut.set_result(stop)
        return True


_RemoteMailbox = ray.remote(num_cpus=0)(Mailbox)
TAKE_WAIT_S = 1.0  # the longest a take waits in the mailbox (the driver then sends another)


# --- one trial, in a Ray worker -----------------------------------------------------------------
def run_trial(
    task: TrialTask,
    data: Any,
    objective: ShippedObjective | None,
    *,
    trainer: str,
    threads: int,
    precision: str | None,
    vocab_size: int,
    mailbox: Any,
    slot: int,
    token: int,
) -> dict[str, Any]:
    """The body of one Ray task: train `task` and return a `result` or `failed` message
    (without slot and trial id, which the driver adds). `data` is the built-in objective's
    Dataset, resolved by Ray from the ObjectRef passed in; `objective` a user's objective
    (then `data` is None)."""

    def send(msg: dict[str, Any]) -> None:
        # Waits until the message is stored: every message is in the mailbox before the
        # task's result is, so the driver takes the last epoch before it sees the result.
        ray.get(mailbox.put.remote({**msg, "slot": slot, "_token": token}))

    def ask(msg: dict[str, Any]) -> bool:
        return ray.get(mailbox.ask.remote({**msg, "slot": slot, "_token": token}))

    try:
        try:
            if objective is None:
                train, device, policy = data_trainer(trainer, data, vocab_size, threads, precision)
            else:
                train, device, policy = _objective_trainer(objective, threads, precision)
        except Exception as exc:  # the objective's import or data load, on this node
            raise TrialError(
                f"the objective cannot be used on Ray node {ray.util.get_node_ip_address()}: "
                f"{failure_text(exc)}"
            ) from exc
        send(
            {
                "kind": "ready",
                "pid": os.getpid(),
                "node": ray.util.get_node_ip_address(),
                "device": device,
                "precision": policy,
            }
        )
        send({"kind": "started", "trial_id": task.trial_id})
        res = train_with_verdicts(train, task, send, ask)
        return {"kind": "result", "result": res.to_dict()}
    except TrialError as exc:
        return {"kind": "failed", "error": str(exc)}
    except RayError:
        raise  # the mailbox (or another Ray part) is gone: a system failure
    except Exception as exc:  # any other error fails this trial only
        return {"kind": "failed", "error": failure_text(exc)}


_remote_trial = ray.remote(max_retries=0)(run_trial)


@dataclass
class _Attempt:
    """One submission of a trial to Ray; `retries` counts the submissions before it."""

    task: TrialTask
    ref: Any  # ray.ObjectRef
    token: int
    retries: int = 0
    pid: int | None = None
    node: str | None = None


class RayExecutor:
    """Trials as Ray tasks, one in flight per slot; see the module docstring."""

    supports_verdicts = True

    def __init__(
        self,
        slots: int,
        settings: WorkerSettings,
        *,
        address: str | None = None,
        cpus_per_trial: float = 1.0,
        gpus_per_trial: float = 0.0,
        retries: int = 1,
    ) -> None:
        if cpus_per_trial <= 0 or gpus_per_trial < 0 or retries < 0:
            raise ValueError("cpus_per_trial must be > 0, gpus_per_trial and retries >= 0")
        self.slots = slots
        self.settings = settings
        self.address = address
        self.cpus_per_trial = cpus_per_trial
        self.gpus_per_trial = gpus_per_trial
        self.retries = retries
        self._owns_ray = False
        self._data_ref: Any = None
        self._objective_ref: Any = None  # a ShippedObjective, for a user's objective
        self._mailbox: Any = None
        self._take: Any = None  # the mailbox's waiting take (an ObjectRef)
        self._inflight: dict[int, _Attempt] = {}  # slot -> current attempt
        self._next_token = 0
        self._pending: list[Message] = []  # messages made outside poll (ready at start)
        self._log_handler: logging.Handler | None = None
        self._saved_print: Any = None
        self._saved_logger: tuple[int, bool] = (logging.NOTSET, True)

    # --- start ---------------------------------------------------------------------------
    def start(self) -> None:
        if ray.is_initialized():
            self._quiet_ray_output()
            self._log("ray: using the Ray instance already started in this process")
        else:
            self._init_ray()
        self._check_resources()
        if self._user_objective():
            self._objective_ref = ray.put(ship_objective(self.settings.objective))
        else:
            self._data_ref = ray.put(_load(self.settings))
        self._mailbox = self._new_mailbox()
        res = ray.cluster_resources()
        where = self.address or os.environ.get("RAY_ADDRESS") or "local"
        device = f"ray ({where}: {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs)"
        info = {"device": device, "precision": self.settings.precision or "auto"}
        for slot in range(self.slots):
            self._pending.append({"kind": "ready", "slot": slot, "pid": None, **info})

    def _init_ray(self) -> None:
        address = self.address or os.environ.get("RAY_ADDRESS") or "local"
        kwargs: dict[str, Any] = {"address": address}
        if not address.startswith("ray://"):  # Ray Client takes none of these
            kwargs["log_to_driver"] = False
            kwargs["configure_logging"] = False  # our handler takes the "ray" logger
        if address == "local":
            kwargs["num_cpus"] = max(1, math.ceil(self.slots * self.cpus_per_trial))
            kwargs["include_dashboard"] = False
        try:
            with _output_to(self.settings.log_path):  # Ray's start-up notices, its processes
                ctx = ray.init(**kwargs)
        except Exception as exc:
            raise RuntimeError(f"cannot start or reach Ray at {address}: {exc}") from exc
        self._owns_ray = True
        self._quiet_ray_output()
        session = getattr(ctx, "address_info", {}).get("session_dir", "?")
        self._log(f"ray: connected to {address} (Ray {ray.__version__}); Ray's logs: {session}")

    def _check_resources(self) -> None:
        """Refuse at once what no node could ever run (instead of tasks pending forever)."""
        need = {"CPU": self.cpus_per_trial, "GPU": self.gpus_per_trial}
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        if any(all(n["Resources"].get(k, 0) >= v for k, v in need.items() if v) for n in nodes):
            return
        have = ", ".join(
            f"{n.get('NodeManagerAddress')}: {n['Resources'].get('CPU', 0):g} CPUs, "
            f"{n['Resources'].get('GPU', 0):g} GPUs"
            for n in nodes
        )
        raise RuntimeError(
            f"no Ray node has {self.cpus_per_trial:g} CPUs and {self.gpus_per_trial:g} GPUs "
            f"for a trial (nodes: {have or 'none'}); change --cpus-per-trial/--gpus-per-trial"
        )

    def _user_objective(self) -> bool:
        s = self.settings
        return s.trainer == DEFAULT_TRAINER and s.objective != BUILTIN_OBJECTIVE

    def _new_mailbox(self) -> Any:
        """The mailbox takes no CPU and lives on the driver's node when it can; it serves
        every slot's waiting verdict at once."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        options: dict[str, Any] = {"max_concurrency": max(1000, 4 * self.slots)}
        with contextlib.suppress(Exception):  # Ray Client: no node of our own
            node = ray.get_runtime_context().get_node_id()
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=True)
        return _RemoteMailbox.options(**options).remote()

    # --- the Executor interface ------------------------------------------------------------
    def free_slots(self) -> list[int]:
        return [s for s in range(self.slots) if s not in self._inflight]

    def running(self) -> dict[int, int]:
        return {slot: a.task.trial_id for slot, a in self._inflight.items()}

    def submit(self, slot: int, task: TrialTask) -> None:
        assert slot not in self._inflight, f"slot {slot} is busy"
        self._launch(slot, task, retries=0)

    def _launch(self, slot: int, task: TrialTask, retries: int) -> None:
        self._next_token += 1
        ref = _remote_trial.options(
            num_cpus=self.cpus_per_trial,
            num_gpus=self.gpus_per_trial,
            name=f"hptui-trial-{task.trial_id}",
        ).remote(
            task,
            self._data_ref,
            self._objective_ref,
            trainer=self.settings.trainer,
            threads=max(1, int(self.cpus_per_trial)),
            precision=self.settings.precision,
            vocab_size=self.settings.data.vocab_size if self.settings.data else 0,
            mailbox=self._mailbox,
            slot=slot,
            token=self._next_token,
        )
        self._inflight[slot] = _Attempt(task, ref, self._next_token, retries)

    def poll(self, timeout: float) -> list[Message]:
        """Waits up to `timeout` for a task to end or a message to arrive (a verdict asked
        for is answered without delay)."""
        msgs, self._pending = self._pending, []
        refs = [a.ref for a in self._inflight.values()]
        if not refs or self._mailbox is None:
            if not msgs:
                time.sleep(timeout)
            return msgs
        if self._take is None:
            self._take = self._mailbox.take.remote(TAKE_WAIT_S)
        ready, rest = ray.wait([*refs, self._take], num_returns=1, timeout=timeout)
        if ready and rest:
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        done = [r for r in ready if r != self._take]
        if done and len(done) == len(ready):  # the take still waits: end it now (a
            self._mailbox.wake.remote()  # finished task's messages are all in the mailbox)
        if ready:
            msgs += self._drain()  # a finished task's last epochs come before its result
        by_ref = {a.ref: slot for slot, a in self._inflight.items()}
        for ref in done:
            slot = by_ref.get(ref)
            if slot is not None:
                msgs += self._finish(slot)
        return msgs

    def _drain(self) -> list[Message]:
        """The messages of the attempts still in flight (a cancelled or retried attempt's
        late messages are dropped), from the waiting take."""
        if self._mailbox is None or self._take is None:
            return []
        take, self._take = self._take, None
        try:
            items = ray.get(take)
        except RayError as exc:
            # The mailbox's actor is gone (its node died): the attempts that hold it fail
            # and are retried with a new one.
            self._log(f"ray: mailbox lost ({type(exc).__name__}); making a new one")
            self._mailbox = self._new_mailbox()
            return []
        out: list[Message] = []
        for m in items:
            att = self._inflight.get(m["slot"])
            if att is None or att.token != m.pop("_token", None):
                continue
            if m["kind"] == "ready":
                att.pid, att.node = m.get("pid"), m.get("node")
            out.append(m)
        return out

    def _finish(self, slot: int) -> list[Message]:
        att = self._inflight.pop(slot)
        tid = att.task.trial_id
        try:
            out = ray.get(att.ref)
        except TaskCancelledError:
            return []
        except RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, RayError):
                return self._lost(slot, att, cause)
            error = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
            return [{"kind": "failed", "slot": slot, "trial_id": tid, "error": error}]
        except RayError as exc:
            return self._lost(slot, att, exc)
        return [{**out, "slot": slot, "trial_id": tid}]

    def _lost(self, slot: int, att: _Attempt, exc: BaseException) -> list[Message]:
        """The worker or node running the attempt is gone: retry, or fail with the cause."""
        tid = att.task.trial_id
        who = f"Ray worker pid {att.pid} on {att.node}" if att.pid else "the Ray worker"
        text = (str(exc).strip().splitlines() or [""])[0][:200]
        cause = f"{who} was lost ({type(exc).__name__}: {text})"
        if att.retries < self.retries:
            self._launch(slot, att.task, retries=att.retries + 1)
            return [
                {
                    "kind": "retry",
                    "slot": slot,
                    "trial_id": tid,
                    "error": cause,
                    "attempt": att.retries + 1,
                }
            ]
        if att.retries:
            cause += f"; gave up after {att.retries + 1} attempts"
        return [{"kind": "failed", "slot": slot, "trial_id": tid, "error": cause}]

    def verdict(self, trial_id: int, stop: bool) -> bool:
        """Answer the task waiting after an epoch of `trial_id`: stop there, or go on.
        False if no attempt of the trial is in flight (cancelled or lost meanwhile)."""
        for att in self._inflight.values():
            if att.task.trial_id == trial_id and self._mailbox is not None:
                # Not waited for: the task waits for it; a lost mailbox fails the attempt.
                self._mailbox.answer.remote(att.token, stop)
                return True
        return False

    def cancel(self, trial_id: int) -> bool:
        for slot, att in list(self._inflight.items()):
            if att.task.trial_id == trial_id:
                del self._inflight[slot]
                _cancel(att.ref)
                return True
        return False

    def shutdown(self) -> None:
        for att in self._inflight.values():
            _cancel(att.ref)
        self._inflight.clear()
        if self._mailbox is not None:
            with contextlib.suppress(Exception):  # already gone with its node
                ray.kill(self._mailbox)
            self._mailbox = None
        self._take = self._data_ref = self._objective_ref = None
        if self._owns_ray:
            with _output_to(self.settings.log_path):
                ray.shutdown()
            self._owns_ray = False
        self._restore_output()

    # --- output --------------------------------------------------------------------------
    def _log(self, line: str) -> None:
        logging.getLogger("ray.hptui").info(line)

    def _quiet_ray_output(self) -> None:
        """Send the driver's Ray logging and Ray's printed notices (a worker died, a task
        cannot be scheduled) to the run's log file instead of the terminal."""
        if self._log_handler is not None:
            return
        handler = logging.FileHandler(self.settings.log_path, delay=True)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        ray_logger = logging.getLogger("ray")
        ray_logger.addHandler(handler)
        self._saved_logger = (ray_logger.level, ray_logger.propagate)
        ray_logger.setLevel(logging.INFO)
        ray_logger.propagate = False
        self._log_handler = handler
        try:
            import ray._private.worker as ray_worker  # private: guarded, optional
        except ImportError:
            return
        saved = getattr(ray_worker, "print_to_stdstream", None)
        if saved is None:
            return
        log = logging.getLogger("ray.driver")

        def to_log(data: dict[str, Any], ignore_prefix: bool = False) -> None:
            for line in data.get("lines") or []:
                log.warning("(%s) %s", data.get("pid", "ray"), line)

        self._saved_print = saved
        ray_worker.print_to_stdstream = to_log

    def _restore_output(self) -> None:
        if self._saved_print is not None:
            import ray._private.worker as ray_worker

            ray_worker.print_to_stdstream = self._saved_print
            self._saved_print = None
        if self._log_handler is not None:
            ray_logger = logging.getLogger("ray")
            ray_logger.removeHandler(self._log_handler)
            ray_logger.level, ray_logger.propagate = self._saved_logger
            self._log_handler.close()
            self._log_handler = None


def _load(settings: WorkerSettings) -> Any:
    from engine.data import load_dataset

    return load_dataset(settings.data)


@contextlib.contextmanager
def _output_to(log_path: str) -> Iterator[None]:
    """Point this process's stdout and stderr at the run's log file for the duration: the
    file descriptors (child processes, C++ logging) and Python's `sys.stdout`/`sys.stderr`."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                yield
        finally:
            log.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _cancel(ref: Any) -> None:
    try:
        ray.cancel(ref, force=True)
    except Exception:  # finished or already gone
        pass
