"""Write the fixtures in ``tests/fixtures/conv1d/``: the 1-D layers as real Keras writes them.

Run with a Python that has Keras (never a convnet dependency)::

    /tmp/tf/bin/python tests/keras_interop/write_conv1d_fixtures.py tests/fixtures/conv1d/k2
    KERAS_BACKEND=torch /tmp/k3/bin/python tests/keras_interop/write_conv1d_fixtures.py \\
        tests/fixtures/conv1d/k3

Each folder gets ``model.json`` (``model.to_json()``), the weights (``weights.h5``, Keras 2's
layout, from tf-keras; ``model.weights.h5`` from Keras 3), ``input.npy`` and ``expected.npy``
(``model.predict``). ``tests/test_conv1d.py`` loads them into convnet. The architecture is
``write_conv1d_files.py``'s (the other direction).
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
    L = keras.layers
    return keras.Sequential([
        keras.Input((16, 2)),
        L.Conv1D(4, 3, padding="same", activation="relu"),
        L.MaxPooling1D(2),
        L.Conv1D(5, 3, strides=2, padding="causal", activation="tanh"),
        L.AveragePooling1D(3, strides=1, padding="same"),
        L.Conv1D(3, 2, use_bias=False),
        L.GlobalMaxPooling1D(keepdims=True),
        L.GlobalAveragePooling1D(),
        L.Dense(3, activation="softmax"),
    ])


def main(folder: str) -> int:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    m = model()
    rng = np.random.default_rng(14)
    m.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in m.get_weights()])
    x = rng.uniform(0, 1, (4, 16, 2)).astype("float32")
    (out / "model.json").write_text(m.to_json())
    m.save_weights(str(out / ("weights.h5" if FLAVOUR == "tf-keras" else "model.weights.h5")))
    np.save(out / "input.npy", x)
    np.save(out / "expected.npy", np.asarray(m.predict(x, verbose=0)))
    (out / "README").write_text(
        f"Written by tests/keras_interop/write_conv1d_fixtures.py with {FLAVOUR} "
        f"{keras.__version__} (weights: seeded uniform, not trained).\n")
    print(f"wrote {out} with {FLAVOUR} {keras.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
