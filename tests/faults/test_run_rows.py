"""Damaged run rows are named, not internal errors: a run without a start time, without a
search-space version or with a configuration that is not JSON makes `show`, `space` and
`resume` say what is missing (one line, exit 1). A run no worker ever reached says so
instead of "device: None". Real `hptui` processes, real stores edited behind its back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.clitools import hptui, make_run, write
from tests.faults.test_paths import store_with_result

SHOW, SPACE, RESUME = ["show"], ["space"], ["resume", "--headless"]
DAMAGE = {
    "no start time": ("UPDATE runs SET started_at = NULL", "it has no start time"),
    "config not JSON": ("UPDATE runs SET config = '{oops'", "damaged value in column config"),
    # `show` reports a run without one (nothing it prints needs it); `space` and the engine do
    "no space version": ("DELETE FROM space_versions", "no space_versions row"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_run_row_is_named(tmp_path: Path, case: str) -> None:
    sql, words = DAMAGE[case]
    db = tmp_path / "s.db"
    run_id = store_with_result(db)
    write(db, sql)
    refused = (SPACE, RESUME) if case == "no space version" else (SHOW, SPACE, RESUME)
    for command in refused:
        done = hptui(command[0], str(run_id), *command[1:], "--db", str(db))
        text = " ".join(done.stderr.split())
        assert done.returncode == 1, done.stdout + text
        assert "internal error" not in text and "Traceback" not in text, text
        assert words in text, text
        assert len(done.stderr.strip().splitlines()) <= 4, text  # one message, wrapped
    if case == "no space version":
        assert hptui("show", str(run_id), "--db", str(db)).returncode == 0


def test_a_run_no_worker_reached_says_so(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    run_id = make_run(db)
    done = hptui("show", str(run_id), "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert "device: not reached" in done.stdout and "None" not in done.stdout
