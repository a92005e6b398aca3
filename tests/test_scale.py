"""What keeps a long run's per-result cost bounded and its loop free: GP fits on a bounded
subset, estimates fitted on their own thread and written only where they moved, and tells
on the keeper's thread while the loop goes on."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from engine.estimate import FIT_POINTS, bounded_indices
from engine.estimates import EstimateThread, Observation
from engine.persistence import StrategyKeeper
from engine.space import default_space
from engine.strategies.base import Outcome, Proposal
from engine.strategies.bayes import SHRINK_AT, BayesSearch
from engine.strategies.random_search import RandomSearch
from storage.store import Store


def test_bounded_indices_keep_everything_up_to_the_limit() -> None:
    assert bounded_indices([0.5] * 10, limit=10) == list(range(10))


def test_bounded_indices_keep_the_best_the_latest_and_a_spread() -> None:
    rng = np.random.default_rng(0)
    acc = rng.uniform(0.5, 0.8, 1000).tolist()
    acc[17] = 0.99  # an old best must stay in
    keep = bounded_indices(acc, limit=100)
    assert len(keep) == 100 and keep == sorted(set(keep))
    assert 17 in keep
    assert set(range(975, 1000)) <= set(keep)  # the latest quarter's worth
    best = sorted(range(1000), key=lambda i: -acc[i])[:25]
    assert set(best) <= set(keep)
    # the rest is spread over the whole run, not bunched at one end
    rest = sorted(set(keep) - set(best) - set(range(975, 1000)))
    assert rest[0] < 100 and rest[-1] > 800


def _told(strategy: BayesSearch, n: int, seed: int = 0) -> None:
    """`n` results told in batches of 150 (as a pool's batches are: one fit per batch)."""
    rng = np.random.default_rng(seed)
    space = strategy.space
    batch = []
    for i in range(n):
        config = space.from_action(rng.uniform(-1, 1, len(space.dims)))
        batch.append(
            (Proposal(config, "search", 1, key=f"b{i}"), Outcome(True, rng.uniform(0.5, 0.8)))
        )
        if len(batch) == 150 or i == n - 1:
            strategy.asked += len(batch)
            strategy._tell(batch)
            batch = []


def test_bayes_fits_on_a_bounded_subset_past_the_limit() -> None:
    s = BayesSearch(default_space(), n_calls=10_000, n_initial_points=5, epochs=1, seed=1)
    _told(s, SHRINK_AT + 5)
    assert len(s.observations) == SHRINK_AT + 5  # every result is kept and saved ...
    assert len(s.opt.yi) <= SHRINK_AT  # ... the GP is fitted on a bounded subset
    assert len(s.opt.yi) >= FIT_POINTS
    assert s._held is not None  # the kernel learned so far is held through the shrink
    p = s.ask()
    assert p is not None and default_space().contains(p.config)


def test_estimates_are_fitted_off_the_caller_and_written_only_where_they_moved() -> None:
    space = default_space()
    rng = np.random.default_rng(3)
    obs = [
        Observation(i, space.from_action(rng.uniform(-1, 1, len(space.dims))), 0.6 + i / 100, 2)
        for i in range(12)
    ]
    worker = EstimateThread(seed=0)
    try:
        worker.request(space, obs)
        worker.wait_idle()
        first = worker.take()
        assert set(first) == {o.trial_id for o in obs}
        assert all(0.3 < v < 1.0 for v in first.values())
        assert worker.take() == {}  # nothing new: nothing to write
        worker.request(space, obs)  # the same data: the same estimates
        worker.wait_idle()
        assert worker.take() == {}
    finally:
        worker.close()


class SlowTell(RandomSearch):
    """A strategy whose tell takes `delay` seconds, as a long GP fit does."""

    delay = 0.0
    teller: str | None = None

    def _observe(self, proposal: Proposal, outcome: Outcome) -> None:
        SlowTell.teller = threading.current_thread().name
        time.sleep(self.delay)
        super()._observe(proposal, outcome)


def test_a_long_tell_runs_beside_the_loop_and_its_state_is_saved_after(tmp_path: Path) -> None:
    store = Store(tmp_path / "k.db")
    run_id = store.create_run(
        status="running", phase="search", strategy="random", profile="tiny", seed=1,
        workers=1, config={},
    )  # fmt: skip
    strategy = SlowTell(default_space(), 5, 1, seed=1)
    strategy.delay = 0.5
    keeper = StrategyKeeper(store, run_id, "random")
    p = strategy.ask()
    assert p is not None
    started = time.monotonic()
    keeper.tell_later(strategy, p, Outcome(True, 0.7, 1.0, 50.0))
    assert time.monotonic() - started < 0.1  # the loop is not held
    assert keeper.busy
    keeper.settle()  # not done yet: nothing to commit, and no waiting
    assert store.load_strategy_state(run_id) is None
    keeper.wait()
    assert not keeper.busy and SlowTell.teller == "strategy"
    assert store.load_strategy_state(run_id) is not None
    assert p.key not in strategy.pending
    store.close()
