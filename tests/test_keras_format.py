"""The ``.keras`` format (Keras 3's native zip: ``config.json``, ``model.weights.h5``,
``metadata.json``): written so real Keras 3 loads it (checked against real Keras in
``tests/test_keras_interop.py``), read from files real Keras 3.15 wrote
(``tests/fixtures/keras/keras3_*``, made by ``tests/keras_interop/write_keras_file_fixtures.py``),
written atomically, and read safely (the archive is checked before anything is read; only
convnet's own classes are built; nothing is executed or unpickled).
"""

import io
import json
import os
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import convnet as keras
import error_bounds
from convnet import layers, optimizers, saving
from convnet.models import Sequential, load_model
from convnet.saving import keras_zip, optimizer_state

sys.path.insert(0, str(Path(__file__).parent / "keras_interop"))
from write_convnet_keras_files import every_layer_model  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "keras"


def cnn() -> Sequential:
    keras.utils.set_random_seed(5)
    return Sequential([layers.Input(shape=(8, 8, 1)), layers.Conv2D(3, 3, activation="relu"),
                       layers.MaxPooling2D(), layers.Flatten(),
                       layers.Dense(2, activation="softmax")])


def test_every_layer_class_is_in_the_model():
    present = {type(layer).__name__ for layer in every_layer_model().layers}
    classes = {name for name in layers.__all__ if isinstance(getattr(layers, name), type)
               and name not in ("Layer", "Input")}
    aliases = {"Convolution2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "GlobalMaxPool2D",
               "Convolution1D", "MaxPool1D", "AvgPool1D", "GlobalAvgPool1D", "GlobalMaxPool1D",
               "Convolution2DTranspose", "SeparableConvolution2D"}
    assert classes - aliases - present == set()


def test_save_writes_a_keras_3_zip(tmp_path):
    """Keras 3: three members, stored; ``config.json`` with ``compile_config`` when compiled;
    ``model.weights.h5`` with ``layers/<class>/vars`` and ``optimizer/vars``."""
    model = cnn()
    model.compile(loss="categorical_crossentropy", optimizer=optimizers.Adam(0.01),
                  metrics=["acc"])
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        assert zf.namelist() == ["metadata.json", "config.json", "model.weights.h5"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
        config = json.loads(zf.read("config.json"))
        metadata = json.loads(zf.read("metadata.json"))
        weights = h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r")
    assert metadata["keras_version"].startswith("3.")
    assert config["module"] == "keras" and config["class_name"] == "Sequential"
    assert config["compile_config"]["loss"] == "categorical_crossentropy"
    assert config["compile_config"]["metrics"] == ["acc"]
    assert config["compile_config"]["optimizer"]["class_name"] == "Adam"
    with weights:
        assert sorted(weights["layers"]) == ["conv2d", "dense", "flatten", "max_pooling2d"]
        np.testing.assert_array_equal(weights["layers/conv2d/vars/0"],
                                      model.layers[0].params["kernel"])
        assert len(weights["optimizer/vars"]) == 2 + 2 * 4     # iteration, lr, m and v
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]     # no temporary left


@pytest.mark.parametrize("make", [cnn, every_layer_model], ids=["sequential", "every_layer"])
def test_round_trip(tmp_path, make):
    model = make()
    x = np.random.default_rng(7).uniform(-1, 1, (5, *model.input_shape[1:])).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert type(loaded) is type(model) and loaded.optimizer is None
    assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_weights_files_both_ways(tmp_path):
    """``.weights.h5`` (Keras 3's ``save_weights`` naming) and a ``.keras`` file's weights."""
    model = every_layer_model()
    model.save_weights(tmp_path / "w.weights.h5")
    model.save(tmp_path / "m.keras")
    with h5py.File(tmp_path / "w.weights.h5", "r") as f:
        assert "layers" in f and "layer_names" not in f.attrs
    for path in ("w.weights.h5", "m.keras"):
        other = every_layer_model()
        other.load_weights(tmp_path / path)
        for a, b in zip(other.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(saving.FormatError, match="by_name"):
        other.load_weights(tmp_path / "m.keras", by_name=True)


def test_save_needs_a_known_extension(tmp_path):
    with pytest.raises(saving.FormatError, match="'.keras'.*'.h5'"):
        cnn().save(tmp_path / "model")


def test_a_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    """Atomic: a crash while writing never leaves half an archive under the name."""
    model = cnn()
    model.save(tmp_path / "m.keras")
    before = (tmp_path / "m.keras").read_bytes()

    def boom(_):
        raise OSError("disk full")
    monkeypatch.setattr(keras_zip, "_weights_bytes", boom)
    with pytest.raises(OSError, match="disk full"):
        model.save(tmp_path / "m.keras")
    assert (tmp_path / "m.keras").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]


