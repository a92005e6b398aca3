"""What one save of the strategy's state costs as a run grows: saved whole (as before schema
10) and saved in parts (the logs' new entries appended, the rest written whole), side by side
in one run, on real stores.

The engine saves after every launch and after every tell, on the keeper's thread. Per save:

- ms: encoding the state and committing it (one transaction on a WAL store, as the engine's);
- bytes: what the save hands SQLite (the state's row; in parts, plus the new chunks, and the
  PPO agent when it changed, which these saves between two PPO updates do not);
- resume ms: reading the saved state back and decoding it (`StrategyKeeper.read_saved`), with
  the history as a run leaves it, a chunk per save that added entries (one entry each here).

The states are built by putting `n` results in the strategy's logs directly, not by telling
them (telling 50,000 results to Bayes refits its GP each time: hours): Bayes's observations;
bayes-ppo's history of every result, beside its warm-up's observations (the profile's warm-up
calls) and its PPO agent at the profile's size. Each timed save follows one new result.

    python bench/state_save.py [--sizes 1000 10000 50000] [--strategies bayes bayes-ppo]
                               [--reps 9] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.config import RunConfig  # noqa: E402
from engine.persistence import StrategyKeeper  # noqa: E402
from engine.profiles import PROFILES  # noqa: E402
from engine.setup import build_strategy, create_run  # noqa: E402
from engine.space import default_space  # noqa: E402
from engine.state import decode_state, encode_entries, encode_part, encode_state  # noqa: E402
from engine.strategies.base import Strategy  # noqa: E402
from storage.store import Store  # noqa: E402

PROFILE = "quick"  # its PPO agent is the seed profile's size (256 x 128 hidden)


def grown(name: str, n: int, seed: int = 0) -> Strategy:
    """A strategy whose logs hold `n` results (see the module's note)."""
    space = default_space()
    cfg = RunConfig(strategy=name, profile=PROFILE, data="sample", workers=2, seed=seed)
    s = build_strategy(cfg, PROFILES[PROFILE], space, 2)
    add(s, n, np.random.default_rng(seed))
    return s


def add(s: Strategy, n: int, rng: np.random.Generator) -> None:
    """`n` more results in the strategy's logs."""
    space = s.space
    for _ in range(n):
        c, acc = space.sample(rng), float(rng.random())
        if s.name == "bayes":
            s.observations.append((c, acc))  # type: ignore[attr-defined]
        else:
            warmup = s.warmup  # type: ignore[attr-defined]
            if len(warmup.observations) < warmup.n_calls:
                warmup.observations.append((dict(c), acc))
            s.history.append([c, acc, 2])  # type: ignore[attr-defined]


def new_store(tmp: Path, name: str, label: str) -> tuple[Store, int]:
    store = Store(tmp / f"{name}-{label}-{time.monotonic_ns()}.db")
    run_id = create_run(store, RunConfig(strategy=name, profile=PROFILE, data="sample"))
    return store, run_id


def whole(store: Store, run_id: int, s: Strategy) -> int:
    """The save as before: the whole state encoded and written in one row."""
    blob = encode_state(s.name, s.state_dict())
    store.save_strategy_state(run_id, blob)
    return len(blob)


def in_parts(store: Store, keeper: StrategyKeeper, s: Strategy) -> int:
    """The save now (`StrategyKeeper.save`, less its wait for tells in flight)."""
    saved = keeper._save(s)
    store.save_strategy_state(keeper.run_id, saved.head, saved.history, saved.parts)
    return saved.size


def timed_saves(
    saves: dict[str, Any], s: Strategy, reps: int, rng: np.random.Generator
) -> dict[str, tuple[float, int]]:
    """Per form, (median ms, median bytes) of `reps` saves, each after one more result: the
    forms interleaved, each saving the same state."""
    ms: dict[str, list[float]] = {k: [] for k in saves}
    sizes: dict[str, list[int]] = {k: [] for k in saves}
    for _ in range(reps):
        add(s, 1, rng)
        for form, save in saves.items():
            t0 = time.perf_counter()
            sizes[form].append(save(s))
            ms[form].append(1e3 * (time.perf_counter() - t0))
    return {k: (statistics.median(ms[k]), int(statistics.median(sizes[k]))) for k in saves}


def resume_whole(store: Store, run_id: int, s: Strategy) -> float:
    t0 = time.perf_counter()
    decode_state(store.load_strategy_state(run_id), s.name)
    return 1e3 * (time.perf_counter() - t0)


def resume_in_parts(store: Store, run_id: int, s: Strategy) -> float:
    """The history rewritten as a run leaves it (a chunk per result), then read back."""
    with store.conn:
        for log, entries in s.logs().items():
            store.conn.execute("DELETE FROM strategy_history WHERE run_id = ? AND log = ?",
                               [run_id, log])  # fmt: skip
            store.conn.executemany(
                "INSERT INTO strategy_history (run_id, log, seq, chunk) VALUES (?, ?, ?, ?)",
                [(run_id, log, i, encode_entries([e])) for i, e in enumerate(entries)],
            )
    keeper = StrategyKeeper(store, run_id, s.name)
    t0 = time.perf_counter()
    state = keeper.read_saved()
    ms = 1e3 * (time.perf_counter() - t0)
    assert state is not None and len(state.get("history", state.get("observations"))) == len(
        s.logs().get("history", s.logs().get("observations", []))
    )
    return ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    ap.add_argument("--strategies", nargs="+", default=["bayes", "bayes-ppo"])
    ap.add_argument("--reps", type=int, default=9, help="timed saves per size and form")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 1,000 results, 3 saves")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.reps = [1000], 3
    print(f"load {os.getloadavg()[0]:.2f}; profile {PROFILE}; medians of {args.reps} saves")
    print(
        "strategy | results | whole ms | parts ms | ms ratio | whole bytes | parts bytes | "
        "bytes ratio | resume whole ms | resume parts ms"
    )
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name in args.strategies:
            for n in args.sizes:
                s = grown(name, n - 1)
                old_store, old_run = new_store(tmp, name, "whole")
                new_store_, new_run = new_store(tmp, name, "parts")
                keeper = StrategyKeeper(new_store_, new_run, name)
                whole(old_store, old_run, s)  # the first save of each form, not timed
                in_parts(new_store_, keeper, s)
                forms = {
                    "whole": partial(whole, old_store, old_run),
                    "parts": partial(in_parts, new_store_, keeper),
                }
                timed = timed_saves(forms, s, args.reps, rng)
                (old_ms, old_b), (new_ms, new_b) = timed["whole"], timed["parts"]
                r_old = resume_whole(old_store, old_run, s)
                r_new = resume_in_parts(new_store_, new_run, s)
                if name == "bayes-ppo":
                    agent = len(encode_part(s.agent.state_dict()))  # type: ignore[attr-defined]
                    print(f"(bayes-ppo: its PPO agent, written when it changed: {agent:,} bytes)")
                print(
                    f"{name} | {n:,} | {old_ms:.1f} | {new_ms:.2f} | {old_ms / new_ms:.0f}x | "
                    f"{old_b:,} | {new_b:,} | {old_b / new_b:.1f}x | {r_old:.0f} | {r_new:.0f}",
                    flush=True,
                )
                old_store.close()
                new_store_.close()
    print(f"load {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
