"""The Ray executor on a real local Ray instance: the real Engine and store with the trainer
double, a Ray worker killed mid-trial, and one real TensorFlow run (`-m slow`).

Ray starts in about 10 s, so the tests share one instance (started by the first test that
needs it, shut down at the end of the module); the first test lets the executor start and
stop its own. Ray workers inherit the environment of the process that starts Ray, so the
variables the double reads, and PYTHONPATH (the repository, for `tests.*` trainers), are set
before each start.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from engine.config import RunConfig  # noqa: E402
from engine.executor import WorkerSettings  # noqa: E402
from engine.ray_executor import RayExecutor  # noqa: E402
from engine.runner import Engine  # noqa: E402
from engine.setup import create_run  # noqa: E402
from engine.trainer import TrialTask  # noqa: E402
from storage.store import Store  # noqa: E402
from tests.conftest import FAKE_TRAINER, REPO  # noqa: E402

EPOCH_S = "0.5"  # the double's seconds per epoch: long enough to kill a worker mid-trial


def ray_env(mp: pytest.MonkeyPatch, cache: Path) -> None:
    """What Ray workers must inherit from the process that starts Ray."""
    mp.setenv("HPTUI_CACHE_DIR", str(cache))
    mp.setenv("HPTUI_FAULT_SLEEP", EPOCH_S)
    mp.delenv("HPTUI_FAULT_MODE", raising=False)
    paths = [str(REPO), os.environ.get("PYTHONPATH", "")]
    mp.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))


@pytest.fixture(scope="module", autouse=True)
def _ray_down_at_end() -> Iterator[None]:
    yield
    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture
def shared_ray(session_cache: Path, cache_env: Path) -> None:
    """The module's Ray instance (2 CPUs), started on first use."""
    if ray.is_initialized():
        return
    with pytest.MonkeyPatch.context() as mp:
        ray_env(mp, session_cache)
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)


def run_engine(
    db: Path,
    *,
    trainer: str = FAKE_TRAINER,
    on_tick: Callable[[Engine], None] | None = None,
    **cfg: Any,
) -> tuple[int, str, Store]:
    s = Store(db)
    config = dict(strategy="random", profile="tiny", data="sample", workers=2, seed=3)
    rid = create_run(s, RunConfig(executor="ray", **{**config, **cfg}))
    s.close()
    status = Engine(db, rid, trainer=trainer, on_tick=on_tick).run()
    return rid, status, Store(db, readonly=True)


def check_finished(store: Store, rid: int) -> list[dict]:
    run = store.run(rid)
    assert run["status"] == "finished" and run["phase"] == "done"
    trials = store.trials(rid)
    assert trials
    for t in trials:
        assert t["status"] == "finished", t
        eps = store.epochs(t["id"])
        assert [e["epoch"] for e in eps] == list(range(1, t["epochs_run"] + 1))
        assert eps[-1]["val_accuracy"] == pytest.approx(t["val_accuracy"])
    return trials


def test_engine_on_its_own_local_ray(
    tmp_path: Path, session_cache: Path, monkeypatch: pytest.MonkeyPatch, capfd
) -> None:
    """The executor starts a local Ray (2 CPUs for 2 slots), runs the whole search and the
    final validation through it, prints nothing, and shuts its Ray down."""
    if ray.is_initialized():  # another test ran first: this one needs its own start
        ray.shutdown()
    ray_env(monkeypatch, session_cache)
    t0 = time.monotonic()
    rid, status, store = run_engine(tmp_path / "r.db")
    seconds = time.monotonic() - t0
    assert status == "finished"
    trials = check_finished(store, rid)
    phases = [t["phase"] for t in trials]
    # the search, the confirmation (a candidate and the default), final validation (the
    # chosen and the default, or the default alone when it was chosen)
    assert phases.count("search") == 4 and phases.count("confirm") == 2
    assert phases.count("final") in (1, 2) and len(phases) == 6 + phases.count("final")
    assert {t["worker"] for t in trials} == {0, 1}
    run = store.run(rid)
    assert run["device"] == "cpu" and run["precision"] == "float32"
    assert run["final"]["verdict"]
    assert not ray.is_initialized()  # the executor started it, so it stopped it
    out, err = capfd.readouterr()
    assert out == "" and err == "", (out, err)  # nothing painted over a terminal
    log = Path(run["log_path"]).read_text()
    assert "ray: connected to local" in log
    assert seconds < 90


def worker_pids(ex: RayExecutor) -> dict[int, int]:
    """slot -> pid of the Ray worker running that slot's trial (once it reported)."""
    return {slot: a.pid for slot, a in ex._inflight.items() if a.pid is not None}


class Killer:
    """on_tick: SIGKILL the Ray worker of the first trial that reports its pid (once)."""

    def __init__(self) -> None:
        self.victim: tuple[int, int] | None = None  # (trial id, pid)

    def __call__(self, engine: Engine) -> None:
        if self.victim is not None:
            return
        ex = engine.executor
        assert isinstance(ex, RayExecutor)
        running = ex.running()
        for slot, pid in worker_pids(ex).items():
            assert pid != os.getpid()
            self.victim = (running[slot], pid)
            os.kill(pid, signal.SIGKILL)
            return


