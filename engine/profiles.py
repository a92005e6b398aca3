"""Run profiles: data sizes and search budgets in one place.

- `seed`: the SPEC budgets on the full data, for a GPU box.
- `quick`: a real but small search that finishes in minutes on a 2-core CPU.
- `tiny`: for tests only; seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.data import DataSettings


@dataclass(frozen=True)
class Profile:
    name: str
    data: DataSettings
    warmup_calls: int  # Bayesian warm-up evaluations
    warmup_initial: int  # of which random initial points
    warmup_epochs: int
    ppo_epochs: int
    trajectories: int
    len_early: int
    len_late: int
    step_epochs: int
    final_epochs: int
    # Budgets of the single-stage strategies (random, grid, bayes): trials x epochs each,
    # set so they train about as many epochs as bayes-ppo does.
    search_trials: int
    search_epochs: int
    description: str = field(default="", compare=False)


PROFILES: dict[str, Profile] = {
    "seed": Profile(
        name="seed",
        data=DataSettings(vocab_size=10_000, max_len=200, n_train=20_000, n_val=5_000, n_test=None),
        warmup_calls=15,
        warmup_initial=5,
        warmup_epochs=1,
        ppo_epochs=20,
        trajectories=8,
        len_early=1,
        len_late=3,
        step_epochs=2,
        final_epochs=5,
        search_trials=160,
        search_epochs=2,
        description="SPEC budgets on the full IMDB data (GPU box)",
    ),
    "quick": Profile(
        name="quick",
        data=DataSettings(vocab_size=10_000, max_len=100, n_train=2_000, n_val=500, n_test=1_000),
        warmup_calls=8,
        warmup_initial=4,
        warmup_epochs=1,
        ppo_epochs=6,
        trajectories=4,
        len_early=1,
        len_late=2,
        step_epochs=2,
        final_epochs=3,
        search_trials=20,
        search_epochs=2,
        description="2,000 train / 500 val / 1,000 test reviews, 100 tokens; minutes on a CPU",
    ),
    "tiny": Profile(
        name="tiny",
        data=DataSettings(vocab_size=2_000, max_len=40, n_train=240, n_val=80, n_test=80),
        warmup_calls=3,
        warmup_initial=2,
        warmup_epochs=1,
        ppo_epochs=2,
        trajectories=2,
        len_early=1,
        len_late=2,
        step_epochs=2,
        final_epochs=1,
        search_trials=4,
        search_epochs=1,
        description="for tests: a few hundred reviews, 40 tokens",
    ),
}
