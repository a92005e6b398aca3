"""Strategy state as data: JSON with named numeric arrays, never a pickle.

A store can come from someone else, and unpickling runs whatever code the pickle names. So the
state saved for resume is a JSON envelope (format, version, strategy, state) whose arrays are
base64 of their little-endian bytes with a dtype from a short list and a shape. Anything else in
`strategy_state` (a pickle, a truncated or edited row) is refused with a message, and nothing
in it runs.

So that a save costs the same however long the run, the engine saves the state by parts. What
only grows (a strategy's `logs()`: Bayes's observations, bayes-ppo's history) is saved apart,
as chunks of the entries new since the last save (`encode_entries`); a large part that changes
now and then (its `parts()`: bayes-ppo's PPO agent) is saved apart when it changed
(`encode_part`); the envelope holds the rest, with an empty list in each log's place and None
in each part's, how many of each log's entries are valid and the parts' names (`Head`). `join`
puts them back, and refuses a log whose chunks do not add up to its count. An envelope of
version 1 (older hptui) holds the whole state.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

FORMAT = "hptui-strategy-state"
VERSION = 2  # 2: the logs may be saved apart; 1, the whole state in the envelope, still read
VERSIONS = (1, 2)
# Written by the schema 3 migration over the pickles older versions saved.
DROPPED_PICKLE = "hptui-dropped-pickle"
MAX_DEPTH = 64  # a strategy's state nests a few levels; JSON allows any depth
MAX_ARRAY_BYTES = 1 << 30  # far above any policy's weights; a shape is checked before use
_DTYPES = {"float32": "<f4", "float64": "<f8", "int32": "<i4", "int64": "<i8", "uint32": "<u4"}


class StateError(ValueError):
    """Saved strategy state that is not ours to load; the message says why."""


# --- arrays and random states ------------------------------------------------------------------


def encode_array(a: Any) -> dict[str, Any]:
    arr = np.asarray(a)
    name = arr.dtype.name
    if name not in _DTYPES:
        raise TypeError(f"cannot save an array of dtype {name}")
    raw = np.ascontiguousarray(arr, dtype=_DTYPES[name]).tobytes()
    return {"dtype": name, "shape": list(arr.shape), "b64": base64.b64encode(raw).decode()}


def decode_array(d: Any) -> np.ndarray:
    if not isinstance(d, dict) or d.get("dtype") not in _DTYPES:
        raise StateError(f"not a saved array: {str(d)[:60]}")
    shape = d.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise StateError(f"bad array shape {str(shape)[:60]}")
    dtype = np.dtype(_DTYPES[d["dtype"]])
    size = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if size > MAX_ARRAY_BYTES:
        raise StateError(f"array shape {str(shape)[:60]} is far too large (over 1 GiB)")
    try:
        raw = base64.b64decode(d.get("b64", ""), validate=True)
    except (ValueError, TypeError) as exc:
        raise StateError(f"bad array data ({exc})") from None
    if len(raw) != size:
        raise StateError(f"array data does not match its shape {shape}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(d["dtype"])


def encode_rng(rng: np.random.RandomState) -> dict[str, Any]:
    name, key, pos, has_gauss, cached = rng.get_state()
    return {
        "bit_generator": str(name),
        "key": [int(k) for k in key],
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def restore_rng(rng: np.random.RandomState, d: Any) -> None:
    try:
        key = np.array(d["key"], dtype=np.uint32)
        if d["bit_generator"] != "MT19937" or key.shape != (624,):
            raise StateError("not an MT19937 random state")
        rng.set_state(
            ("MT19937", key, int(d["pos"]), int(d["has_gauss"]), float(d["cached_gaussian"]))
        )
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise StateError(f"bad random state ({exc})") from None


# --- dataclasses ---------------------------------------------------------------------------------


def to_plain(obj: Any) -> dict[str, Any]:
    """A dataclass (Proposal, Outcome, Trajectory) as a plain dict."""
    return dataclasses.asdict(obj)


def from_plain(cls: type, d: Any) -> Any:
    """The dataclass `cls` from a plain dict with exactly its fields' names."""
    names = {f.name for f in dataclasses.fields(cls)}
    if not isinstance(d, dict) or not set(d) <= names:
        raise StateError(f"not a saved {cls.__name__}: {str(d)[:80]}")
    return cls(**d)


