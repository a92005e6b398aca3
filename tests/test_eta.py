"""The remaining-time estimate (engine.eta): epochs left times measured seconds per epoch."""

from __future__ import annotations

import pytest

from engine.eta import EtaInputs, epochs_left, remaining_seconds
from engine.profiles import PROFILES


def inputs(**kw: object) -> EtaInputs:
    base: dict[str, object] = dict(
        planned_trials=10,
        planned_epochs=20,
        ended_trials=0,
        running_trials=0,
        epochs_spent=0,
        running_epochs=0,
        running_epochs_left=0,
        max_epochs=2,
        measured_seconds=0.0,
        measured_epochs=0,
        workers=2,
    )
    base.update(kw)
    return EtaInputs(**base)  # type: ignore[arg-type]


def test_no_estimate_before_a_measured_epoch() -> None:
    assert remaining_seconds(inputs()) is None
    assert remaining_seconds(inputs(measured_seconds=5.0, measured_epochs=0)) is None


def test_epochs_left_counts_the_rest_of_running_trials_and_the_budget() -> None:
    # 3 of 10 two-epoch trials ended, 2 running with 1 epoch each left: 1 + 1 + 5 x 2
    x = inputs(ended_trials=3, epochs_spent=6, running_trials=2, running_epochs=4,
               running_epochs_left=2)  # fmt: skip
    assert epochs_left(x) == 2 + 10
    # 10 s per epoch, 2 workers
    assert remaining_seconds(replace_measured(x)) == pytest.approx(12 * 10 / 2)


def replace_measured(x: EtaInputs, seconds: float = 60.0, epochs: int = 6) -> EtaInputs:
    return EtaInputs(**{**x.__dict__, "measured_seconds": seconds, "measured_epochs": epochs})


def test_a_pruned_trial_of_a_trial_budget_saves_its_epochs() -> None:
    # 10 trials of 2 epochs; one pruned after 1 epoch: 9 trials of 2 epochs are left, not 19
    # epochs of budget.
    x = inputs(ended_trials=1, epochs_spent=1)
    assert epochs_left(x) == 18


def test_final_validation_is_counted_until_it_is_trained() -> None:
    x = inputs(planned_trials=1, planned_epochs=2, ended_trials=1, epochs_spent=2,
               measured_seconds=20.0, measured_epochs=2, final_epochs=3)  # fmt: skip
    assert remaining_seconds(x) == pytest.approx(3 * 10.0)  # two trials on two workers
    done = EtaInputs(**{**x.__dict__, "final_epochs_done": 6})
    assert remaining_seconds(done) == 0.0
    # Three repeats: six trainings of 3 epochs on two workers; one pair done leaves 12 epochs.
    repeated = EtaInputs(**{**x.__dict__, "final_trials": 6})
    assert remaining_seconds(repeated) == pytest.approx(9 * 10.0)
    one_pair = EtaInputs(**{**repeated.__dict__, "final_epochs_done": 6})
    assert remaining_seconds(one_pair) == pytest.approx(6 * 10.0)


def test_the_estimate_falls_steadily_through_a_two_stage_run() -> None:
    """The quick profile's bayes-ppo: one-epoch warm-up trials, then two-epoch PPO steps, on
    2 workers at 10 s an epoch. At every finished trial the estimate is the true remaining
    time (within one trial's share), and it falls at every step: the trial-count estimate
    this replaces stayed flat while the trials grew longer."""
    p = PROFILES["quick"]
    plan = [p.warmup_epochs] * p.warmup_calls
    plan += [p.ppo.step_epochs] * (
        (p.two_stage_epochs - len(plan) * p.warmup_epochs) // p.ppo.step_epochs
    )
    per_epoch, workers = 10.0, 2
    total = sum(plan) * per_epoch / workers
    estimates = []
    for ended in range(1, len(plan)):
        spent = sum(plan[:ended])
        x = EtaInputs(
            planned_trials=len(plan),
            planned_epochs=p.two_stage_epochs,
            ended_trials=ended,
            running_trials=0,
            epochs_spent=spent,
            running_epochs=0,
            running_epochs_left=0,
            max_epochs=p.trial_epochs("bayes-ppo"),
            measured_seconds=spent * per_epoch,
            measured_epochs=spent,
            workers=workers,
        )
        eta = remaining_seconds(x)
        assert eta is not None
        truth = total - spent * per_epoch / workers
        assert eta == pytest.approx(truth, abs=p.ppo.step_epochs * per_epoch), ended
        estimates.append(eta)
    assert all(b < a for a, b in zip(estimates, estimates[1:], strict=False))


def test_inputs_from_the_store_counts() -> None:
    counts = {
        "finished": 3, "failed": 1, "pruned": 1, "running": 2, "epochs_spent": 9,
        "running_epochs": 4, "running_epochs_left": 3, "measured_seconds": 80.0,
        "measured_epochs": 8, "final_epochs_done": 0, "first_started": 1.0,
    }  # fmt: skip
    x = EtaInputs.of(counts, planned_trials=10, planned_epochs=20, max_epochs=2, workers=2)
    assert (x.ended_trials, x.running_trials, x.epochs_spent) == (5, 2, 9)
    # 3 left in the running trials + min(20 - 9 - 4, 3 trials not started x 2) = 3 + 6
    assert epochs_left(x) == 9
    assert remaining_seconds(x) == pytest.approx(9 * 10.0 / 2)


def test_the_confirmation_stage_is_in_the_remaining_time() -> None:
    from dataclasses import replace

    x = EtaInputs(
        planned_trials=4, planned_epochs=8, ended_trials=4, running_trials=0, epochs_spent=8,
        running_epochs=0, running_epochs_left=0, max_epochs=2, measured_seconds=80.0,
        measured_epochs=8, workers=2, final_epochs=0,
    )  # fmt: skip
    assert remaining_seconds(x) == 0
    stage = replace(x, confirm_epochs=8, confirm_epochs_done=2)
    assert remaining_seconds(stage) == pytest.approx(6 * 10.0 / 2)
