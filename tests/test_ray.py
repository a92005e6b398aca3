"""The Ray executor on a real local Ray instance: the real Engine and store with the trainer
double, a Ray worker killed mid-trial, a user's file objective shipped to the workers and
pruned through the mailbox, and one real TensorFlow run (`-m slow`).

Ray starts in about 10 s, so the tests share one instance (started by the first test that
needs it, shut down at the end of the module); the first test lets the executor start and
stop its own. Ray workers inherit the environment of the process that starts Ray, so the
variables the double reads, and PYTHONPATH (the repository, for `tests.*` trainers), are set
before each start.
"""

from __future__ import annotations

import dataclasses
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
from engine.objective import load_objective  # noqa: E402
from engine.profiles import PROFILES  # noqa: E402
from engine.ray_executor import RayExecutor, objective_copy, ship_objective  # noqa: E402
from engine.runner import Engine  # noqa: E402
from engine.setup import create_run  # noqa: E402
from engine.trainer import TrialTask  # noqa: E402
from storage.contract import DEFAULT_TRAINER  # noqa: E402
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


# --- a user's objective: shipped by content, pruned through the mailbox ---------------------------
# A plain objective: a configuration with level < 0.5 is hopeless from epoch 1 (below 0.05, and
# no better later; distinct values, as ties pass ASHA's rung), the others rise every epoch.
PLAIN_OBJECTIVE = """
import time

from engine.objective import Objective

SLEEP = 0.05  # seconds per epoch


def train(params, report):
    level = float(params["level"])
    value = 0.0
    for epoch in range(1, report.epochs + 1):
        time.sleep(SLEEP)
        value = 0.1 * level if level < 0.5 else 0.3 + 0.5 * level + 0.05 * epoch
        report(epoch, value)
    return {"value": value, "test": value} if report.final else value


objective = Objective(
    name="ray-plain",
    space={"level": {"type": "real", "low": 0.0, "high": 1.0}},
    default={"level": 0.6},
    train=train,
)
"""


def write_objective(folder: Path, name: str = "ray_objective.py") -> Path:
    """The plain objective in `folder`, made unique to it (a new digest for every test)."""
    path = folder / name
    path.write_text(f"# {folder}\n{PLAIN_OBJECTIVE}")
    return path


