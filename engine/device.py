"""What the machine has, found without importing TensorFlow (the engine and UI start fast)."""

from __future__ import annotations

import os
import shutil
import subprocess


def gpu_names() -> list[str]:
    """GPU names from `nvidia-smi -L`, empty when there is none (or no driver)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return []
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [
        line.split(":", 1)[1].split("(")[0].strip()
        for line in out.splitlines()
        if line.startswith("GPU ")
    ]


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers(n_gpus: int) -> int:
    # GPU: several small LSTM trainers share a GPU well (memory growth is on).
    # CPU: one single-threaded trainer per core beats fewer multi-threaded ones for these
    # small models (bench/trainer_precision.py measures it).
    if n_gpus:
        return 4 * n_gpus
    return max(1, min(8, cpu_count()))


def threads_per_worker(workers: int) -> int:
    """Split the cores so that workers x threads <= cores."""
    return max(1, cpu_count() // max(1, workers))


def one_blas_thread() -> None:
    """The engine's own linear algebra (the GP fits of the estimates, Bayes and the PPO
    screen) on one BLAS thread: its spinning threads otherwise take the cores the trainers
    and the UI need, and the fits are small. Trainer processes are not affected."""
    import numpy  # noqa: F401  (numpy's and scipy's BLAS must be loaded to be limited)
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def quiet_fits() -> None:
    """No kernel-optimiser notes from the GP fits. Set for the whole process: the fits run on
    threads, and `warnings.catch_warnings` around them is not thread-safe."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
