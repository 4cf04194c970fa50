"""A model used as a layer, in Keras files: Keras's nested layout both ways (the JSON nests the
inner model's description as one layer entry, HDF5 keeps its weights under its group), files
written by real tf-keras 2.21 and Keras 3.15 (tests/fixtures/nested/, written by
tests/keras_interop/write_nested_fixtures.py), round trips, the CLI, and -- with
CONVNET_KERAS_PYTHONS -- real Keras loading convnet's files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from convnet.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D, Subtract
from convnet.models import Model, Sequential, load_model, model_from_json
from real_keras import INTEROP, KERAS_PYTHONS, needs_keras

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "nested"
# Keras and convnet add the same float32 products in other orders: these models are tiny (at
# most 18 products per sum, activations near 1), where float32 rounding stays near 1e-7.
TOLERANCE = 1e-5


# ----- files written by real Keras ------------------------------------------------------------

def _inputs(folder: Path, name: str):
    if (folder / f"{name}_x.npy").exists():
        return np.load(folder / f"{name}_x.npy")
    with np.load(folder / f"{name}_x.npz") as f:
        return [f["x0"], f["x1"]]


def _keras_files(flavour: str, name: str) -> list[tuple[str, str | None]]:
    weights = f"{name}_weights.h5" if flavour == "k2" else f"{name}.weights.h5"
    files = [(f"{name}.json", weights), (f"{name}.h5", None)]
    return files + ([(f"{name}.keras", None)] if flavour == "k3" else [])


NESTED = {"transfer": ["base"], "siamese": ["encoder"], "chain": ["block", "head"]}
CASES = [(flavour, name, first, second) for flavour in ("k2", "k3") for name in NESTED
         for first, second in _keras_files(flavour, name)]


@pytest.mark.parametrize("flavour, name, first, second", CASES)
def test_convnet_loads_nested_models_written_by_real_keras(flavour, name, first, second):
    folder = FIXTURES / flavour
    if second is None:
        model = load_model(folder / first)
    else:
        model = model_from_json((folder / first).read_text())
        model.load_weights(folder / second)
    nested = [layer for layer in model.layers if isinstance(layer, Model)]
    assert [layer.name for layer in nested] == NESTED[name]
    np.testing.assert_allclose(model.predict(_inputs(folder, name)),
                               np.load(folder / f"{name}_expected.npy"), rtol=0,
                               atol=TOLERANCE)
    if name == "transfer":                  # saved with the base frozen: only the head trains
        assert [w.shape for w in model.trainable_weights] == [(16, 3), (3,)]
        assert not any(layer.trainable for layer in nested[0].layers)


# ----- convnet's own files --------------------------------------------------------------------

def transfer():
    base = Sequential([Input(shape=(6, 6, 2)), Conv2D(4, 3, activation="relu", name="conv"),
                       MaxPooling2D(name="pool")], name="base")
    base.trainable = False
    return Sequential([base, Flatten(name="flat"), Dense(3, activation="softmax", name="top")],
                      name="transfer")


def siamese():
    i = Input(shape=(5,), name="enc_in")
    enc = Model(i, Dense(3, activation="tanh", name="enc_dense")(i), name="encoder")
    a, b = Input(shape=(5,), name="a"), Input(shape=(5,), name="b")
    return Model([a, b], Dense(2, name="out")(Subtract()([enc(a), enc(b)])), name="siamese")


def _data(model, rng):
    shapes = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
    xs = [rng.uniform(0, 1, (3,) + tuple(s[1:])).astype("float32") for s in shapes]
    return xs if len(xs) > 1 else xs[0]


@pytest.mark.parametrize("make", [transfer, siamese])
@pytest.mark.parametrize("form", ["model.keras", "model.h5", "weights.h5", "model.weights.h5"])
def test_nested_models_round_trip_through_every_file(make, form, tmp_path):
    model = make()
    rng = np.random.default_rng(2)
    model.set_weights([rng.uniform(-0.5, 0.5, w.shape) for w in model.get_weights()])
    x = _data(model, rng)
    if form in ("model.keras", "model.h5"):
        model.save(tmp_path / form)
        loaded = load_model(tmp_path / form)
    else:
        model.save_weights(tmp_path / form)
        loaded = model_from_json(model.to_json())
        loaded.load_weights(tmp_path / form)
    assert [type(layer).__name__ for layer in loaded.layers] == \
        [type(layer).__name__ for layer in model.layers]
    assert [len(layer.layers) for layer in loaded.layers if isinstance(layer, Model)] == \
        [len(layer.layers) for layer in model.layers if isinstance(layer, Model)]
    assert len(loaded.trainable_weights) == len(model.trainable_weights)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_models_nested_three_deep_round_trip(tmp_path):
    inner = Sequential([Input(shape=(4,)), Dense(3, activation="relu", name="deep")],
                       name="inner")
    x = Input(shape=(4,), name="mid_in")
    middle = Model(x, Dense(2, name="mid_out")(inner(x)), name="middle")
    model = Sequential([middle, Dense(2, activation="softmax", name="top")], name="outer")
    data = np.random.default_rng(6).standard_normal((3, 4)).astype("float32")
    for name in ("m.keras", "m.h5"):
        model.save(tmp_path / name)
        loaded = load_model(tmp_path / name)
        assert loaded.get_layer("middle").get_layer("inner").get_layer("deep").built
        np.testing.assert_array_equal(loaded.predict(data), model.predict(data))
    model.save_weights(tmp_path / "m.weights.h5")
    with h5py.File(tmp_path / "m.weights.h5") as f:
        assert f["layers/functional/layers/sequential/layers/dense/vars/0"].shape == (4, 3)


def test_convnets_earlier_files_of_inlined_models_still_load(tmp_path):
    # convnet used to copy a nested model's layers into the outer graph as shared layers: its
    # files are plain functional models with a layer called twice, and still load as such
    shared = Dense(3, activation="tanh", name="enc_dense")
    a, b = Input(shape=(5,), name="a"), Input(shape=(5,), name="b")
    flat = Model([a, b], Dense(2, name="out")(Subtract()([shared(a), shared(b)])))
    flat.save(tmp_path / "old.h5")
    loaded = load_model(tmp_path / "old.h5")
    assert [layer.name for layer in loaded.layers] == ["a", "b", "enc_dense", "subtract", "out"]
    xs = [np.ones((2, 5), "float32"), np.zeros((2, 5), "float32")]
    np.testing.assert_array_equal(loaded.predict(xs), flat.predict(xs))


def test_the_files_nest_the_inner_model_as_keras_does(tmp_path):
    model = transfer()
    entry = json.loads(model.to_json())["config"]["layers"][1]
    assert entry["class_name"] == "Sequential" and entry["config"]["name"] == "base"
    assert entry["config"]["trainable"] is False
    assert [e["class_name"] for e in entry["config"]["layers"]] == \
        ["InputLayer", "Conv2D", "MaxPooling2D"]
    model.save_weights(tmp_path / "w.h5")
    model.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.h5") as f:              # Keras 2: one group for the base
        assert list(f.attrs["layer_names"]) == ["base", "flat", "top"]
        assert list(f["base"].attrs["weight_names"]) == ["conv/kernel:0", "conv/bias:0"]
        assert f["base/conv/kernel:0"].shape == (3, 3, 2, 4)
    with h5py.File(tmp_path / "w.weights.h5") as f:      # Keras 3: the base's own layers/
        assert f["layers/sequential/layers/conv2d/vars/0"].shape == (3, 3, 2, 4)
        assert f["layers/sequential/vars"].attrs["name"] == "base"
    # the encoder's two calls: tf-keras counts them from 1 in JSON, Keras 3 from 0 in .keras
    functional = json.loads(siamese().to_json())["config"]["layers"]
    subtract = next(e for e in functional if e["class_name"] == "Subtract")
    assert [ref[:2] for ref in subtract["inbound_nodes"][0]] == [["encoder", 1], ["encoder", 2]]
    encoder = next(e for e in functional if e["name"] == "encoder")
    assert encoder["class_name"] == "Model" and len(encoder["inbound_nodes"]) == 2


def test_calls_of_a_nested_model_counted_from_0_or_from_1_both_load():
    # tf-keras and Keras 2.2 count a nested model's calls from 1; a tf-keras Sequential that
    # had no input shape when called, from 0. The indices the file uses tell which.
    model = siamese()
    x = [np.ones((2, 5), "float32"), np.full((2, 5), 0.5, "float32")]
    description = json.loads(model.to_json())
    subtract = next(e for e in description["config"]["layers"] if e["name"] == "subtract")
    for ref in subtract["inbound_nodes"][0]:
        ref[1] -= 1                                       # ["encoder", 0, 0], ["encoder", 1, 0]
    from_zero = model_from_json(json.dumps(description))
    from_zero.set_weights(model.get_weights())
    np.testing.assert_array_equal(from_zero.predict(x), model.predict(x))
    subtract["inbound_nodes"][0].reverse()               # the calls taken the other way round
    swapped = model_from_json(json.dumps(description))
    swapped.set_weights(model.get_weights())
    np.testing.assert_allclose(swapped.predict(x) - swapped.get_layer("out").params["bias"],
                               -(model.predict(x) - model.get_layer("out").params["bias"]),
                               rtol=1e-5, atol=1e-6)


def test_a_nested_model_file_that_does_not_fit_is_refused_clearly():
    description = json.loads(transfer().to_json())
    description["config"]["layers"][1]["config"]["layers"] = []
    with pytest.raises(ValueError, match="layer 1 \\('base', a nested Sequential model\\): "
                                         "model description: no layers"):
        model_from_json(json.dumps(description))


def test_the_cli_summarises_and_predicts_with_a_nested_model(tmp_path):
    base = Sequential([Input(shape=(28, 28, 1)), Conv2D(2, 3, activation="relu"),
                       MaxPooling2D(4)], name="features")
    model = Sequential([base, Flatten(), Dense(10, activation="softmax")])
    (tmp_path / "model.json").write_text(model.to_json())
    model.save_weights(tmp_path / "model.h5")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    summary = subprocess.run([sys.executable, "-m", "convnet", "summary", tmp_path / "model.json"],
                             capture_output=True, text=True, env=env)
    assert summary.returncode == 0, summary.stderr
    assert "features (Sequential)" in summary.stdout and "conv2d" not in summary.stdout
    digit = ROOT / "examples" / "handwritten" / "digit_7.png"
    predict = subprocess.run([sys.executable, "-m", "convnet", "predict", tmp_path / "model.json",
                              tmp_path / "model.h5", digit], capture_output=True, text=True,
                             env=env)
    assert predict.returncode == 0, predict.stderr
    assert predict.stdout.count("%") == 3


# ----- real Keras loads convnet's files --------------------------------------------------------

@needs_keras
@pytest.mark.parametrize("python", KERAS_PYTHONS)
def test_real_keras_loads_convnets_nested_files(python, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, str(INTEROP / "write_nested_files.py"), str(tmp_path)],
                   check=True, env=env, capture_output=True)
    env.pop("PYTHONPATH")
    env.setdefault("KERAS_BACKEND", "torch")
    result = subprocess.run([python, str(INTEROP / "check_nested_with_keras.py"), str(tmp_path)],
                            capture_output=True, text=True, env=env, timeout=600)
    report = [line for line in result.stdout.splitlines() if "max |diff|" in line]
    # tf-keras: JSON + .h5 of all four models, .keras of the two Sequential ones; Keras 3: all
    # of the Sequential ones, .keras of the functional ones (see write_nested_files.py)
    assert result.returncode == 0 and len(report) == 10, result.stdout + result.stderr
