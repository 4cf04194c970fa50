"""Fuzzing with hypothesis: random layer configurations, and mutated model files.

By default the examples are derandomized (the same ones every run, so CI is reproducible).
``CONVNET_FUZZ_SCALE=40 pytest tests/test_fuzz.py`` explores 40 times as many fresh random
examples: run that after touching the loaders.
"""

import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convnet import backend, gradcheck
from convnet.layers import AveragePooling2D, Conv2D, MaxPooling2D
from convnet.models import Sequential, model_from_json
from convnet.saving import CorruptFileError, FormatError

SCALE = int(os.environ.get("CONVNET_FUZZ_SCALE", "1"))
FUZZ = settings(max_examples=30 * SCALE, deadline=None, derandomize=SCALE == 1,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def image_layer(draw):
    kind = draw(st.sampled_from(["conv", "max", "avg"]))
    size = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["valid", "same"]))
    data_format = draw(st.sampled_from(["channels_last", "channels_first"]))
    shape = (draw(st.integers(1, 7)), draw(st.integers(1, 7)), draw(st.integers(1, 3)))
    if kind == "conv":
        layer = Conv2D(draw(st.integers(1, 3)), size, strides=strides, padding=padding,
                       data_format=data_format, use_bias=draw(st.booleans()),
                       activation=draw(st.sampled_from(["linear", "tanh", "sigmoid"])))
    else:
        cls = MaxPooling2D if kind == "max" else AveragePooling2D
        layer = cls(size, strides=strides, padding=padding, data_format=data_format)
    return layer, shape


@FUZZ
@given(image_layer())
def test_random_layers_agree_with_their_shapes_and_gradients(case):
    with gradcheck.float64():
        layer, shape = case
        try:
            expected = layer.compute_output_shape(shape)
        except ValueError as exc:                      # a window that does not fit: clear error
            assert "does not fit" in str(exc)
            return
        x = np.random.default_rng(0).standard_normal((2, *shape))
        assert layer.forward(x).shape == (2, *expected)
    result = gradcheck.check_layer(layer, shape, tolerance=1e-5)
    assert result.passed, result.table()


def _small_model():
    backend.clear_session()
    return Sequential([Conv2D(2, 3, padding="same", activation="relu", input_shape=(6, 6, 1)),
                       MaxPooling2D(), AveragePooling2D(padding="same"),
                       Conv2D(3, 2, activation="tanh")])


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=4),
                        st.lists(st.integers(-1, 3), max_size=4),
                        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@settings(max_examples=150 * SCALE, deadline=None, derandomize=SCALE == 1)
@given(st.data())
def test_mutated_json_raises_a_clear_error_or_loads(data):
    description = json.loads(_small_model().to_json())
    paths = [p for p in _paths(description) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        parent = description
        try:
            for key in path[:-1]:
                parent = parent[key]
            if data.draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = data.draw(JSON_VALUES)
        except (KeyError, IndexError, TypeError):
            continue                                   # an earlier mutation removed the path
    text = json.dumps(description)
    if data.draw(st.booleans()):
        text = text[:data.draw(st.integers(0, len(text)))]
    try:
        model = model_from_json(text)
    except (ValueError, OSError):                      # FormatError is a ValueError
        return
    assert isinstance(model, Sequential)


@FUZZ
@given(st.data())
def test_mutated_weight_files_raise_a_clear_error_or_load(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("fuzz")
    model = _small_model()
    suffix = data.draw(st.sampled_from(["w.h5", "w.weights.h5"]))
    path = folder / suffix
    model.save_weights(path)
    raw = bytearray(path.read_bytes())
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    for _ in range(data.draw(st.integers(1, 20))):
        if raw:
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    path.write_bytes(bytes(raw))
    before = model.get_weights()
    try:
        model.load_weights(path)
    except (CorruptFileError, FormatError, ValueError, OSError):
        for a, b in zip(model.get_weights(), before):
            np.testing.assert_array_equal(a, b)        # a failed load changes nothing


def test_fuzz_module_uses_the_exceptions_it_claims():
    assert issubclass(FormatError, ValueError) and issubclass(CorruptFileError, OSError)
    with pytest.raises(FormatError):
        model_from_json('{"class_name": "Sequential", "config": {"layers": [{"class_name": '
                        '"Conv2D", "config": {"filters": 2, "kernel_size": "x"}}]}}')


@pytest.mark.parametrize("shape", [[None, None, 6, 1], [None, 6, 0, 1], [None, 6, 6, True],
                                   [None], "6x6", [None, 6.0, 6, 1]])
def test_fuzz_found_a_null_size_in_batch_input_shape(shape):
    """CI's random fuzzing found ``batch_input_shape: [null, null, 6, 1]`` reaching arithmetic on
    None deep in Conv2D; now the loader names the field."""
    description = json.loads(_small_model().to_json())
    description["config"]["layers"][0]["config"]["batch_input_shape"] = shape
    with pytest.raises(FormatError, match="batch_input_shape"):
        model_from_json(json.dumps(description))


def test_building_a_layer_for_an_unknown_size_is_refused_clearly():
    with pytest.raises(ValueError, match="Conv2D 'conv2d'.*known positive integer"):
        Conv2D(2, 3).build((None, 6, 1))
