"""Store and output paths taken literally: an export never overwrites a store (or any file
without --force) and is written atomically; '#', '?' and '%' in a store path do not read
another file or create stray ones; commands that steer a run never create a store."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from storage.store import Store
from tests.faults.clitools import hptui, make_run


def store_with_result(db: Path, acc: float = 0.8) -> int:
    run_id = make_run(db)
    store = Store(db)
    try:
        tid, _ = store.add_trial(
            run_id, {"lr": 1e-3}, status="running", phase="search", strategy="random",
            space_version=1,
        )  # fmt: skip
        store.update_trial(tid, status="finished", val_accuracy=acc, score=60 * acc, reward=1.0)
    finally:
        store.close()
    return run_id


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_export_never_overwrites_the_store(tmp_path: Path) -> None:
    db = tmp_path / "hptui.db"
    run_id = store_with_result(db)
    before = digest(db)
    done = hptui("export", str(run_id), "-o", "hptui.db", "--force", cwd=tmp_path,
                 env={"HPTUI_DB": str(db)})  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "refusing to overwrite it" in done.stderr and "the store itself" in done.stderr
    assert digest(db) == before
    other = tmp_path / "other.db"
    store_with_result(other)
    done = hptui("export", str(run_id), "--db", str(db), "-o", str(other), "--force")
    assert done.returncode == 1 and "a SQLite database" in done.stderr
    assert Store(other, readonly=True).runs()  # still a store


def test_export_replaces_another_file_only_with_force_and_atomically(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    run_id = store_with_result(db, acc=0.75)
    out = tmp_path / "best.json"
    out.write_text("keep me")
    done = hptui("export", str(run_id), "--db", str(db), "-o", str(out))
    assert done.returncode == 1 and "already exists; use --force" in done.stderr
    assert out.read_text() == "keep me"
    done = hptui("export", str(run_id), "--db", str(db), "-o", str(out), "--force")
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["val_accuracy"] == 0.75
    assert [n for n in os.listdir(tmp_path) if n.endswith(".tmp")] == []  # no temp left


@pytest.mark.parametrize("name", ["a.db#b.db", "run#2.db", "q?x.db", "p%41.db"])
def test_store_paths_with_uri_characters_are_read_literally(tmp_path: Path, name: str) -> None:
    decoy = tmp_path / name.split("#")[0].split("?")[0]
    if decoy.name != name:
        make_run(decoy, strategy="grid")  # what an unquoted URI would read instead
    db = tmp_path / name
    make_run(db, strategy="bayes")
    own = {f"{name}-wal", f"{name}-shm"}  # the store's own WAL files may come and go

    def listing() -> list[str]:
        return sorted(set(os.listdir(tmp_path)) - own)

    before = listing()
    for args in (["runs"], ["show", "1"], ["export", "1"], ["space", "1"]):
        done = hptui(*args, "--db", str(db))
        assert "internal error" not in done.stderr
        assert listing() == before, f"{args}: stray files"
    done = hptui("runs", "--db", str(db))
    assert done.returncode == 0 and "bayes" in done.stdout and "grid" not in done.stdout


@pytest.mark.parametrize(
    "args",
    [["pause", "1"], ["stop", "1"], ["cancel", "1"], ["resume", "1", "--headless"],
     ["space", "1", "--set", "lr=1e-4:1e-3:log"], ["space", "1"], ["show", "1"], ["runs"],
     ["export", "1"], ["engine", "1"]],
)  # fmt: skip
def test_commands_on_a_mistyped_store_never_create_one(tmp_path: Path, args: list[str]) -> None:
    db = tmp_path / "hptiu.db"
    done = hptui(*args, "--db", str(db))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{db}: no such store file" in " ".join(done.stderr.split())
    assert not db.exists() and os.listdir(tmp_path) == []