# ----- files written by real Keras 3.15 ----------------------------------------------------------
def fixture(name: str):
    folder = FIXTURES / name
    spec = json.loads((folder / "keras_file.json").read_text())
    with np.load(folder / spec["optimizer"]) as f:
        saved = [f[f"v{i}"] for i in range(len(f.files))]
    return (folder, spec, np.load(folder / spec["input"]), np.load(folder / spec["labels"]),
            np.load(folder / spec["expected"]), saved,
            json.loads((folder / spec["evaluate"]).read_text()))


def test_keras3_sequential_file_loads_compiled():
    """Keras 3 ``model.save('m.keras')`` of a compiled, trained CNN: compiled on load (Adam,
    ``acc``), predictions and ``evaluate`` within rounding of Keras's, Keras's optimizer state
    (iteration, learning rate, moments) restored."""
    folder, spec, x, y, expected, saved, scores = fixture("keras3_compiled")
    model = load_model(folder / "model.keras")
    assert isinstance(model.optimizer, optimizers.Adam)
    assert model.metrics_names == ["loss", "acc"]
    with error_bounds.probabilistic():
        _, bound = error_bounds.model_bound(model, x)
    error_bounds.check_paths(model.predict(x), expected, bound, "keras3_compiled predict")
    loss, acc = model.evaluate(x, y, verbose=0)
    p, e_p = error_bounds.model_bound(model, x)
    _, loss_bound = error_bounds.crossentropy_bound(y, p, e_p, model.layers[0].dtype)
    error_bounds.check_paths(loss, scores["loss"], loss_bound, "keras3_compiled loss")
    if error_bounds.accuracy_is_decided(p, e_p):
        assert acc == pytest.approx(scores["acc"], abs=1e-7)
    ours = optimizer_state.state_arrays(model)
    assert len(ours) == len(saved) == spec["optimizer_variables"]
    assert model.optimizer.iterations == int(saved[0]) == spec["iterations"]
    assert np.float32(model.optimizer.learning_rate) == saved[1]
    for (name, a), b in zip(ours[2:], saved[2:]):
        np.testing.assert_array_equal(a, b, err_msg=name)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)


def test_keras3_functional_file_with_other_layers_loads_compiled():
    """Keras 3 functional model with batch normalisation, PReLU, the merge layers, ... compiled
    with a loss object (``from_logits=True``), SGD with Nesterov momentum and a metric object."""
    folder, spec, x, y, expected, saved, scores = fixture("keras3_layers")
    model = load_model(folder / "model.keras")
    assert isinstance(model.optimizer, optimizers.SGD) and model.optimizer.nesterov
    assert model.loss.from_logits
    assert model.metrics_names == ["loss", "sparse_categorical_accuracy"]
    # error_bounds.model_bound walks a chain of layers; for this small graph (at most 72
    # products per sum) the fixed tolerance of tests/test_keras_fixtures.py's functional models
    np.testing.assert_allclose(model.predict(x), expected, rtol=0, atol=1e-5)
    got = dict(zip(model.metrics_names, model.evaluate(x, y, verbose=0)))
    assert got["loss"] == pytest.approx(scores["loss"], abs=1e-5)
    assert model.optimizer.iterations == spec["iterations"]
    ours = optimizer_state.state_arrays(model)
    assert len(ours) == len(saved)
    for (name, a), b in zip(ours[2:], saved[2:]):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_keras3_file_with_preprocessing_and_regularization_layers():
    """Keras 3 records ``training=True`` on its augmentation layers' calls; the model's own call
    decides (identity at inference). The loss ``evaluate`` reports includes the kernel and
    activity regularisation terms, as Keras's; RMSprop's ``centered: false`` is read."""
    folder, spec, x, y, expected, saved, scores = fixture("keras3_more_layers")
    model = load_model(folder / "model.keras")
    assert isinstance(model.optimizer, optimizers.RMSprop)
    np.testing.assert_allclose(model.predict(x), expected, rtol=0, atol=1e-5)   # as above
    got = dict(zip(model.metrics_names, model.evaluate(x, y, verbose=0)))
    assert got["loss"] == pytest.approx(scores["loss"], abs=1e-5)
    assert got["accuracy"] == scores["accuracy"]
    ours = optimizer_state.state_arrays(model)
    assert len(ours) == len(saved) and model.optimizer.iterations == spec["iterations"]
    for (name, a), b in zip(ours[2:], saved[2:]):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_keras3_file_with_compile_false():
    folder = FIXTURES / "keras3_compiled"
    assert load_model(folder / "model.keras", compile=False).optimizer is None


