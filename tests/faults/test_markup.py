"""User strings are printed as text, never read as rich markup: a store path containing `[/`
and a rule named `[/]` used to end `runs`, `show`, `space` and even the error handler in a raw
MarkupError traceback."""

from __future__ import annotations

from pathlib import Path

from storage.store import Store
from tests.faults.clitools import hptui, make_run


def markup_store(tmp_path: Path) -> Path:
    (tmp_path / "[").mkdir()
    db = tmp_path / "[" / "]x.db"  # the path contains "[/]"
    run_id = make_run(db)
    store = Store(db)
    try:
        store.add_space_version(
            run_id,
            store.current_space(run_id)["space"],
            [{"name": "[/]", "when": {"optimizer": {"==": "[/bold]"}}, "penalty": 5}],
            "rules: [/] [bold]",
            "[/]",
        )
    finally:
        store.close()
    return db


def test_paths_and_rule_names_with_markup_are_printed_literally(tmp_path: Path) -> None:
    db = markup_store(tmp_path)
    for args, expect in (
        (["runs"], "[/]x.db"),
        (["show", "1"], "rules: [/] [bold]"),
        (["space", "1"], "[/bold]"),
    ):
        done = hptui(*args, "--db", str(db))
        out = done.stdout + done.stderr
        assert done.returncode == 0, out
        assert "MarkupError" not in out and "Traceback" not in out
        assert expect in " ".join(done.stdout.split()) or expect in done.stdout.replace("\n", "")


def test_errors_naming_a_markup_path_are_printed_by_the_error_handler(tmp_path: Path) -> None:
    db = markup_store(tmp_path)
    done = hptui("show", "9", "--db", str(db))
    assert done.returncode == 1
    assert "MarkupError" not in done.stderr and "internal error" not in done.stderr
    assert "no run 9 in" in done.stderr and "[/]x.db" in done.stderr.replace("\n", "")
    missing = tmp_path / "[" / "]nothing.db"
    done = hptui("runs", "--db", str(missing))
    assert done.returncode == 1 and "no such store file" in done.stderr
    assert "MarkupError" not in done.stderr
