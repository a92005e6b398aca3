"""Trainer executors: where trials run. The engine talks to an executor only through
`submit`, `poll`, `cancel` and `shutdown`, so a Ray executor can stand beside the local pool.

The local pool keeps one spawned process per slot rather than a `ProcessPoolExecutor`:
a pool breaks every running future when one worker dies, while here a death fails exactly
the trial that worker held, and `cancel` can kill one trial without touching the others.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any, Protocol

from engine.data import DataRef
from engine.trainer import TrialTask
from storage.contract import BUILTIN_OBJECTIVE, DEFAULT_TRAINER

# Messages an executor reports (plain dicts, as they cross process boundaries; typed as
# storage.contract.ExecutorMessage):
#   {"kind": "ready", "slot", "pid", "device", "precision"}
#   {"kind": "started", "slot", "trial_id"}
#   {"kind": "progress", "slot", "trial_id", "epoch", "epochs", "batch", "batches"}
#   {"kind": "epoch", "slot", "trial_id", "epoch", "loss", "accuracy", "val_loss",
#    "val_accuracy", "seconds"[, "verdict": True]}
# With "verdict" (the epoch is in the task's `verdict_epochs`) the worker waits until the engine
# calls `verdict(trial_id, stop)`; told to stop, the trainer ends after that epoch and the
# result says `pruned`. Both executors answer (`supports_verdicts = True`); one that could not
# would say False, and the engine would never ask it for verdicts.
#   {"kind": "result", "slot", "trial_id", "result": TrialResult dict}
#   {"kind": "failed", "slot", "trial_id", "error"}
# A worker's last trial under the recycling rule (Objective.trials_per_worker) carries
# "retiring": True; the pool then replaces the process and reports
#   {"kind": "worker_retired", "slot", "old_pid", "trials"}
Message = dict[str, Any]

# Trainers run at a lower CPU priority than the engine and the terminal UI. On a box whose
# cores they fill, the screen and the engine's bookkeeping (a few percent of a core) are
# served first instead of waiting behind a training step; the trainers lose only that few
# percent, and nothing on an idle core (bench/ui_stall.py --trainers).
TRAINER_NICE = 10


class Executor(Protocol):
    slots: int
    supports_verdicts: bool  # absent: False

    def start(self) -> None: ...
    def free_slots(self) -> list[int]: ...
    def submit(self, slot: int, task: TrialTask) -> None: ...
    def poll(self, timeout: float) -> list[Message]: ...
    def cancel(self, trial_id: int) -> bool: ...
    def running(self) -> dict[int, int]: ...  # slot -> trial id
    def shutdown(self) -> None: ...


@dataclass
class WorkerSettings:
    data: DataRef | None  # the built-in objective's prepared data (None: a user's objective)
    threads: int | None
    precision: str | None
    log_path: str
    # "module:function" with train_trial's signature. Benchmarks and tests swap in a trainer
    # that sleeps or crashes, running in the same real worker processes.
    trainer: str = DEFAULT_TRAINER
    nice: int = TRAINER_NICE  # added to the worker's niceness; 0 keeps the engine's
    objective: str = BUILTIN_OBJECTIVE  # engine.objective: what the default trainer trains


def resolve_trainer(spec: str) -> Any:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _redirect_output(log_path: str, output: Any = None) -> None:
    """Point this process's stdout/stderr (file descriptors, so TensorFlow's C++ logging too)
    at the pool's output pipe (`output`, a connection whose far end an OutputPump reads into
    the run's log, capped), else at the log file itself: nothing a worker prints paints over
    the terminal UI."""
    if output is not None:
        os.dup2(output.fileno(), 1)
        os.dup2(output.fileno(), 2)
        return
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


# What the workers print goes to the run's log up to these sizes (bytes), then is dropped
# with a note: an objective that prints without end (a progress bar per batch, a debug dump)
# fills neither the disk nor the log. A worker process may write WORKER_OUTPUT_CAP; all of
# them together (a recycled worker is a new process) until the log file holds LOG_OUTPUT_CAP.
WORKER_OUTPUT_CAP = 16 * 2**20
LOG_OUTPUT_CAP = 64 * 2**20


def _size(n: int) -> str:
    return f"{n // 2**20} MiB" if n >= 2**20 else f"{n:,} bytes"


class OutputPump:
    """Copies each worker's output (its end of a pipe) into the run's log, within the caps.
    A thread per worker process reads until the worker and its children have closed the
    pipe: what a worker printed just before it died is still read, as the pipe outlives it."""

    def __init__(self, log_path: str) -> None:
        self.log_path = log_path
        self._lock = threading.Lock()
        self._full = False  # the note that the log is full was written
        self._threads: list[threading.Thread] = []

    def add(self, conn: Any, name: str) -> None:
        t = threading.Thread(target=self._copy, args=(conn, name), name=f"output-{name}")
        t.daemon = True
        t.start()
        self._threads = [*(x for x in self._threads if x.is_alive()), t]

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def _copy(self, conn: Any, name: str) -> None:
        fd, written, dropped = conn.fileno(), 0, False
        try:
            while True:
                try:
                    data = os.read(fd, 1 << 16)
                except InterruptedError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                if dropped:
                    continue  # read and dropped: the worker never blocks on a full pipe
                room = WORKER_OUTPUT_CAP - written
                if len(data) > room:
                    data = data[: max(room, 0)]
                    dropped = True
                written += len(data)
                note = (
                    f"\n[hptui: {name} printed over {_size(WORKER_OUTPUT_CAP)}; the rest of its "
                    "output is not logged]\n"
                    if dropped
                    else ""
                )
                if not self._append(data, note.encode()):
                    dropped = True
        finally:
            conn.close()

    def _append(self, data: bytes, note: bytes) -> bool:
        """Append to the log within LOG_OUTPUT_CAP; False once the log is full."""
        with self._lock:
            if self._full:
                return False
            try:
                fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            except OSError:
                return True  # no log (a full disk, a removed folder): dropped, not fatal
            try:
                room = LOG_OUTPUT_CAP - os.fstat(fd).st_size
                if len(data) >= room:
                    data, self._full = data[: max(room, 0)], True
                    note = (
                        f"\n[hptui: the workers' output filled this log to "
                        f"{_size(LOG_OUTPUT_CAP)}; the rest of it is not logged]\n"
                    ).encode()
                os.write(fd, data + note)
            except OSError:
                pass
            finally:
                os.close(fd)
            return not self._full


def lower_priority(nice: int) -> None:
    """Add `nice` to this process's niceness; where that is refused, run as it is."""
    if nice > 0:
        try:
            os.nice(nice)
        except OSError:
            pass


