"""Write ``tests/fixtures/conv_transpose/{k2,k3}/``: real Keras's Conv2DTranspose outputs for
strides, paddings and output_padding, and a small model of it as Keras saves it.

Run with a Python that has Keras (never a convnet dependency)::

    /tmp/tf/bin/python tests/keras_interop/write_conv_transpose_fixtures.py \\
        tests/fixtures/conv_transpose/k2
    KERAS_BACKEND=torch /tmp/k3/bin/python tests/keras_interop/write_conv_transpose_fixtures.py \\
        tests/fixtures/conv_transpose/k3

``cases.npz`` holds, for case ``i`` of ``CASES``, ``x{i}``, ``kernel{i}``, ``bias{i}`` and
``y{i}`` (the layer's output); ``model.json``, the weights, ``input.npy`` and ``expected.npy``
a Sequential model with two Conv2DTranspose layers. ``tests/test_conv_transpose.py`` reads them.
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


# (filters, kernel_size, strides, padding, output_padding, input (H, W, C))
CASES = [
    (2, 3, 2, "valid", None, (4, 5, 3)),
    (2, 3, 2, "same", None, (4, 5, 3)),
    (3, (2, 4), (3, 2), "same", None, (3, 4, 2)),
    (2, 2, 3, "valid", None, (3, 3, 2)),
    (2, 4, 2, "same", 1, (3, 4, 2)),
    (1, 3, 2, "valid", 1, (3, 3, 2)),
    (2, 3, 1, "same", None, (5, 4, 3)),
    (2, 1, 2, "same", None, (3, 3, 2)),
]


def main(folder: str) -> int:
    keras, flavour = keras_module()
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(14)
    arrays = {}
    for i, (filters, k, s, padding, op, shape) in enumerate(CASES):
        layer = keras.layers.Conv2DTranspose(filters, k, strides=s, padding=padding,
                                             output_padding=op)
        x = rng.uniform(-1, 1, (2,) + shape).astype("float32")
        layer.build((None,) + shape)
        weights = [rng.uniform(-0.5, 0.5, w.shape).astype("float32")
                   for w in layer.get_weights()]
        layer.set_weights(weights)
        y = keras.ops.convert_to_numpy(layer(x)) if flavour == "keras3" else layer(x).numpy()
        arrays.update({f"x{i}": x, f"kernel{i}": weights[0], f"bias{i}": weights[1],
                       f"y{i}": y})
    np.savez(out / "cases.npz", **arrays)
    L = keras.layers
    m = keras.Sequential([keras.Input((3, 3, 2)),
                          L.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu"),
                          L.Conv2DTranspose(2, 2, strides=2, use_bias=False),
                          L.Flatten(), L.Dense(3, activation="softmax")])
    m.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in m.get_weights()])
    x = rng.uniform(0, 1, (4, 3, 3, 2)).astype("float32")
    (out / "model.json").write_text(m.to_json())
    m.save_weights(str(out / ("weights.h5" if flavour == "tf-keras" else "model.weights.h5")))
    np.save(out / "input.npy", x)
    np.save(out / "expected.npy", np.asarray(m.predict(x, verbose=0)))
    (out / "README").write_text(
        f"Written by tests/keras_interop/write_conv_transpose_fixtures.py with {flavour} "
        f"{keras.__version__} (weights: seeded uniform, not trained).\n")
    print(f"wrote {out} with {flavour} {keras.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
