"""SPEC §7's first defect, timed: the source trains every PPO step twice and samples its
trajectories one after another; hptui trains each step once, trajectories side by side.

Both sides train the same fixed configurations with the real trainer function
(`engine.trainer.train_trial`, real TensorFlow) on the same data, on the same warm 2-worker
`LocalPoolExecutor` (started once, before the clock; 1 thread per worker):

- source: for one PPO epoch, each trajectory in turn, each of its steps is trained for 1 epoch
  in the parent process (TensorFlow's default threads, i.e. all cores) only to get the next
  state; then all the epoch's steps go to the pool and are trained again for 2 epochs (early
  stopping), 2 at a time, and the parent waits for all of them.
- hptui: the scheduling of `engine.strategies.bayes_ppo.BayesPPO` driven straight on the pool
  (no store, no agent): a free worker takes the next step of the first trajectory that is not
  running and not finished; step t+1 of a trajectory starts only after step t is in; each
  step is trained once, 2 epochs with early stopping.

The useful work is the same on both sides (one 2-epoch training per step). Repetitions are
interleaved A B B A so machine load falls on both alike.

    python bench/source_pipeline.py [--trajectories 4] [--length 2] [--reps 2] [--quick]

Target: source / hptui >= 1.8.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Light imports only: spawned workers re-import this module as __mp_main__.
from bench._common import data_label, data_spec, machine, quiet_tensorflow, table  # noqa: E402
from engine.data import DataSettings  # noqa: E402
from engine.space import DEFAULT_CONFIG  # noqa: E402

DATA = DataSettings(vocab_size=5_000, max_len=80, n_train=1_000, n_val=250, n_test=250)
QUICK_DATA = DataSettings(vocab_size=2_000, max_len=40, n_train=240, n_val=80, n_test=80)
STEP_EPOCHS = 2  # the pool's training per step (SPEC §5)
PARENT_EPOCHS = 1  # the source's extra training in the parent, "only to get the next state"

# A fixed cycle of configurations (both sides train exactly these, in the same positions).
CONFIGS: list[dict[str, Any]] = [
    dict(DEFAULT_CONFIG),
    {
        "lr": 3e-3,
        "batch_size": 64,
        "lstm_units": 32,
        "dropout": 0.2,
        "embed_dim": 64,
        "lstm_layers": 1,
        "optimizer": "adam",
    },
    {
        "lr": 5e-4,
        "batch_size": 32,
        "lstm_units": 32,
        "dropout": 0.35,
        "embed_dim": 128,
        "lstm_layers": 1,
        "optimizer": "adam",
    },
    {
        "lr": 2e-3,
        "batch_size": 64,
        "lstm_units": 64,
        "dropout": 0.25,
        "embed_dim": 64,
        "lstm_layers": 1,
        "optimizer": "sgd",
    },
    {
        "lr": 1e-3,
        "batch_size": 64,
        "lstm_units": 64,
        "dropout": 0.3,
        "embed_dim": 128,
        "lstm_layers": 2,
        "optimizer": "adam",
    },
    {
        "lr": 7e-4,
        "batch_size": 32,
        "lstm_units": 32,
        "dropout": 0.4,
        "embed_dim": 64,
        "lstm_layers": 1,
        "optimizer": "adam",
    },
]


def plan(trajectories: int, length: int) -> list[list[dict[str, Any]]]:
    """configs[trajectory][step], the same for both sides."""
    return [
        [CONFIGS[(k * length + t) % len(CONFIGS)] for t in range(length)]
        for k in range(trajectories)
    ]


class Pool:
    """The engine's local pool plus a blocking helper; counts the trainings it ran."""

    def __init__(self, ref: Any, log_path: str) -> None:
        from engine.executor import LocalPoolExecutor, WorkerSettings

        self.ex = LocalPoolExecutor(2, WorkerSettings(ref, 1, None, log_path))
        self.ex.start()
        self.next_id = 0
        self.warm()

    def submit(self, config: dict[str, Any], epochs: int) -> int:
        from engine.trainer import TrialTask

        self.next_id += 1
        self.ex.submit(self.ex.free_slots()[0], TrialTask(self.next_id, config, epochs, seed=1))
        return self.next_id

    def done_ids(self, timeout: float = 0.2) -> list[int]:
        out = []
        for m in self.ex.poll(timeout):
            if m["kind"] == "failed":
                raise RuntimeError(f"trial failed: {m.get('error')}")
            if m["kind"] == "result":
                out.append(m["trial_id"])
        return out

    def warm(self) -> None:
        """Wait until both workers have imported TensorFlow and loaded the data (one short
        training each), so neither side pays the start-up."""
        for _ in range(2):
            self.submit(CONFIGS[1], 1)
        left = 2
        while left:
            left -= len(self.done_ids())

    def shutdown(self) -> None:
        self.ex.shutdown()


