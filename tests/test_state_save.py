"""The strategy's state saved by parts: what only grows (its logs) is appended as chunks, a
large part that changes now and then (the PPO agent) written when it changed, the rest written
whole with how many log entries are valid. A resume reads back exactly the state saved whole
would have given, from a store of either form; a damaged or planted history is refused, never
loaded in part."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.config import EngineError
from engine.persistence import StrategyKeeper
from engine.space import default_space
from engine.state import FORMAT, decode_head, encode_entries, encode_state
from engine.strategies.base import Strategy
from engine.strategies.bayes import BayesSearch
from engine.strategies.grid import GridSearch
from engine.strategies.random_search import RandomSearch
from storage.store import Store
from tests.test_store import new_run
from tests.test_strategies import make_bayes_ppo, ok, ppo_outcome


def bayes(n_initial_points: int = 4) -> Strategy:
    return BayesSearch(
        default_space(), n_calls=10, n_initial_points=n_initial_points, epochs=1, seed=7, batch=2
    )


def grid() -> Strategy:
    return GridSearch(default_space(), 12, 1, seed=3)


def random() -> Strategy:
    return RandomSearch(default_space(), 12, 1, seed=9)


def bayes_ppo() -> Strategy:
    return make_bayes_ppo(seed=3)


MAKERS: dict[str, Callable[[], Strategy]] = {
    "bayes": bayes,
    "grid": grid,
    "random": random,
    "bayes-ppo": bayes_ppo,
}


def plain(state: dict[str, Any]) -> Any:
    """The state as JSON data (tuples as lists), to compare."""
    return json.loads(json.dumps(state))


def run_saving(s: Strategy, keeper: StrategyKeeper | None, tells: int) -> None:
    """As the engine: save after each launch, and after each tell (no `keeper`: only tell)."""
    told = 0
    while told < tells and not s.done():
        batch = []
        while (p := s.ask()) is not None:
            batch.append(p)
            if keeper is not None:
                keeper.save(s)
        for p in batch:
            outcome = ppo_outcome(p) if p.phase == "ppo" else ok(p)
            if keeper is None:
                s.tell(p, outcome)
            else:
                keeper.tell(s, p, outcome)
            told += 1


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "s.db")
    yield s
    s.close()


@pytest.mark.parametrize("name", list(MAKERS))
def test_logs_and_parts_are_the_state_dicts_own(name: str) -> None:
    s = MAKERS[name]()
    p = s.ask()
    s.tell(p, ok(p))
    whole, head = plain(s.state_dict()), plain(s.state_dict(whole=False))
    apart = [(log, plain(entries), []) for log, entries in s.logs().items()]
    apart += [(n, plain(part()), None) for n, (_, part) in s.parts().items()]
    for name_, value, placeholder in apart:
        *path, key = name_.split(".")
        w, h = whole, head
        for step in path:
            w, h = w[step], h[step]
        assert w[key] == value
        assert h[key] == placeholder
        h[key] = w[key]
    assert head == whole  # nothing else left out


@pytest.mark.parametrize("name", list(MAKERS))
def test_resume_reads_back_the_whole_state(store: Store, name: str) -> None:
    rid = new_run(store, strategy=name)
    a = MAKERS[name]()
    keeper = StrategyKeeper(store, rid, name)
    run_saving(a, keeper, 5)
    saved = StrategyKeeper(store, rid, name).read_saved()
    assert plain(saved) == plain(a.state_dict())
    head = decode_head(store.load_strategy_state(rid), name)
    assert head.logs == {log: len(entries) for log, entries in a.logs().items()}
    assert head.parts == list(a.parts())
    # Restored elsewhere, it goes on as the uninterrupted one, and saves where it left off.
    again = StrategyKeeper(store, rid, name)
    b = MAKERS[name]()
    again.restore(b, again.read_saved())
    a.requeue_pending()
    assert plain(b.state_dict()) == plain(a.state_dict())
    run_saving(a, None, 4)
    run_saving(b, again, 4)
    assert plain(b.state_dict()) == plain(a.state_dict())
    assert plain(StrategyKeeper(store, rid, name).read_saved()) == plain(b.state_dict())


def test_a_save_writes_only_the_new_entries(store: Store) -> None:
    rid = new_run(store, strategy="bayes")
    s, keeper = bayes(n_initial_points=10), StrategyKeeper(store, rid, "bayes")
    run_saving(s, keeper, 4)
    heads = len(store.load_strategy_state(rid))
    chunks = store.load_strategy_history(rid, "observations")
    assert [seq for seq, _ in chunks] == [0, 2]  # one chunk per batch of 2 told
    run_saving(s, keeper, 6)
    chunks = store.load_strategy_history(rid, "observations")
    assert [seq for seq, _ in chunks] == [0, 2, 4, 6, 8]
    assert all(len(json.loads(c)) == 2 for _, c in chunks)
    head = store.load_strategy_state(rid)
    assert decode_head(head, "bayes").state["observations"] == []
    assert len(head) < heads + 1000  # random state, queue, counters: not the results


def _whole_v1(name: str, state: dict[str, Any]) -> bytes:
    """The state as an older hptui saved it: whole, in an envelope of version 1."""
    return json.dumps({"format": FORMAT, "version": 1, "strategy": name, "state": state}).encode()


@pytest.mark.parametrize("name", ["bayes", "bayes-ppo"])
def test_a_store_saved_whole_resumes_and_is_then_saved_in_parts(store: Store, name: str) -> None:
    rid = new_run(store, strategy=name)
    a = MAKERS[name]()
    run_saving(a, StrategyKeeper(store, rid, name), 5)
    with store.conn:  # as the older hptui left it: one row, no history
        store.conn.execute("DELETE FROM strategy_history")
    store.save_strategy_state(rid, _whole_v1(name, a.state_dict()))
    keeper, b = StrategyKeeper(store, rid, name), MAKERS[name]()
    keeper.restore(b, keeper.read_saved())
    a.requeue_pending()
    assert plain(b.state_dict()) == plain(a.state_dict())
    keeper.save(b)  # the next save writes every log from its start
    head = decode_head(store.load_strategy_state(rid), name)
    assert head.logs and all(n > 0 for n in head.logs.values())
    assert [n for (n,) in store.conn.execute("SELECT name FROM strategy_parts")] == head.parts
    assert plain(StrategyKeeper(store, rid, name).read_saved()) == plain(a.state_dict())


def test_history_rows_past_the_count_are_left_and_then_written_over(store: Store) -> None:
    """Rows past the head's count (planted, or left by any mishap) are never read, and the next
    save writes over them."""
    rid = new_run(store, strategy="bayes")
    s, keeper = bayes(), StrategyKeeper(store, rid, "bayes")
    run_saving(s, keeper, 2)
    with store.conn:
        store.conn.execute(
            "INSERT INTO strategy_history (run_id, log, seq, chunk) VALUES (?, ?, 2, ?)",
            [rid, "observations", encode_entries([[{"lr": 1.0}, 0.99]] * 3)],
        )
    assert plain(StrategyKeeper(store, rid, "bayes").read_saved()) == plain(s.state_dict())
    run_saving(s, keeper, 2)
    assert plain(StrategyKeeper(store, rid, "bayes").read_saved()) == plain(s.state_dict())


def _tamper_chunk(store: Store, rid: int) -> None:
    with store.conn:
        store.conn.execute(
            "UPDATE strategy_history SET chunk = ? WHERE seq = 0", [b"\x80\x04pickled"]
        )


def _drop_chunk(store: Store, rid: int) -> None:
    with store.conn:
        store.conn.execute("DELETE FROM strategy_history WHERE seq = 2")


def _gap(store: Store, rid: int) -> None:
    with store.conn:
        store.conn.execute("UPDATE strategy_history SET seq = 3 WHERE seq = 2")


def _count_too_high(store: Store, rid: int) -> None:
    head = decode_head(store.load_strategy_state(rid), "bayes")
    store.save_strategy_state(rid, encode_state("bayes", head.state, {"observations": 9}))


def _no_place(store: Store, rid: int) -> None:
    head = decode_head(store.load_strategy_state(rid), "bayes")
    logs = {**head.logs, "elsewhere.x": 0}
    store.save_strategy_state(rid, encode_state("bayes", head.state, logs))


def _part_not_in_place(store: Store, rid: int) -> None:
    head = decode_head(store.load_strategy_state(rid), "bayes")
    store.save_strategy_state(rid, encode_state("bayes", head.state, head.logs, ["asked"]))


def _part_missing(store: Store, rid: int) -> None:
    head = decode_head(store.load_strategy_state(rid), "bayes")
    head.state["agent"] = None
    store.save_strategy_state(rid, encode_state("bayes", head.state, head.logs, ["agent"]))


def _part_a_pickle(store: Store, rid: int) -> None:
    _part_missing(store, rid)
    store.save_strategy_state(
        rid, store.load_strategy_state(rid), parts=[("agent", b"\x80\x04pickled")]
    )


def _not_a_list(store: Store, rid: int) -> None:
    with store.conn:
        store.conn.execute("UPDATE strategy_history SET chunk = '{\"a\": 1}' WHERE seq = 0")


def _huge_entry(store: Store, rid: int) -> None:
    with store.conn:
        store.conn.execute(
            "UPDATE strategy_history SET chunk = ? WHERE seq = 0", [f"[{10**30}, 1]".encode()]
        )


@pytest.mark.parametrize(
    ("tamper", "words"),
    [
        (_tamper_chunk, "pickle"),
        (_drop_chunk, "holds 2 entries, not the 4"),
        (_gap, "damaged"),
        (_count_too_high, "not the 9"),
        (_no_place, "no place for its log"),
        (_part_not_in_place, "no place for its part"),
        (_part_missing, "lacks its part 'agent'"),
        (_part_a_pickle, "pickle"),
        (_not_a_list, "not a list"),
        (_huge_entry, "beyond 64 bits"),
    ],
)
def test_a_damaged_history_is_refused(
    store: Store, tamper: Callable[[Store, int], None], words: str
) -> None:
    rid = new_run(store, strategy="bayes")
    run_saving(bayes(), StrategyKeeper(store, rid, "bayes"), 4)
    tamper(store, rid)
    with pytest.raises(EngineError, match=f"run {rid} cannot be resumed") as exc:
        StrategyKeeper(store, rid, "bayes").read_saved()
    assert words in str(exc.value)


def test_the_ppo_agent_is_written_only_when_it_changed(store: Store) -> None:
    rid = new_run(store, strategy="bayes-ppo")
    s, keeper = bayes_ppo(), StrategyKeeper(store, rid, "bayes-ppo")
    writes: list[int] = []
    save = store.save_strategy_state

    def counting(run_id, blob, history=(), parts=()):  # noqa: ANN001, ANN202
        parts = list(parts)
        writes.append(len(parts))
        save(run_id, blob, history, parts)

    store.save_strategy_state = counting  # type: ignore[method-assign]
    run_saving(s, keeper, 4)  # the warm-up: the agent untouched after its first save
    assert writes[0] == 1 and sum(writes) == 1, writes
    updates_before = s.ppo_epoch
    run_saving(s, keeper, 20)  # to the end: the policy mean's start, then each update
    assert s.ppo_epoch > updates_before
    assert sum(writes) == 1 + 1 + s.ppo_epoch, writes
    assert plain(StrategyKeeper(store, rid, "bayes-ppo").read_saved()) == plain(s.state_dict())
