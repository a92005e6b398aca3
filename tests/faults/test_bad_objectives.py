"""Bad objectives, run for real: `hptui run` refuses one it cannot use with a one-line reason
and exit code 2 (no run created); an objective that misbehaves in some trials fails just
those trials, each with a one-line reason in its `error`, and the run goes on to its end
without losing a finished trial; one that hangs is killed at the trial time limit; one that
prints without end neither floods the terminal nor grows the run's log without bound; one
that leaks memory is given a fresh worker process per trial (`trials_per_worker=1`)."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from engine.executor import LOG_OUTPUT_CAP, WORKER_OUTPUT_CAP
from tests.faults.clitools import hptui
from tests.faults.conftest import query

HEAD = "from hptui import Objective\n"
SPACE = '{"x": {"type": "real", "low": 0.0, "high": 1.0, "default": 0.25}}'


def plain(body: str, space: str = SPACE, extra: str = "") -> str:
    """A plain objective whose train(params, report) runs `body` (indented here)."""
    return (
        HEAD
        + "import os, sys, time\n\n\ndef train(params, report):\n"
        + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
        + f"\n\n\nobjective = Objective(space={space}, train=train{extra})\n"
    )


GOOD = 'return {"value": params["x"], "test": params["x"]}'

# name -> (the objective file, what the one-line reason says)
REFUSED = {
    "syntax error": (
        "from hptui import Objective\ndef train(params, report)\n    return 1\n",
        "does not import: SyntaxError: expected ':' (line 2)",
    ),
    "missing module": (
        "import no_such_module_for_hptui\n",
        "does not import: ModuleNotFoundError: No module named 'no_such_module_for_hptui'",
    ),
    "raises at import": (
        'raise RuntimeError("the licence server is down\\nsecond line")\n',
        "does not import: RuntimeError: the licence server is down",
    ),
    "no objective": ("x = 1\n", "defines no 'objective' (define objective = Objective(...))"),
    "not an Objective": (
        "def objective(params, report):\n    return 1.0\n",
        "is a function, not an hptui Objective",
    ),
    "train not callable": (
        HEAD + f"objective = Objective(space={SPACE}, train=3)\n",
        "train is an int, not a function",
    ),
    "train with one argument": (
        HEAD + f"def train(params):\n    return 1.0\nobjective = Objective(space={SPACE}, "
        "train=train)\n",
        "train must take (params, report), not (params)",
    ),
    "train with three arguments": (
        HEAD + "def train(params, report, extra):\n    return 1.0\n"
        f"objective = Objective(space={SPACE}, train=train)\n",
        "train must take (params, report), not (params, report, extra)",
    ),
    "both flavours": (
        HEAD + "def train(params, report):\n    return 1.0\n"
        f"objective = Objective(space={SPACE}, train=train, build_model=print, "
        "load_data=print)\n",
        "give either train(params, report) or build_model(params) with load_data(), not both",
    ),
    "no default": (
        plain(GOOD, space='{"x": {"type": "real", "low": 0.0, "high": 1.0}}'),
        "no default for 'x'",
    ),
    "default outside": (
        plain(GOOD, space='{"x": [1, 2, 3]}', extra=', default={"x": 4}'),
        "the default x=4 is outside the space",
    ),
    "empty range": (
        plain(GOOD, space='{"x": {"type": "real", "low": 1.0, "high": 0.0, "default": 0.5}}'),
        "bad search space: x: empty range",
    ),
    "unknown type": (
        plain(GOOD, space='{"x": {"type": "banana", "default": 1}}'),
        "bad search space: x: type must be 'real', 'integer' or 'categorical', got 'banana'",
    ),
    "a number for a dimension": (
        plain(GOOD, space='{"x": 5}'),
        "bad search space: x: a dimension is a dict",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_an_unusable_objective_is_refused_with_one_line_and_exit_code_2(
    tmp_path: Path, case: str
) -> None:
    source, reason = REFUSED[case]
    file = tmp_path / "bad_objective.py"
    file.write_text(source)
    db = tmp_path / "x.db"
    done = hptui(
        "run", "--headless", "--profile", "tiny", "--objective", str(file), "--db", str(db)
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hptui: error: objective "), done.stderr
    assert reason in lines[0] and "Traceback" not in done.stderr
    assert not db.exists()  # refused before any run was created


def run_objective(
    tmp_path: Path, source: str, *args: str, timeout: float = 300
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    file = tmp_path / "objective_file.py"
    file.write_text(source)
    db = tmp_path / "run.db"
    done = hptui(
        "run", "--headless", "--profile", "tiny", "--strategy", "random", "--objective",
        str(file), "--db", str(db), *args, timeout=timeout,
    )  # fmt: skip
    return db, done


def trials(db: Path) -> list[tuple]:
    return query(db, "SELECT number, phase, status, error FROM trials ORDER BY number")


def assert_finished_but(db: Path, failed: dict[int, str]) -> None:
    """The run finished; the trials in `failed` failed with those one-line reasons, every
    other trial finished (with a value), and final validation has its numbers."""
    assert query(db, "SELECT status, error FROM runs") == [("finished", None)]
    rows = trials(db)
    assert len(rows) == 8  # tiny, random: 4 search trials, 2 confirmation, 2 final
    for number, _phase, status, error in rows:
        if number in failed:
            assert status == "failed" and error == failed[number], (number, error)
        else:
            assert status == "finished" and error is None, (number, status, error)
    assert query(db, "SELECT count(*) FROM trials WHERE val_accuracy IS NULL AND "
                     "status = 'finished'") == [(0,)]  # fmt: skip
    ((final,),) = query(db, "SELECT final FROM runs")
    assert json.loads(final)["status"] == "done"


BAD_VALUES = {
    "NaN": ('float("nan")', "train(params, report) gave nan, not a finite number"),
    "None and no report": (
        "None",
        "train(params, report) returned None and reported no value: return the metric's "
        "value, or call report(epoch, value) after each epoch",
    ),
    "a string": ('"0.9"', "train(params, report) gave '0.9' (a str), not a finite number"),
    "a reported NaN": (
        'report(1, float("nan"))',
        "report(1, value) gave nan, not a finite number",
    ),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_a_bad_metric_value_fails_that_trial_only(
    tmp_path: Path, fault_env: None, case: str
) -> None:
    bad, reason = BAD_VALUES[case]
    body = f"""
        if report.trial == 2:
            {"return " if not bad.startswith("report(") else ""}{bad}
        {GOOD}
    """
    db, done = run_objective(tmp_path, plain(body))
    assert done.returncode == 0, done.stdout + done.stderr
    assert_finished_but(db, {2: reason})


def test_an_objective_raising_in_trial_3_fails_only_that_trial(
    tmp_path: Path, fault_env: None
) -> None:
    body = f"""
        if report.trial == 3:
            raise ValueError("no such column: lr_decay\\nand a second line")
        {GOOD}
    """
    db, done = run_objective(tmp_path, plain(body))
    assert done.returncode == 0, done.stdout + done.stderr
    assert_finished_but(db, {3: "ValueError: no such column: lr_decay"})
    events = [m for (m,) in query(db, "SELECT message FROM events")]
    assert "trial 3 (search) failed: ValueError: no such column: lr_decay" in events


def test_a_hanging_trial_is_killed_at_the_trial_timeout_and_the_run_goes_on(
    tmp_path: Path, fault_env: None
) -> None:
    body = f"""
        if report.trial == 2:
            time.sleep(3600)
        {GOOD}
    """
    db, done = run_objective(tmp_path, plain(body), "--trial-timeout", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    (worker,) = query(db, "SELECT worker FROM trials WHERE number = 2")[0]
    why = f"timed out after 3 s (--trial-timeout); worker {worker} replaced"
    assert_finished_but(db, {2: why})


def test_a_flood_of_output_neither_floods_the_terminal_nor_grows_the_log_unbounded(
    tmp_path: Path, fault_env: None
) -> None:
    # Every trial prints 50 MB (eight trials: 400 MB). The log keeps each worker process's
    # first WORKER_OUTPUT_CAP and at most LOG_OUTPUT_CAP in all; the terminal shows the
    # headless view only.
    body = f"""
        line = "x" * 1023 + "\\n"
        for _ in range(50 * 1024):
            sys.stdout.write(line)
        sys.stdout.flush()
        {GOOD}
    """
    db, done = run_objective(tmp_path, plain(body))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert_finished_but(db, {})
    assert len(done.stdout) < 20_000 and "xxxxxxxx" not in done.stdout + done.stderr
    log = Path(f"{db}.logs") / "run-1.log"
    size = log.stat().st_size
    assert 2 * WORKER_OUTPUT_CAP <= size <= LOG_OUTPUT_CAP + 4096
    text = log.read_bytes()
    assert b"MiB; the rest of its output is not logged]" in text


def test_a_leaking_objective_gets_a_fresh_worker_per_trial(tmp_path: Path, fault_env: None) -> None:
    pids = tmp_path / "pids.txt"
    body = f"""
        HOARD.append(bytearray(64 * 2**20))  # leaked: kept across trials in this process
        with open({str(pids)!r}, "a") as fh:
            fh.write(f"{{report.trial}} {{os.getpid()}} {{len(HOARD)}}\\n")
        {GOOD}
    """
    source = plain(body, extra=", trials_per_worker=1").replace(
        "def train", "HOARD = []\n\n\ndef train"
    )
    db, done = run_objective(tmp_path, source)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_finished_but(db, {})
    seen = [line.split() for line in pids.read_text().splitlines()]
    assert sorted(int(t) for t, _, _ in seen) == list(range(1, 9))
    assert len({pid for _, pid, _ in seen}) == 8  # one process per trial
    assert {hoard for _, _, hoard in seen} == {"1"}  # no process saw an earlier trial's leak
    events = [m for (m,) in query(db, "SELECT message FROM events")]
    retired = [m for m in events if "retired after 1 trial (the objective's trials_per_worker)"
               in m]  # fmt: skip
    assert len(retired) == 8
    for _, pid, _ in seen:
        assert any(f"(pid {pid}) retired" in m for m in retired)


def test_an_objective_that_breaks_after_the_run_started_fails_its_trials_with_the_reason(
    tmp_path: Path, fault_env: None
) -> None:
    # The run is created while the file imports; then the file breaks (edited mid-run, a
    # resume after a change): the workers cannot import it, every trial fails with the
    # reason, and the run ends failed with it, not in a hang.
    from engine.config import RunConfig
    from engine.setup import create_run
    from storage.store import Store

    file = tmp_path / "objective_file.py"
    file.write_text(plain(GOOD))
    db = tmp_path / "run.db"
    store = Store(db)
    try:
        cfg = RunConfig(strategy="random", profile="tiny", workers=2, objective=str(file))
        run_id = create_run(store, cfg)
    finally:
        store.close()
    file.write_text("import no_such_module_for_hptui\n")
    done = hptui("engine", str(run_id), "--db", str(db), timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    ((status, error),) = query(db, "SELECT status, error FROM runs")
    reason = (
        "the objective cannot be used in this worker: ObjectiveError: objective "
        f"{file} does not import: ModuleNotFoundError: No module named "
        "'no_such_module_for_hptui'"
    )
    assert status == "failed" and error.endswith(f"the first: {reason}")
    assert {e for (e,) in query(db, "SELECT error FROM trials")} == {reason}


KERAS_NO_TEST = """
import numpy as np
from hptui import Objective


