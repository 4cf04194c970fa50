"""Functional models (``Model(inputs, outputs)``) in Keras files: round trips, files written by
real tf-keras 2.21 and Keras 3.15, Keras's layer order, and clear errors."""

import copy
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from convnet import saving
from convnet.layers import (
    Activation,
    Add,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    MaxPooling2D,
    Multiply,
    Subtract,
)
from convnet.models import Model, load_model, model_from_json
from convnet.saving.functional_config import keras_layers

FIXTURES = Path(__file__).parent / "fixtures" / "keras"
FUNCTIONAL_FIXTURES = ["functional_k2", "functional_k3"]

# Keras and convnet add the same float32 products in different orders, so their outputs differ
# by rounding. error_bounds.model_bound walks a chain of layers and knows neither InputLayer
# nor Add, so these graph fixtures use a fixed tolerance instead: the fixture models are small
# (at most 54 products per sum, outputs of size <= 1), where float32 rounding stays near 1e-7;
# the k2 and k3 outputs themselves agree to < 1e-7. 1e-5 is the tolerance in fixture.json.
FIXTURE_TOLERANCE = 1e-5


# ----- models ---------------------------------------------------------------------------------

def residual():
    inputs = Input(shape=(8, 8, 3))
    x = Conv2D(4, 3, padding="same", activation="relu")(inputs)
    y = Conv2D(4, 3, padding="same", use_bias=False)(x)
    y = BatchNormalization()(y)
    y = Activation("relu")(Add()([y, x]))
    y = Concatenate()([MaxPooling2D()(y), MaxPooling2D()(x)])
    y = GlobalAveragePooling2D()(Dropout(0.3)(y))
    return Model(inputs, Dense(3, activation="softmax")(y), name="residual")


def two_inputs():
    image, extra = Input(shape=(6, 6, 2), name="image"), Input(shape=(5,), name="extra")
    h = Dense(5, activation="tanh")(Flatten()(Conv2D(3, 3)(image)))
    gated = Multiply()([h, Dense(5, activation="sigmoid")(extra)])
    return Model([image, extra], Dense(2, activation="softmax")(gated), name="two_inputs")


def shared():
    """A Dense called three times: twice in a row on one input, once on the other."""
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    dense = Dense(4, activation="tanh", name="shared_dense")
    left, right = dense(dense(a)), dense(b)
    return Model([a, b], Dense(2)(Subtract()([left, right])), name="shared")


def multi_output():
    inputs = Input(shape=(6, 6, 1))
    x = Conv2D(2, 3, activation="relu")(inputs)
    classes = Dense(3, activation="softmax", name="classes")(Flatten()(x))
    box = Dense(4, name="box")(GlobalAveragePooling2D()(x))
    return Model(inputs, [classes, box], name="multi_output")


MODELS = {"residual": residual, "two_inputs": two_inputs, "shared": shared,
          "multi_output": multi_output}


def inputs_for(model, n=3, seed=0):
    rng = np.random.default_rng(seed)
    xs = [rng.uniform(-1, 1, (n, *t.shape[1:])).astype("float32") for t in model.inputs]
    return xs[0] if len(xs) == 1 else xs


