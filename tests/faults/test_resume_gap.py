"""The engine stopped between committing a result and saving the strategy it told: on resume
the result is told again, not trained again (a proposal is trained to the end once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.persistence import StrategyKeeper
from engine.runner import Engine
from tests.conftest import FAKE_TRAINER
from tests.faults.conftest import query
from tests.faults.test_faults import SEARCH, new_run


class Killed(BaseException):
    """Stands for SIGKILL at one exact point: nothing after it runs, no handler catches it."""


@pytest.mark.parametrize(
    ("stop_at", "settled"),
    [(2, True), (5, True), (2, False), (5, False)],
    ids=["warm-up", "ppo", "warm-up, a tell in flight", "ppo, a tell in flight"],
)
def test_result_committed_but_not_told_is_told_on_resume_not_trained_again(
    tmp_path: Path, fault_env: None, monkeypatch: pytest.MonkeyPatch, stop_at: int, settled: bool
) -> None:
    """Stopped after a result is committed and before it is told: with the tells before it
    saved (`settled`), or with one still in flight on the keeper's thread (then two results,
    or one, are told again, depending on timing; none is trained again)."""
    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "0.05")
    db = tmp_path / "gap.db"
    run_id = new_run(db)
    told = StrategyKeeper.tell_later
    calls: list[str] = []

    def told_then_stop(self: StrategyKeeper, strategy, p, outcome) -> None:  # noqa: ANN001
        calls.append(p.key)
        if len(calls) == stop_at:  # the result is committed; the strategy never hears of it
            if settled:
                self.wait()  # the results before it are told and saved
            raise Killed
        told(self, strategy, p, outcome)

    monkeypatch.setattr(StrategyKeeper, "tell_later", told_then_stop)
    with pytest.raises(Killed):
        Engine(db, run_id, trainer=FAKE_TRAINER).run()
    lost_key = calls[-1]
    assert query(
        db,
        f"SELECT status FROM trials WHERE json_extract(extra, '$.key') = ? AND {SEARCH}",
        (lost_key,),
    ) == [("finished",)]

    monkeypatch.setattr(StrategyKeeper, "tell_later", told)
    assert Engine(db, run_id, trainer=FAKE_TRAINER).run() == "finished"
    trained = query(
        db,
        f"SELECT json_extract(extra, '$.key'), count(*) FROM trials "
        f"WHERE status = 'finished' AND {SEARCH} GROUP BY 1",
    )
    assert dict(trained)[lost_key] == 1, "the committed result was trained again"
    assert all(n == 1 for _, n in trained), trained
    # tiny bayes-ppo plans 3 warm-up + 2x1 + 2x2 PPO steps, each finished exactly once
    assert len(trained) == 9
    assert query(db, "SELECT count(*) FROM ppo_updates")[0][0] == 2
    events = [m for (m,) in query(db, "SELECT message FROM events")]
    told_again = "1 result(s)" if settled else " result(s)"
    assert any(f"{told_again} committed before the stop told to it" in m for m in events), events
