"""The command line: `hptui.cli.main([...])` in-process, and as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.choice import choose
from engine.config import RunConfig
from engine.runner import Engine
from engine.setup import create_run
from hptui import cli as cli_module
from hptui.cli import main
from storage.store import Store
from tests.conftest import FAKE_TRAINER, REPO


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps at 80 columns when not on a terminal; wide output keeps lines whole."""
    monkeypatch.setattr(cli_module.console, "width", 240)
    monkeypatch.setattr(cli_module.err_console, "width", 240)


@pytest.fixture(scope="module")
def finished_db(tmp_path_factory: pytest.TempPathFactory, session_cache: Path) -> tuple[Path, int]:
    """A store holding one finished random run made with the trainer double."""
    db = tmp_path_factory.mktemp("cli") / "runs.db"
    mp = pytest.MonkeyPatch()
    mp.setenv("HPTUI_CACHE_DIR", str(session_cache))
    try:
        s = Store(db)
        rid = create_run(
            s, RunConfig(strategy="random", profile="tiny", data="sample", workers=2, seed=3)
        )
        s.close()
        assert Engine(db, rid, trainer=FAKE_TRAINER).run() == "finished"
    finally:
        mp.undo()
    return db, rid


def running_run(db: Path) -> int:
    """A run in status 'running' with no engine (so edits are queued, not applied)."""
    s = Store(db)
    rid = create_run(s, RunConfig(strategy="random", profile="tiny", data="sample", workers=1))
    s.close()
    return rid


