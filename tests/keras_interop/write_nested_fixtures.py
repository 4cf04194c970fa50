"""Write the nested-model fixtures with *real* Keras (never imported by the test suite).

    /path/to/tf-keras-venv/bin/python tests/keras_interop/write_nested_fixtures.py
    KERAS_BACKEND=torch /path/to/keras3-venv/bin/python \\
        tests/keras_interop/write_nested_fixtures.py

tf-keras 2.x writes ``tests/fixtures/nested/k2/``, Keras 3 ``nested/k3/`` (or the folder given
as the first argument). Three models with a model as a layer, weights drawn from a seeded
generator (the same in both Keras):

* ``transfer``: ``Sequential([Input(6, 6, 2), base, Flatten(), Dense(3, softmax)])`` where
  ``base = Sequential([Conv2D(4, 3, relu), MaxPooling2D()])`` is frozen (``trainable=False``).
* ``siamese``: a functional ``encoder`` (Input(5) -> Dense(3, tanh)) called on two inputs,
  ``Subtract`` of the two calls, ``Dense(2)``: one nested model, two calls (shared weights).
* ``chain``: functional; ``Input(5) -> block -> head`` where ``block`` is a Sequential
  (Dense(4, relu)) and ``head`` a functional model (Dense(2, softmax)) whose output is the
  outer model's output.

For each: ``<name>.json`` (``to_json``), ``<name>.h5`` (whole model), ``<name>.weights.h5``
(Keras 3 layout; Keras 3 only) or ``<name>_weights.h5`` (``save_weights``, Keras 2 layout;
tf-keras only), ``<name>.keras`` (Keras 3 only), ``<name>_x.npy`` (one array, or ``x0``, ``x1``
in an ``.npz`` for siamese) and ``<name>_expected.npy``.
"""

import sys
from pathlib import Path

import numpy as np

try:
    import tf_keras as keras  # tf-keras 2.x (the Keras 2 API)
    FLAVOUR = "k2"
except ImportError:
    import keras
    FLAVOUR = "k3"

layers = keras.layers
HERE = Path(__file__).resolve().parent
SEED = 303


def set_weights(model, seed: int) -> None:
    """Every weight array from one seeded generator, in ``model.weights`` order."""
    rng = np.random.default_rng(seed)
    arrays = [w.numpy() if hasattr(w, "numpy") else np.asarray(w) for w in model.weights]
    model.set_weights([rng.uniform(-1, 1, a.shape).astype("float32") for a in arrays])


def transfer():
    base = keras.Sequential([keras.Input((6, 6, 2)), layers.Conv2D(4, 3, activation="relu"),
                             layers.MaxPooling2D()], name="base")
    model = keras.Sequential([keras.Input((6, 6, 2)), base, layers.Flatten(),
                              layers.Dense(3, activation="softmax")], name="transfer")
    set_weights(model, SEED)
    base.trainable = False
    return model


def siamese():
    i = keras.Input((5,), name="enc_in")
    encoder = keras.Model(i, layers.Dense(3, activation="tanh", name="enc_dense")(i),
                          name="encoder")
    a, b = keras.Input((5,), name="a"), keras.Input((5,), name="b")
    d = layers.Subtract()([encoder(a), encoder(b)])
    model = keras.Model([a, b], layers.Dense(2, name="out")(d), name="siamese")
    set_weights(model, SEED + 1)
    return model


def chain():
    block = keras.Sequential([keras.Input((5,)), layers.Dense(4, activation="relu",
                                                              name="block_dense")], name="block")
    h = keras.Input((4,), name="head_in")
    head = keras.Model(h, layers.Dense(2, activation="softmax", name="head_dense")(h),
                       name="head")
    x = keras.Input((5,), name="x")
    model = keras.Model(x, head(block(x)), name="chain")
    set_weights(model, SEED + 2)
    return model


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    data = {"transfer": rng.uniform(0, 1, (3, 6, 6, 2)).astype("float32"),
            "siamese": [rng.standard_normal((4, 5)).astype("float32") for _ in range(2)],
            "chain": rng.standard_normal((4, 5)).astype("float32")}
    for name, make in (("transfer", transfer), ("siamese", siamese), ("chain", chain)):
        model = make()
        x = data[name]
        (out / f"{name}.json").write_text(model.to_json())
        model.save(str(out / f"{name}.h5"))
        if FLAVOUR == "k2":
            model.save_weights(str(out / f"{name}_weights.h5"))
        else:
            model.save_weights(str(out / f"{name}.weights.h5"))
            model.save(str(out / f"{name}.keras"))
        if isinstance(x, list):
            np.savez(out / f"{name}_x.npz", x0=x[0], x1=x[1])
        else:
            np.save(out / f"{name}_x.npy", x)
        np.save(out / f"{name}_expected.npy", model.predict(x, verbose=0))
        print(name, [layer.name for layer in model.layers], len(model.trainable_weights),
              len(model.weights))


if __name__ == "__main__":
    default = HERE.parent / "fixtures" / "nested" / FLAVOUR
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