# --- the envelope --------------------------------------------------------------------------------


def encode_state(
    strategy: str,
    state: dict[str, Any],
    logs: dict[str, int] | None = None,
    parts: list[str] | None = None,
) -> bytes:
    """The envelope of `state`. Saved by parts: `logs`, the logs saved apart (name -> entries
    valid), and `parts`, the names of the parts saved apart (see `decode_head`)."""
    envelope = {"format": FORMAT, "version": VERSION, "strategy": strategy, "state": state}
    if logs:
        envelope["logs"] = logs
    if parts:
        envelope["parts"] = parts
    return json.dumps(envelope, separators=(",", ":"), allow_nan=True).encode()


def decode_state(blob: bytes, strategy: str) -> dict[str, Any]:
    """The whole state saved by `encode_state` for `strategy`; StateError for anything else,
    and for an envelope that holds parts of it apart (see `decode_head`)."""
    head = decode_head(blob, strategy)
    if head.logs or head.parts:
        raise StateError("the saved strategy state holds parts of it apart; read them with it")
    return head.state


@dataclasses.dataclass
class Head:
    """A saved state's envelope: the state, with an empty list in the place of each log saved
    apart and None in that of each part, and those logs' counts of valid entries and those
    parts' names."""

    state: dict[str, Any]
    logs: dict[str, int]
    parts: list[str]


def decode_head(blob: bytes, strategy: str) -> Head:
    """The envelope `encode_state` saved for `strategy`; StateError for anything else."""
    envelope = _json(blob, "state")
    if not isinstance(envelope, dict):
        raise StateError("the saved strategy state is not hptui's JSON state")
    if envelope.get("format") == DROPPED_PICKLE:
        raise StateError(
            "its strategy state was saved by an older hptui as a Python pickle, which this "
            "version never loads (a pickle can run code); the migration to schema 3 dropped it"
        )
    if envelope.get("format") != FORMAT or envelope.get("version") not in VERSIONS:
        raise StateError(
            f"the saved strategy state has format {envelope.get('format')!r} version "
            f"{envelope.get('version')!r}, not {FORMAT!r} version {VERSION}"
        )
    if envelope.get("strategy") != strategy:
        raise StateError(
            f"the saved strategy state is for {envelope.get('strategy')!r}, not {strategy!r}"
        )
    if not isinstance(envelope.get("state"), dict):
        raise StateError("the saved strategy state has no state object")
    head = Head(envelope["state"], envelope.get("logs", {}), envelope.get("parts", []))
    _check_plain(head.state)
    _check_plain(head.logs)
    apart = "logs" in envelope or "parts" in envelope
    if envelope["version"] == 1 and apart or not isinstance(head.logs, dict):
        raise StateError("the saved strategy state has a bad list of logs")
    if not isinstance(head.parts, list) or not all(isinstance(n, str) for n in head.parts):
        raise StateError("the saved strategy state has a bad list of parts")
    for name, count in head.logs.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise StateError(f"the saved strategy state has a bad count for its log {name!r}")
        parent, key = _place(head.state, name, "log")
        if parent.get(key) != []:
            raise StateError(f"the saved strategy state has no place for its log {name!r}")
    for name in head.parts:
        parent, key = _place(head.state, name, "part")
        if key not in parent or parent[key] is not None:
            raise StateError(f"the saved strategy state has no place for its part {name!r}")
    return head


def encode_entries(entries: list[Any]) -> bytes:
    """A chunk of a log's entries, as saved apart: a JSON list."""
    return json.dumps(entries, separators=(",", ":"), allow_nan=True).encode()


