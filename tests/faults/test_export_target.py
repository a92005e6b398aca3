"""`export -o` writes only a new file or, with --force, a regular one: a device node, a FIFO,
a socket or a symbolic link is refused and left as it was, and nothing is read from it (a
FIFO or a pipe would block forever). `-o -` and no -o write the JSON to standard output.
Real `hptui` processes, real nodes made in a temporary directory."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.clitools import REPO, hptui
from tests.faults.test_paths import store_with_result


def _refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    text = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1, text
    assert "internal error" not in text, text
    for w in words:
        assert w in text, text


def _make_fifo(p: Path) -> None:
    os.mkfifo(p)


def _make_char_device(p: Path) -> None:
    try:
        os.mknod(p, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # the null device's numbers
    except PermissionError:
        pytest.skip("creating a device node needs root (CAP_MKNOD)")


@pytest.fixture
def bound_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)  # a relative name: socket paths are limited to ~100 bytes
    s = socket.socket(socket.AF_UNIX)
    s.bind("sock")
    try:
        yield tmp_path / "sock"
    finally:
        s.close()


@pytest.mark.parametrize(
    ("kind", "make", "words"),
    [
        ("fifo", _make_fifo, "is a FIFO (named pipe), not a regular file"),
        ("device", _make_char_device, "is a character device, not a regular file"),
    ],
)
@pytest.mark.parametrize("force", [True, False])
def test_export_never_replaces_or_reads_a_node(
    tmp_path: Path, kind: str, make: object, words: str, force: bool
) -> None:
    db = tmp_path / "s.db"
    run_id = store_with_result(db)
    node = tmp_path / kind
    make(node)  # type: ignore[operator]
    before = os.lstat(node)
    args = ["export", str(run_id), "--db", str(db), "-o", str(node)]
    done = hptui(*args, *(["--force"] if force else []), timeout=30)  # a read would hang
    _refused(done, words, "-o -")
    after = os.lstat(node)
    assert (after.st_mode, after.st_ino, after.st_rdev) == (
        before.st_mode,
        before.st_ino,
        before.st_rdev,
    )


def test_export_never_replaces_a_socket(tmp_path: Path, bound_socket: Path) -> None:
    db = tmp_path / "s.db"
    run_id = store_with_result(db)
    done = hptui("export", str(run_id), "--db", str(db), "-o", str(bound_socket), "--force")
    _refused(done, "is a socket, not a regular file")
    assert stat.S_ISSOCK(os.lstat(bound_socket).st_mode)


@pytest.mark.parametrize("dangling", [False, True])
def test_export_refuses_a_symlink_and_leaves_link_and_target(
    tmp_path: Path, dangling: bool
) -> None:
    db = tmp_path / "s.db"
    run_id = store_with_result(db)
    target, link = tmp_path / "real.json", tmp_path / "link.json"
    if not dangling:
        target.write_text("keep me")
    link.symlink_to(target)
    done = hptui("export", str(run_id), "--db", str(db), "-o", str(link), "--force")
    _refused(done, "is a symbolic link to", "refusing to replace the link")
    assert link.is_symlink() and os.readlink(link) == str(target)
    if dangling:
        assert not target.exists()
    else:
        assert target.read_text() == "keep me"


def test_export_to_dev_stdout_on_a_pipe_returns_and_says_how(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    run_id = store_with_result(db)
    done = hptui("export", str(run_id), "--db", str(db), "-o", "/dev/stdout", timeout=30)
    _refused(done, "symbolic link", "-o - or leave -o out")


@pytest.mark.parametrize("dash", [True, False])
def test_export_to_stdout_pipes_the_json_on(tmp_path: Path, dash: bool) -> None:
    db = tmp_path / "s.db"
    run_id = store_with_result(db, acc=0.75)
    export = subprocess.Popen(
        [sys.executable, "-m", "hptui.cli", "export", str(run_id), "--db", str(db)]
        + (["-o", "-"] if dash else []),
        cwd=REPO,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    reader = subprocess.run(
        [sys.executable, "-c", "import json, sys; print(json.load(sys.stdin)['val_accuracy'])"],
        stdin=export.stdout,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert export.stdout is not None
    export.stdout.close()
    assert export.wait(timeout=30) == 0
    assert reader.stdout.strip() == "0.75", reader.stderr
    assert not (tmp_path / "-").exists()
    assert json.loads(hptui("export", str(run_id), "--db", str(db), "-o", "-").stdout)
