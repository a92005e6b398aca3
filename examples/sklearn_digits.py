"""Plain flavour: a linear classifier trained by stochastic gradient descent (scikit-learn's
SGDClassifier) on the handwritten digits bundled with scikit-learn.

`train(params, report)` trains as it likes: here `report.epochs` rounds of a few passes of
`partial_fit`, calling `report(epoch, value)` after each, so the search's pruner can stop a
hopeless trial early and the UI plots its learning curve. In final validation
(`report.final`) it also returns the accuracy on a test set the search never saw.

    hptui run --objective examples/sklearn_digits.py --pruner median
"""

from functools import cache

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier

from hptui import Objective

PASSES = 5  # passes over the training data in each of the search's epochs


@cache
def data():
    """(x_train, y_train, x_val, y_val, x_test, y_test); the slices keep the writers apart."""
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    return x[:1000], y[:1000], x[1000:1400], y[1000:1400], x[1400:], y[1400:]


def train(params, report):
    x_train, y_train, x_val, y_val, x_test, y_test = data()
    model = SGDClassifier(
        loss=params["loss"],
        penalty=params["penalty"],
        alpha=params["alpha"],
        learning_rate="constant",
        eta0=params["eta0"],
        random_state=report.seed,
    )
    rng = np.random.default_rng(report.seed)
    accuracy = 0.0
    for epoch in range(1, report.epochs + 1):
        for _ in range(PASSES):
            order = rng.permutation(len(x_train))
            model.partial_fit(x_train[order], y_train[order], classes=np.arange(10))
        accuracy = model.score(x_val, y_val)
        report(epoch, accuracy)  # raises hptui.Pruned when the search stops the trial here
    if report.final:
        return {"value": accuracy, "test": model.score(x_test, y_test)}
    return accuracy


objective = Objective(
    space={
        "alpha": {"type": "real", "low": 1e-6, "high": 1e-1, "log": True},
        "eta0": {"type": "real", "low": 1e-4, "high": 1.0, "log": True},
        "loss": ["hinge", "log_loss", "modified_huber"],
        "penalty": ["l2", "l1", "elasticnet"],
    },
    default={"alpha": 1e-4, "eta0": 0.01, "loss": "hinge", "penalty": "l2"},
    train=train,
    metric="val_accuracy",
    direction="maximize",
)
