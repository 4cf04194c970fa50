"""Write compiled, trained whole-model fixtures with *real* Keras (never imported by the suite).

    KERAS_BACKEND=torch /path/to/keras3-venv/bin/python \\
        tests/keras_interop/write_keras_file_fixtures.py          # Keras 3: .keras (+ .h5)
    /path/to/tf-keras-venv/bin/python tests/keras_interop/write_keras_file_fixtures.py  # .h5

Folders under ``tests/fixtures/keras/`` (each described by its ``keras_file.json``):

* ``keras3_compiled`` (Keras 3): a small CNN (Conv2D, MaxPooling2D, Dropout, Flatten, Dense
  softmax) compiled with ``loss="categorical_crossentropy", optimizer=Adam(0.01),
  metrics=["acc"]`` and trained 2 epochs, saved as ``model.keras`` and ``model.h5``.
* ``keras3_layers`` (Keras 3): a functional model with the other layers convnet has (batch
  normalisation, PReLU, LeakyReLU, ELU, ReLU, Softmax, padding, cropping, Permute, Reshape,
  average and global pooling, every merge layer), compiled with ``SGD(0.05, momentum=0.9,
  nesterov=True)``, ``SparseCategoricalCrossentropy(from_logits=True)`` and
  ``[SparseCategoricalAccuracy()]``, trained 1 epoch, saved as ``model.keras``.
* ``keras3_more_layers`` (Keras 3): rescaling, augmentation, noise and regularisation layers,
  upsampling (nearest and bilinear) and a kernel regulariser, compiled with ``"rmsprop"``,
  trained 1 epoch, saved as ``model.keras``.
* ``k2_compiled`` (tf-keras 2.x): the small CNN compiled with ``Adadelta(learning_rate=1.0)``
  and ``metrics=["accuracy"]``, trained 2 epochs, saved as ``model.h5`` (tf-keras's
  ``training_config``: ``Custom>Adadelta``, metrics as ``MeanMetricWrapper`` objects) and as
  ``model.keras`` (tf-keras's zip: its optimizer variables have no learning rate).

Each folder also has ``input.npy``, ``labels.npy``, ``expected.npy`` (Keras's ``predict``),
``evaluate.json`` (Keras's ``evaluate``, ``return_dict=True``) and ``optimizer.npz`` (Keras's
optimizer variables after training, ``v0``, ``v1``, ... in Keras's order).
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
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "keras"


def small_cnn():
    return keras.Sequential([
        keras.Input(shape=(10, 10, 1)),
        layers.Conv2D(4, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])


def layers_model():
    inputs = keras.Input(shape=(9, 8, 2))
    x = layers.ZeroPadding2D(((1, 0), (0, 1)))(inputs)
    x = layers.Conv2D(4, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    a = layers.PReLU(shared_axes=[1, 2])(x)
    b = layers.LeakyReLU(negative_slope=0.2)(x)
    c = layers.ELU(alpha=0.5)(x)
    d = layers.ReLU(max_value=2.0)(x)
    merged = [layers.Add()([a, b]), layers.Subtract()([a, c]), layers.Multiply()([b, d]),
              layers.Average()([c, d]), layers.Maximum()([a, d]), layers.Minimum()([b, c])]
    x = layers.Concatenate()(merged)
    x = layers.Cropping2D(((1, 1), (0, 1)))(x)
    x = layers.AveragePooling2D(2, padding="same")(x)
    x = layers.Activation("tanh")(x)
    p = layers.Permute((2, 1, 3))(x)
    g1 = layers.GlobalMaxPooling2D()(p)
    g2 = layers.GlobalAveragePooling2D()(x)
    s = layers.Softmax()(layers.Reshape((8, 6))(layers.Concatenate()([g1, g2])))
    return keras.Model(inputs, layers.Dense(3)(layers.Flatten()(s)))


def more_layers_model():
    """Preprocessing, augmentation, noise and regularisation layers (identity or fixed maps at
    inference), upsampling both ways, a kernel regulariser."""
    inputs = keras.Input(shape=(8, 8, 2))
    x = layers.Rescaling(0.5, offset=0.1)(inputs)
    x = layers.RandomFlip()(x)
    x = layers.RandomTranslation(0.1, 0.1)(x)
    x = layers.RandomRotation(0.1)(x)
    x = layers.RandomZoom(0.1)(x)
    x = layers.RandomContrast(0.2)(x)
    x = layers.GaussianNoise(0.1)(x)
    x = layers.GaussianDropout(0.1)(x)
    x = layers.SpatialDropout2D(0.1)(x)
    x = layers.ActivityRegularization(l2=0.01)(x)
    x = layers.UpSampling2D((2, 1))(x)
    x = layers.UpSampling2D(2, interpolation="bilinear")(x)
    x = layers.Conv2D(3, 3, activation="relu", kernel_regularizer="l2")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(2, activation="softmax")(x))


def variables(optimizer):
    return {f"v{i}": np.asarray(v.numpy() if hasattr(v, "numpy") else v)
            for i, v in enumerate(optimizer.variables)}


def write(out: Path, model, x, y, epochs: int, files: list, how: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.fit(x, y, epochs=epochs, batch_size=8, shuffle=False, verbose=0)
    for name in files:
        model.save(str(out / name))
    expected = model.predict(x, verbose=0)
    scores = model.evaluate(x, y, verbose=0, return_dict=True)
    np.save(out / "input.npy", x)
    np.save(out / "labels.npy", y)
    np.save(out / "expected.npy", expected)
    (out / "evaluate.json").write_text(json.dumps({k: float(v) for k, v in scores.items()},
                                                  indent=2) + "\n")
    opt_vars = variables(model.optimizer)
    np.savez(out / "optimizer.npz", **opt_vars)
    spec = {"name": out.name, "producer": PRODUCER, "keras_version": keras.__version__,
            "files": files, "input": "input.npy", "labels": "labels.npy",
            "expected": "expected.npy", "evaluate": "evaluate.json",
            "optimizer": "optimizer.npz", "optimizer_class": type(model.optimizer).__name__,
            "optimizer_variables": len(opt_vars), "iterations": int(
                np.asarray(model.optimizer.iterations.numpy()
                           if hasattr(model.optimizer.iterations, "numpy")
                           else model.optimizer.iterations)),
            "layers": [layer.name for layer in model.layers], "how": how}
    (out / "keras_file.json").write_text(json.dumps(spec, indent=2) + "\n")
    (out / "README").write_text(
        f"{out.name}\nProduced by: {PRODUCER}.\nHow: {how}.\n"
        "Check: load_model(file) returns a compiled model whose predict matches expected.npy, "
        "whose evaluate matches evaluate.json and whose optimizer state equals optimizer.npz "
        "(tests/test_compiled_load.py, tests/test_keras_format.py).\n")
    print(f"wrote {out} ({PRODUCER})")


def main() -> None:
    rng = np.random.default_rng(11)
    x = rng.uniform(0, 1, (24, 10, 10, 1)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 24)]
    keras.utils.set_random_seed(3)
    model = small_cnn()
    if FLAVOUR == "k3":
        model.compile(loss="categorical_crossentropy",
                      optimizer=keras.optimizers.Adam(learning_rate=0.01), metrics=["acc"])
        write(FIXTURES / "keras3_compiled", model, x, y, 2, ["model.keras", "model.h5"],
              "small_cnn() compiled (categorical_crossentropy, Adam(0.01), ['acc']), fit 2 "
              "epochs (batch 8, no shuffle), save('model.keras') and save('model.h5')")
        x2 = rng.uniform(-1, 1, (16, 9, 8, 2)).astype("float32")
        y2 = rng.integers(0, 3, 16)
        model = layers_model()
        model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      optimizer=keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
                      metrics=[keras.metrics.SparseCategoricalAccuracy()])
        write(FIXTURES / "keras3_layers", model, x2, y2, 1, ["model.keras"],
              "layers_model() compiled (SparseCategoricalCrossentropy(from_logits=True), "
              "SGD(0.05, momentum=0.9, nesterov=True), [SparseCategoricalAccuracy()]), fit 1 "
              "epoch (batch 8, no shuffle), save('model.keras')")
        x3 = rng.uniform(0, 1, (16, 8, 8, 2)).astype("float32")
        y3 = np.eye(2, dtype="float32")[rng.integers(0, 2, 16)]
        model = more_layers_model()
        model.compile(loss="categorical_crossentropy", optimizer="rmsprop",
                      metrics=["accuracy"])
        write(FIXTURES / "keras3_more_layers", model, x3, y3, 1, ["model.keras"],
              "more_layers_model() compiled (categorical_crossentropy, 'rmsprop', "
              "['accuracy']), fit 1 epoch (batch 8, no shuffle), save('model.keras')")
    else:
        model.compile(loss="categorical_crossentropy",
                      optimizer=keras.optimizers.Adadelta(learning_rate=1.0),
                      metrics=["accuracy"])
        write(FIXTURES / "k2_compiled", model, x, y, 2, ["model.h5", "model.keras"],
              "small_cnn() compiled (categorical_crossentropy, Adadelta(1.0), ['accuracy']), "
              "fit 2 epochs (batch 8, no shuffle), save('model.h5') and save('model.keras') "
              "(tf-keras's own .keras format)")


if __name__ == "__main__":
    sys.exit(main())
