"""convnet writes models with a model as a layer, for real Keras to load
(``check_nested_with_keras.py``; run by tests/test_nested_saving.py).

    python tests/keras_interop/write_nested_files.py FOLDER

Four models: ``transfer`` (a frozen Sequential base in a Sequential), ``encoder_in_sequential``
(a functional model in a Sequential), ``siamese`` (a functional encoder called twice in a
functional model) and ``chain`` (a Sequential then a functional model, in a functional model).
Each is written as ``<name>.json`` + ``<name>_weights.h5`` (Keras 2 layout) and
``<name>.weights.h5`` (Keras 3 layout), ``<name>.h5`` (whole model) and ``<name>.keras``, with
its input and convnet's predictions. ``manifest.json`` says which Keras must load which files:
a functional model whose layers take a nested model's output is written in tf-keras's
numbering of the nested model's calls in JSON and ``.h5`` (Keras 3 cannot load those, as it
cannot load tf-keras's own), and in Keras 3's in ``.keras`` (which tf-keras then cannot load;
see ``convnet/saving/functional_config.py``, "Nested models"). tf-keras loads ``.keras`` files
too: those of the Sequential models.
"""

import json
import sys
from pathlib import Path

import numpy as np

from convnet.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D, Subtract
from convnet.models import Model, Sequential


def transfer():
    base = Sequential([Input(shape=(6, 6, 2)), Conv2D(4, 3, activation="relu"),
                       MaxPooling2D()], name="base")
    base.trainable = False
    return Sequential([base, Flatten(), Dense(3, activation="softmax")], name="transfer")


def encoder():
    i = Input(shape=(5,), name="enc_in")
    return Model(i, Dense(3, activation="tanh", name="enc_dense")(i), name="encoder")


def encoder_in_sequential():
    return Sequential([Input(shape=(5,)), encoder(), Dense(2, name="top")], name="enc_seq")


def siamese():
    enc = encoder()
    a, b = Input(shape=(5,), name="a"), Input(shape=(5,), name="b")
    return Model([a, b], Dense(2, name="out")(Subtract()([enc(a), enc(b)])), name="siamese")


def chain():
    block = Sequential([Input(shape=(5,)), Dense(4, activation="relu", name="block_dense")],
                       name="block")
    h = Input(shape=(4,), name="head_in")
    head = Model(h, Dense(2, activation="softmax", name="head_dense")(h), name="head")
    x = Input(shape=(5,), name="x")
    return Model(x, head(block(x)), name="chain")


BOTH, K2, K3 = ["k2", "k3"], ["k2"], ["k3"]
MODELS = {  # name: (make, who loads its json / whole .h5)
    "transfer": (transfer, BOTH),
    "encoder_in_sequential": (encoder_in_sequential, BOTH),
    "siamese": (siamese, K2),
    "chain": (chain, K2),
}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    manifest = []
    for name, (make, portable) in MODELS.items():
        model = make()
        model.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32")
                           for w in model.get_weights()])
        shape = model.input_shape
        shapes = shape if isinstance(shape, list) else [shape]
        xs = [rng.uniform(0, 1, (4,) + tuple(s[1:])).astype("float32") for s in shapes]
        x = xs if isinstance(shape, list) else xs[0]
        np.savez(out / f"{name}_data.npz", expected=model.predict(x),
                 **{f"x{i}": a for i, a in enumerate(xs)})
        (out / f"{name}.json").write_text(model.to_json())
        model.save_weights(out / f"{name}_weights.h5")
        model.save_weights(out / f"{name}.weights.h5")
        model.save(out / f"{name}.h5")
        model.save(out / f"{name}.keras")
        manifest += [
            {"model": name, "json": f"{name}.json", "weights": f"{name}_weights.h5",
             "keras": portable},
            {"model": name, "json": f"{name}.json", "weights": f"{name}.weights.h5",
             "keras": [k for k in portable if k == "k3"]},
            {"model": name, "whole": f"{name}.h5", "keras": portable},
            {"model": name, "whole": f"{name}.keras", "keras": portable if portable == BOTH
             else K3},                                   # tf-keras reads .keras files too
        ]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
