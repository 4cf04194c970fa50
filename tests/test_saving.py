"""convnet -> Keras files -> convnet: exact round trips, the Keras layouts, safety and errors."""

import json
import os

import h5py
import numpy as np
import pytest

import convnet as keras
from convnet import saving
from convnet.layers import (
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPooling2D,
)
from convnet.models import Sequential, load_model, model_from_json
from convnet.tutorial import tutorial_model


def small_model():
    return Sequential([
        Conv2D(4, (3, 2), strides=2, padding="same", activation="relu", input_shape=(9, 8, 2)),
        AveragePooling2D((2, 2), padding="same"),
        Conv2D(3, 2, use_bias=False),
        Activation("tanh"),
        Flatten(),
        Dropout(0.3),
        Dense(5, activation="softmax"),
    ])


def x_for(model, n=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, *model.input_shape[1:])).astype(
        "float32")


# ----- JSON -----------------------------------------------------------------------------------

def test_to_json_is_the_portable_dialect():
    description = json.loads(tutorial_model(compiled=False).to_json())
    assert description["module"] == "keras" and description["class_name"] == "Sequential"
    entries = description["config"]["layers"]
    assert entries[0] == {"class_name": "InputLayer", "config": {
        "batch_input_shape": [None, 28, 28, 1], "dtype": "float32", "sparse": False,
        "ragged": False, "name": "input_1"}}
    assert [e["config"]["name"] for e in entries[1:]] == [
        "conv2d", "conv2d_1", "max_pooling2d", "dropout", "flatten", "dense", "dropout_1",
        "dense_1"]
    conv = entries[1]["config"]
    assert "batch_input_shape" not in conv and conv["dtype"] == "float32"
    assert conv["kernel_initializer"] == {"class_name": "GlorotUniform", "config": {"seed": None}}
    text = json.dumps(description)
    for keras3_only in ("batch_shape", "DTypePolicy", "compile_config", "input_axes",
                        "quantization_config"):
        assert keras3_only not in text


def test_json_round_trip_rebuilds_the_same_architecture():
    model = small_model()
    clone = model_from_json(model.to_json())
    assert clone.to_json() == model.to_json()
    assert [type(a) for a in clone.layers] == [type(b) for b in model.layers]


def test_to_json_passes_json_kwargs():
    assert "\n" in tutorial_model(compiled=False).to_json(indent=2)


def test_unknown_layer_class_is_refused_by_name():
    description = json.loads(tutorial_model(compiled=False).to_json())
    description["config"]["layers"].insert(2, {"class_name": "Lambda", "config": {
        "name": "lambda", "function": ["4wEAAAAAAAAA", None, None], "module": "os"}})
    with pytest.raises(saving.UnknownLayerError, match="'Lambda', which convnet does not build"):
        model_from_json(json.dumps(description))


@pytest.mark.parametrize("text,message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"class_name": "Subclassed", "config": {}}', "'Subclassed' is not supported"),
    ('{"class_name": "Functional", "config": {}}', "no layers found"),
    ('{"class_name": "Sequential", "config": 3}', "'config' must be a list"),
    ('{"class_name": "Sequential", "config": {"layers": []}}', "no layers found"),
    ('{"class_name": "Sequential", "config": [{"class_name": "Dense"}]}',
     "layer entry 0 must be an object"),
    ('{"class_name": "Sequential", "config": [{"class_name": "Dense", "config": '
     '{"units": 0}}]}', "units must be a positive integer"),
    ('{"class_name": "Sequential", "config": [{"class_name": "Dense", "config": '
     '{"units": 3, "wobble": 1}}]}', "arguments convnet does not know"),
    ('{"class_name": "Sequential", "config": [{"class_name": "InputLayer", "config": '
     '{"batch_input_shape": [null, -3]}}, {"class_name": "Dense", "config": {"units": 2}}]}',
     "must be a list of positive integers"),
])
def test_malformed_json_names_the_problem(text, message):
    with pytest.raises(saving.FormatError, match=message):
        model_from_json(text)


