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



# ----- one converter at a time: (input shape without the batch, the layer) --------------------
CF = "channels_first"
ONE_LAYER = {
    "depthwise": ((7, 6, 3), lambda: layers.DepthwiseConv2D(3, depth_multiplier=2)),
    "depthwise_same_strides_cf": ((3, 7, 6), lambda: layers.DepthwiseConv2D(
        (3, 2), strides=2, padding="same", depth_multiplier=3, data_format=CF,
        activation="relu")),
    "depthwise_no_bias": ((5, 5, 2), lambda: layers.DepthwiseConv2D(2, use_bias=False)),
    "separable": ((7, 6, 3), lambda: layers.SeparableConv2D(4, 3, depth_multiplier=2)),
    "separable_same_strides": ((8, 7, 2), lambda: layers.SeparableConv2D(
        5, 3, strides=(2, 3), padding="same", activation="tanh")),
    "separable_cf": ((3, 6, 5), lambda: layers.SeparableConv2D(
        2, 2, padding="same", data_format=CF, use_bias=False)),
    "conv1d": ((9, 3), lambda: layers.Conv1D(4, 3)),
    "conv1d_same_strides": ((10, 3), lambda: layers.Conv1D(4, 4, strides=3, padding="same",
                                                          activation="elu")),
    "conv1d_causal_strides": ((9, 2), lambda: layers.Conv1D(3, 3, strides=2, padding="causal")),
    "conv1d_cf": ((3, 9), lambda: layers.Conv1D(2, 2, strides=2, padding="same",
                                                data_format=CF)),
    "max_pooling1d_same": ((9, 3), lambda: layers.MaxPooling1D(2, padding="same")),
    "max_pooling1d_strides_cf": ((3, 10), lambda: layers.MaxPooling1D(
        3, strides=2, data_format=CF)),
    "average_pooling1d_same": ((9, 3), lambda: layers.AveragePooling1D(
        3, strides=2, padding="same")),
    "average_pooling1d_same_cf": ((2, 7), lambda: layers.AveragePooling1D(
        2, padding="same", data_format=CF)),
    "global_average_pooling1d": ((9, 3), lambda: layers.GlobalAveragePooling1D()),
    "global_average_pooling1d_cf_keepdims": ((3, 9), lambda: layers.GlobalAveragePooling1D(
        data_format=CF, keepdims=True)),
    "global_max_pooling1d_keepdims": ((9, 3), lambda: layers.GlobalMaxPooling1D(keepdims=True)),
    "global_max_pooling1d_cf": ((3, 9), lambda: layers.GlobalMaxPooling1D(data_format=CF)),
    "conv2d_transpose": ((4, 5, 3), lambda: layers.Conv2DTranspose(2, 3)),
    "conv2d_transpose_same_strides": ((4, 5, 3), lambda: layers.Conv2DTranspose(
        2, 3, strides=2, padding="same", activation="relu")),
    "conv2d_transpose_stride_over_kernel": ((3, 4, 2), lambda: layers.Conv2DTranspose(
        3, 2, strides=3)),                      # Keras's window runs past the full result
    "conv2d_transpose_output_padding": ((4, 3, 2), lambda: layers.Conv2DTranspose(
        2, (3, 4), strides=(3, 2), output_padding=(2, 1))),
    "conv2d_transpose_same_output_padding_cf": ((2, 4, 3), lambda: layers.Conv2DTranspose(
        3, (4, 3), strides=2, padding="same", output_padding=(1, 0), data_format=CF)),
    "conv2d_transpose_stride_over_kernel_no_bias_cf": ((2, 3, 3), lambda: layers.Conv2DTranspose(
        2, (2, 3), strides=(4, 3), use_bias=False, data_format=CF)),
}


@pytest.mark.parametrize("case", sorted(ONE_LAYER))
def test_onnxruntime_equals_convnet_for_each_new_converter(tmp_path, case):
    """Each converter alone, both data formats, strides, 'same' and 'causal' padding,
    output_padding: a layer's sums have at most a few dozen products, so 1e-5 absolute as
    test_onnxruntime_equals_convnet_for_every_layer."""
    shape, make = ONE_LAYER[case]
    keras.utils.set_random_seed(3)
    model = Sequential([layers.Input(shape=shape), make()])
    model.layers[-1].set_weights([np.random.default_rng(4).normal(0, 1, w.shape).astype("float32")
                                  for w in model.layers[-1].get_weights()])
    x = inputs(model) - 0.5
    got = run(model, tmp_path, x)
    want = model.predict(x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


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
