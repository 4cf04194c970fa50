"""Write compiled, trained convnet models as whole-model files for real Keras to check.

    PYTHONPATH=. python tests/keras_interop/write_convnet_keras_files.py FOLDER --model NAME

NAME is one of ``write_convnet_files.py``'s models (tutorial, variants, residual, shared, layers)
``merges`` (the merge layers not used there, and channels_first layers) or ``every_layer``
(every layer class convnet has, in one functional model). Every model but
``shared`` (two outputs) is compiled and trained one epoch, so the files carry compile settings
and optimizer state. Written: ``model.keras`` (Keras 3's zip), ``compiled.h5`` (HDF5 with
``training_config``), ``input.npy`` / ``labels.npy`` (or ``inputs.npz`` / ``expected.npz`` for
``shared``), ``expected.npy`` (convnet's predictions), ``evaluate.json`` (convnet's
``evaluate``: loss and metrics by name) and ``optimizer.npz`` (convnet's optimizer state in
Keras 3's variable order, ``v0``, ``v1``, ...). ``check_with_keras.py FOLDER`` loads them.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import write_convnet_files as models  # noqa: E402

import convnet as keras  # noqa: E402
from convnet import layers  # noqa: E402
from convnet.datasets import mnist  # noqa: E402
from convnet.layers import (  # noqa: E402
    Average,
    Conv2D,
    Dense,
    Flatten,
    Input,
    Maximum,
    MaxPooling2D,
    Minimum,
    Multiply,
)
from convnet.models import Model  # noqa: E402
from convnet.saving import optimizer_state  # noqa: E402
from convnet.tutorial import tutorial_model  # noqa: E402


def merges_model() -> Model:
    """Multiply, Average, Maximum, Minimum, and channels_first Conv2D / MaxPooling2D."""
    inputs = Input(shape=(3, 8, 8))
    a = Conv2D(4, 3, padding="same", activation="relu", data_format="channels_first")(inputs)
    b = Conv2D(4, 3, padding="same", activation="tanh", data_format="channels_first")(inputs)
    merged = [Multiply()([a, b]), Average()([a, b]), Maximum()([a, b]), Minimum()([a, b])]
    pooled = [MaxPooling2D(data_format="channels_first")(m) for m in merged]
    flat = [Flatten()(p) for p in pooled]
    return Model(inputs, Dense(3, activation="softmax")(Average()(flat)), name="merges")


def every_layer_model() -> Model:
    """A functional model holding every layer class convnet has (see convnet/layers)."""
    keras.utils.set_random_seed(6)
    L = layers
    inputs = L.Input(shape=(9, 8, 2))
    x = L.ZeroPadding2D(((1, 0), (0, 1)))(inputs)
    x = L.Conv2D(4, 3, padding="same")(x)
    x = L.SeparableConv2D(4, 3, padding="same", depth_multiplier=2)(
        L.DepthwiseConv2D(3, padding="same")(x))
    x = L.BatchNormalization()(x)
    a, b = L.PReLU(shared_axes=[1, 2])(x), L.LeakyReLU(0.2)(x)
    c, d = L.ELU(0.5)(x), L.ReLU(max_value=2.0)(x)
    merged = [L.Add()([a, b]), L.Subtract()([a, c]), L.Multiply()([b, d]), L.Average()([c, d]),
              L.Maximum()([a, d]), L.Minimum()([b, c])]
    x = L.Concatenate()(merged)
    x = L.Cropping2D(((1, 1), (0, 1)))(x)
    x = L.AveragePooling2D(2, padding="same")(x)
    x = L.Activation("tanh")(L.Dropout(0.1)(x))
    x = L.SpatialDropout2D(0.1)(L.GaussianDropout(0.1)(L.GaussianNoise(0.1)(x)))
    x = L.ActivityRegularization(l2=0.01)(L.Rescaling(0.5, offset=0.1)(x))
    x = L.RandomContrast(0.2)(L.RandomFlip()(x))    # value_range: tf-keras has none
    x = L.RandomZoom(0.1)(L.RandomRotation(0.1)(L.RandomTranslation(0.1, 0.1)(x)))
    p = L.Permute((2, 1, 3))(x)
    cf = L.Conv2D(2, 1, data_format="channels_first")(p)
    g = L.Concatenate()([L.GlobalMaxPooling2D()(p), L.GlobalAveragePooling2D()(x),
                         L.Flatten()(L.MaxPooling2D(padding="same")(cf))])
    g = L.Concatenate()([g, L.Flatten()(L.UpSampling2D((1, 2))(L.GlobalMaxPooling2D(
        keepdims=True)(x)))])
    s = L.Softmax()(L.Reshape((-1, 4))(g))
    q = L.Conv1D(4, 3, padding="causal")(s)                       # (steps, 4): a sequence
    q = L.AveragePooling1D(2, padding="same")(L.MaxPooling1D(2, strides=1, padding="same")(q))
    t = L.Conv2DTranspose(2, 3, strides=2, padding="same")(x)
    extra = L.Concatenate()([L.GlobalAveragePooling1D()(q), L.GlobalMaxPooling1D()(s),
                             L.GlobalAveragePooling2D()(t)])
    out = L.Concatenate()([L.Flatten()(s), extra])
    return Model(inputs, L.Dense(3, activation="softmax")(out), name="every_layer")


# model -> (compile arguments, input shape, how labels look)
SETTINGS = {
    "tutorial": (dict(loss="categorical_crossentropy",
                      optimizer=keras.optimizers.Adadelta(learning_rate=1.0), metrics=["acc"]),
                 "onehot"),
    "variants": (dict(loss="categorical_crossentropy",
                      optimizer=keras.optimizers.Adam(learning_rate=0.01),
                      metrics=["accuracy", keras.metrics.TopKCategoricalAccuracy(k=2)]),
                 "onehot"),
    "residual": (dict(loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
                      optimizer=keras.optimizers.SGD(0.05, momentum=0.9), metrics=["acc"]),
                 "onehot"),
    "layers": (dict(loss="sparse_categorical_crossentropy",
                    optimizer=keras.optimizers.RMSprop(0.01, momentum=0.5),
                    metrics=["sparse_categorical_accuracy"]), "sparse"),
    "merges": (dict(loss="categorical_crossentropy", optimizer=keras.optimizers.Nadam(0.01),
                    metrics=["acc"]), "onehot"),
    "every_layer": (dict(loss="categorical_crossentropy",
                         optimizer=keras.optimizers.Adamax(0.01), metrics=["acc"]), "onehot"),
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("folder")
    p.add_argument("--model", choices=["tutorial", "variants", "residual", "shared", "layers",
                                       "merges", "every_layer"], default="tutorial")
    args = p.parse_args()
    out = Path(args.folder)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    if args.model == "shared":
        model = models.shared_model()
        xs = list(rng.uniform(-1, 1, (2, 8, 7, 7, 2)).astype("float32"))
        model.save(out / "model.keras")
        np.savez(out / "inputs.npz", x0=xs[0], x1=xs[1])
        ys = model(xs)
        np.savez(out / "expected.npz", y0=ys[0], y1=ys[1])
        print(f"wrote {out}")
        return
    if args.model == "tutorial":
        model = tutorial_model(compiled=False)
        (_, _), (x_test, y_test) = mnist.load_data()
        x = x_test[:64].reshape(-1, 28, 28, 1).astype("float32") / 255
        labels = y_test[:64]
    else:
        model = {"variants": models.variants_model, "residual": models.residual_model,
                 "layers": models.layers_model, "merges": merges_model,
                 "every_layer": every_layer_model}[args.model]()
        shape = model.input_shape[1:]
        x = rng.uniform(0, 1, (24, *shape)).astype("float32")
        labels = rng.integers(0, model.output_shape[-1], len(x))
    compile_args, kind = SETTINGS[args.model]
    classes = model.output_shape[-1]
    y = labels if kind == "sparse" else np.eye(classes, dtype="float32")[labels]
    model.compile(**compile_args)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    model.save(out / "model.keras")
    model.save(out / "compiled.h5")
    np.save(out / "input.npy", x)
    np.save(out / "labels.npy", y)
    np.save(out / "expected.npy", model.predict(x))
    scores = model.evaluate(x, y, verbose=0)
    (out / "evaluate.json").write_text(json.dumps(dict(zip(model.metrics_names, scores))))
    state = optimizer_state.state_arrays(model) or []
    np.savez(out / "optimizer.npz", **{f"v{i}": v for i, (_, v) in enumerate(state)})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
