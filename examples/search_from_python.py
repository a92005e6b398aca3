"""hptui from Python: an objective defined in a script, searched with `hptui.search()`.

    python examples/search_from_python.py [PROFILE] [DB]      (default: quick, hptui.db)

This objective is minimized: the validation log-loss of a logistic regression trained by
stochastic gradient descent on scikit-learn's handwritten digits. Its `bounds` say what
the loss spans, from the best it can be (0) to what a useless model scores (ln 10, about
2.3, the loss of a uniform guess): the search scores a configuration by where its loss
falls between the two.

`hptui.search` runs the same engine as `hptui run`, in a process of its own, and waits for
it; meanwhile the run can be watched from another terminal (`hptui attach RUN --db DB`).
The engine's workers import this file to train, so the search is started under
`if __name__ == "__main__":`, and `hptui run --objective examples/search_from_python.py`
searches the same objective from the command line.
"""

import sys
from functools import cache

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import log_loss

import hptui
from hptui import Objective


@cache
def data():
    """(x_train, y_train, x_val, y_val, x_test, y_test); the slices keep the writers apart."""
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    return x[:1000], y[:1000], x[1000:1400], y[1000:1400], x[1400:], y[1400:]


def train(params, report):
    x_train, y_train, x_val, y_val, x_test, y_test = data()
    model = SGDClassifier(
        loss="log_loss",
        penalty=params["penalty"],
        alpha=params["alpha"],
        learning_rate="constant",
        eta0=params["eta0"],
        random_state=report.seed,
    )
    rng = np.random.default_rng(report.seed)
    loss = 0.0
    for epoch in range(1, report.epochs + 1):
        for _ in range(5):  # five passes over the data make one of the search's epochs
            order = rng.permutation(len(x_train))
            model.partial_fit(x_train[order], y_train[order], classes=np.arange(10))
        loss = log_loss(y_val, model.predict_proba(x_val), labels=np.arange(10))
        report(epoch, loss)
    if report.final:
        test = log_loss(y_test, model.predict_proba(x_test), labels=np.arange(10))
        return {"value": loss, "test": test}
    return loss


objective = Objective(
    space={
        "alpha": {"type": "real", "low": 1e-6, "high": 1e-1, "log": True},
        "eta0": {"type": "real", "low": 1e-4, "high": 1.0, "log": True},
        "penalty": ["l2", "l1", "elasticnet"],
    },
    default={"alpha": 1e-4, "eta0": 0.01, "penalty": "l2"},
    train=train,
    metric="val_log_loss",
    direction="minimize",
    bounds=(0.0, 2.3),
)

if __name__ == "__main__":
    profile = sys.argv[1] if len(sys.argv) > 1 else "quick"
    db = sys.argv[2] if len(sys.argv) > 2 else "hptui.db"
    result = hptui.search(objective, profile=profile, db=db)
    if not result.ok:
        sys.exit(f"run {result.run_id} {result.status}: {result.error}")
    print(f"run {result.run_id}: best {result.metric} {result.best_value:.4f} with")
    print(result.best_config)
