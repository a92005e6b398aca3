"""Long unbroken strings: what is accepted is capped with an error naming the length, what is
printed is cut with an ellipsis and the original length, so no command spends seconds laying
out one line (a 60,000-character data reason took 21 s to `show`, a megabyte-long rule name
never returned). Real `hptui` processes, real stores."""

from __future__ import annotations

import json
import time
from pathlib import Path

from storage.limits import MAX_MESSAGE
from storage.store import Store
from tests.faults.clitools import hptui, write
from tests.faults.conftest import query
from tests.faults.test_paths import store_with_result

LONG = 60_000


def _timed(*args: str) -> tuple[float, str, int]:
    start = time.monotonic()
    done = hptui(*args, timeout=120)
    return time.monotonic() - start, done.stdout + done.stderr, done.returncode


def test_show_and_runs_cut_long_stored_text(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    run_id = store_with_result(db)
    write(db, "UPDATE runs SET data_source = 'x', data_reason = ?, error = ?, device = ?",
          ("r" * LONG, "e" * LONG, "d" * LONG))  # fmt: skip
    for args in (["show", str(run_id)], ["runs"]):
        seconds, out, rc = _timed(*args, "--db", str(db))
        assert rc == 0, out[-2000:]
        assert len(out) < 10_000, f"{args}: {len(out)} characters printed"
        assert seconds < 10, f"{args} took {seconds:.1f} s"
    seconds, out, _ = _timed("show", str(run_id), "--db", str(db))
    assert f"… ({LONG:,} characters)" in out


def test_a_megabyte_rule_name_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    run_id = store_with_result(db)
    rules = tmp_path / "rules.json"
    rule = {"name": "x" * 1_000_000, "when": {"optimizer": {"==": "sgd"}}, "penalty": 1}
    rules.write_text(json.dumps([rule]))
    seconds, out, rc = _timed("space", str(run_id), "--rules", str(rules), "--db", str(db))
    assert rc == 1, out[-2000:]
    assert "is 1,000,000 characters long; at most 100" in " ".join(out.split())
    assert len(out) < 2000 and seconds < 10
    assert query(db, "SELECT count(*) FROM commands") == [(0,)]

    value = {"name": "r", "when": {"optimizer": {"in": ["y" * 5000]}}, "penalty": 1}
    rules.write_text(json.dumps([value]))
    _, out, rc = _timed("space", str(run_id), "--rules", str(rules), "--db", str(db))
    assert rc == 1 and "optimizer value" in out and "5,000 characters" in out
    assert query(db, "SELECT count(*) FROM commands") == [(0,)]


def test_space_cuts_a_long_stored_rule_name(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    run_id = store_with_result(db)
    rules = [{"name": "n" * LONG, "when": {"optimizer": {"==": "sgd"}}, "penalty": 1}]
    write(db, "UPDATE space_versions SET rules = ?", (json.dumps(rules),))
    seconds, out, rc = _timed("space", str(run_id), "--db", str(db))
    assert rc == 0, out[-2000:]
    assert len(out) < 10_000 and seconds < 10
    assert f"({LONG:,} characters)" in " ".join(out.split())


def test_stored_messages_are_capped(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    run_id = store_with_result(db)
    store = Store(db)
    try:
        store.log(run_id, "m" * 1_000_000)
        cid = store.add_command(run_id, "pause")
        store.finish_command(cid, "refused", "c" * 1_000_000)
    finally:
        store.close()
    for sql in ("SELECT max(length(message)) FROM events", "SELECT length(message) FROM commands"):
        ((n,),) = query(db, sql)
        assert n < MAX_MESSAGE + 100
