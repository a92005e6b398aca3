"""Names the command line offers before anything heavy is imported: strategies, profiles,
precisions, pruners and the default trainer. The engine's modules define them too and import
numpy, scikit-optimize or TensorFlow; tests/test_cli_speed.py checks that both agree."""

from __future__ import annotations

STRATEGIES = ("bayes-ppo", "bayes", "random", "grid")  # engine.setup.STRATEGIES
PROFILE_NAMES = ("seed", "quick", "tiny")  # engine.profiles.PROFILES
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")  # engine.trainer.PRECISIONS
DEFAULT_TRAINER = "engine.trainer:train_trial"  # engine.executor.DEFAULT_TRAINER
PRUNERS = ("none", "median", "asha")  # engine.pruners.PRUNERS
