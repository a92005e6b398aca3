"""The run in words (hptui.view): one wording everywhere, and formulas that cannot drift from
engine.reward. The formula tests read the text users are shown, compute by it, and compare
with engine.reward's own functions."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine import reward
from hptui import view
from hptui.screens.help import help_text

REPO = Path(__file__).resolve().parents[1]
NUM = r"([0-9][0-9.e+-]*)"
SCORE_TEXT = re.compile(rf"score = {NUM}·acc − {NUM}·T − P")
REWARD_TEXT = re.compile(rf"r = {NUM}·α·acc − {NUM}·β·T − P")
WEIGHTS_TEXT = re.compile(rf"α {NUM} → {NUM}, β {NUM} → {NUM}")
# (accuracy, seconds, penalty): a spread of trials, an empty one and a slow, penalized one
TRIALS = [(0.5, 10.0, 0.0), (0.8123, 37.5, 3.0), (0.95, 250.0, 18.0), (0.0, 0.0, 0.0)]
TRIALS += [(1.0, 1234.5, 5.0)]


def score_by_text(text: str, acc: float, seconds: float, penalty: float) -> float:
    """A trial's score computed by the formula the text states."""
    found = SCORE_TEXT.search(text)
    assert found, f"no score formula in {text!r}"
    a, b = map(float, found.groups())
    return a * acc - b * seconds - penalty


def reward_by_text(text: str, acc: float, seconds: float, penalty: float, al: float, be: float):
    found = REWARD_TEXT.search(text)
    assert found, f"no reward formula in {text!r}"
    a, b = map(float, found.groups())
    return a * al * acc - b * be * seconds - penalty


def score_text_agrees(text: str) -> bool:
    return all(
        score_by_text(text, *t) == pytest.approx(reward.score(*t), rel=1e-5, abs=1e-9)
        for t in TRIALS
    )


# What users read about "best" and the score: `hptui show`, `runs`, `export`, the trial pane,
# the export dialog and the help.
def shown_score_texts() -> list[str]:
    return [view.best_meaning(), view.ranking_text(), help_text()]


def test_the_score_users_read_is_engine_reward_score() -> None:
    for text in shown_score_texts():
        assert score_text_agrees(text), text


def test_the_reward_users_read_is_engine_reward_reward() -> None:
    for text in (view.reward_formula(), help_text()):
        for progress in (0.0, 0.6, 0.8, 1.0):
            weights = reward.adaptive_weights(progress)
            for t in TRIALS:
                assert reward_by_text(text, *t, *weights) == pytest.approx(
                    reward.reward(*t, *weights), rel=1e-5, abs=1e-9
                ), text
    # the terms' names beside a trial's terms (trial pane, proposer): the same coefficients
    acc_name, time_name, pen_name = view.reward_term_names()
    trial = {"val_accuracy": 0.8, "seconds": 40.0, "penalty": 5.0, "alpha": 0.75, "beta": 0.25}
    terms = view.reward_parts({**trial, "reward": 1.0})
    assert terms is not None
    assert float(acc_name.split("·")[0]) * 0.75 * 0.8 == pytest.approx(terms[0])
    assert -float(time_name.lstrip("−").split("·")[0]) * 0.25 * 40.0 == pytest.approx(terms[1])
    assert pen_name == "−P" and terms[2] == -5.0
    assert sum(terms) == pytest.approx(reward.reward(0.8, 40.0, 5.0, 0.75, 0.25))


def test_the_weights_users_read_are_engine_reward_weights() -> None:
    found = WEIGHTS_TEXT.search(view.weights_text())
    assert found
    a0, a1, b0, b1 = map(float, found.groups())
    assert (a0, b0) == pytest.approx(reward.adaptive_weights(0.0))
    assert (a1, b1) == pytest.approx(reward.adaptive_weights(1.0))
    assert view.weights_text() in help_text()


def test_a_text_left_behind_by_a_change_of_weights_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check can fail: after a change of engine.reward's weights or scales, the text shown
    before no longer passes, and the text made now does."""
    before = view.best_meaning()
    monkeypatch.setattr(reward, "adaptive_weights", lambda progress: (0.7, 0.3))
    assert not score_text_agrees(before)
    assert score_text_agrees(view.best_meaning()) and score_text_agrees(help_text())
    before = view.ranking_text()
    monkeypatch.setattr(reward, "TIME_SCALE", 0.5)
    assert not score_text_agrees(before)
    assert score_text_agrees(view.ranking_text())


def test_no_formula_is_typed_out_in_the_ui() -> None:
    """Numbers of the formula (`60·acc`, `0.1·β`) appear only as hptui.view writes them."""
    typed = re.compile(r"\d·(α|β|acc|T)")
    for path in sorted((REPO / "hptui").rglob("*.py")):
        if path.name == "view.py":  # its docstrings show examples of what it writes
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert not typed.search(line), f"{path.relative_to(REPO)}:{n}: {line.strip()}"


def test_the_view_imports_nothing_heavy() -> None:
    probe = (
        "import sys, hptui.view; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('numpy', 'skopt', 'sklearn', 'tensorflow', 'textual')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# --- one wording ------------------------------------------------------------------------------


def test_trials_done_count_pruned_ones_everywhere() -> None:
    from hptui.headless import HeadlessView
    from hptui.widgets.run_header import RunHeader

    run = {
        "id": 3, "status": "running", "phase": "ppo", "workers": 2, "strategy": "bayes-ppo",
        "profile": "quick", "created_at": 100.0, "started_at": 100.0,
        "progress": {"finished": 5, "failed": 1, "pruned": 2, "planned": 12, "running": 1,
                     "workers": 2, "ppo_epoch": 2, "ppo_epochs": 4, "traj_len": 2},
    }  # fmt: skip
    assert view.done_trials(run["progress"]) == 8
    header = RunHeader.render_run(run, None, now=160.0).plain
    lines = HeadlessView.fields(run, None)
    for text in (header, " ".join(lines)):
        assert "PPO epoch 2/4 (trajectory length 2)" in text
        assert "trials 8/12" in text


def test_elapsed_stops_at_the_end_and_never_goes_back() -> None:
    run = {"status": "running", "started_at": 100.0}
    assert view.elapsed_s(run, 160.0) == 60.0 and view.elapsed_s(run, 90.0) == 0.0
    ended = {"status": "finished", "started_at": 100.0, "finished_at": 130.0}
    assert view.elapsed_s(ended, 1000.0) == 30.0
    assert view.fmt_s(view.elapsed_s(ended, 1000.0)) == "0:30" and view.fmt_s(3725) == "1:02:05"


def test_search_trials_leave_final_validation_out() -> None:
    assert view.is_search_trial({"phase": "ppo"}) and not view.is_search_trial({"phase": "final"})


def test_the_confirmation_stage_in_words() -> None:
    from hptui.view import choice_text, is_plotted_trial, is_search_trial, phase_text

    confirm = {"phase": "confirm"}
    assert not is_search_trial(confirm) and is_plotted_trial(confirm)
    assert not is_plotted_trial({"phase": "final"}) and is_search_trial({"phase": "ppo"})
    assert phase_text({"phase": "confirm", "status": "running"}) == "confirmation"
    best = {"trial": 12, "accuracy": 0.781, "n": 3, "is_default": False}
    default = {"trial": 1, "accuracy": 0.765, "n": 3, "is_default": True}
    assert choice_text(best, default) == (
        "chosen: trial 12, mean val acc 0.7810 of 3 measurements (default 0.7650 of 3)"
    )
    assert choice_text(default, default).endswith("(the default configuration)")