# ----- damaged and hostile files -----------------------------------------------------------------
def test_not_a_zip_names_the_file(tmp_path):
    (tmp_path / "text.keras").write_text("not a model")
    (tmp_path / "empty.keras").write_bytes(b"")
    for name in ("text.keras", "empty.keras"):
        with pytest.raises(saving.CorruptFileError, match=f"{name}.*not a .keras file"):
            load_model(tmp_path / name)
    with pytest.raises(saving.CorruptFileError, match="model file not found: .*missing.keras"):
        load_model(tmp_path / "missing.keras")
    cnn().save(tmp_path / "good.keras")
    data = (tmp_path / "good.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(saving.CorruptFileError, match="cut.keras"):
        load_model(tmp_path / "cut.keras")


def test_hdf5_under_a_keras_name_still_loads_with_a_warning(tmp_path):
    """Older convnet wrote HDF5 under a ``.keras`` name (Keras 3 refuses those): still read, with
    a warning saying how to get a real ``.keras`` file; ``save`` never writes one again."""
    model = cnn()
    model.save(tmp_path / "old.h5")
    os.replace(tmp_path / "old.h5", tmp_path / "old.keras")
    with pytest.warns(UserWarning, match="HDF5 file under a '.keras' name"):
        loaded = load_model(tmp_path / "old.keras")
    assert len(loaded.layers) == len(model.layers)


def _archive(path: Path, members: dict, compression=zipfile.ZIP_STORED) -> None:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _good_members(tmp_path) -> dict:
    cnn().save(tmp_path / "good.keras")
    with zipfile.ZipFile(tmp_path / "good.keras") as zf:
        return {n: zf.read(n) for n in zf.namelist()}


@pytest.mark.parametrize("bad_name", ["../evil.json", "/etc/evil", "a/../../evil",
                                      "C:\\evil", "evil.py", "model.pkl"])
def test_unexpected_or_escaping_members_are_refused(tmp_path, bad_name):
    members = {**_good_members(tmp_path), bad_name: b"import os"}
    _archive(tmp_path / "bad.keras", members)
    with pytest.raises(saving.FormatError, match="bad.keras.*member"):
        load_model(tmp_path / "bad.keras")


def test_a_zip_bomb_member_is_refused_before_it_is_read(tmp_path, monkeypatch):
    """A member declaring far more bytes than it occupies (a decompression bomb) is refused
    from the archive's directory, before anything is decompressed."""
    members = _good_members(tmp_path)
    members["model.weights.h5"] = b"\0" * (8 << 20)          # 8 MiB of zeros: ~1000:1
    _archive(tmp_path / "bomb.keras", members, zipfile.ZIP_DEFLATED)
    monkeypatch.setattr(zipfile.ZipFile, "open", None)       # reading anything would fail
    with pytest.raises(saving.FormatError, match="zip bomb"):
        load_model(tmp_path / "bomb.keras")


def test_oversized_members_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(keras_zip, "MAX_JSON_BYTES", 100)
    _archive(tmp_path / "big.keras", _good_members(tmp_path))
    with pytest.raises(saving.FormatError, match="config.json.*declares"):
        load_model(tmp_path / "big.keras")


def test_a_config_naming_code_is_refused_and_nothing_runs(tmp_path):
    """Keras 3's safe mode refuses lambdas; convnet builds only its own classes, so a Lambda
    layer (or any class) named in the file is an error, never an import."""
    members = _good_members(tmp_path)
    config = json.loads(members["config.json"])
    config["config"]["layers"][1] = {"module": "os", "class_name": "Lambda", "config": {
        "name": "lambda", "function": {"class_name": "__lambda__", "config": {
            "code": "print('hacked')"}}}}
    members["config.json"] = json.dumps(config).encode()
    _archive(tmp_path / "lambda.keras", members)
    with pytest.raises(saving.UnknownLayerError, match="'Lambda'"):
        load_model(tmp_path / "lambda.keras")


def test_missing_config_and_bad_json(tmp_path):
    members = _good_members(tmp_path)
    _archive(tmp_path / "noconfig.keras", {k: v for k, v in members.items()
                                           if k != "config.json"})
    with pytest.raises(saving.FormatError, match="no config.json"):
        load_model(tmp_path / "noconfig.keras")
    _archive(tmp_path / "badjson.keras", {**members, "config.json": b"{nope"})
    with pytest.raises(saving.FormatError, match="config.json is not valid JSON"):
        load_model(tmp_path / "badjson.keras")
    _archive(tmp_path / "badweights.keras", {**members, "model.weights.h5": b"garbage"})
    with pytest.raises(saving.CorruptFileError, match="badweights.keras.*model.weights.h5"):
        load_model(tmp_path / "badweights.keras")