def randomise(model, seed=1):
    """Weights unlike the initial ones (BatchNormalization's statistics included)."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(w.dtype)
                       for w in model.get_weights()])


def outputs(model, x):
    out = model(x)
    return out if isinstance(out, list) else [out]


def assert_same_outputs(a, b, x):
    for got, expected in zip(outputs(b, x), outputs(a, x), strict=True):
        np.testing.assert_array_equal(got, expected)


# ----- round trips ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(MODELS))
def test_json_round_trip_rebuilds_the_same_graph(kind):
    model = MODELS[kind]()
    again = model_from_json(model.to_json())
    assert type(again) is Model and again.name == model.name
    assert [layer.name for layer in keras_layers(again)] == \
        [layer.name for layer in keras_layers(model)]
    assert [t.shape for t in again.inputs] == [t.shape for t in model.inputs]
    assert again.output_shape == model.output_shape
    assert again.to_json() == model.to_json()
    again.set_weights(model.get_weights())
    assert_same_outputs(model, again, inputs_for(model))


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_save_and_load_model_give_identical_predictions(kind, tmp_path):
    model = MODELS[kind]()
    randomise(model)
    model.save(tmp_path / "model.h5")
    assert_same_outputs(model, load_model(tmp_path / "model.h5"), inputs_for(model))


@pytest.mark.parametrize("name", ["weights.h5", "model.weights.h5"])
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_save_and_load_weights_give_identical_predictions(kind, name, tmp_path):
    model = MODELS[kind]()
    randomise(model)
    model.save_weights(tmp_path / name)
    fresh = model_from_json(model.to_json())
    fresh.load_weights(tmp_path / name)
    assert_same_outputs(model, fresh, inputs_for(model))


# ----- what is written --------------------------------------------------------------------------

def test_to_json_is_the_portable_functional_dialect():
    description = json.loads(shared().to_json())
    assert description["module"] == "keras" and description["class_name"] == "Model"
    config = description["config"]
    assert config["input_layers"] == [["a", 0, 0], ["b", 0, 0]]
    assert config["output_layers"] == [["dense", 0, 0]] or \
        config["output_layers"][0][1:] == [0, 0]
    entries = {e["name"]: e for e in config["layers"]}
    assert entries["a"]["class_name"] == "InputLayer" and entries["a"]["inbound_nodes"] == []
    assert entries["a"]["config"]["batch_input_shape"] == [None, 4]
    # three calls of one layer: nodes 0, 1 (on node 0's output) and 2
    assert entries["shared_dense"]["inbound_nodes"] == [
        [["a", 0, 0, {}]], [["shared_dense", 0, 0, {}]], [["b", 0, 0, {}]]]
    subtract = [e for e in config["layers"] if e["class_name"] == "Subtract"][0]
    assert subtract["inbound_nodes"] == [[["shared_dense", 1, 0, {}], ["shared_dense", 2, 0, {}]]]
    text = json.dumps(description)
    for keras3_only in ("batch_shape", "DTypePolicy", "__keras_tensor__", "input_axes",
                        "quantization_config", "compile_config"):
        assert keras3_only not in text


def test_weight_files_use_keras_names_and_order(tmp_path):
    model = residual()
    model.save_weights(tmp_path / "w.h5")
    model.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.h5") as f:
        names = [str(n) for n in f.attrs["layer_names"]]
        assert names == [layer.name for layer in keras_layers(model)]
        assert names[0] == model.inputs[0].node.layer.name
        assert len(f[names[0]].attrs["weight_names"]) == 0          # the InputLayer
    with h5py.File(tmp_path / "w.weights.h5") as f:
        assert sorted(f["layers"]) == sorted([
            "input_layer", "conv2d", "conv2d_1", "batch_normalization", "add", "activation",
            "max_pooling2d", "max_pooling2d_1", "concatenate", "dropout",
            "global_average_pooling2d", "dense"])
        assert len(f["layers/input_layer/vars"]) == 0
        assert len(f["layers/batch_normalization/vars"]) == 4


def test_keras_layer_order_is_by_depth_not_convnet_order():
    # Keras lists layers by depth from the outputs: the Subtract branch's layers come before
    # the deeper Flatten -> Dense branch finishes (checked against real Keras's layer_names)
    spec = json.loads((FIXTURES / "functional_k2" / "shared.json").read_text())
    model = model_from_json(json.dumps(spec))
    with h5py.File(FIXTURES / "functional_k2" / "shared.h5") as f:
        keras_names = [saving.hdf5_format.text_attr(n)
                       for n in f["model_weights"].attrs["layer_names"]]
    assert [layer.name for layer in keras_layers(model)] == keras_names
    assert [layer.name for layer in model.layers] != keras_names


# ----- files written by real Keras ----------------------------------------------------------------

@pytest.mark.parametrize("name", FUNCTIONAL_FIXTURES)
def test_real_keras_residual_fixture_reproduces_its_predictions(name):
    folder = FIXTURES / name
    spec = json.loads((folder / "fixture.json").read_text())
    x = np.load(folder / spec["input"])
    expected = np.load(folder / spec["expected"])
    text = (folder / spec["json"]).read_text()
    for weights in [spec["weights"], *spec["other_weights"]]:
        model = model_from_json(text)
        model.load_weights(folder / weights)
        assert [layer.name for layer in keras_layers(model)] == spec["layers"]
        got = model.predict(x)
        np.testing.assert_allclose(got, expected, rtol=0, atol=FIXTURE_TOLERANCE,
                                   err_msg=f"{name}: {weights}")
    whole = load_model(folder / spec["whole_model"])
    np.testing.assert_allclose(whole.predict(x), expected, rtol=0, atol=FIXTURE_TOLERANCE)


@pytest.mark.parametrize("name", FUNCTIONAL_FIXTURES)
def test_real_keras_shared_layer_two_input_two_output_fixture(name):
    folder = FIXTURES / name
    with np.load(folder / "shared_inputs.npz") as f:
        xs = [f["x0"], f["x1"]]
    with np.load(folder / "shared_expected.npz") as f:
        expected = [f["y0"], f["y1"]]
    from_json = model_from_json((folder / "shared.json").read_text())
    from_json.load_weights(folder / "shared.weights.h5")
    for model in (from_json, load_model(folder / "shared.h5")):
        conv = model.get_layer("shared_conv")
        assert len([n for n in saving.functional_config.network(model)[0]
                    if n.layer is conv]) == 2                   # node indices 0 and 1
        for got, want in zip(outputs(model, xs), expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=0, atol=FIXTURE_TOLERANCE)


def test_keras3_fixture_uses_keras_tensor_nodes_and_convnet_writes_its_groups(tmp_path):
    folder = FIXTURES / "functional_k3"
    text = (folder / "shared.json").read_text()
    assert "__keras_tensor__" in text and '"Functional"' in text
    model = model_from_json(text)
    model.save_weights(tmp_path / "again.weights.h5")
    with h5py.File(folder / "shared.weights.h5") as keras_file, \
            h5py.File(tmp_path / "again.weights.h5") as ours:
        assert sorted(ours["layers"]) == sorted(keras_file["layers"])
        for key in keras_file["layers"]:
            assert len(ours[f"layers/{key}/vars"]) == len(keras_file[f"layers/{key}/vars"])


def test_keras_2_2_functional_json():
    # Keras 2.2 wrote class_name "Model", no module, tensors as [name, node, tensor, {}]
    description = {"class_name": "Model", "keras_version": "2.2.4", "backend": "tensorflow",
                   "config": {"name": "model_1", "layers": [
                       {"name": "input_1", "class_name": "InputLayer", "inbound_nodes": [],
                        "config": {"batch_input_shape": [None, 3], "dtype": "float32",
                                   "sparse": False, "name": "input_1"}},
                       {"name": "dense_1", "class_name": "Dense",
                        "inbound_nodes": [[["input_1", 0, 0, {}]]],
                        "config": {"name": "dense_1", "units": 2, "activation": "linear"}}],
                       "input_layers": [["input_1", 0, 0]],
                       "output_layers": [["dense_1", 0, 0]]}}
    model = model_from_json(json.dumps(description))
    assert [layer.name for layer in model.layers] == ["input_1", "dense_1"]
    assert model.output_shape == (None, 2)


def test_legacy_weights_are_matched_by_name_when_the_order_differs(tmp_path):
    model = shared()
    randomise(model)
    model.save_weights(tmp_path / "w.h5")
    with h5py.File(tmp_path / "w.h5", "r+") as f:      # a writer that listed layers otherwise
        names = list(f.attrs["layer_names"])
        f.attrs.create("layer_names", names[::-1], dtype=h5py.string_dtype())
    fresh = model_from_json(model.to_json())
    fresh.load_weights(tmp_path / "w.h5")
    assert_same_outputs(model, fresh, inputs_for(model))


# ----- errors -----------------------------------------------------------------------------------

def _description():
    return json.loads(shared().to_json())


def _entry(description, class_name):
    return [e for e in description["config"]["layers"] if e["class_name"] == class_name][0]


def test_unknown_layer_and_model_classes_are_refused():
    description = _description()
    _entry(description, "Subtract")["class_name"] = "Lambda"
    with pytest.raises(saving.UnknownLayerError, match="'Lambda'.*supported classes"):
        model_from_json(json.dumps(description))
    description = _description()
    _entry(description, "Subtract")["class_name"] = "Functional"     # a nested model, empty
    with pytest.raises(saving.FormatError, match="a nested Functional model.*no layers found"):
        model_from_json(json.dumps(description))
    with pytest.raises(saving.UnknownLayerError, match="model class 'Bidirectional'"):
        model_from_json(json.dumps({**_description(), "class_name": "Bidirectional"}))


def _broken(change):
    description = _description()
    change(description)
    return json.dumps(description)


@pytest.mark.parametrize("change, message", [
    (lambda d: _entry(d, "Subtract")["inbound_nodes"][0][0].__setitem__(0, "nowhere"),
     "takes a tensor of 'nowhere'"),
    (lambda d: _entry(d, "Subtract")["inbound_nodes"][0][0].__setitem__(1, 7),
     "no layer makes.*'subtract'"),
    (lambda d: _entry(d, "Subtract")["inbound_nodes"][0][0].__setitem__(2, 1),
     "convnet layers have one output"),
    (lambda d: _entry(d, "Subtract")["inbound_nodes"][0].__setitem__(0, "a"),
     r"expected \[layer name, node index"),
    (lambda d: _entry(d, "Subtract")["inbound_nodes"][0][0][3].update(training=True),
     r"call arguments \['training'\]|not supported"),
    (lambda d: _entry(d, "Subtract").__setitem__("inbound_nodes", "oops"),
     "'inbound_nodes' must be a list"),
    (lambda d: _entry(d, "Subtract").__setitem__("inbound_nodes", [[]]), "takes no tensors"),
    (lambda d: d["config"].pop("output_layers"), "no 'output_layers'"),
    (lambda d: d["config"].__setitem__("input_layers", [["ghost", 0, 0]]),
     "input_layers names.*ghost"),
    (lambda d: d["config"].__setitem__("layers", "x"), "no layers found"),
    (lambda d: d["config"]["layers"].append(copy.deepcopy(d["config"]["layers"][0])),
     "two layers are named"),
    (lambda d: _entry(d, "Dense")["config"].__setitem__("units", 0), "Dense"),
], ids=["unknown-layer", "node-index", "tensor-index", "bad-ref", "call-kwargs",
        "nodes-not-list", "empty-node", "no-outputs", "bad-input", "no-layers",
        "duplicate-name", "bad-config"])
def test_corrupt_entries_give_clear_errors(change, message):
    with pytest.raises(saving.FormatError, match=message):
        model_from_json(_broken(change))


def test_keras3_node_errors():
    text = (FIXTURES / "functional_k3" / "model.json").read_text()
    description = json.loads(text)
    node = description["config"]["layers"][1]["inbound_nodes"][0]
    node["args"][0]["class_name"] = "something_else"
    with pytest.raises(saving.FormatError, match="expected a __keras_tensor__"):
        model_from_json(json.dumps(description))
    description = json.loads(text)
    description["config"]["layers"][1]["inbound_nodes"][0]["args"] = []
    with pytest.raises(saving.FormatError, match="one positional argument"):
        model_from_json(json.dumps(description))


def test_shapes_that_do_not_fit_in_a_file_are_format_errors():
    description = _description()
    first = description["config"]["layers"][0]
    first["config"]["batch_input_shape"] = [None, 5]     # a shared layer's calls disagree
    with pytest.raises(saving.FormatError, match="'shared_dense'.*earlier call built it"):
        model_from_json(json.dumps(description))
    description = json.loads(residual().to_json())
    convs = [e for e in description["config"]["layers"] if e["class_name"] == "Conv2D"]
    convs[1]["config"]["filters"] = 5                  # the Add now joins 5 and 4 channels
    with pytest.raises(saving.FormatError, match="one shape"):
        model_from_json(json.dumps(description))


def test_weights_of_another_model_are_refused_and_change_nothing(tmp_path):
    model = two_inputs()
    residual().save_weights(tmp_path / "other.h5")
    before = model.get_weights()
    with pytest.raises(saving.WeightsMismatchError):
        model.load_weights(tmp_path / "other.h5")
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
