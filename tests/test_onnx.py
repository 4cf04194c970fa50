"""ONNX export: ``model.export("m.onnx", format="onnx")`` (Keras 3's spelling).

Without the optional ``onnx`` package, export fails with an error naming
``pip install convnet[onnx]`` (tested always). With it, the graph passes
``onnx.checker.check_model(full_check=True)``; with ``onnxruntime`` too, its predictions equal
convnet's within the rounding bound of the two computations (``tests/error_bounds.py`` for
chains of layers; graphs it cannot walk use 1e-5, as ``tests/test_keras_fixtures.py``). The
onnx tests skip cleanly when the packages are absent; to run them::

    python -m venv /tmp/onnx && /tmp/onnx/bin/pip install onnx onnxruntime pytest hypothesis \\
        numpy numba h5py matplotlib
    PYTHONPATH=. /tmp/onnx/bin/python -m pytest tests/test_onnx.py
"""

import sys
from pathlib import Path

import numpy as np
import pytest

import convnet as keras
import error_bounds
from convnet import layers, saving
from convnet.models import Model, Sequential

sys.path.insert(0, str(Path(__file__).parent / "keras_interop"))
import write_convnet_files as interop  # noqa: E402
from write_convnet_keras_files import every_layer_model, merges_model  # noqa: E402


def test_without_onnx_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)          # as if it were not installed
    model = Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
    with pytest.raises(ImportError, match=r"pip install convnet\[onnx\]"):
        model.export(tmp_path / "m.onnx", format="onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_other_formats_and_arguments_are_refused(tmp_path):
    model = Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
    with pytest.raises(saving.FormatError, match="format 'tf_saved_model'"):
        model.export(tmp_path / "m", format="tf_saved_model")
    with pytest.raises(TypeError, match="unexpected arguments"):
        model.export(tmp_path / "m.onnx", format="onnx", dynamic_axes=True)


def tutorial() -> Model:
    from convnet.tutorial import tutorial_model
    return tutorial_model(compiled=False)


def sequential_variants() -> Sequential:
    """channels_first convolution and pooling, 'same' padding with strides, bilinear
    upsampling, more activations."""
    keras.utils.set_random_seed(8)
    return Sequential([
        layers.Input(shape=(2, 11, 9)),
        layers.Conv2D(4, 3, strides=2, padding="same", data_format="channels_first",
                      activation="selu"),
        layers.AveragePooling2D(2, padding="same", data_format="channels_first"),
        layers.Flatten(data_format="channels_first"),
        layers.Dense(6, activation="softplus"),
        layers.Reshape((2, 3, 1)),
        layers.Conv2D(4, 2, padding="same", activation="hard_sigmoid"),
        layers.Conv2D(4, 1, activation="elu"),
        layers.UpSampling2D((2, 1), interpolation="bilinear"),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])


def shared() -> Model:
    return interop.shared_model()


CHAINS = [tutorial, interop.variants_model]           # error_bounds.model_bound walks these
GRAPHS = [sequential_variants, interop.layers_model, interop.residual_model, merges_model,
          every_layer_model, shared]


def run(model, tmp_path, x):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "m.onnx"
    model.export(path, format="onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    xs = x if isinstance(x, list) else [x]
    feeds = {i.name: a for i, a in zip(session.get_inputs(), xs)}
    assert [i.shape[0] for i in session.get_inputs()] == ["batch"] * len(xs)
    got = session.run(None, feeds)
    return got if isinstance(x, list) or len(got) > 1 else got[0]


def inputs(model, n: int = 6):
    rng = np.random.default_rng(9)
    shapes = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
    xs = [rng.uniform(0, 1, (n, *s[1:])).astype("float32") for s in shapes]
    return xs if len(xs) > 1 else xs[0]


@pytest.mark.parametrize("make", CHAINS, ids=lambda f: f.__name__)
def test_onnxruntime_equals_convnet_within_the_rounding_bound(tmp_path, make):
    model = make()
    x = inputs(model)
    got = run(model, tmp_path, x)
    with error_bounds.probabilistic():
        _, bound = error_bounds.model_bound(model, x)
    error_bounds.check_paths(got, model.predict(x), bound, f"{make.__name__}: onnxruntime")


@pytest.mark.parametrize("make", GRAPHS, ids=lambda f: f.__name__)
def test_onnxruntime_equals_convnet_for_every_layer(tmp_path, make):
    """Every layer class convnet has (every_layer_model holds them all; see
    tests/test_keras_format.py), channels_last and channels_first, several inputs and outputs.
    These graphs are small (at most a few hundred products per sum): 1e-5 absolute."""
    model = make()
    x = inputs(model)
    got = run(model, tmp_path, x)
    want = model(x) if isinstance(x, list) else model.predict(x)
    for a, b in zip(got if isinstance(got, list) else [got],
                    want if isinstance(want, list) else [want]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_a_layer_without_converter_is_named(tmp_path):
    pytest.importorskip("onnx")

    class Twice(layers.Layer):
        def _build(self, input_shape):
            return input_shape

        def compute_output_shape(self, input_shape):
            return input_shape

        def forward(self, x, training=False):
            return 2 * x

    model = Sequential([layers.Input(shape=(3,)), Twice(name="twice")])
    with pytest.raises(saving.FormatError, match="'twice' \\(Twice\\) has no ONNX converter"):
        model.export(tmp_path / "m.onnx", format="onnx")
    assert not (tmp_path / "m.onnx").exists()
