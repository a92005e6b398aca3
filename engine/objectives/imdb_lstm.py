"""The built-in objective: the SPEC's LSTM sentiment classifier on IMDB reviews, in the Keras
flavour. Its space, default, rules and metric are what `hptui run` searches with no
`--objective`.

One thing sets it apart from a user's Keras objective: its data is prepared by the engine
(the profile's sizes, `--data auto|keras|sample|PATH`, the tokenized cache), so the workers
load the prepared arrays themselves (engine.executor) and `load_data` takes that reference.
"""

from __future__ import annotations

from typing import Any

from engine.objective import Objective
from engine.reward import DEFAULT_RULES
from engine.space import LSTM_DEFAULT, default_space


def build_model(params: dict[str, Any], data: Any = None) -> Any:
    from engine.trainer import build_model as build_lstm

    vocab = getattr(data, "vocab_size", 10_000)
    max_len = int(data.x_train.shape[1]) if data is not None else 200
    return build_lstm(params, vocab, max_len)


def load_data(ref: Any = None) -> Any:
    from engine.data import load_dataset

    if ref is None:
        raise ValueError("the IMDB data is prepared by the engine: run it with `hptui run`")
    return load_dataset(ref)


objective = Objective(
    name="imdb-lstm",
    space={d.name: {k: v for k, v in d.to_dict().items()} for d in default_space().dims},
    default=LSTM_DEFAULT,
    build_model=build_model,
    load_data=load_data,
    metric="val_accuracy",
    direction="maximize",
    rules=[r.to_dict() for r in DEFAULT_RULES],
)
