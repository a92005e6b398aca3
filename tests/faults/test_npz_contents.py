"""A Keras-format npz with the right keys and wrong contents is refused by `hptui run` before
a run exists, with a message naming the array and the problem (it was accepted, and every
trial of the run then failed). Real `hptui` processes, real npz files; object arrays are
read by a restricted unpickler, never with allow_pickle."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.data import DataSettings, prepare_data
from tests.faults.clitools import hptui


def reviews(rows: list[Any]) -> np.ndarray:
    """An object array of reviews, as Keras saves imdb.npz."""
    out = np.empty(len(rows), dtype=object)
    for i, r in enumerate(rows):
        out[i] = r
    return out


GOOD = {
    "x_train": reviews([[1, 14, 22], [5, 9], [7, 7, 7, 2]]),
    "y_train": np.array([1, 0, 1]),
    "x_test": reviews([[3, 4], [8]]),
    "y_test": np.array([0, 1]),
}
BAD: dict[str, tuple[dict[str, Any], str]] = {
    "float ids": ({"x_train": np.ones((3, 4))}, "x_train is a 2-D array of float64"),
    "3-D ids": ({"x_train": np.ones((3, 2, 2), dtype=np.int32)}, "x_train is a 3-D array"),
    "1-D int ids": ({"x_test": np.array([1, 2])}, "x_test is a 1-D array of int64"),
    "labels not 0/1": ({"y_train": np.array([1, 2, 0])}, "y_train[1] is 2; labels must be 0 or 1"),
    "NaN label": ({"y_test": np.array([0.0, np.nan])}, "y_test[1] is"),
    "2-D labels": ({"y_train": np.ones((3, 1))}, "y_train is a 2-D array"),
    "text labels": ({"y_test": np.array(["0", "1"])}, "y_test is a 1-D array of <U1"),
    "lengths differ": ({"y_test": np.array([0, 1, 1])}, "x_test and y_test must be"),
    "negative id": ({"x_train": reviews([[1], [-4], [2]])}, "x_train[1] holds word id -4"),
    "oversized id": ({"x_test": reviews([[2**40], [1]])}, f"x_test[0] holds word id {2**40}"),
    "text review": ({"x_train": reviews(["a b", [1], [2]])}, "x_train[0] is str"),
    "float review": ({"x_train": reviews([[1.5], [1], [2]])}, "x_train[0] is 1-D float64"),
    "nested objects": ({"x_test": reviews([{"a": 1}, [1]])}, "x_test[0] is dict"),
}


def _run(data: Path, db: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    return hptui(
        "run", "--headless", "--profile", "tiny", "--data", str(data), "--db", str(db),
        env={"HPTUI_CACHE_DIR": str(tmp / "cache")},
    )  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD))
def test_wrong_contents_are_refused_before_a_run_exists(tmp_path: Path, case: str) -> None:
    change, words = BAD[case]
    path, db = tmp_path / "imdb.npz", tmp_path / "s.db"
    np.savez(path, **{**GOOD, **change})
    done = _run(path, db, tmp_path)
    text = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1, text
    assert "internal error" not in text and "Traceback" not in text, text
    assert f"--data {path}" in text and words in text, text
    assert not db.exists(), "a run was created"


def test_the_good_file_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "imdb.npz"
    np.savez(path, **GOOD)
    ref = prepare_data(str(path), DataSettings(vocab_size=20, max_len=4, n_train=None, n_val=1),
                       tmp_path / "cache")  # fmt: skip
    assert (ref.n_train, ref.n_val, ref.n_test) == (2, 1, 2)