def test_killed_worker_is_retried(tmp_path: Path, shared_ray: None) -> None:
    killer = Killer()
    rid, status, store = run_engine(tmp_path / "r.db", on_tick=killer, final_validation=False)
    assert status == "finished" and killer.victim is not None
    tid, pid = killer.victim
    check_finished(store, rid)  # the killed trial too: it ran again
    retries = [e for e in store.events(rid) if "running it again (retry 1)" in e["message"]]
    assert len(retries) == 1, store.events(rid)
    assert retries[0]["level"] == "warning"
    assert f"trial {tid}:" in retries[0]["message"]
    assert f"Ray worker pid {pid}" in retries[0]["message"]
    assert "WorkerCrashedError" in retries[0]["message"]


def test_killed_worker_without_retries_fails_the_trial(tmp_path: Path, shared_ray: None) -> None:
    killer = Killer()
    rid, status, store = run_engine(
        tmp_path / "r.db", on_tick=killer, final_validation=False, trial_retries=0
    )
    assert status == "finished" and killer.victim is not None
    tid, pid = killer.victim
    trials = {t["id"]: t for t in store.trials(rid)}
    assert trials[tid]["status"] == "failed"
    assert f"Ray worker pid {pid}" in trials[tid]["error"]
    assert "was lost" in trials[tid]["error"]
    assert all(t["status"] == "finished" for i, t in trials.items() if i != tid)
    # the tiny random budget (the failed trial counts), then the confirmation's two
    assert len([t for t in trials.values() if t["phase"] == "search"]) == 4
    assert not [e for e in store.events(rid) if "retry" in e["message"]]


class Msgs:
    """An executor and every message it reported, with waits on conditions."""

    def __init__(self, ex: RayExecutor) -> None:
        self.ex, self.all = ex, []

    def wait_for(self, pred: Callable[[dict], bool], timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for m in self.all:
                if pred(m):
                    return m
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; messages: {self.all[-20:]}")
            self.all += self.ex.poll(0.1)


def kind(k: str, tid: int | None = None) -> Callable[[dict], bool]:
    return lambda m: m["kind"] == k and (tid is None or m.get("trial_id") == tid)


def test_executor_messages_errors_and_cancel(tmp_path: Path, shared_ray: None, tiny_data) -> None:
    settings = WorkerSettings(
        tiny_data, threads=1, precision=None, log_path=str(tmp_path / "w.log"), trainer=FAKE_TRAINER
    )
    ex = RayExecutor(2, settings, retries=1)
    ex.start()
    try:
        m = Msgs(ex)
        m.all += ex.poll(0)
        assert sorted(x["slot"] for x in m.all if x["kind"] == "ready") == [0, 1]
        ex.submit(0, TrialTask(1, {"lr": 1e-3, "dropout": 0.3, "sleep": 0.05}, 3))
        ex.submit(1, TrialTask(2, {"error": "loss became NaN"}, 2))
        assert ex.free_slots() == [] and ex.running() == {0: 1, 1: 2}
        r1 = m.wait_for(kind("result", 1))
        f2 = m.wait_for(kind("failed", 2))
        assert r1["slot"] == 0 and r1["result"]["epochs_run"] == 3
        assert [x["epoch"] for x in m.all if kind("epoch", 1)(x)] == [1, 2, 3]
        # every epoch message came before the result
        assert m.all.index(r1) > max(i for i, x in enumerate(m.all) if kind("epoch", 1)(x))
        assert f2["slot"] == 1 and f2["error"] == "loss became NaN"
        assert not [x for x in m.all if x["kind"] == "retry"]  # the configuration's fault
        assert ex.free_slots() == [0, 1]

        ex.submit(1, TrialTask(3, {"sleep": 30}, 2))
        assert m.wait_for(kind("started", 3), 30)["slot"] == 1
        pid = worker_pids(ex)[1]
        assert ex.cancel(3) and not ex.cancel(3)
        assert ex.running() == {} and ex.free_slots() == [0, 1]
        deadline = time.monotonic() + 20
        while _alive(pid) and time.monotonic() < deadline:
            m.all += ex.poll(0.2)
        assert not _alive(pid)  # force-cancel killed the worker
        ends = ("result", "failed", "retry")
        assert not [x for x in m.all if x.get("trial_id") == 3 and x["kind"] in ends]
    finally:
        ex.shutdown()
    assert ray.is_initialized()  # not ours to stop


def test_refuses_gpus_the_cluster_lacks(tmp_path: Path, shared_ray: None, tiny_data) -> None:
    settings = WorkerSettings(tiny_data, 1, None, str(tmp_path / "w.log"), trainer=FAKE_TRAINER)
    ex = RayExecutor(2, settings, gpus_per_trial=0.5)
    try:
        with pytest.raises(RuntimeError, match="no Ray node has 1 CPUs and 0.5 GPUs"):
            ex.start()
    finally:
        ex.shutdown()


@pytest.mark.slow
def test_real_tensorflow_trainer_through_ray(tmp_path: Path, shared_ray: None) -> None:
    rid, status, store = run_engine(tmp_path / "r.db", trainer="engine.trainer:train_trial")
    assert status == "finished"
    trials = check_finished(store, rid)
    phases = [t["phase"] for t in trials]
    assert phases.count("search") == 4 and phases.count("confirm") == 2
    assert phases.count("final") in (1, 2) and len(phases) == 6 + phases.count("final")
    for t in trials:
        assert t["device"] == "cpu" and t["precision"] == "float32"
        assert 0.0 <= t["val_accuracy"] <= 1.0
    assert store.run(rid)["final"]["best_test_accuracy"] is not None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
