"""Keras flavour: a small dense network on the handwritten digits bundled with scikit-learn."""

from sklearn.datasets import load_digits

from hptui import Objective


def load_data():  # (train, validation, test) pairs; the slices keep the writers apart
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    return (x[:1000], y[:1000]), (x[1000:1400], y[1000:1400]), (x[1400:], y[1400:])


def build_model(params):
    from tensorflow import keras  # imported in the workers that train, not when listed

    layers = [keras.layers.Dense(params["units"], "relu"), keras.layers.Dropout(params["dropout"])]
    model = keras.Sequential([keras.Input((64,)), *layers, keras.layers.Dense(10, "softmax")])
    opt = keras.optimizers.Adam(params["lr"])
    model.compile(opt, "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


space = {
    "lr": {"type": "real", "low": 1e-4, "high": 0.05, "log": True, "default": 1e-3},
    "units": {"type": "integer", "low": 8, "high": 256, "log": True, "default": 32},
    "dropout": {"type": "real", "low": 0.0, "high": 0.5, "default": 0.2},
}
objective = Objective(space=space, build_model=build_model, load_data=load_data)
