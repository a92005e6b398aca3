"""The local process pool with real spawned workers running the trainer double, and one real
TensorFlow trainer test."""

from __future__ import annotations

import math
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from engine.data import load_dataset
from engine.executor import LocalPoolExecutor, WorkerSettings
from engine.trainer import TrialError, TrialTask
from tests.conftest import FAKE_TRAINER


class Pool:
    """The executor plus every message it reported, with waits on conditions."""

    def __init__(self, ex: LocalPoolExecutor) -> None:
        self.ex = ex
        self.msgs: list[dict] = []

    def wait_for(self, pred, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for m in self.msgs:
                if pred(m):
                    return m
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; messages: {self.msgs[-20:]}")
            self.msgs += self.ex.poll(0.1)

    def find(self, pred) -> list[dict]:
        return [m for m in self.msgs if pred(m)]


@pytest.fixture
def pool(tmp_path: Path, tiny_data):
    settings = WorkerSettings(
        tiny_data,
        threads=1,
        precision=None,
        log_path=str(tmp_path / "workers.log"),
        trainer=FAKE_TRAINER,
    )
    ex = LocalPoolExecutor(2, settings)
    ex.start()
    p = Pool(ex)
    for slot in (0, 1):  # both workers loaded the data and the double
        p.wait_for(lambda m, s=slot: m["kind"] == "ready" and m["slot"] == s)
    yield p
    ex.shutdown()


def task(tid: int, epochs: int = 1, **cfg) -> TrialTask:
    return TrialTask(tid, {"lr": 1e-3, "dropout": 0.3, **cfg}, epochs)


def kind(k: str, tid: int | None = None):
    return lambda m: m["kind"] == k and (tid is None or m.get("trial_id") == tid)


def test_workers_start_and_train(pool: Pool) -> None:
    ready = pool.find(kind("ready"))
    pids = {m["pid"] for m in ready}
    assert len(pids) == 2 and os.getpid() not in pids
    assert {m["pid"] for m in ready} == {pool.ex.pid(0), pool.ex.pid(1)}
    assert ready[0]["device"] == "cpu" and ready[0]["precision"] == "float32"
    assert pool.ex.free_slots() == [0, 1]
    pool.ex.submit(0, task(1, epochs=3, sleep=0.05))
    pool.ex.submit(1, task(2, epochs=2))
    assert pool.ex.free_slots() == [] and pool.ex.running() == {0: 1, 1: 2}
    r1 = pool.wait_for(kind("result", 1))
    r2 = pool.wait_for(kind("result", 2))
    assert r1["slot"] == 0 and r2["slot"] == 1
    assert r1["result"]["trial_id"] == 1 and r1["result"]["epochs_run"] == 3
    assert 0 < r1["result"]["val_accuracy"] < 1
    assert [m["epoch"] for m in pool.find(kind("epoch", 1))] == [1, 2, 3]
    assert [m["epoch"] for m in pool.find(kind("progress", 1))] == [1, 2, 3]
    assert all(m["slot"] == 0 and m["epochs"] == 3 for m in pool.find(kind("progress", 1)))
    assert pool.find(kind("started", 1))[0]["slot"] == 0
    assert pool.ex.free_slots() == [0, 1] and pool.ex.running() == {}


def test_killed_worker_fails_only_its_trial(pool: Pool) -> None:
    old_pid = pool.ex.pid(0)
    pool.ex.submit(0, task(10, sleep=30))
    pool.ex.submit(1, task(11, epochs=2, sleep=1.0))
    pool.wait_for(kind("started", 10))
    pool.wait_for(kind("progress", 10))  # it is sleeping inside the trial now
    os.kill(old_pid, signal.SIGKILL)
    failed = pool.wait_for(kind("failed", 10), timeout=20)
    assert failed["slot"] == 0
    assert "worker 0" in failed["error"] and str(old_pid) in failed["error"]
    restarted = pool.wait_for(kind("worker_restarted"))
    assert restarted["slot"] == 0 and restarted["old_pid"] == old_pid
    assert restarted["exitcode"] == -signal.SIGKILL
    new_pid = pool.ex.pid(0)
    assert new_pid != old_pid
    ready = pool.wait_for(lambda m: m["kind"] == "ready" and m["pid"] == new_pid)
    assert ready["slot"] == 0
    assert 0 in pool.ex.free_slots()
    # the other slot's trial finished normally
    r11 = pool.wait_for(kind("result", 11))
    assert r11["slot"] == 1 and r11["result"]["epochs_run"] == 2
    assert pool.find(kind("failed", 11)) == []
    # the new worker runs the next task fine
    pool.ex.submit(0, task(12))
    r12 = pool.wait_for(kind("result", 12))
    assert r12["slot"] == 0
    assert len(pool.find(kind("failed"))) == 1


@pytest.mark.parametrize(("cfg", "exitcode"), [({"exit": 3}, 3), ({"sigkill": True}, -9)])
def test_worker_dying_by_itself(pool: Pool, cfg: dict, exitcode: int) -> None:
    pool.ex.submit(1, task(20, **cfg))
    failed = pool.wait_for(kind("failed", 20))
    assert "worker 1 (pid" in failed["error"] and f"exit code {exitcode}" in failed["error"]
    pool.wait_for(lambda m: m["kind"] == "worker_restarted" and m["slot"] == 1)
    pool.wait_for(lambda m: m["kind"] == "ready" and m["slot"] == 1 and m["pid"] == pool.ex.pid(1))
    pool.ex.submit(1, task(21))
    assert pool.wait_for(kind("result", 21))["slot"] == 1


def test_trial_error_fails_trial_worker_survives(pool: Pool) -> None:
    pid = pool.ex.pid(0)
    pool.ex.submit(0, task(30, error="loss became NaN"))
    failed = pool.wait_for(kind("failed", 30))
    assert failed["error"] == "loss became NaN"
    pool.ex.submit(0, task(31, lr="not a number"))  # any other exception: type named
    failed = pool.wait_for(kind("failed", 31))
    assert failed["error"].startswith("ValueError")
    pool.ex.submit(0, task(32))
    pool.wait_for(kind("result", 32))
    assert pool.ex.pid(0) == pid and pool.find(kind("worker_restarted")) == []


def test_cancel_kills_only_that_trial(pool: Pool) -> None:
    pid0, pid1 = pool.ex.pid(0), pool.ex.pid(1)
    pool.ex.submit(0, task(40, sleep=30))
    pool.ex.submit(1, task(41, epochs=2, sleep=0.5))
    pool.wait_for(kind("started", 40))
    assert pool.ex.cancel(999) is False
    assert pool.ex.cancel(40) is True
    assert pool.ex.pid(0) != pid0 and pool.ex.pid(1) == pid1
    assert pool.ex.running() == {1: 41} and 0 in pool.ex.free_slots()
    r41 = pool.wait_for(kind("result", 41))
    assert r41["slot"] == 1
    pool.wait_for(lambda m: m["kind"] == "ready" and m["pid"] == pool.ex.pid(0))
    pool.ex.submit(0, task(42))
    pool.wait_for(kind("result", 42))
    # the cancelled trial reports nothing more: no result and no failure
    assert pool.find(kind("result", 40)) == [] and pool.find(kind("failed", 40)) == []


def test_workers_train_at_a_lower_cpu_priority_than_the_engine(pool: Pool) -> None:
    """The UI and the engine are served first on a box the trainers fill."""
    from engine.executor import TRAINER_NICE

    mine = os.getpriority(os.PRIO_PROCESS, 0)
    want = min(19, mine + TRAINER_NICE)
    for slot in (0, 1):
        assert os.getpriority(os.PRIO_PROCESS, pool.ex.pid(slot)) == want
    assert os.getpriority(os.PRIO_PROCESS, 0) == mine  # the engine's own is unchanged


def test_nice_zero_keeps_the_engines_priority(tmp_path: Path, tiny_data) -> None:
    settings = WorkerSettings(
        tiny_data, 1, None, str(tmp_path / "w.log"), trainer=FAKE_TRAINER, nice=0
    )
    ex = LocalPoolExecutor(1, settings)
    ex.start()
    try:
        Pool(ex).wait_for(kind("ready"))
        assert os.getpriority(os.PRIO_PROCESS, ex.pid(0)) == os.getpriority(os.PRIO_PROCESS, 0)
    finally:
        ex.shutdown()


def test_shutdown_stops_workers(tmp_path: Path, tiny_data) -> None:
    settings = WorkerSettings(tiny_data, 1, None, str(tmp_path / "w.log"), trainer=FAKE_TRAINER)
    ex = LocalPoolExecutor(1, settings)
    ex.start()
    p = Pool(ex)
    p.wait_for(kind("ready"))
    proc = ex._procs[0]
    ex.submit(0, task(50, sleep=30))
    p.wait_for(kind("started", 50))
    t = time.monotonic()
    ex.shutdown()
    assert time.monotonic() - t < 10
    assert proc.exitcode is not None


# --- a user's objective in the workers ------------------------------------------------------

CHATTY = """
import os, sys
from hptui import Objective


def train(params, report):
    print("trial", report.trial, "in pid", os.getpid(), flush=True)
    sys.stdout.write("z" * int(params["n"]))
    sys.stdout.flush()
    return params["x"]


objective = Objective(
    space={"x": {"type": "real", "low": 0, "high": 1, "default": 0.5}, "n": [0, 100000]},
    default={"n": 0},
    train=train,
    trials_per_worker=1,
)
"""


def objective_pool(tmp_path: Path) -> tuple[LocalPoolExecutor, Pool, Path]:
    file = tmp_path / "chatty.py"
    file.write_text(CHATTY)
    log = tmp_path / "objective.log"
    settings = WorkerSettings(None, 1, None, str(log), objective=str(file))
    ex = LocalPoolExecutor(1, settings)
    ex.start()
    p = Pool(ex)
    p.wait_for(kind("ready"))
    return ex, p, log


def test_a_result_sent_just_before_the_worker_exits_is_not_lost(tmp_path: Path) -> None:
    # trials_per_worker=1: the worker sends its result and exits. Polled only after it has
    # exited (as when the engine was busy), the result is read, not taken for a death.
    ex, p, _ = objective_pool(tmp_path)
    try:
        proc = ex._procs[0]
        ex.submit(0, task(60, x=0.25, n=0))
        proc.join(timeout=60)
        assert proc.exitcode == 0
        p.msgs += ex.poll(0.1)
        assert p.find(kind("result", 60))[0]["result"]["val_accuracy"] == 0.25
        assert p.find(kind("failed")) == [] and p.find(kind("worker_restarted")) == []
        (retired,) = p.find(kind("worker_retired"))
        assert retired["old_pid"] == proc.pid and retired["trials"] == 1
        assert ex.free_slots() == [0] and ex.pid(0) != proc.pid
        ready = p.wait_for(lambda m: m["kind"] == "ready" and m["pid"] == ex.pid(0))
        assert ready["slot"] == 0
    finally:
        ex.shutdown()


def test_worker_output_reaches_the_log_within_its_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.executor as executor

    monkeypatch.setattr(executor, "WORKER_OUTPUT_CAP", 1000)
    monkeypatch.setattr(executor, "LOG_OUTPUT_CAP", 1600)
    ex, p, log = objective_pool(tmp_path)
    try:
        ex.submit(0, task(70, x=0.5, n=100000))  # prints 100,000 bytes
        p.wait_for(kind("result", 70))
        p.wait_for(kind("ready"))  # the next process (trials_per_worker=1)
        ex.submit(0, task(71, x=0.5, n=100000))
        p.wait_for(kind("result", 71))
    finally:
        ex.shutdown()
    text = log.read_text()
    assert "trial 70 in pid" in text and "trial 71 in pid" in text
    # the first process: its first 1,000 bytes; the second: what the log had room for
    assert text.count("printed over 1,000 bytes; the rest of its output is not logged") == 1
    assert text.count("filled this log to 1,600 bytes; the rest of it is not logged") == 1
    assert log.stat().st_size < 1600 + 200


# --- the real TensorFlow trainer ----------------------------------------------------------------


@pytest.fixture(scope="module")
def data(tiny_data):
    return load_dataset(tiny_data)


TINY = {
    "lr": 1e-2,
    "batch_size": 32,
    "lstm_units": 8,
    "dropout": 0.2,
    "embed_dim": 8,
    "lstm_layers": 1,
    "optimizer": "adam",
}


def test_real_trainer_reports_kept_weights_accuracy(data, tiny_data) -> None:
    from engine.trainer import train_trial

    msgs: list[dict] = []
    # lr 0.05 with seed 1: val loss is lowest at epoch 2 of 3, so kept != last weights
    res = train_trial(
        TrialTask(1, {**TINY, "lr": 0.05}, epochs=3, seed=1),
        data,
        msgs.append,
        vocab_size=tiny_data.vocab_size,
        device="cpu",
        precision="float32",
    )
    h = res.history
    assert 1 <= res.epochs_run == len(h) <= 3
    assert all(math.isfinite(e[k]) for e in h for k in ("loss", "val_loss", "val_accuracy"))
    best = int(np.argmin([e["val_loss"] for e in h]))
    assert res.best_epoch == best + 1
    assert res.best_epoch < res.epochs_run, "this config/seed should stop past its best epoch"
    assert res.val_accuracy == h[best]["val_accuracy"] and res.val_loss == h[best]["val_loss"]
    assert 0.0 <= res.val_accuracy <= 1.0 and res.seconds > 0
    assert res.precision == "float32" and res.device == "cpu" and res.test_accuracy is None
    assert [m["epoch"] for m in msgs if m["kind"] == "epoch"] == list(range(1, res.epochs_run + 1))
    assert any(m["kind"] == "progress" for m in msgs)


def test_real_trainer_nan_raises(data, tiny_data) -> None:
    from engine.trainer import train_trial

    bad = {**TINY, "lr": 1e38, "optimizer": "sgd"}  # overflows float32 in one step
    with pytest.raises(TrialError, match="NaN"):
        train_trial(TrialTask(2, bad, epochs=1), data, vocab_size=tiny_data.vocab_size)


def test_real_trainer_test_accuracy(data, tiny_data) -> None:
    from engine.trainer import train_trial

    res = train_trial(
        TrialTask(3, TINY, epochs=1, early_stopping=False, evaluate_test=True),
        data,
        vocab_size=tiny_data.vocab_size,
    )
    assert res.best_epoch == 1 and 0.0 <= res.test_accuracy <= 1.0


def test_build_model_structure() -> None:
    import tensorflow as tf

    from engine.trainer import build_model

    cfg = {
        **TINY,
        "lstm_layers": 2,
        "lstm_units": 12,
        "embed_dim": 6,
        "dropout": 0.25,
        "optimizer": "sgd",
        "lr": 0.05,
    }
    model = build_model(cfg, vocab_size=300, max_len=20)
    L = tf.keras.layers
    types = [type(layer) for layer in model.layers]
    assert types == [L.Embedding, L.Dropout, L.LSTM, L.Dropout, L.LSTM, L.Dropout, L.Dense]
    emb, lstm1, lstm2, dense = model.layers[0], model.layers[2], model.layers[4], model.layers[6]
    assert emb.input_dim == 300 and emb.output_dim == 6 and emb.trainable
    init = emb.embeddings_initializer
    assert isinstance(init, tf.keras.initializers.RandomNormal)
    assert init.mean == 0.0 and init.stddev == pytest.approx(0.01)
    assert lstm1.return_sequences is True and lstm2.return_sequences is False
    assert lstm1.units == lstm2.units == 12
    assert all(model.layers[i].rate == pytest.approx(0.25) for i in (1, 3, 5))
    assert dense.units == 1 and dense.activation is tf.keras.activations.sigmoid
    assert dense.dtype_policy.name == "float32"
    opt = model.optimizer
    assert type(opt).__name__ == "SGD" and float(opt.momentum) == pytest.approx(0.9)
    assert float(opt.learning_rate) == pytest.approx(0.05)
    one = build_model({**cfg, "lstm_layers": 1, "optimizer": "adam"}, 300, 20)
    assert [type(x) for x in one.layers] == [L.Embedding, L.Dropout, L.LSTM, L.Dropout, L.Dense]
    assert type(one.optimizer).__name__ == "Adam"
    with pytest.raises(TrialError, match="unknown optimizer"):
        build_model({**cfg, "optimizer": "rmsprop"}, 300, 20)