def _exit_with_parent() -> None:
    """If the engine dies (even by SIGKILL), its workers go too instead of training on for
    nobody; a resumed engine starts fresh ones."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def worker_main(
    slot: int, settings: WorkerSettings, tasks: Any, results: Any, output: Any = None
) -> None:
    """Entry point of a worker process: load the data once, then train tasks until None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the engine, which stops us
    _redirect_output(settings.log_path, output)
    if output is not None:
        output.close()  # fds 1 and 2 hold the pipe now
    _exit_with_parent()
    lower_priority(settings.nice)
    from engine.trainer import TrialError

    try:
        train_trial, device, policy, retire_after = _trainer(settings)
    except Exception as exc:  # noqa: BLE001 -- the objective's own import or data load
        # Every trial this worker is given fails with the reason (a one-line message in the
        # trials table and the log), and the run ends on its failure streak, not in a hang.
        reason = failure_text(exc)
        train_trial, device, policy, retire_after = _failing(reason), "cpu", "", None
    results.send(
        {"kind": "ready", "slot": slot, "pid": os.getpid(), "device": device, "precision": policy}
    )
    done = 0
    while True:
        try:
            task: TrialTask | None = tasks.recv()
        except EOFError:  # the engine went away
            return
        if task is None:
            return
        results.send({"kind": "started", "slot": slot, "trial_id": task.trial_id})

        def send(msg: dict[str, Any]) -> None:
            results.send({**msg, "slot": slot})

        def ask(msg: dict[str, Any], tid: int = task.trial_id) -> bool:
            send(msg)
            return _await_verdict(tasks, tid)

        done += 1
        # The recycling rule (Objective.trials_per_worker): the worker's last trial says so
        # with its outcome, and the pool starts a fresh process in the slot before giving it
        # another trial; what the objective leaked goes with this one.
        last = {"retiring": True} if retire_after is not None and done >= retire_after else {}
        try:
            res = train_with_verdicts(train_trial, task, send, ask)
            outcome: dict[str, Any] = {"kind": "result", "result": res.to_dict()}
        except TrialError as exc:
            outcome = {"kind": "failed", "error": str(exc)}
        except Exception as exc:  # any other error fails this trial only
            outcome = {"kind": "failed", "error": failure_text(exc)}
        results.send({**outcome, "slot": slot, "trial_id": task.trial_id, **last})
        if last:
            return


