"""The engine stopped between committing a result and saving the strategy it told: on resume
the result is told again, not trained again (a proposal is trained to the end once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.runner import Engine
from tests.conftest import FAKE_TRAINER
from tests.faults.conftest import query
from tests.faults.test_faults import SEARCH, new_run


class Killed(BaseException):
    """Stands for SIGKILL at one exact point: nothing after it runs, no handler catches it."""


@pytest.mark.parametrize("stop_at", [2, 5], ids=["warm-up", "ppo"])
def test_result_committed_but_not_told_is_told_on_resume_not_trained_again(
    tmp_path: Path, fault_env: None, monkeypatch: pytest.MonkeyPatch, stop_at: int
) -> None:
    monkeypatch.setenv("HPTUI_FAULT_SLEEP", "0.05")
    db = tmp_path / "gap.db"
    run_id = new_run(db)
    told = Engine._told
    calls: list[str] = []

    def told_then_stop(self: Engine, strategy, p, outcome) -> None:  # noqa: ANN001
        calls.append(p.key)
        if len(calls) == stop_at:  # the result is committed; the strategy never hears of it
            raise Killed
        told(self, strategy, p, outcome)

    monkeypatch.setattr(Engine, "_told", told_then_stop)
    with pytest.raises(Killed):
        Engine(db, run_id, trainer=FAKE_TRAINER).run()
    lost_key = calls[-1]
    assert query(
        db,
        f"SELECT status FROM trials WHERE json_extract(extra, '$.key') = ? AND {SEARCH}",
        (lost_key,),
    ) == [("finished",)]

    monkeypatch.setattr(Engine, "_told", told)
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
    assert any("1 result(s) committed before the stop told to it" in m for m in events), events
