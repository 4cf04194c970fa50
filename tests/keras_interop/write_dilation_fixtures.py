"""Write ``tests/fixtures/dilation/{k2,k3}/``: real Keras's dilated Conv2D and Conv1D outputs,
and a small model of them as Keras saves it.

Run with a Python that has Keras (never a convnet dependency)::

    /tmp/tf/bin/python tests/keras_interop/write_dilation_fixtures.py tests/fixtures/dilation/k2
    KERAS_BACKEND=torch /tmp/k3/bin/python tests/keras_interop/write_dilation_fixtures.py \\
        tests/fixtures/dilation/k3

``cases.npz`` holds, for case ``i`` of ``CASES``, ``x{i}``, ``kernel{i}``, ``bias{i}`` and
``y{i}`` (the layer's output); ``model.json``, the weights (``weights.h5``, Keras 2's layout,
from tf-keras; ``model.weights.h5`` from Keras 3), ``input.npy`` and ``expected.npy``
(``model.predict``) a Sequential model of dilated layers (the architecture of
``write_dilation_files.py``, the other direction). ``tests/test_dilation.py`` reads them.
"""

import sys
from pathlib import Path

import numpy as np


def keras_module():
    """(keras, flavour): tf-keras where installed, else Keras 3 (imported only when writing, so
    the tests can import ``CASES`` without Keras)."""
    try:
        import tf_keras
        return tf_keras, "tf-keras"
    except ImportError:
        import keras
        return keras, "keras3"


# (class, filters, kernel_size, dilation_rate, padding, data_format, input without the batch in
# that layout)
CL, CF = "channels_last", "channels_first"
CASES = [
    ("Conv2D", 2, 3, 2, "valid", CL, (7, 8, 2)),
    ("Conv2D", 2, 3, 2, "same", CL, (6, 7, 2)),
    ("Conv2D", 3, (2, 3), (3, 1), "same", CL, (7, 5, 2)),
    ("Conv2D", 2, (3, 2), (1, 2), "valid", CL, (5, 6, 3)),
    ("Conv2D", 2, 2, 4, "same", CL, (5, 6, 1)),    # the 5x5 window is wider than the input
    ("Conv2D", 2, (3, 2), (2, 3), "same", CF, (2, 6, 7)),
    ("Conv1D", 2, 3, 2, "valid", CL, (9, 2)),
    ("Conv1D", 3, 2, 3, "same", CL, (8, 2)),
    ("Conv1D", 2, 3, 2, "causal", CL, (7, 3)),
    ("Conv1D", 2, 2, 3, "valid", CF, (2, 9)),
]


def model(keras):
    """Dilated Conv2D ('same', then 'valid' without bias), then a dilated 'causal' Conv1D."""
    L = keras.layers
    return keras.Sequential([
        keras.Input((8, 8, 2)),
        L.Conv2D(3, (2, 3), dilation_rate=(2, 1), padding="same", activation="relu"),
        L.Conv2D(2, 2, dilation_rate=3, use_bias=False),
        L.Reshape((5, 10)),
        L.Conv1D(3, 2, dilation_rate=2, padding="causal", activation="tanh"),
        L.Flatten(),
    ])


def main(folder: str) -> int:
    keras, flavour = keras_module()
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(14)
    arrays = {}
    for i, (cls, filters, k, rate, padding, data_format, shape) in enumerate(CASES):
        layer = getattr(keras.layers, cls)(filters, k, dilation_rate=rate, padding=padding,
                                           data_format=data_format)
        x = rng.uniform(-1, 1, (1,) + shape).astype("float32")
        layer.build((None,) + shape)
        weights = [rng.uniform(-0.5, 0.5, w.shape).astype("float32")
                   for w in layer.get_weights()]
        layer.set_weights(weights)
        y = keras.ops.convert_to_numpy(layer(x)) if flavour == "keras3" else layer(x).numpy()
        arrays.update({f"x{i}": x, f"kernel{i}": weights[0], f"bias{i}": weights[1],
                       f"y{i}": y})
    np.savez(out / "cases.npz", **arrays)
    m = model(keras)
    m.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in m.get_weights()])
    x = rng.uniform(0, 1, (3, 8, 8, 2)).astype("float32")
    (out / "model.json").write_text(m.to_json())
    m.save_weights(str(out / ("weights.h5" if flavour == "tf-keras" else "model.weights.h5")))
    np.save(out / "input.npy", x)
    np.save(out / "expected.npy", np.asarray(m.predict(x, verbose=0)))
    (out / "README").write_text(
        f"Written by tests/keras_interop/write_dilation_fixtures.py with {flavour} "
        f"{keras.__version__} (weights: seeded uniform, not trained).\n")
    print(f"wrote {out} with {flavour} {keras.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