def train_with_verdicts(train_trial: Any, task: TrialTask, send: Any, ask: Any) -> Any:
    """Run `train_trial(task, report)` in a worker (a pool process or a Ray task): each
    message goes out by `send(msg)`, except the epochs in `task.verdict_epochs`, whose message
    (marked "verdict") goes by `ask(msg)`, which returns the engine's answer (True: stop after
    this epoch). A trial told to stop whose result ends at that epoch is `pruned`."""
    stopped_at: list[int] = []  # the epoch the engine said to stop after

    def report(msg: dict[str, Any]) -> bool:
        if msg.get("kind") != "epoch" or msg.get("epoch") not in task.verdict_epochs:
            send(msg)
            return False
        stop = bool(ask({**msg, "verdict": True}))
        if stop:
            stopped_at.append(int(msg["epoch"]))
        return stop

    res = train_trial(task, report)
    if stopped_at and res.epochs_run <= stopped_at[0]:
        res.pruned = True
    return res


def failure_text(exc: BaseException) -> str:
    """A trial's one-line error for an exception that is not a TrialError."""
    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _trainer(settings: WorkerSettings) -> tuple[Any, str, str, int | None]:
    """(train(task, report), device, precision policy, trials before retiring) for the
    worker's objective; loads the data once."""
    if settings.trainer != DEFAULT_TRAINER or settings.objective == BUILTIN_OBJECTIVE:
        from engine.data import load_dataset

        assert settings.data is not None
        data = load_dataset(settings.data)
        return (
            *data_trainer(
                settings.trainer, data, settings.data.vocab_size, settings.threads,
                settings.precision,
            ),
            None,
        )  # fmt: skip
    return objective_trainer(settings.objective, settings.threads, settings.precision)


def data_trainer(
    spec: str, data: Any, vocab_size: int, threads: int | None, precision: str | None
) -> tuple[Any, str, str]:
    """(train(task, report), device, policy) for the built-in trainer (or a benchmark's or
    test's double, `spec`) on the data the engine prepared."""
    fn = resolve_trainer(spec)
    if spec == DEFAULT_TRAINER:
        from engine.trainer import configure_tensorflow

        device, policy = configure_tensorflow(threads, precision)
    else:  # a double: no TensorFlow
        device, policy = "cpu", precision or "float32"

    def train(task: TrialTask, report: Any) -> Any:
        return fn(task, data, report, vocab_size=vocab_size, device=device, precision=policy)

    return train, device, policy


