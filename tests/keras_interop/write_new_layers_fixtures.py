"""Write the fixtures in ``tests/fixtures/new_layers/``: issue 14's new layers, regularizers,
constraints and activations, as real Keras writes them.

Run with a Python that has Keras (never a convnet dependency)::

    /tmp/tf/bin/python tests/keras_interop/write_new_layers_fixtures.py tests/fixtures/new_layers/k2
    KERAS_BACKEND=torch /tmp/k3/bin/python tests/keras_interop/write_new_layers_fixtures.py \\
        tests/fixtures/new_layers/k3

Each folder gets ``model.json`` (``model.to_json()``), the weights (``weights.h5``, Keras 2's
layout, from tf-keras; ``model.weights.h5`` from Keras 3), ``input.npy`` and ``expected.npy``
(``model.predict``: the augmentation and noise layers are the identity there).
``tests/test_new_layers.py`` loads them into convnet.
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
        keras.Input((6, 6, 2)),
        L.RandomFlip("horizontal"),
        L.RandomTranslation(0.1, 0.1),
        L.RandomRotation(0.05),
        L.RandomZoom(0.1),
        L.RandomContrast(0.2),
        L.Rescaling(0.5, offset=0.1),
        L.Conv2D(3, 3, padding="same", activation="gelu", kernel_regularizer=reg.L2(0.01),
                 bias_regularizer="l1", kernel_constraint=con.MaxNorm(2.0, axis=[0, 1, 2]),
                 bias_constraint=con.NonNeg()),
        L.SpatialDropout2D(0.1),
        L.UpSampling2D((2, 2), interpolation="bilinear"),
        L.Conv2D(2, 3, strides=2, activation="swish"),
        L.UpSampling2D(2),
        L.GaussianNoise(0.1),
        L.Flatten(),
        L.GaussianDropout(0.1),
        L.Dropout(0.1, noise_shape=(None, 1)),
        L.Dense(5, activation="mish", kernel_regularizer=reg.L1L2(0.01, 0.02),
                activity_regularizer=reg.L2(0.01), kernel_constraint=con.UnitNorm()),
        L.ActivityRegularization(l1=0.01),
        L.Dense(3, activation="softmax"),
    ])


def main(folder: str) -> int:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    m = model()
    rng = np.random.default_rng(14)
    m.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in m.get_weights()])
    x = rng.uniform(0, 1, (4, 6, 6, 2)).astype("float32")
    (out / "model.json").write_text(m.to_json())
    m.save_weights(str(out / ("weights.h5" if FLAVOUR == "tf-keras" else "model.weights.h5")))
    np.save(out / "input.npy", x)
    np.save(out / "expected.npy", np.asarray(m.predict(x, verbose=0)))
    (out / "README").write_text(
        f"Written by tests/keras_interop/write_new_layers_fixtures.py with {FLAVOUR} "
        f"{keras.__version__} (weights: seeded uniform, not trained).\n")
    print(f"wrote {out} with {FLAVOUR} {keras.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