# ----- weights --------------------------------------------------------------------------------

@pytest.mark.parametrize("filename", ["w.h5", "w.hdf5", "w.weights.h5"])
def test_weights_round_trip_is_exact(tmp_path, filename):
    model = small_model()
    path = tmp_path / filename
    model.save_weights(path)
    clone = model_from_json(model.to_json())
    clone.load_weights(path)
    for a, b in zip(model.get_weights(), clone.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = x_for(model)
    np.testing.assert_array_equal(model.predict(x), clone.predict(x))


def test_legacy_layout_matches_keras(tmp_path):
    model = tutorial_model(compiled=False)
    model.save_weights(tmp_path / "model_digit.h5")
    with h5py.File(tmp_path / "model_digit.h5") as f:
        assert list(f.attrs["layer_names"]) == [layer.name for layer in model.layers]
        assert f.attrs["backend"] == "tensorflow"
        assert list(f["conv2d"].attrs["weight_names"]) == ["conv2d/kernel:0", "conv2d/bias:0"]
        assert f["conv2d/conv2d/kernel:0"].shape == (3, 3, 1, 32)
        assert f["dense/dense/kernel:0"].shape == (9216, 128)
        assert f["dropout"].attrs["weight_names"].shape == (0,)


def test_keras3_layout_keys_by_class_not_by_name(tmp_path):
    model = Sequential([Conv2D(2, 3, name="zeta_conv", input_shape=(5, 5, 1)),
                        Conv2D(3, 2, name="alpha_conv"), Flatten(), Dense(2, name="out")])
    model.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5") as f:
        assert sorted(f["layers"]) == ["conv2d", "conv2d_1", "dense", "flatten"]
        assert f["layers/conv2d/vars/0"].shape == (3, 3, 1, 2)     # zeta_conv, first in order
        assert f["layers/conv2d_1/vars/0"].shape == (2, 2, 2, 3)


def test_legacy_files_are_matched_by_order_not_alphabet(tmp_path):
    # 12 Dense layers: HDF5 lists dense_10 before dense_2; the reader must follow layer_names
    layers = [Dense(3, input_shape=(3,), name="dense_0")]
    layers += [Dense(3, name=f"dense_{i}") for i in range(1, 12)]
    model = Sequential(layers)
    model.save_weights(tmp_path / "w.h5")
    clone = Sequential([Dense(3, input_shape=(3,), name=f"renamed_{i}") if i == 0
                        else Dense(3, name=f"renamed_{i}") for i in range(12)])
    clone.load_weights(tmp_path / "w.h5")
    for a, b in zip(model.get_weights(), clone.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_fixed_length_byte_string_attributes(tmp_path):
    model = Sequential([Dense(2, input_shape=(3,), name="d")])
    path = tmp_path / "old.h5"
    with h5py.File(path, "w") as f:   # the way Keras 2.2 + h5py 2.x stored strings
        f.attrs["layer_names"] = np.array([b"d"], dtype="S1")
        f.attrs["backend"] = np.bytes_(b"tensorflow")
        g = f.create_group("d")
        g.attrs["weight_names"] = np.array([b"d/kernel:0", b"d/bias:0"], dtype="S10")
        g.create_dataset("d/kernel:0", data=np.ones((3, 2), "float32"))
        g.create_dataset("d/bias:0", data=np.full(2, 5.0, "float32"))
    model.load_weights(path)
    np.testing.assert_array_equal(model.layers[0].params["bias"], [5, 5])


def test_whole_model_save_and_load(tmp_path):
    model = small_model()
    model.save(tmp_path / "whole.h5")
    with h5py.File(tmp_path / "whole.h5") as f:
        assert "model_weights" in f and "model_config" in f.attrs
    clone = load_model(tmp_path / "whole.h5")
    x = x_for(model)
    np.testing.assert_array_equal(model.predict(x), clone.predict(x))


def test_channels_first_models_round_trip(tmp_path):
    keras.backend.set_image_data_format("channels_first")
    model = Sequential([Conv2D(3, 3, padding="same", activation="relu", input_shape=(2, 6, 5)),
                        MaxPooling2D(), Flatten(data_format="channels_last"), Dense(4)])
    keras.backend.set_image_data_format("channels_last")
    model.save(tmp_path / "cf.h5")
    clone = load_model(tmp_path / "cf.h5")
    assert clone.layers[0].data_format == "channels_first"
    assert clone.layers[2].data_format == "channels_last"
    x = x_for(model)
    np.testing.assert_array_equal(model.predict(x), clone.predict(x))


# ----- bad files: clear errors, model unchanged ------------------------------------------------

@pytest.fixture
def trained(tmp_path):
    model = tutorial_model(compiled=False)
    return model, [w.copy() for w in model.get_weights()]


def _unchanged(model, before):
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("content,message", [
    (b"", "is empty"),
    (b"hello, this is a text file\n" * 10, "not a readable HDF5 file"),
    (b"\x89HDF\r\n\x1a\n" + b"\x00" * 40, "not a readable HDF5 file"),
])
def test_corrupt_files_name_the_file(tmp_path, trained, content, message):
    model, before = trained
    path = tmp_path / "broken.h5"
    path.write_bytes(content)
    with pytest.raises(saving.CorruptFileError, match=f"broken.h5.*{message}|{message}"):
        model.load_weights(path)
    _unchanged(model, before)


def test_truncated_file(tmp_path, trained):
    model, before = trained
    good = tmp_path / "good.h5"
    model.save_weights(good)
    data = good.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises((saving.CorruptFileError, saving.FormatError), match="cut.h5"):
        tutorial_model(compiled=False).load_weights(cut)
    _unchanged(model, before)


def test_missing_file(tmp_path, trained):
    with pytest.raises(saving.CorruptFileError, match="weights file not found: .*nothing.h5"):
        trained[0].load_weights(tmp_path / "nothing.h5")


def test_wrong_architecture_names_layer_and_shapes(tmp_path, trained):
    model, before = trained
    # dense kernel (10816, 128), not (9216, 128)
    other = tutorial_model(input_shape=(30, 30, 1), compiled=False)
    other.save_weights(tmp_path / "other.h5")
    with pytest.raises(saving.WeightsMismatchError,
                       match=r"layer 'dense' \(Dense\) weight 'kernel': expected shape "
                             r"\(9216, 128\), found \(10816, 128\)"):
        model.load_weights(tmp_path / "other.h5")
    _unchanged(model, before)   # conv layers (which did fit) were not half-loaded either


def test_wrong_layer_count(tmp_path, trained):
    model, before = trained
    Sequential([Dense(2, input_shape=(3,))]).save_weights(tmp_path / "one.h5")
    with pytest.raises(saving.WeightsMismatchError,
                       match="holds weights for 1 layers .* the model has 4 layers with weights"):
        model.load_weights(tmp_path / "one.h5")
    _unchanged(model, before)


def test_hdf5_that_is_not_keras(tmp_path, trained):
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(saving.FormatError, match="not a Keras weights file"):
        trained[0].load_weights(tmp_path / "plain.h5")


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    model = small_model()
    path = tmp_path / "w.h5"
    model.save_weights(path)
    good = path.read_bytes()

    def explode(group, model):
        group.create_group("half")
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(saving.hdf5_format, "write_legacy_group", explode)
    with pytest.raises(RuntimeError, match="simulated"):
        model.save_weights(path)
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["w.h5"]   # no temporary left behind


def test_unsupported_suffix(tmp_path):
    with pytest.raises(saving.FormatError, match=r"use a name ending in '.h5'"):
        small_model().save_weights(tmp_path / "weights.ckpt")


def test_saved_files_have_normal_permissions(tmp_path):
    small_model().save_weights(tmp_path / "w.h5")
    (tmp_path / "plain.txt").write_text("x")          # what open() gives under this umask
    assert (tmp_path / "w.h5").stat().st_mode == (tmp_path / "plain.txt").stat().st_mode
