"""Lengths: what hptui accepts as a name or stores as a message, and how much of a stored
text it prints. Terminal layout (rich's wrapping) takes time quadratic in the length of an
unbroken string: a 60,000-character data reason took 21 s to `show`. So text taken from a
user or a store is capped on the way in and cut on the way out. Standard library only, so
every layer can use it."""

from __future__ import annotations

MAX_NAME = 100  # a pruning rule's name, a category value
MAX_MESSAGE = 2000  # an event or a command's answer, as stored
SHOWN = 300  # a stored text printed by show, space, runs and the headless view


def clip(text: object, limit: int = SHOWN) -> str:
    """`text` as printed: whole when short, else its start, an ellipsis and its length."""
    s = str(text)
    if len(s) <= limit:
        return s
    return f"{s[:limit]}… ({len(s):,} characters)"


def too_long(text: str, limit: int, what: str) -> str | None:
    """Why `text` cannot be accepted as `what` (None: it can), with its start shown."""
    if len(text) <= limit:
        return None
    return f"{what} {text[:40]!r}... is {len(text):,} characters long; at most {limit}"
