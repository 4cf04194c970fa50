"""Write the fixtures in ``tests/fixtures/depthwise/``: DepthwiseConv2D and SeparableConv2D as
real Keras writes them.

Run with a Python that has Keras (never a convnet dependency)::

    /tmp/tf/bin/python tests/keras_interop/write_depthwise_fixtures.py tests/fixtures/depthwise/k2
    KERAS_BACKEND=torch /tmp/k3/bin/python tests/keras_interop/write_depthwise_fixtures.py \\
        tests/fixtures/depthwise/k3

Each folder gets ``model.json`` (``model.to_json()``), the weights (``weights.h5``, Keras 2's
layout, from tf-keras; ``model.weights.h5`` from Keras 3), ``model.h5`` (the whole model),
``input.npy`` and ``expected.npy`` (``model.predict``). ``tests/test_depthwise.py`` loads them
into convnet.
"""

import sys
from pathlib import Path

import numpy as np

try:
    import tf_keras as keras
    FLAVOUR = "tf-keras"
except ImportError:
    import keras
    FLAVOUR = "keras3"


def model():
    L, reg, con = keras.layers, keras.regularizers, keras.constraints
    return keras.Sequential([
        keras.Input((7, 7, 3)),
        L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, activation="relu",
                          depthwise_regularizer=reg.L2(0.01),
                          depthwise_constraint=con.MaxNorm(2.0, axis=[0, 1])),
        L.SeparableConv2D(4, (2, 3), depth_multiplier=2, activation="tanh",
                          pointwise_regularizer="l1", bias_constraint=con.NonNeg()),
        L.DepthwiseConv2D((1, 2), use_bias=False),
        L.Flatten(),
        L.Dense(3, activation="softmax"),
    ])


def main(folder: str) -> int:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    m = model()
    rng = np.random.default_rng(14)
    m.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in m.get_weights()])
    x = rng.uniform(0, 1, (4, 7, 7, 3)).astype("float32")
    (out / "model.json").write_text(m.to_json())
    m.save_weights(str(out / ("weights.h5" if FLAVOUR == "tf-keras" else "model.weights.h5")))
    m.save(str(out / "model.h5"))
    np.save(out / "input.npy", x)
    np.save(out / "expected.npy", np.asarray(m.predict(x, verbose=0)))
    (out / "README").write_text(
        f"Written by tests/keras_interop/write_depthwise_fixtures.py with {FLAVOUR} "
        f"{keras.__version__} (weights: seeded uniform, not trained).\n")
    print(f"wrote {out} with {FLAVOUR} {keras.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
