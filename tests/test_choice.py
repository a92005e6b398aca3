"""The choice of the recommended configuration (engine.choice): configurations, not single
trainings, are ranked once the confirmation stage has measured them again."""

from engine.choice import candidates, choose, config_key
from engine.space import DEFAULT_CONFIG

A = {**DEFAULT_CONFIG, "lr": 3e-3}
B = {**DEFAULT_CONFIG, "lstm_units": 128}


def trial(number, config, acc, phase="ppo", epochs=2, seconds=10.0, **kw):
    return {
        "number": number, "config": dict(config), "val_accuracy": acc, "seconds": seconds,
        "phase": phase, "status": kw.pop("status", "finished"), "max_epochs": epochs,
        "penalty": 0.0, **kw,
    }  # fmt: skip


def test_without_confirmation_the_best_single_measurement_is_chosen() -> None:
    c = choose([trial(1, DEFAULT_CONFIG, 0.75), trial(2, A, 0.79), trial(3, B, 0.77)])
    assert c is not None and not c.confirmed
    assert c.best.config == A and c.best.n == 1 and c.best.trial == 2
    assert c.default is not None and c.default.accuracy == 0.75


def test_one_lucky_measurement_loses_to_a_repeated_better_one() -> None:
    trials = [
        trial(1, A, 0.80),  # lucky: the search's best single measurement
        trial(2, B, 0.78),
        trial(3, DEFAULT_CONFIG, 0.76),
        trial(4, A, 0.74, "confirm"),
        trial(5, A, 0.75, "confirm"),
        trial(6, B, 0.78, "confirm"),
        trial(7, B, 0.77, "confirm"),
        trial(8, DEFAULT_CONFIG, 0.76, "confirm"),
        trial(9, DEFAULT_CONFIG, 0.75, "confirm"),
    ]
    assert choose(trials[:3]).best.config == A  # type: ignore[union-attr]
    c = choose(trials)
    assert c is not None and c.confirmed
    assert c.best.config == B and c.best.n == 3 and c.best.trial == 2
    assert abs(c.best.accuracy - (0.78 + 0.78 + 0.77) / 3) < 1e-12
    assert [m.config for m in c.ranking] == [B, A, DEFAULT_CONFIG]  # A: 0.763, default 0.757
    assert not c.default_is_best and c.default is not None and c.default.n == 3


def test_the_default_wins_when_nothing_beats_it_and_on_a_tie() -> None:
    trials = [
        trial(1, DEFAULT_CONFIG, 0.80),
        trial(2, A, 0.78),
        trial(3, A, 0.76, "confirm"),
        trial(4, DEFAULT_CONFIG, 0.76, "confirm"),
    ]
    c = choose(trials)
    assert c is not None and c.default_is_best and c.best.n == 2
    tie = [
        trial(1, A, 0.77),
        trial(2, DEFAULT_CONFIG, 0.77, "confirm"),
        trial(3, A, 0.77, "confirm"),
    ]
    assert choose(tie).default_is_best  # type: ignore[union-attr]


def test_final_validation_pruned_and_other_fidelities_choose_nothing() -> None:
    trials = [
        trial(1, A, 0.70),
        trial(2, B, 0.99, status="pruned"),
        trial(3, B, 0.99, "warmup", epochs=1),  # another fidelity: not pooled
        trial(4, B, 0.72, "confirm"),
        trial(5, A, 0.71, "confirm"),
        trial(6, B, 0.99, "final", test_accuracy=0.99),
        trial(7, A, 0.99, "final", test_accuracy=0.99),
    ]
    c = choose(trials, default=DEFAULT_CONFIG)
    assert c is not None and c.best.config == B and c.best.n == 1 and c.default is None
    assert choose([trial(1, A, 0.9, "final")]) is None


def test_candidates_are_the_top_distinct_search_configurations_but_the_default() -> None:
    trials = [
        trial(1, DEFAULT_CONFIG, 0.81),
        trial(2, A, 0.80),
        trial(3, A, 0.79),
        trial(4, B, 0.78),
        trial(5, {**A, "dropout": 0.2}, 0.90, "confirm"),
    ]
    assert candidates(trials, 2, DEFAULT_CONFIG) == [A, B]
    assert candidates(trials, 1, DEFAULT_CONFIG) == [A]
    assert config_key(dict(reversed(list(A.items())))) == config_key(A)