def load_data():  # no third (test) pair
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return (x[:40], y[:40]), (x[40:], y[40:])


def build_model(params):
    from tensorflow import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, "softmax")])
    model.compile(keras.optimizers.Adam(params["lr"]), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


objective = Objective(
    space={"lr": {"type": "real", "low": 1e-3, "high": 1e-1, "log": True, "default": 1e-2}},
    build_model=build_model,
    load_data=load_data,
)
"""


def test_a_keras_objective_without_a_test_set_is_judged_on_validation_and_says_so(
    tmp_path: Path, fault_env: None
) -> None:
    """No test pair: final validation compares the fresh trainings' validation accuracy, and
    the result says it was not a test set (the run does not claim a test result)."""
    db, done = run_objective(tmp_path, KERAS_NO_TEST)
    assert done.returncode == 0, done.stdout + done.stderr
    assert query(db, "SELECT status, error FROM runs") == [("finished", None)]
    finals = query(db, "SELECT status, test_accuracy FROM trials WHERE phase = 'final'")
    assert finals and all(status == "finished" and t is None for status, t in finals)
    assert query(db, "SELECT count(*) FROM trials WHERE phase != 'final' AND status = "
                     "'finished'") == [(6,)]  # fmt: skip
    ((final,),) = query(db, "SELECT final FROM runs")
    assert json.loads(final)["measured_on"] == "validation"
    assert "val (no test set)" in done.stdout
