"""Trainer throughput by dtype policy and batch size, and workers x threads on the CPU.

Part 1: for each precision in `engine.trainer.PRECISIONS` (float32, mixed_float16,
mixed_bfloat16) a fresh process (the dtype policy is global) sets it with
`configure_tensorflow`, builds the SPEC §2 model (`engine.trainer.build_model`, default
configuration) for each batch size and trains 2 epochs on the same reviews; the 2nd epoch's
training samples per second are reported (the 1st includes tracing). Precisions run in a
rotated order in each repetition so load falls on all alike.

Part 2 (informs `engine.device.default_workers`): float32, batch 32: 2 processes x 1 thread
training at the same time (throughput = their sum) against 1 process x 2 threads, interleaved.

    python bench/trainer_precision.py [--reps 2] [--n-train 512] [--batch-sizes 16 32 64]
                                      [--skip-workers] [--quick]

On a GPU box the same command measures the GPU (`configure_tensorflow` picks it up); add
larger batch sizes there, e.g. ``--batch-sizes 32 64 128 256 --n-train 4096``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import REPO, data_label, data_spec, machine, table  # noqa: E402
from engine.data import DataSettings  # noqa: E402

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")  # = engine.trainer.PRECISIONS
MARK = "RESULT "


def settings(n_train: int, max_len: int) -> DataSettings:
    return DataSettings(vocab_size=5_000, max_len=max_len, n_train=n_train, n_val=64, n_test=64)


def child(args: argparse.Namespace) -> None:
    """In a fresh process: train at one precision, print one JSON line per batch size."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from engine.data import load_dataset, prepare_data
    from engine.space import DEFAULT_CONFIG
    from engine.trainer import build_model, configure_tensorflow

    device, policy = configure_tensorflow(args.threads, args.precision)
    import tensorflow as tf

    ref = prepare_data(args.data, settings(args.n_train, args.max_len))
    data = load_dataset(ref)
    if args.start_at:  # part 2: the two processes start training together
        time.sleep(max(0.0, args.start_at - time.time()))

    class Timer(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.last = time.perf_counter() - self.t

    for bs in args.batch_sizes:
        tf.keras.backend.clear_session()
        tf.keras.utils.set_random_seed(1)
        model = build_model({**DEFAULT_CONFIG, "batch_size": bs}, ref.vocab_size, ref.max_len)
        timer = Timer()
        model.fit(data.x_train, data.y_train, epochs=2, batch_size=bs, verbose=0, callbacks=[timer])
        out = {
            "precision": policy,
            "device": device,
            "threads": args.threads,
            "batch_size": bs,
            "seconds": timer.last,
            "samples_per_s": len(data.x_train) / timer.last,
            "end": time.time(),
        }
        print(MARK + json.dumps(out), flush=True)


def spawn(
    precision: str,
    threads: int,
    batch_sizes: list[int],
    args: argparse.Namespace,
    start_at: float = 0.0,
) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "bench.trainer_precision",
        "--child",
        "--precision",
        precision,
        "--threads",
        str(threads),
        "--n-train",
        str(args.n_train),
        "--max-len",
        str(args.max_len),
        "--data",
        args.data,
        "--start-at",
        str(start_at),
        "--batch-sizes",
        *map(str, batch_sizes),
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )


def collect(proc: subprocess.Popen[str]) -> list[dict[str, Any]]:
    out, _ = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"child failed with code {proc.returncode}")
    return [json.loads(line[len(MARK) :]) for line in out.splitlines() if line.startswith(MARK)]


def part1(args: argparse.Namespace) -> None:
    res: dict[tuple[str, int], list[float]] = {}
    device = "?"
    for rep in range(args.reps):
        order = PRECISIONS[rep % 3 :] + PRECISIONS[: rep % 3]
        for p in order:
            for r in collect(spawn(p, args.threads, args.batch_sizes, args)):
                res.setdefault((p, r["batch_size"]), []).append(r["samples_per_s"])
                device = r["device"]
            print(f"  rep {rep + 1} {p} done (load {os.getloadavg()[0]:.2f})", flush=True)
    rows = []
    for bs in args.batch_sizes:
        base = statistics.mean(res[("float32", bs)])
        row: list[object] = [bs]
        for p in PRECISIONS:
            v = statistics.mean(res[(p, bs)])
            row += [f"{v:.0f}", f"{v / base:.2f}x"]
        rows.append(row)
    heads = ["batch"]
    for p in PRECISIONS:
        heads += [f"{p} samples/s", "vs float32"]
    print(f"\ndevice {device}, {args.threads} thread(s), 2nd epoch, mean of {args.reps} rep(s):")
    print(table(heads, rows))
    best = {
        bs: max(PRECISIONS, key=lambda p, bs=bs: statistics.mean(res[(p, bs)]))
        for bs in args.batch_sizes
    }
    print(f"fastest per batch size: {best}")


def part2(args: argparse.Namespace) -> None:
    one: list[float] = []
    two: list[float] = []
    for rep in range(args.reps):
        for kind in ("one", "two") if rep % 2 == 0 else ("two", "one"):
            if kind == "one":
                r = collect(spawn("float32", 2, [32], args))[0]
                one.append(r["samples_per_s"])
            else:
                start = time.time() + 25.0  # both import TensorFlow first, then start together
                procs = [spawn("float32", 1, [32], args, start_at=start) for _ in range(2)]
                rs = [collect(p)[0] for p in procs]
                two.append(sum(r["samples_per_s"] for r in rs))
            print(f"  rep {rep + 1} {kind} done (load {os.getloadavg()[0]:.2f})", flush=True)
    a, b = statistics.mean(two), statistics.mean(one)
    print("\nfloat32, batch 32, 2nd epoch, total samples/s:")
    print(
        table(
            ["layout", "samples/s per rep", "mean"],
            [
                ["2 workers x 1 thread", " / ".join(f"{v:.0f}" for v in two), f"{a:.0f}"],
                ["1 worker x 2 threads", " / ".join(f"{v:.0f}" for v in one), f"{b:.0f}"],
            ],
        )
    )
    print(f"2x1 / 1x2 = {a / b:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--n-train", type=int, default=512)
    ap.add_argument("--max-len", type=int, default=80)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--threads", type=int, default=1, help="threads per process in part 1")
    ap.add_argument("--skip-workers", action="store_true", help="skip part 2")
    ap.add_argument("--quick", action="store_true", help="128 reviews, 40 tokens, 1 rep")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--precision", default="float32", help=argparse.SUPPRESS)
    ap.add_argument("--data", default="", help=argparse.SUPPRESS)
    ap.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    if args.quick:
        args.n_train, args.max_len, args.reps = 128, 40, 1
    args.data = data_spec()
    from engine.data import prepare_data

    prepare_data(args.data, settings(args.n_train, args.max_len))  # cache it once
    print(f"machine: {machine()}")
    print(
        f"data: {data_label(args.data)}, {args.n_train} train reviews, {args.max_len} tokens; "
        "default configuration (64 units, embed 128, 1 layer, adam)\n",
        flush=True,
    )
    part1(args)
    if not args.skip_workers:
        part2(args)
    print(f"\nload average now {machine().rsplit('load average ', 1)[1]}")


if __name__ == "__main__":
    main()