@pytest.fixture
def three_epoch_tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiny profile with 3-epoch search trials (8 x 3 = 24 epochs): epochs to stop after."""
    tiny = dataclasses.replace(PROFILES["tiny"], search_epochs=3, trials_override=8)
    monkeypatch.setitem(PROFILES, "tiny", tiny)


def test_file_objective_copy_loads_without_the_original(tmp_path: Path) -> None:
    """What a worker on another node does: write the shipped bytes under a folder named by
    their hash and import that copy; the original path is not needed."""
    (tmp_path / "src").mkdir()
    file = write_objective(tmp_path / "src")
    shipped = ship_objective(f"{file}:objective")
    file.unlink()
    spec = objective_copy(shipped, root=str(tmp_path / "node"))
    copy = tmp_path / "node" / "hptui-objectives" / shipped.digest / "ray_objective.py"
    assert spec == f"{copy}:objective" and copy.read_text().endswith(PLAIN_OBJECTIVE)
    assert objective_copy(shipped, root=str(tmp_path / "node")) == spec  # written once
    assert load_objective(spec).name == "ray-plain"
    by_name = ship_objective("engine.objectives.digits:objective")
    assert by_name.content is None and objective_copy(by_name) == by_name.spec


def test_executor_runs_a_shipped_objective_and_answers_verdicts(
    tmp_path: Path, shared_ray: None
) -> None:
    file = write_objective(tmp_path)
    settings = WorkerSettings(
        None, threads=1, precision=None, log_path=str(tmp_path / "w.log"), objective=str(file)
    )
    ex = RayExecutor(2, settings)
    assert ex.supports_verdicts
    ex.start()
    try:
        file.rename(tmp_path / "moved.py")  # shipped at start: the workers never need the path
        m = Msgs(ex)
        ex.submit(0, TrialTask(1, {"level": 0.9}, 3, verdict_epochs=(1, 2)))
        ex.submit(1, TrialTask(2, {"level": 0.2}, 3, verdict_epochs=(1,)))
        asked = m.wait_for(lambda x: kind("epoch", 1)(x) and x.get("verdict"))
        assert asked["epoch"] == 1 and asked["slot"] == 0
        assert m.wait_for(lambda x: kind("epoch", 2)(x) and x.get("verdict"))["epoch"] == 1
        # both tasks wait for their answers: no second epoch in half a second
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            m.all += ex.poll(0.1)
        assert [x["epoch"] for x in m.all if kind("epoch")(x)] == [1, 1]
        assert ex.verdict(2, True) and ex.verdict(1, False)
        assert not ex.verdict(99, True)  # no such trial in flight
        m.wait_for(lambda x: kind("epoch", 1)(x) and x["epoch"] == 2)
        assert ex.verdict(1, False)
        r1, r2 = m.wait_for(kind("result", 1)), m.wait_for(kind("result", 2))
        assert r1["result"]["epochs_run"] == 3 and not r1["result"]["pruned"]
        assert r1["result"]["val_accuracy"] == pytest.approx(0.3 + 0.45 + 0.15)
        assert r2["result"]["epochs_run"] == 1 and r2["result"]["pruned"]
        assert [x["epoch"] for x in m.all if kind("epoch", 1)(x)] == [1, 2, 3]
        assert [x["epoch"] for x in m.all if kind("epoch", 2)(x)] == [1]
        ready = [x for x in m.all if x["kind"] == "ready" and x.get("pid")]
        assert ready and all(x["device"] == "cpu" for x in ready)
    finally:
        ex.shutdown()


def test_objective_missing_on_the_workers_fails_its_trials(
    tmp_path: Path, shared_ray: None
) -> None:
    settings = WorkerSettings(
        None, 1, None, str(tmp_path / "w.log"), objective="hptui_no_such_module:objective"
    )
    ex = RayExecutor(1, settings)
    ex.start()
    try:
        ex.submit(0, TrialTask(1, {"level": 0.5}, 2))
        failed = Msgs(ex).wait_for(kind("failed", 1))
        assert failed["error"].startswith("the objective cannot be used on Ray node")
        assert "no module 'hptui_no_such_module'" in failed["error"]
    finally:
        ex.shutdown()


def test_engine_prunes_a_user_objective_under_ray(
    tmp_path: Path, shared_ray: None, three_epoch_tiny: None
) -> None:
    """The real engine tunes a file objective on Ray with ASHA: hopeless configurations stop
    after their first epoch, the file is renamed once the run started, and the run ends."""
    file = write_objective(tmp_path)

    def rename_once(engine: Engine) -> None:
        if file.exists():
            file.rename(tmp_path / "renamed.py")

    t0 = time.monotonic()
    rid, status, store = run_engine(
        tmp_path / "r.db", trainer=DEFAULT_TRAINER, on_tick=rename_once,
        objective=str(file), pruner="asha",
    )  # fmt: skip
    seconds = time.monotonic() - t0
    assert status == "finished" and not file.exists()
    trials = store.trials(rid)
    search = [t for t in trials if t["phase"] == "search"]
    pruned = [t for t in search if t["status"] == "pruned"]
    assert pruned, [(t["status"], t["epochs_run"], t["error"]) for t in search]
    assert {t["status"] for t in trials} <= {"finished", "pruned"}
    assert any(t["config"]["level"] < 0.5 for t in pruned)
    for t in pruned:
        assert t["epochs_run"] == 1 and t["max_epochs"] == 3  # ASHA's only rung: epoch 1
        assert [e["epoch"] for e in store.epochs(t["id"])] == [1]
        assert t["extra"]["pruned"]["pruner"] == "asha"
    assert len(search) > 8  # the epochs saved bought trials
    assert all(t["status"] == "finished" for t in trials if t["phase"] == "final")
    assert store.best_trial(rid)["config"]["level"] >= 0.5
    msgs = [e["message"] for e in store.events(rid)]
    assert any("pruning after epoch 1" in x for x in msgs)
    assert not any("cannot stop a trial" in x for x in msgs)
    assert store.run(rid)["progress"]["pruned"] == len(pruned)
    assert seconds < 90


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