def run_source(pool: Pool, steps: list[list[dict[str, Any]]], data: Any, vocab: int) -> float:
    """The source's order: every step trained in the parent (1 epoch), trajectories one after
    another; then every step again in the pool (2 epochs); wait for all."""
    from engine.trainer import TrialTask, train_trial

    t0 = time.perf_counter()
    for traj in steps:
        for cfg in traj:
            train_trial(TrialTask(0, cfg, PARENT_EPOCHS, seed=1), data, vocab_size=vocab)
    queue = [cfg for traj in steps for cfg in traj]
    running = 0
    while queue or running:
        while queue and pool.ex.free_slots():
            pool.submit(queue.pop(0), STEP_EPOCHS)
            running += 1
        running -= len(pool.done_ids())
    return time.perf_counter() - t0


def run_hptui(pool: Pool, steps: list[list[dict[str, Any]]]) -> float:
    """BayesPPO's order: trajectories side by side, steps within one in sequence, once each."""
    t0 = time.perf_counter()
    next_step = [0] * len(steps)
    busy: dict[int, int] = {}  # trial id -> trajectory
    while busy or any(n < len(tr) for n, tr in zip(next_step, steps, strict=True)):
        for _ in pool.ex.free_slots():
            k = next(
                (
                    k
                    for k, tr in enumerate(steps)
                    if k not in busy.values() and next_step[k] < len(tr)
                ),
                None,
            )
            if k is None:
                break
            busy[pool.submit(steps[k][next_step[k]], STEP_EPOCHS)] = k
            next_step[k] += 1
        for tid in pool.done_ids():
            busy.pop(tid, None)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trajectories", type=int, default=4)
    ap.add_argument("--length", type=int, default=2, help="steps per trajectory")
    ap.add_argument("--reps", type=int, default=2, help="pairs, run A B B A ...")
    ap.add_argument("--quick", action="store_true", help="tiny data, 2 x 2 steps, 1 pair")
    args = ap.parse_args()
    quiet_tensorflow()
    settings = DATA
    if args.quick:
        settings, args.trajectories, args.length, args.reps = QUICK_DATA, 2, 2, 1

    from engine.data import load_dataset, prepare_data
    from engine.trainer import configure_tensorflow

    spec = data_spec()
    ref = prepare_data(spec, settings)
    device, policy = configure_tensorflow(None, None)  # the parent: default threads
    data = load_dataset(ref)
    steps = plan(args.trajectories, args.length)
    n = args.trajectories * args.length
    print(f"machine: {machine()}")
    print(
        f"data: {data_label(spec)}, {ref.n_train} train / {ref.n_val} val, {ref.max_len} tokens;"
        f" {args.trajectories} trajectories x {args.length} steps = {n} useful trainings of "
        f"{STEP_EPOCHS} epochs; device {device}, {policy}; 2 workers x 1 thread\n",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="hptui-bench-") as d:
        pool = Pool(ref, os.path.join(d, "workers.log"))
        try:
            from engine.trainer import TrialTask, train_trial

            # Warm the parent too (first TensorFlow use traces more than later ones).
            train_trial(TrialTask(0, CONFIGS[1], 1, seed=1), data, vocab_size=ref.vocab_size)
            times: dict[str, list[float]] = {"source": [], "hptui": []}
            order = []
            for i in range(args.reps):
                order += ["source", "hptui"] if i % 2 == 0 else ["hptui", "source"]
            for side in order:
                if side == "source":
                    t = run_source(pool, steps, data, ref.vocab_size)
                else:
                    t = run_hptui(pool, steps)
                times[side].append(t)
                print(f"{side:6s}: {t:7.1f} s  (load {os.getloadavg()[0]:.2f})", flush=True)
        finally:
            pool.shutdown()
    rows = []
    for side in ("source", "hptui"):
        ts = times[side]
        rows.append(
            [
                side,
                " / ".join(f"{t:.1f}" for t in ts),
                f"{statistics.mean(ts):.1f}",
                n,
                n * (STEP_EPOCHS + PARENT_EPOCHS if side == "source" else STEP_EPOCHS),
            ]
        )
    print()
    print(table(["scheduling", "wall s per rep", "mean s", "useful trainings", "epochs"], rows))
    pairs = [s / h for s, h in zip(times["source"], times["hptui"], strict=True)]
    ratio = statistics.mean(times["source"]) / statistics.mean(times["hptui"])
    print(
        f"\nsource / hptui = {ratio:.2f}x (per pair: {', '.join(f'{p:.2f}' for p in pairs)}); "
        f"target >= 1.8: {'met' if ratio >= 1.8 else 'MISSED'}; load average now "
        f"{machine().rsplit('load average ', 1)[1]}"
    )


if __name__ == "__main__":
    main()