def decode_entries(chunk: bytes) -> list[Any]:
    entries = _json(chunk, "history")
    if not isinstance(entries, list):
        raise StateError("a chunk of the saved strategy history is not a list")
    _check_plain(entries)
    return entries


def encode_part(part: dict[str, Any]) -> bytes:
    """A part of the state saved apart: a JSON object."""
    return json.dumps(part, separators=(",", ":"), allow_nan=True).encode()


def join(
    head: Head,
    chunks: Callable[[str], Iterable[tuple[Any, bytes]]],
    part: Callable[[str], bytes | None],
) -> dict[str, Any]:
    """The whole state: `head.state` with each log's first `head.logs[name]` entries put back
    in its place, read from `chunks(name)` ((index of the first entry, chunk), in order), and
    each part read from `part(name)`. Chunks past the count are left (a later save writes over
    them); a gap, an overlap, too few entries or a missing part is StateError."""
    state = head.state
    for name, count in head.logs.items():
        entries: list[Any] = []
        for seq, chunk in chunks(name):
            if len(entries) >= count:
                break
            if seq != len(entries):
                raise StateError(
                    f"the saved strategy history of {name!r} is damaged (a chunk at entry {seq} "
                    f"where entry {len(entries)} was due)"
                )
            entries.extend(decode_entries(chunk))
        if len(entries) != count:
            raise StateError(
                f"the saved strategy history of {name!r} holds {len(entries)} entries, not the "
                f"{count} its state says"
            )
        parent, key = _place(state, name, "log")
        parent[key] = entries
    for name in head.parts:
        blob = part(name)
        if blob is None:
            raise StateError(f"the saved strategy state lacks its part {name!r}")
        value = _json(blob, "state")
        if not isinstance(value, dict):
            raise StateError(f"the saved part {name!r} of the strategy state is not an object")
        _check_plain(value)
        parent, key = _place(state, name, "part")
        parent[key] = value
    return state


def _place(state: dict[str, Any], name: str, what: str) -> tuple[dict[str, Any], str]:
    """The dict and key a log or a part named `name` ("history", "warmup.observations") is
    kept at."""
    *path, key = name.split(".")
    parent: Any = state
    for part in path:
        parent = parent.get(part) if isinstance(parent, dict) else None
    if not isinstance(parent, dict):
        raise StateError(f"the saved strategy state has no place for its {what} {name[:60]!r}")
    return parent, key


def _json(blob: bytes, what: str) -> Any:
    try:
        return json.loads(bytes(blob).decode("utf-8"))
    except RecursionError:
        raise StateError(
            f"the saved strategy {what} is JSON nested too deeply to be ours"
        ) from None
    except (UnicodeDecodeError, ValueError):
        kind = "a Python pickle" if bytes(blob[:1]) == b"\x80" else "not JSON"
        raise StateError(
            f"the saved strategy {what} is {kind}, not hptui's JSON state; it is not loaded "
            "(a pickle runs code from whoever wrote the store)"
        ) from None


def _check_plain(state: Any) -> None:
    """Refuse state no strategy saves: nesting deeper than MAX_DEPTH (loading it would
    recurse past Python's limit) or an integer beyond 64 bits (a count or a shape numpy
    cannot hold). Iterative, so a deep value cannot exhaust the stack here either. For JSON
    data (exact types): a container is visited once, its scalars checked in place."""
    if not isinstance(state, (dict, list)):
        _check_int(state)
        return
    todo: list[tuple[Any, int]] = [(state, 1)]
    while todo:
        value, depth = todo.pop()
        children = value.values() if isinstance(value, dict) else value
        if children and depth >= MAX_DEPTH:
            raise StateError(f"the saved strategy state is nested deeper than {MAX_DEPTH} levels")
        for v in children:
            if isinstance(v, (dict, list)):
                todo.append((v, depth + 1))
            elif type(v) is int and not -(2**63) <= v < 2**63:
                _check_int(v)


def _check_int(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        raise StateError(
            f"the saved strategy state holds the integer {str(value)[:30]}..., beyond 64 bits"
        )
