"""`hptui show` says which hyperparameters mattered; `--slices` plots each."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from engine.space import default_space
from storage.store import Store
from tests.faults.clitools import hptui, make_run


def add_search_trials(db: Path, run_id: int, n: int, seed: int = 0) -> None:
    """`n` finished search trials whose score the learning rate decides (log scale)."""
    space = default_space()
    rng = np.random.default_rng(seed)
    s = Store(db)
    try:
        for _ in range(n):
            cfg = space.sample(rng)
            acc = 0.6 + 0.1 * math.log10(cfg["lr"] / 1e-4) + float(rng.normal(0.0, 0.002))
            tid, _ = s.add_trial(
                run_id, cfg, phase="search", strategy="random", status="running", space_version=1
            )
            s.update_trial(tid, status="finished", val_accuracy=acc, score=60 * acc, seconds=1.0)
    finally:
        s.close()


def matters_rows(stdout: str) -> list[list[str]]:
    """The table's rows: name, bar, percentage, range (split on its column rules)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "what matters" in line)
    rows = []
    for line in lines[start:]:
        cells = [c.strip() for c in line.strip().strip("│┃").split("│")]
        if len(cells) == 4 and cells[2].endswith("%"):
            rows.append(cells)
    return rows


@pytest.fixture
def decided(tmp_path: Path) -> tuple[Path, int]:
    db = tmp_path / "s.db"
    run_id = make_run(db)
    add_search_trials(db, run_id, 40)
    return db, run_id


def test_show_prints_what_mattered_most_important_first(decided: tuple[Path, int]) -> None:
    db, run_id = decided
    out = hptui("show", str(run_id), "--db", str(db))
    assert out.returncode == 0, out.stderr
    assert "what matters: share of the score's variation, 40 trials" in out.stdout
    assert "rough under 60" in " ".join(out.stdout.split())  # the order: a hint under 60
    rows = matters_rows(out.stdout)
    assert [r[0] for r in rows][0] == "lr"
    assert sorted(r[0] for r in rows) == sorted(default_space().names)
    shares = [float(r[2].rstrip("%")) for r in rows]
    assert shares == sorted(shares, reverse=True) and shares[0] > 60
    assert abs(sum(shares) - 100) < 0.5
    assert rows[0][3] == "0.0001..0.01 log"
    assert "against lr" not in out.stdout  # no slices unless asked


def test_show_slices_plots_each_hyperparameter(decided: tuple[Path, int]) -> None:
    db, run_id = decided
    out = hptui("show", str(run_id), "--slices", "--db", str(db), env={"COLUMNS": "90"})
    assert out.returncode == 0, out.stderr
    for name in default_space().names:
        assert f"score against {name}, now" in out.stdout
    # a log axis labelled with the values, categories by name
    assert "0.0001" in out.stdout and "0.001" in out.stdout
    assert "adam" in out.stdout and "sgd" in out.stdout
    assert "\x1b[" not in out.stdout  # plain text


def test_show_with_too_few_trials_says_so(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    run_id = make_run(db)
    add_search_trials(db, run_id, 5)
    out = hptui("show", str(run_id), "--db", str(db))
    assert out.returncode == 0, out.stderr
    assert "what matters: not enough trials (5 finished search trials, 8 needed)" in out.stdout
