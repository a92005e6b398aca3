"""Shared fixtures: data in a temporary cache, stores, and the fake trainer's spec."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.data import DataSettings, prepare_data

REPO = Path(__file__).resolve().parent.parent
FAKE_TRAINER = "tests.helpers.fake_trainer:train"
FAKE_TRAINER_FAIL_SGD = "tests.helpers.fake_trainer:train_fail_sgd"
TINY_DATA = DataSettings(vocab_size=500, max_len=20, n_train=100, n_val=50, n_test=50)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data-cache")


@pytest.fixture(scope="session")
def tiny_data(session_cache: Path):
    """A DataRef to a few reviews of the bundled sample (100 train / 50 val / 50 test)."""
    return prepare_data("sample", TINY_DATA, cache_dir=session_cache)


@pytest.fixture
def cache_env(monkeypatch: pytest.MonkeyPatch, session_cache: Path) -> Path:
    """HPTUI_CACHE_DIR in a temporary folder (the engine and its spawned workers inherit it)."""
    monkeypatch.setenv("HPTUI_CACHE_DIR", str(session_cache))
    return session_cache
