"""The contract module (storage.contract): light, and the one list of what the layers share."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from storage import contract
from storage.schema import MIGRATIONS

REPO = Path(__file__).resolve().parents[1]


def test_the_contract_imports_nothing_heavy_and_no_other_layer() -> None:
    probe = (
        "import sys, storage.contract; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('numpy', 'skopt', 'sklearn', 'tensorflow', 'textual', 'engine', 'hptui', 'rich')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def _check(table: str, column: str) -> tuple[str, ...]:
    """The values a column's CHECK constraint allows in a store at the current schema."""
    conn = sqlite3.connect(":memory:")
    for script in MIGRATIONS:
        conn.executescript(script)
    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", [table]).fetchone()
    found = re.search(rf"CHECK \({column} IN \(([^)]*)\)\)", sql)
    assert found, sql
    return tuple(v.strip().strip("'") for v in found.group(1).split(","))


def test_statuses_are_those_the_schema_allows() -> None:
    assert _check("runs", "status") == contract.RUN_STATUSES
    assert _check("trials", "status") == contract.TRIAL_STATUSES
    assert _check("commands", "status") == contract.COMMAND_STATUSES
    assert set(contract.ACTIVE_RUN_STATUSES) | set(contract.ENDED_RUN_STATUSES) == set(
        contract.RUN_STATUSES
    )
    assert set(contract.OPEN_TRIAL_STATUSES) <= set(contract.TRIAL_STATUSES)
    assert set(contract.TRIAL_PHASES) <= set(contract.PHASES)


def test_the_engine_uses_the_contract_names() -> None:
    from engine.executor import DEFAULT_TRAINER
    from engine.profiles import PROFILES
    from engine.pruners import PRUNERS
    from engine.setup import STRATEGIES
    from engine.space import DEFAULT_CONFIG, LSTM_LIMITS, default_space
    from engine.trainer import PRECISIONS

    assert contract.PROFILE_NAMES == tuple(PROFILES)
    assert tuple(LSTM_LIMITS) == contract.PARAM_NAMES == tuple(DEFAULT_CONFIG)
    assert tuple(d.name for d in default_space().dims) == contract.PARAM_NAMES
    assert STRATEGIES is contract.STRATEGIES
    assert PRECISIONS is contract.PRECISIONS
    assert PRUNERS is contract.PRUNERS
    assert DEFAULT_TRAINER is contract.DEFAULT_TRAINER
    from engine.objective import BUILTIN

    assert tuple(BUILTIN) == contract.BUILTIN_OBJECTIVES


def test_the_ppo_strategy_writes_only_progress_keys_of_the_contract() -> None:
    from engine.config import RunConfig
    from engine.profiles import PROFILES
    from engine.setup import build_strategy
    from engine.space import default_space

    cfg = RunConfig(strategy="bayes-ppo", profile="tiny")
    strategy = build_strategy(cfg, PROFILES["tiny"], default_space(), 2)
    assert set(strategy.progress()) <= set(contract.PPO_PROGRESS_KEYS)


def test_command_payloads() -> None:
    assert contract.space_edit({"lr": [1e-4, 1e-2]}, "cli") == {
        "changes": {"lr": [1e-4, 1e-2]},
        "source": "cli",
    }
    assert contract.pruner_edit("asha", "ui") == {"pruner": {"kind": "asha"}, "source": "ui"}
    assert contract.rules_edit([], "cli") == {"rules": [], "source": "cli"}
    assert len(set(contract.COMMAND_KINDS)) == len(contract.COMMAND_KINDS)


def test_the_engine_writes_only_progress_keys_of_the_contract(tmp_path: Path) -> None:
    from engine.runner import Engine
    from tests.faults.clitools import make_run

    db = tmp_path / "p.db"
    run_id = make_run(db)
    engine = Engine(db, run_id)
    try:
        progress = engine.progress()  # before the strategy exists, as at start-up
    finally:
        engine.store.close()
    assert set(progress) == set(contract.ENGINE_PROGRESS_KEYS)
    assert progress["eta_s"] is None and progress["planned"] == 0