def objective_trainer(
    spec: str, threads: int | None, precision: str | None
) -> tuple[Any, str, str, int | None]:
    """(train(task, report), device, policy, trials before retiring) for the user's
    objective `spec`, imported here; a Keras objective's data is loaded once, here."""
    from engine.objective import load_objective
    from engine.objective_trial import run_keras, run_plain
    from engine.trainer import configure_tensorflow

    objective = load_objective(spec)
    retire = objective.trials_per_worker
    if objective.flavour == "plain":
        _limit_threads(threads)
        return (lambda task, report: run_plain(task, objective, report)), "cpu", "", retire
    device, policy = configure_tensorflow(threads, precision)
    assert objective.load_data is not None
    data = objective.load_data()

    def train(task: TrialTask, report: Any) -> Any:
        return run_keras(task, objective, data, report, device=device, precision=policy)

    return train, device, policy, retire


def _limit_threads(threads: int | None) -> None:
    """A plain objective's numeric libraries get the worker's share of the cores."""
    if threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, str(threads))
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(threads)
        except Exception:  # noqa: BLE001 -- best effort
            pass


def _failing(reason: str) -> Any:
    from engine.trainer import TrialError

    def train(task: TrialTask, report: Any) -> Any:
        raise TrialError(f"the objective cannot be used in this worker: {reason}")

    return train


def _await_verdict(tasks: Any, trial_id: int) -> bool:
    """Wait for the engine's verdict on `trial_id` (True: stop after this epoch). The engine
    gone (its end of the pipe closed, or a shut-down) ends the worker, as it would anyway."""
    while True:
        try:
            msg = tasks.recv()
        except EOFError:
            os._exit(0)
        if msg is None:
            os._exit(0)
        if isinstance(msg, dict) and msg.get("kind") == "verdict":
            if msg.get("trial_id") == trial_id:
                return bool(msg.get("stop"))


