"""Helpers shared by the benchmarks: the machine, the data source, temporary folders."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# The full labeled IMDB archive, where a checkout has one beside it (repo-relative).
FULL_DATA = REPO / ".." / "shared" / "data" / "aclImdb_labeled.tar.gz"


def data_spec() -> str:
    """The full IMDB archive if it is there, else the sample bundled in the package."""
    return str(FULL_DATA.resolve()) if FULL_DATA.is_file() else "sample"


def data_label(spec: str) -> str:
    return "sample (bundled)" if spec == "sample" else "aclImdb_labeled.tar.gz (full archive)"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine() -> str:
    """One line: cores, CPU model, RAM, load average now."""
    return (
        f"nproc {os.cpu_count()}, CPU {cpu_model()}, RAM {ram_gib():.1f} GiB, load average {load()}"
    )


def quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table (readable in a terminal too)."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    return "\n".join([line, sep, *body])


def mean_sd(xs: Sequence[float]) -> str:
    if not xs:
        return "n/a"
    if len(xs) == 1:
        return f"{xs[0]:.4f}"
    return f"{statistics.mean(xs):.4f} ± {statistics.stdev(xs):.4f}"


def optuna_suggest(trial: Any, space: Any) -> dict[str, Any]:
    """A configuration of `space` asked from an Optuna trial (log-uniform where the space is;
    whole numbers for an integer dimension)."""
    from engine.space import Integer, Real

    cfg: dict[str, Any] = {}
    for d in space.dims:
        if isinstance(d, Real):
            cfg[d.name] = trial.suggest_float(d.name, d.low, d.high, log=d.log)
        elif isinstance(d, Integer):
            cfg[d.name] = trial.suggest_int(d.name, d.low, d.high, log=d.log)
        else:
            cfg[d.name] = trial.suggest_categorical(d.name, list(d.choices))
    return cfg