def test_runs_on_empty_store(tmp_path: Path, capsys) -> None:
    db = tmp_path / "empty.db"
    Store(db).close()
    assert main(["runs", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "no runs in" in out and "empty.db" in out


def test_runs_lists_the_run(finished_db, capsys) -> None:
    db, rid = finished_db
    assert main(["runs", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "random" in out and "finished" in out and "sample" in out and "4/4" in out


def test_show(finished_db, capsys) -> None:
    db, rid = finished_db
    assert main(["show", str(rid), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    s = Store(db, readonly=True)
    best = s.best_trial(rid)
    s.close()
    # the stage measured again: the single best is named as what it is, the chosen follows
    assert f"best single measurement: trial {best['number']}" in out and "\nchosen: " in out
    assert "final validation (1 epochs)" in out
    assert "data: sample" in out and "search" in out
    # the verdict once, on its own line, not also at the end of the final validation's line
    assert out.count("verdict:") == 1 and "\nverdict: " in out


def test_export_stdout(finished_db, capsys) -> None:
    db, rid = finished_db
    assert main(["export", str(rid), "--db", str(db)]) == 0
    payload = json.loads(capsys.readouterr().out)
    s = Store(db, readonly=True)
    # the configuration chosen by repeated measurements (the confirmation stage ran)
    choice, run = choose(s.trials(rid)), s.run(rid)
    assert choice is not None and choice.confirmed
    best = s.trial_by_number(rid, choice.best.trial)
    s.close()
    assert payload["run_id"] == rid and payload["trial_id"] == best["id"]
    assert payload["space_version"] == 1
    assert payload["hyperparameters"] == best["config"] == choice.best.config
    assert payload["val_accuracy"] == best["val_accuracy"] and payload["reward"] == best["reward"]
    assert payload["chosen"]["measurements"] == choice.best.n
    assert payload["data_source"] == "sample" and payload["seed"] == run["seed"] == 3
    assert payload["strategy"] == "random" and payload["profile"] == "tiny"

    # The final validation, as stored: means, each training's accuracy, the gain's interval.
    assert payload["final_validation"] == run["final"]
    key = "default" if choice.default_is_best else "best"  # the default chosen: trained alone
    assert payload["final_validation"][f"{key}_test_accuracies"]
    assert payload["verdict"] == run["final"]["verdict"]

    def plain(v) -> bool:
        if isinstance(v, dict):
            return all(isinstance(k, str) and plain(x) for k, x in v.items())
        if isinstance(v, list):
            return all(plain(x) for x in v)
        return v is None or type(v) in (str, int, float, bool)

    assert plain(payload)


def test_export_to_file(finished_db, tmp_path: Path, capsys) -> None:
    db, rid = finished_db
    out = tmp_path / "best.json"
    assert main(["export", str(rid), "--db", str(db), "-o", str(out)]) == 0
    assert "written to" in capsys.readouterr().out
    assert json.loads(out.read_text())["run_id"] == rid
    assert main(["export", str(rid), "--db", str(db), "-o", str(tmp_path)]) == 1
    assert "is a directory" in capsys.readouterr().err


def test_export_unknown_run(finished_db, capsys) -> None:
    db, rid = finished_db
    assert main(["export", "99", "--db", str(db)]) == 1
    captured = capsys.readouterr()
    assert "no run 99" in captured.err and f"runs: {rid}" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_export_run_without_finished_trial(tmp_path: Path, capsys) -> None:
    db = tmp_path / "n.db"
    rid = running_run(db)
    assert main(["export", str(rid), "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert f"run {rid} has no finished trial" in err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--workers", "0"], "argument --workers: must be at least 1, got 0"),
        (["--workers", "two"], "argument --workers: 'two' is not a whole number"),
        (["--seed", "-1"], "argument --seed: must be"),
        (["--strategy", "sgd"], "invalid choice: 'sgd'"),
        (["--profile", "huge"], "invalid choice: 'huge'"),
    ],
)
def test_bad_run_options(tmp_path: Path, capsys, args: list[str], needle: str) -> None:
    db = tmp_path / "x.db"
    with pytest.raises(SystemExit) as exc:
        main(["run", "--headless", "--profile", "tiny", "--db", str(db), *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    if "--seed" in args:
        assert "got -1" in err
    assert not db.exists()


def test_missing_data_path(tmp_path: Path, capsys) -> None:
    db = tmp_path / "x.db"
    code = main(
        [
            "run",
            "--headless",
            "--profile",
            "tiny",
            "--data",
            "/nonexistent/reviews.tgz",
            "--db",
            str(db),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "--data: /nonexistent/reviews.tgz does not exist" in err
    assert not db.exists()


def test_space_edit_refused_names_lr(tmp_path: Path, capsys) -> None:
    db = tmp_path / "s.db"
    rid = running_run(db)
    assert main(["space", str(rid), "--db", str(db), "--set", "lr=5:1"]) == 1
    err = capsys.readouterr().err
    assert "space edit refused" in err and "lr" in err
    assert main(["space", str(rid), "--db", str(db), "--set", "lr=1e-2:1e-4"]) == 1
    assert "lr: empty range" in capsys.readouterr().err
    assert main(["space", str(rid), "--db", str(db), "--set", "momentum=0.9"]) == 1
    assert "unknown hyperparameter 'momentum'" in capsys.readouterr().err
    s = Store(db, readonly=True)
    assert s.pending_commands(rid) == []  # nothing reached the engine
    assert len(s.space_versions(rid)) == 1
    s.close()


def test_space_pruner_sends_an_edit_pruner_command(tmp_path: Path, capsys) -> None:
    db = tmp_path / "p.db"
    rid = running_run(db)
    assert main(["space", str(rid), "--db", str(db), "--pruner", "asha"]) == 0
    assert "the pruner edit is applied when it resumes" in capsys.readouterr().out
    s = Store(db, readonly=True)
    try:
        (cmd,) = s.pending_commands(rid)
        assert cmd["kind"] == "edit_pruner"
        assert cmd["payload"] == {"pruner": {"kind": "asha"}, "source": "cli"}
    finally:
        s.close()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--pruner", "hyperband"], "unknown pruner 'hyperband' (known: none, median, asha)"),
        (["--pruner", ""], "unknown pruner ''"),
        (["--pruner", "none"], "already uses no pruning; nothing to change"),
        (["--pruner", "median", "--set", "lr=1e-4:1e-3"], "--pruner is an edit of its own"),
    ],
)
def test_space_pruner_refused_sends_nothing(
    tmp_path: Path, capsys, args: list[str], needle: str
) -> None:
    db = tmp_path / "p.db"
    rid = running_run(db)  # created with no pruner
    assert main(["space", str(rid), "--db", str(db), *args]) == 1
    assert needle in " ".join(capsys.readouterr().err.split())
    s = Store(db, readonly=True)
    try:
        assert s.pending_commands(rid) == []
        assert s.pruner_versions(rid) == []
    finally:
        s.close()


def test_space_pruner_of_finished_run_refused(finished_db, capsys) -> None:
    db, rid = finished_db
    assert main(["space", str(rid), "--db", str(db), "--pruner", "median"]) == 1
    assert "its pruner can no longer change" in capsys.readouterr().err


def test_space_pruner_edit_is_applied_by_the_engine(tmp_path: Path, cache_env, capsys) -> None:
    db = tmp_path / "e.db"
    rid = running_run(db)
    assert main(["space", str(rid), "--db", str(db), "--pruner", "median"]) == 0
    assert Engine(db, rid, trainer=FAKE_TRAINER).run() == "finished"
    s = Store(db, readonly=True)
    try:
        versions = s.pruner_versions(rid)
        assert [(v["settings"]["kind"], v["source"]) for v in versions] == [
            ("none", "engine"),
            ("median", "cli"),
        ]
        assert s.conn.execute("SELECT status FROM commands").fetchall() == [("done",)]
    finally:
        s.close()
    capsys.readouterr()
    assert main(["space", str(rid), "--db", str(db)]) == 0
    assert "pruner: median stopping (after 5 finished trials) (version 2)" in " ".join(
        capsys.readouterr().out.split()
    )


def test_space_edit_of_finished_run_refused(finished_db, capsys) -> None:
    db, rid = finished_db
    assert main(["space", str(rid), "--db", str(db), "--set", "lr=1e-4:1e-3:log"]) == 1
    assert "can no longer change" in capsys.readouterr().err


def test_space_prints(finished_db, capsys) -> None:
    db, rid = finished_db
    assert main(["space", str(rid), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "0.0001..0.01 (log)" in out and "sgd_high_lr" in out


@pytest.mark.parametrize("command", ["runs", "show", "export"])
def test_db_is_random_bytes(tmp_path: Path, capsys, command: str) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(os.urandom(4096))
    args = [command, "--db", str(junk)] + (["1"] if command != "runs" else [])
    assert main(args) == 1
    err = capsys.readouterr().err.replace("\n", "")
    assert "junk.db" in err and "Traceback" not in err


def test_db_missing(tmp_path: Path, capsys) -> None:
    assert main(["runs", "--db", str(tmp_path / "none.db")]) == 1
    assert "no such store file" in capsys.readouterr().err


def test_control_on_finished_run(finished_db, capsys) -> None:
    db, rid = finished_db
    assert main(["pause", str(rid), "--db", str(db)]) == 1
    assert "is finished: cannot pause" in capsys.readouterr().err


def test_control_without_engine_queues(tmp_path: Path, capsys) -> None:
    db = tmp_path / "q.db"
    rid = running_run(db)
    assert main(["pause", str(rid), "--db", str(db)]) == 0
    assert "no engine is running it" in capsys.readouterr().out
    s = Store(db, readonly=True)
    assert [c["kind"] for c in s.pending_commands(rid)] == ["pause"]
    s.close()


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hptui.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_subprocess_export_and_errors(finished_db, tmp_path: Path) -> None:
    db, rid = finished_db
    out = tmp_path / "sub.json"
    p = cli("export", str(rid), "--db", str(db), "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert json.loads(out.read_text())["run_id"] == rid
    p = cli("export", "42", "--db", str(db))
    assert p.returncode == 1 and "no run 42" in p.stderr and "Traceback" not in p.stderr
    p = cli("run", "--workers", "0", "--db", str(tmp_path / "w.db"))
    assert p.returncode == 2 and "must be at least 1" in p.stderr and "Traceback" not in p.stderr
    junk = tmp_path / "bytes.db"
    junk.write_bytes(os.urandom(2048))
    p = cli("runs", "--db", str(junk))
    assert p.returncode == 1 and "bytes.db" in p.stderr and "Traceback" not in p.stderr