class LocalPoolExecutor:
    """A process per slot, started with `spawn` (forking after TensorFlow has run hangs).
    Each worker has its own pipes: a worker killed mid-write can corrupt only its own pipe,
    which is dropped with it (a shared queue's lock would deadlock everyone)."""

    supports_verdicts = True

    def __init__(self, slots: int, settings: WorkerSettings) -> None:
        self.slots = slots
        self.settings = settings
        self._ctx = mp.get_context("spawn")
        self._procs: dict[int, Any] = {}
        self._tasks: dict[int, Any] = {}  # slot -> send end of its task pipe
        self._results: dict[int, Any] = {}  # slot -> receive end of its result pipe
        self._busy: dict[int, int] = {}  # slot -> trial id
        self._done: dict[int, int] = {}  # slot -> trials its current process ended
        self._output = OutputPump(settings.log_path)

    def start(self) -> None:
        for slot in range(self.slots):
            self._spawn(slot)

    def _spawn(self, slot: int) -> None:
        task_recv, task_send = self._ctx.Pipe(duplex=False)
        result_recv, result_send = self._ctx.Pipe(duplex=False)
        out_recv, out_send = self._ctx.Pipe(duplex=False)  # its stdout and stderr, raw bytes
        proc = self._ctx.Process(
            target=worker_main,
            args=(slot, self.settings, task_recv, result_send, out_send),
            name=f"hptui-worker-{slot}",
            daemon=True,
        )
        proc.start()
        task_recv.close()
        result_send.close()
        out_send.close()
        self._output.add(out_recv, f"worker {slot} (pid {proc.pid})")
        self._procs[slot], self._tasks[slot], self._results[slot] = proc, task_send, result_recv
        self._done[slot] = 0

    def free_slots(self) -> list[int]:
        return [s for s in range(self.slots) if s not in self._busy]

    def running(self) -> dict[int, int]:
        return dict(self._busy)

    def pid(self, slot: int) -> int | None:
        proc = self._procs.get(slot)
        return proc.pid if proc else None

    def submit(self, slot: int, task: TrialTask) -> None:
        assert slot not in self._busy, f"slot {slot} is busy"
        self._busy[slot] = task.trial_id
        self._tasks[slot].send(task)

    def verdict(self, trial_id: int, stop: bool) -> bool:
        """Answer the worker waiting after an epoch of `trial_id`: stop there, or go on.
        False if no worker holds the trial (it was cancelled or died meanwhile)."""
        for slot, tid in self._busy.items():
            if tid == trial_id:
                try:
                    self._tasks[slot].send({"kind": "verdict", "trial_id": trial_id, "stop": stop})
                except (OSError, ValueError):
                    return False  # the worker died; _reap_dead fails its trial
                return True
        return False

    def poll(self, timeout: float) -> list[Message]:
        waitables = list(self._results.values()) + [p.sentinel for p in self._procs.values()]
        wait(waitables, timeout)
        msgs: list[Message] = []
        for slot in list(self._results):
            msgs.extend(self._receive(slot))
        msgs.extend(self._reap_dead())
        return msgs

    def _receive(self, slot: int) -> list[Message]:
        """What the worker in `slot` sent: an ended trial frees the slot, and a worker
        retiring by the recycling rule is replaced (after its last message is read)."""
        conn, msgs = self._results[slot], []
        try:
            while conn.poll():
                msgs.append(conn.recv())
        except (EOFError, OSError):
            pass  # the worker died; _reap_dead deals with it
        for m in msgs:
            if m["kind"] in ("result", "failed"):
                self._done[slot] = self._done.get(slot, 0) + 1
                if self._busy.get(slot) == m["trial_id"]:
                    del self._busy[slot]
        if any(m.get("retiring") for m in msgs):
            msgs.append(self._retire(slot))
        return msgs

    def _retire(self, slot: int) -> Message:
        """A worker that retired by the recycling rule: a fresh process in its slot, before
        the slot takes another trial."""
        proc = self._procs[slot]
        proc.join(timeout=10)
        if proc.exitcode is None:
            proc.kill()
            proc.join(timeout=2)
        trials = self._done.get(slot, 0)
        self._busy.pop(slot, None)
        self._close(slot)
        self._spawn(slot)
        return {"kind": "worker_retired", "slot": slot, "old_pid": proc.pid, "trials": trials}

    def _reap_dead(self) -> list[Message]:
        """A worker that died (killed, segfault, out of memory) fails the trial it held and
        is replaced, so the run goes on. What it sent before it ended is read first: a
        worker that sent its trial's result and then exited (its last trial by the recycling
        rule) ended that trial, it did not lose it."""
        msgs: list[Message] = []
        for slot, proc in list(self._procs.items()):
            if proc.exitcode is None:
                continue
            late = self._receive(slot)
            msgs.extend(late)
            if self._procs[slot] is not proc:  # it retired: _receive replaced it
                continue
            trial_id = self._busy.pop(slot, None)
            if trial_id is not None:
                msgs.append(
                    {
                        "kind": "failed",
                        "slot": slot,
                        "trial_id": trial_id,
                        "error": f"worker {slot} (pid {proc.pid}) died with exit code "
                        f"{proc.exitcode}",
                    }
                )
            msgs.append(
                {
                    "kind": "worker_restarted",
                    "slot": slot,
                    "old_pid": proc.pid,
                    "exitcode": proc.exitcode,
                }
            )
            self._close(slot)
            self._spawn(slot)
        return msgs

    def _close(self, slot: int) -> None:
        for conn in (self._tasks.pop(slot, None), self._results.pop(slot, None)):
            if conn is not None:
                conn.close()

    def cancel(self, trial_id: int) -> bool:
        for slot, tid in list(self._busy.items()):
            if tid == trial_id:
                proc = self._procs[slot]
                proc.kill()
                proc.join(timeout=5)
                del self._busy[slot]
                self._close(slot)
                self._spawn(slot)
                return True
        return False

    def shutdown(self) -> None:
        for slot, proc in self._procs.items():
            if slot in self._busy:
                proc.kill()
            else:
                try:
                    self._tasks[slot].send(None)
                except (OSError, ValueError):
                    pass
        for proc in self._procs.values():
            proc.join(timeout=5)
            if proc.exitcode is None:
                proc.kill()
                proc.join(timeout=2)
        for slot in list(self._procs):
            self._close(slot)
        self._output.join(timeout=2)  # what the workers printed last, into the log
        self._procs.clear()
        self._busy.clear()
