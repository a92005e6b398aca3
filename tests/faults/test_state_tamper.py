"""Tampered strategy state in shapes that got past the checks as internal errors: JSON nested
200,000 deep (RecursionError) and an integer of 10**30 in a count or an array's shape
(OverflowError). `hptui resume` and the engine each refuse them in one line, and nothing
runs. Real `hptui` and engine processes, a real store."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.config import RunConfig
from engine.profiles import PROFILES
from engine.setup import build_strategy
from engine.space import default_space
from engine.state import FORMAT, VERSION, encode_state
from engine.strategies.base import Outcome
from tests.conftest import FAKE_TRAINER
from tests.faults.clitools import hptui, make_run, write
from tests.faults.conftest import query

HUGE = 10**30


def _bayes_state() -> dict[str, Any]:
    """A bayes strategy's state with a point chosen by its GP (so an array is saved)."""
    s = build_strategy(RunConfig(strategy="bayes", profile="tiny"), PROFILES["tiny"],
                       default_space(), 2)  # fmt: skip
    while s.state_dict()["optimizer"]["next_x"] is None:
        p = s.ask()
        assert p is not None
        s.tell(p, Outcome(True, 0.8, 1.0, 1.0, epochs_run=1))
    return s.state_dict()


def _deep(_: dict[str, Any]) -> bytes:
    head = json.dumps({"format": FORMAT, "version": VERSION, "strategy": "bayes"})[:-1]
    return f'{head}, "state": {{"x": {"[" * 200_000}{"]" * 200_000}}}}}'.encode()


def _huge_shape(state: dict[str, Any]) -> bytes:
    state["optimizer"]["next_xs"][0]["shape"] = [HUGE]
    return encode_state("bayes", state)


def _huge_count(state: dict[str, Any]) -> bytes:
    state["asked"] = HUGE
    return encode_state("bayes", state)


@pytest.mark.parametrize(
    ("tamper", "words"),
    [
        (_deep, "nested"),
        (_huge_shape, "beyond 64 bits"),
        (_huge_count, "beyond 64 bits"),
    ],
)
def test_tampered_state_is_a_one_line_refusal(
    tmp_path: Path, fault_env: None, tamper: Callable[[dict[str, Any]], bytes], words: str
) -> None:
    db = tmp_path / "sent.db"
    run_id = make_run(db, strategy="bayes")
    blob = tamper(_bayes_state())
    write(db, "INSERT INTO strategy_state (run_id, updated_at, state) VALUES (?, 0, ?)",
          (run_id, blob))  # fmt: skip
    for args in (
        ["resume", str(run_id), "--headless"],
        ["engine", str(run_id), "--trainer", FAKE_TRAINER],
    ):
        done = hptui(*args, "--db", str(db), timeout=120)
        err = done.stderr.strip()
        assert done.returncode == 1, done.stdout + err
        assert "internal error" not in err and "Traceback" not in err, err
        assert f"run {run_id} cannot be resumed" in err and words in err, err
        assert len(err) < 400, err  # one line, not a dump of the state
    assert query(db, "SELECT count(*) FROM trials") == [(0,)]
    assert query(db, "SELECT status, engine_pid FROM runs") == [("running", None)]


def test_a_tampered_history_chunk_is_a_one_line_refusal(tmp_path: Path, fault_env: None) -> None:
    """The state saved in parts: a head that counts one observation, whose chunk is a pickle."""
    db = tmp_path / "sent.db"
    run_id = make_run(db, strategy="bayes")
    state = _bayes_state()
    state["observations"] = []
    write(db, "INSERT INTO strategy_state (run_id, updated_at, state) VALUES (?, 0, ?)",
          (run_id, encode_state("bayes", state, {"observations": 1})))  # fmt: skip
    write(db, "INSERT INTO strategy_history (run_id, log, seq, chunk) VALUES (?, ?, 0, ?)",
          (run_id, "observations", b"\x80\x04\x95pickled"))  # fmt: skip
    for args in (
        ["resume", str(run_id), "--headless"],
        ["engine", str(run_id), "--trainer", FAKE_TRAINER],
    ):
        done = hptui(*args, "--db", str(db), timeout=120)
        err = done.stderr.strip()
        assert done.returncode == 1, done.stdout + err
        assert "internal error" not in err and "Traceback" not in err, err
        assert f"run {run_id} cannot be resumed" in err and "pickle" in err, err
        assert len(err) < 400, err
    assert query(db, "SELECT count(*) FROM trials") == [(0,)]
    assert query(db, "SELECT status, engine_pid FROM runs") == [("running", None)]
