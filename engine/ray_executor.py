"""The Ray executor: the same trainer function as the local pool, run as Ray tasks on a local
Ray instance or a cluster (`--executor ray --ray-address HEAD:6379`).

- The tokenized arrays are loaded once on the driver and put in the object store once; every
  task gets the same ObjectRef (numpy arrays are shared zero-copy by the workers of a node, and
  a node fetches them once). The prepared-data file is only valid on this machine.
- Progress goes back through a `ray.util.queue.Queue` (an actor on the driver's node).
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

import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import RayError, RayTaskError, TaskCancelledError
from ray.util.queue import Empty, Queue

from engine.executor import DEFAULT_TRAINER, Message, WorkerSettings, resolve_trainer
from engine.trainer import TrialError, TrialTask

# (device, precision policy) once TensorFlow is configured in this Ray worker process.
_TF_CONFIGURED: tuple[str, str] | None = None


def _worker_setup(trainer: str, threads: int, precision: str | None) -> tuple[str, str]:
    """Configure TensorFlow once per Ray worker process (Ray sets CUDA_VISIBLE_DEVICES for
    the GPUs it gave the task before the process first runs it)."""
    global _TF_CONFIGURED
    if trainer != DEFAULT_TRAINER:  # a test or benchmark double: no TensorFlow
        return "cpu", precision or "float32"
    if _TF_CONFIGURED is None:
        from engine.trainer import configure_tensorflow

        _TF_CONFIGURED = configure_tensorflow(threads, precision)
    return _TF_CONFIGURED


def run_trial(
    task: TrialTask,
    data: Any,
    *,
    trainer: str,
    threads: int,
    precision: str | None,
    vocab_size: int,
    queue: Queue,
    slot: int,
    token: int,
) -> dict[str, Any]:
    """The body of one Ray task: train `task` and return a `result` or `failed` message
    (without slot and trial id, which the driver adds). `data` is the Dataset, resolved by
    Ray from the ObjectRef passed in."""

    def send(msg: dict[str, Any]) -> None:
        # Blocking put: every message is in the queue before the task's result is, so the
        # driver drains the last epoch before it sees the result.
        queue.put({**msg, "slot": slot, "_token": token})

    try:
        device, policy = _worker_setup(trainer, threads, precision)
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
        train = resolve_trainer(trainer)
        res = train(task, data, send, vocab_size=vocab_size, device=device, precision=policy)
        return {"kind": "result", "result": res.to_dict()}
    except TrialError as exc:
        return {"kind": "failed", "error": str(exc)}
    except RayError:
        raise  # the progress queue (or another Ray part) is gone: a system failure
    except Exception as exc:  # any other error fails this trial only
        return {"kind": "failed", "error": f"{type(exc).__name__}: {exc}"}


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
        self._queue: Queue | None = None
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
        self._data_ref = ray.put(_load(self.settings))
        self._queue = Queue(actor_options=self._queue_options())
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

    def _queue_options(self) -> dict[str, Any]:
        """The progress queue takes no CPU and lives on the driver's node when it can."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        try:
            node = ray.get_runtime_context().get_node_id()
        except Exception:  # Ray Client: no node of our own
            return {"num_cpus": 0}
        return {
            "num_cpus": 0,
            "scheduling_strategy": NodeAffinitySchedulingStrategy(node, soft=True),
        }

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
            trainer=self.settings.trainer,
            threads=max(1, int(self.cpus_per_trial)),
            precision=self.settings.precision,
            vocab_size=self.settings.data.vocab_size,
            queue=self._queue,
            slot=slot,
            token=self._next_token,
        )
        self._inflight[slot] = _Attempt(task, ref, self._next_token, retries)

    def poll(self, timeout: float) -> list[Message]:
        msgs, self._pending = self._pending, []
        done: list[Any] = []
        refs = [a.ref for a in self._inflight.values()]
        if refs:
            done, rest = ray.wait(refs, num_returns=1, timeout=timeout)
            if done and rest:
                more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                done += more
        elif not msgs:
            time.sleep(timeout)
        msgs += self._drain()  # after the wait: a finished task's last epochs come first
        by_ref = {a.ref: slot for slot, a in self._inflight.items()}
        for ref in done:
            slot = by_ref.get(ref)
            if slot is not None:
                msgs += self._finish(slot)
        return msgs

    def _drain(self) -> list[Message]:
        """The queued progress of the attempts still in flight (a cancelled or retried
        attempt's late messages are dropped)."""
        if self._queue is None:
            return []
        try:
            n = self._queue.qsize()
            items = self._queue.get_nowait_batch(n) if n else []
        except Empty:
            return []
        except RayError as exc:
            # The queue's actor is gone (its node died): the attempts that hold it fail and
            # are retried with a new one.
            self._log(f"ray: progress queue lost ({type(exc).__name__}); making a new one")
            self._queue = Queue(actor_options=self._queue_options())
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
        if self._queue is not None:
            try:
                ray.kill(self._queue.actor)
            except Exception:  # already gone with its node
                pass
            self._queue = None
        self._data_ref = None
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
