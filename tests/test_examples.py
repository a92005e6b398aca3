"""The examples in examples/, run for real as a user runs them (tiny profile: seconds): each
finishes its run, and the run exports its best configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.objective import load_objective

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def run(*args: str, timeout: float = 420) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"},
    )


def exported(db: Path, out: Path) -> dict:
    """`hptui export 1 --db DB -o OUT`, read back."""
    done = run("-m", "hptui.cli", "export", "1", "--db", str(db), "-o", str(out))
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


def check_finished(db: Path, tmp_path: Path, dims: set[str]) -> dict:
    from tests.faults.conftest import query

    assert query(db, "SELECT status, error FROM runs") == [("finished", None)]
    assert query(db, "SELECT count(*) FROM trials WHERE status = 'failed'") == [(0,)]
    payload = exported(db, tmp_path / "best.json")
    assert set(payload["hyperparameters"]) == dims
    assert payload["final_validation_status"] == "done"
    return payload


@pytest.mark.parametrize(
    ("example", "dims"),
    [
        ("sklearn_digits.py", {"alpha", "eta0", "loss", "penalty"}),
        ("keras_digits.py", {"lr", "units", "dropout"}),
    ],
)
def test_an_example_objective_runs_with_hptui_run(
    tmp_path: Path, cache_env: Path, example: str, dims: set[str]
) -> None:
    db = tmp_path / "ex.db"
    done = run(
        "-m", "hptui.cli", "run", "--headless", "--profile", "tiny", "--strategy", "random",
        "--objective", f"examples/{example}", "--db", str(db),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    payload = check_finished(db, tmp_path, dims)
    assert payload["val_accuracy"] > 0.3  # digits: chance is 0.1


def test_the_search_from_python_example_runs_as_a_script(tmp_path: Path, cache_env: Path) -> None:
    db = tmp_path / "py.db"
    done = run(str(EXAMPLES / "search_from_python.py"), "tiny", str(db))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "run 1: best val_log_loss " in done.stdout
    assert f"hptui attach 1 --db {db}" in done.stdout
    payload = check_finished(db, tmp_path, {"alpha", "eta0", "penalty"})
    # the metric is a loss, minimized: the best's utility is above the default's
    chosen = payload["chosen"]
    if not chosen["is_default"] and chosen["default_mean_val_accuracy"] is not None:
        assert chosen["mean_val_accuracy"] >= chosen["default_mean_val_accuracy"]
    from tests.faults.conftest import query

    ((config,),) = query(db, "SELECT config FROM runs")
    cfg = json.loads(config)
    assert cfg["objective"] == f"{EXAMPLES / 'search_from_python.py'}:objective"
    assert cfg["metric"] == {"name": "val_log_loss", "direction": "minimize", "bounds": [0, 2.3]}


def test_the_search_from_python_example_is_also_an_objective_file() -> None:
    # `hptui run --objective examples/search_from_python.py` imports it without starting a
    # search (the call is under `if __name__ == "__main__":`)
    obj = load_objective(str(EXAMPLES / "search_from_python.py"))
    assert obj.flavour == "plain" and obj.direction == "minimize"


def test_the_keras_example_is_under_30_lines() -> None:
    assert len((EXAMPLES / "keras_digits.py").read_text().splitlines()) < 30
    obj = load_objective(str(EXAMPLES / "keras_digits.py"))
    assert obj.flavour == "keras" and obj.default_config() == {
        "lr": 1e-3,
        "units": 32,
        "dropout": 0.2,
    }
