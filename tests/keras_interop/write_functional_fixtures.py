"""Write the functional-model fixtures with *real* Keras (never imported by the test suite).

    /path/to/tf-keras-venv/bin/python tests/keras_interop/write_functional_fixtures.py
    KERAS_BACKEND=torch /path/to/keras3-venv/bin/python \\
        tests/keras_interop/write_functional_fixtures.py

tf-keras 2.x writes ``tests/fixtures/keras/functional_k2/``, Keras 3 ``functional_k3/`` (or the
folder given as the first argument). Two models, with weights drawn from seeded generators (the
same in both Keras, so the two folders' predictions agree to float32 rounding):

* ``residual`` (the fixture proper, ``fixture.json``): Input(10, 10, 3) -> Conv2D 6 'same' relu
  -> Conv2D 6 'same' -> Add with the first conv's output (the shortcut) -> Activation relu ->
  GlobalAveragePooling2D -> Dense 4 softmax. Files: ``model.json``, ``model.weights.h5`` (Keras
  3 layout), ``model.h5`` (whole model, Keras 2 layout), tf-keras also ``weights.h5`` (Keras 2
  ``save_weights``; Keras 3 refuses to write that name), ``input.npy``, ``expected.npy``.
* ``shared`` (``shared.*``): two inputs, one Conv2D called on both (node indices 0 and 1),
  Concatenate and Subtract of the two calls, two outputs. Files: ``shared.json``,
  ``shared.weights.h5``, ``shared.h5``, ``shared_inputs.npz`` (``x0``, ``x1``),
  ``shared_expected.npz`` (``y0``, ``y1``).
"""

import json
import sys
from pathlib import Path

import numpy as np

try:
    import tf_keras as keras  # tf-keras 2.x (the Keras 2 API)
    FLAVOUR = "k2"
    PRODUCER = f"tf-keras {keras.__version__} (Keras 2 API) on TensorFlow, CPU"
except ImportError:
    import keras
    FLAVOUR = "k3"
    PRODUCER = f"Keras {keras.__version__} with the {keras.backend.backend()} backend, CPU"

layers = keras.layers

HERE = Path(__file__).resolve().parent
WEIGHT_SEED = 202


def deterministic_weights(model, seed: int) -> None:
    """Every weight array from one seeded generator, layer by layer in ``model.layers`` order
    (the same order in both Keras), scaled so activations stay near 1."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        arrays = layer.get_weights()
        if arrays:
            fan_in = max(int(np.prod(arrays[0].shape[:-1])), 1)
            layer.set_weights([rng.uniform(-1, 1, a.shape).astype("float32") / np.sqrt(fan_in)
                               for a in arrays])


def residual_model():
    inputs = keras.Input(shape=(10, 10, 3))
    x = layers.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    shortcut = x
    y = layers.Conv2D(6, 3, padding="same")(x)
    y = layers.Add()([y, shortcut])
    y = layers.Activation("relu")(y)
    y = layers.GlobalAveragePooling2D()(y)
    outputs = layers.Dense(4, activation="softmax")(y)
    return keras.Model(inputs, outputs)


def shared_model():
    left = keras.Input(shape=(6, 6, 2), name="left")
    right = keras.Input(shape=(6, 6, 2), name="right")
    conv = layers.Conv2D(3, 3, padding="same", activation="relu", name="shared_conv")
    a, b = conv(left), conv(right)                        # nodes 0 and 1 of one layer
    joined = layers.Concatenate()([a, b])
    h = layers.Flatten()(layers.MaxPooling2D()(joined))
    probs = layers.Dense(3, activation="softmax", name="probs")(h)
    diff = layers.GlobalAveragePooling2D()(layers.Subtract()([a, b]))
    score = layers.Dense(2, name="score")(diff)
    return keras.Model([left, right], [probs, score])


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)

    model = residual_model()
    deterministic_weights(model, WEIGHT_SEED)
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    x = rng.uniform(0, 1, (4, 10, 10, 3)).astype("float32")
    (out / "model.json").write_text(model.to_json())
    model.save_weights(str(out / "model.weights.h5"))
    if FLAVOUR == "k2":
        model.save_weights(str(out / "weights.h5"))
    model.save(str(out / "model.h5"))
    expected = model.predict(x, verbose=0)
    np.save(out / "input.npy", x)
    np.save(out / "expected.npy", expected)

    shared = shared_model()
    deterministic_weights(shared, WEIGHT_SEED + 1)
    xs = [rng.uniform(-1, 1, (5, 6, 6, 2)).astype("float32") for _ in range(2)]
    (out / "shared.json").write_text(shared.to_json())
    shared.save_weights(str(out / "shared.weights.h5"))
    shared.save(str(out / "shared.h5"))
    ys = shared.predict(xs, verbose=0)
    np.savez(out / "shared_inputs.npz", x0=xs[0], x1=xs[1])
    np.savez(out / "shared_expected.npz", y0=ys[0], y1=ys[1])

    # the same check the suite makes, in the producing Keras
    again = keras.models.model_from_json((out / "model.json").read_text())
    again.load_weights(str(out / "model.weights.h5"))
    roundtrip = float(np.abs(again.predict(x, verbose=0) - expected).max())
    weights = "weights.h5" if FLAVOUR == "k2" else "model.weights.h5"
    spec = {
        "name": out.name,
        "kind": "functional",
        "producer": PRODUCER,
        "keras_version": keras.__version__,
        "json": "model.json",
        "weights": weights,
        "whole_model": "model.h5",
        "other_weights": sorted({"model.weights.h5", weights} - {weights}),
        "input": "input.npy",
        "expected": "expected.npy",
        "input_shape": [10, 10, 3],
        "output_shape": list(expected.shape),
        "weight_seed": WEIGHT_SEED,
        "tolerance": 1e-05,
        "roundtrip_max_abs_diff": roundtrip,
        "layers": [layer.name for layer in model.layers],
        "how": "tests/keras_interop/write_functional_fixtures.py: residual_model(), weights "
               "from deterministic_weights(seed=202), compiled (categorical_crossentropy, adam), "
               "then to_json(), save_weights(...), save('model.h5'), predict(input); "
               "shared.*: shared_model() (two inputs, a Conv2D called twice, two outputs)",
    }
    (out / "fixture.json").write_text(json.dumps(spec, indent=2) + "\n")
    (out / "README").write_text(
        f"{out.name}\nProduced by: {PRODUCER}.\nHow: {spec['how']}.\n"
        f"Layers (Keras order): {', '.join(spec['layers'])}.\n"
        "Check: model_from_json(model.json) + load_weights(weights) + predict(input) must "
        "match expected.npy, max abs diff <= 1e-05 (tests/test_functional_saving.py).\n")
    print(f"wrote {out} ({PRODUCER}); Keras round trip max |diff| = {roundtrip:.3g}")


if __name__ == "__main__":
    default = HERE.parent / "fixtures" / "keras" / f"functional_{FLAVOUR}"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
