"""Where `hptui export -o PATH` may write: a new file, or (with --force) a regular file that
is neither a SQLite database nor the store itself. Nothing else is opened, read or replaced:
a FIFO or `/dev/stdout` piped on would block a read forever, and renaming over a device
node, a socket or a symbolic link would silently replace that entry, not write to it.
`-o -` (or no -o) writes to standard output, the way to pipe the JSON on."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

SQLITE_MAGIC = b"SQLite format 3\x00"
STDOUT = "-"
_USE_STDOUT = "to write to standard output, use -o - or leave -o out"
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class TargetError(ValueError):
    """The export target cannot be written; the message names it and why."""


def kind_of(mode: int) -> str:
    """A file type in words ("a FIFO (named pipe)"); "a regular file" for one."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def check_target(out: Path, db: Path, *, force: bool) -> None:
    """Refuse an export target that is not a new file or, with `force`, a regular file
    that holds no SQLite database; symbolic links are refused, never followed or replaced."""
    try:
        st = os.lstat(out)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise TargetError(f"-o {out}: cannot check it ({exc.strerror or exc})") from None
    if stat.S_ISLNK(st.st_mode):
        raise TargetError(
            f"-o {out}: {_link_text(out)}; refusing to replace the link (give the file "
            f"itself; {_USE_STDOUT})"
        )
    if stat.S_ISDIR(st.st_mode):
        raise TargetError(f"-o {out}: is a directory; give a file name")
    if not stat.S_ISREG(st.st_mode):
        raise TargetError(
            f"-o {out}: is {kind_of(st.st_mode)}, not a regular file; refusing to write an "
            f"export there ({_USE_STDOUT})"
        )
    same = _is_store(out, db)
    if same or _head(out) == SQLITE_MAGIC:
        what = "the store itself" if same else "a SQLite database (perhaps a store)"
        raise TargetError(f"-o {out}: is {what}; refusing to overwrite it with an export")
    if not force:
        raise TargetError(f"-o {out}: already exists; use --force to replace it")


def _link_text(out: Path) -> str:
    """'is a symbolic link to X (a pipe)': where it points and, if there, what that is."""
    try:
        dest = os.readlink(out)
    except OSError:
        return "is a symbolic link"
    try:
        what = kind_of(os.stat(out).st_mode)
    except OSError:
        what = "nothing: a dangling link"
    return f"is a symbolic link to {dest} ({what})"


def _is_store(out: Path, db: Path) -> bool:
    try:
        return out.resolve() == db.resolve() or out.samefile(db)
    except OSError:
        return False


def _head(out: Path) -> bytes:
    """The first bytes of a regular file, opened so that it cannot block or follow a link
    swapped in since it was checked (then it is refused as not a regular file)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(out, flags)
    except OSError as exc:
        raise TargetError(f"-o {out}: cannot read it to check it ({exc.strerror})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise TargetError(f"-o {out}: is {kind_of(mode)}, not a regular file; refusing it")
        return os.read(fd, len(SQLITE_MAGIC))
    finally:
        os.close(fd)


def write_atomically(out: Path, text: str) -> None:
    """Write to a temporary file beside `out`, then rename it over: a reader sees the old
    file or the whole new one, never a half-written one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
