"""UpSampling2D, SpatialDropout2D, GaussianNoise, GaussianDropout, Rescaling,
ActivityRegularization, Dropout(noise_shape=) and Dense(input_dim=): gradients, values by hand,
configs in Keras's names, JSON and HDF5 round trips, and a small model that trains with them."""

import json
from pathlib import Path

import numpy as np
import pytest

from convnet import backend, constraints, gradcheck, optimizers, regularizers, utils
from convnet.layers import (
    ActivityRegularization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GaussianDropout,
    GaussianNoise,
    Rescaling,
    SpatialDropout2D,
    UpSampling2D,
)
from convnet.layers.upsampling import bilinear_matrix
from convnet.models import Sequential, model_from_json
from real_keras import KERAS_PYTHONS, check_convnet_files, needs_keras

TOL = 1e-6


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


GRADIENT_CASES = [
    ("upsampling_nearest", lambda: UpSampling2D((2, 3)), (3, 2, 2)),
    ("upsampling_bilinear", lambda: UpSampling2D((3, 2), interpolation="bilinear"), (3, 4, 2)),
    ("upsampling_bilinear_cf", lambda: UpSampling2D(2, interpolation="bilinear",
                                                    data_format="channels_first"), (2, 3, 4)),
    ("spatial_dropout", lambda: SpatialDropout2D(0.5), (3, 3, 4)),
    ("spatial_dropout_seeded_cf", lambda: SpatialDropout2D(0.4, seed=3,
                                                           data_format="channels_first"),
     (4, 3, 3)),
    ("dropout_noise_shape", lambda: Dropout(0.5, noise_shape=(None, 1, 3)), (4, 3)),
    ("gaussian_noise", lambda: GaussianNoise(0.3), (3, 4)),
    ("gaussian_noise_seeded", lambda: GaussianNoise(0.3, seed=1), (2, 2, 3)),
    ("gaussian_dropout", lambda: GaussianDropout(0.4), (3, 4)),
    ("gaussian_dropout_seeded", lambda: GaussianDropout(0.2, seed=5), (2, 2, 3)),
    ("rescaling", lambda: Rescaling(0.5, offset=-1.0), (2, 3)),
    ("rescaling_per_channel", lambda: Rescaling([0.5, 2.0, -1.0], offset=[0.0, 1.0, 2.0]),
     (2, 2, 3)),
]


@pytest.mark.parametrize("factory,shape", [c[1:] for c in GRADIENT_CASES],
                         ids=[c[0] for c in GRADIENT_CASES])
@pytest.mark.parametrize("training", [True, False])
def test_layer_gradients(factory, shape, training):
    result = gradcheck.check_layer(factory(), shape, batch_size=3, training=training,
                                   tolerance=TOL)
    assert result.passed, result.table()


# ----- values by hand -------------------------------------------------------------------------
def test_upsampling_nearest_by_hand():
    x = np.arange(4, dtype="float32").reshape(1, 2, 2, 1)
    y = UpSampling2D((1, 2))(x)[0, :, :, 0]
    np.testing.assert_array_equal(y, [[0, 0, 1, 1], [2, 2, 3, 3]])


def test_bilinear_matrix_by_hand():
    # factor 2 over 3 cells: outputs sample at -0.25 (clamped to 0), 0.25, 0.75, 1.25, 1.75,
    # 2.25 (clamped to 2)
    np.testing.assert_allclose(bilinear_matrix(3, 2, np.float64), [
        [1, 0, 0], [0.75, 0.25, 0], [0.25, 0.75, 0], [0, 0.75, 0.25], [0, 0.25, 0.75],
        [0, 0, 1]])


def test_spatial_dropout_drops_whole_channels():
    layer = SpatialDropout2D(0.5, seed=0)
    y = layer.forward(np.ones((4, 3, 3, 8), dtype="float32"), training=True)
    per_map = y.reshape(4, 9, 8)
    assert np.all(per_map == per_map[:, :1, :])                    # constant over each map
    assert set(np.unique(per_map)) <= {0.0, 2.0}
    assert 0 < np.count_nonzero(per_map[:, 0, :]) < 32
    np.testing.assert_array_equal(layer.forward(np.ones((2, 3, 3, 8)), training=False), 1.0)


def test_dropout_noise_shape_shares_the_mask_and_checks_the_shape():
    layer = Dropout(0.5, noise_shape=(None, 1, 5), seed=2)
    y = layer.forward(np.ones((6, 4, 5), dtype="float32"), training=True)
    assert np.all(y == y[:, :1, :])
    with pytest.raises(ValueError, match=r"noise_shape \(None, 1, 5\) does not fit inputs of "
                                         r"shape \(batch, 4, 3\)"):
        Dropout(0.5, noise_shape=(None, 1, 5)).forward(np.ones((6, 4, 3)), training=True)


@pytest.mark.parametrize("engine", ["numpy", "fast"])
def test_dropout_noise_shape_is_the_same_on_both_engines(engine):
    with backend.engine(engine):
        y = Dropout(0.3, noise_shape=(None, 1, 4), seed=4).forward(np.ones((3, 2, 4)),
                                                                    training=True)
    with backend.engine("numpy"):
        expected = Dropout(0.3, noise_shape=(None, 1, 4), seed=4).forward(np.ones((3, 2, 4)),
                                                                           training=True)
    np.testing.assert_array_equal(y, expected)


def test_gaussian_noise_and_dropout_statistics():
    utils.set_random_seed(0)
    x = np.ones((200, 50), dtype="float64")
    with gradcheck.float64():
        noise = GaussianNoise(0.5).forward(x, training=True) - 1
        mult = GaussianDropout(0.2).forward(x, training=True)
    # 10,000 draws: the standard error of a mean is 0.005 * sigma
    assert abs(noise.mean()) < 0.02 and abs(noise.std() - 0.5) < 0.02
    assert abs(mult.mean() - 1) < 0.02 and abs(mult.std() - np.sqrt(0.2 / 0.8)) < 0.02
    np.testing.assert_array_equal(GaussianNoise(0.5).forward(x), x)        # inference
    np.testing.assert_array_equal(GaussianDropout(0.5).forward(x), x)


def test_seeded_noise_repeats():
    a = GaussianNoise(1.0, seed=7).forward(np.zeros((2, 3)), training=True)
    b = GaussianNoise(1.0, seed=7).forward(np.zeros((2, 3)), training=True)
    np.testing.assert_array_equal(a, b)


def test_rescaling_by_hand():
    y = Rescaling(1 / 255)(np.array([[0, 255, 51]], dtype=np.uint8))
    np.testing.assert_allclose(y, [[0, 1, 0.2]], rtol=1e-6)
    with pytest.raises(ValueError, match="scale has 2 values but the input has 3 channels"):
        Rescaling([1.0, 2.0]).forward(np.ones((1, 3)))


def test_activity_regularization_penalty_and_gradient():
    layer = ActivityRegularization(l1=0.1, l2=0.5)
    x = np.array([[1.0, -2.0], [0.5, 0.0]], dtype="float32")
    np.testing.assert_array_equal(layer.forward(x, training=True), x)
    # (0.1 * 3.5 + 0.5 * 5.25) / batch 2
    np.testing.assert_allclose(layer.losses, [(0.35 + 2.625) / 2], rtol=1e-6)
    dx = layer.backward(np.ones_like(x))
    np.testing.assert_allclose(dx, 1 + (0.1 * np.sign(x) + x) / 2, rtol=1e-6)


# ----- configs and saving ---------------------------------------------------------------------
CONFIGS = [
    (UpSampling2D((2, 3), interpolation="bilinear"),
     {"size": [2, 3], "data_format": "channels_last", "interpolation": "bilinear"}),
    (SpatialDropout2D(0.3, seed=1), {"rate": 0.3, "seed": 1, "data_format": "channels_last"}),
    (GaussianNoise(0.1), {"stddev": 0.1, "seed": None}),
    (GaussianDropout(0.2, seed=3), {"rate": 0.2, "seed": 3}),
    (Rescaling(1 / 255, offset=0.5), {"scale": 1 / 255, "offset": 0.5}),
    (Dropout(0.3, noise_shape=(None, 1, 1, 3)), {"rate": 0.3, "noise_shape": (None, 1, 1, 3)}),
    (ActivityRegularization(l1=0.1), {"l1": 0.1, "l2": 0.0}),
]


@pytest.mark.parametrize("layer,keys", CONFIGS, ids=lambda v: type(v).__name__)
def test_configs_use_keras_names_and_round_trip(layer, keys):
    config = layer.get_config()
    assert {k: config[k] for k in keys} == keys
    # Keras 3's SpatialDropout2D takes no 'trainable' (it has no weights), so none is written
    expected = {"name", "dtype"} if isinstance(layer, SpatialDropout2D) else {
        "name", "trainable", "dtype"}
    assert expected <= set(config)
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def test_keras_written_configs_load():
    # as tf-keras 2.21 and Keras 3.15 write them (tests/keras_interop has the real files)
    assert SpatialDropout2D.from_config({"name": "s", "trainable": True, "dtype": "float32",
                                         "rate": 0.3, "noise_shape": None, "seed": None}).rate \
        == 0.3
    assert Dense(3, input_dim=4).declared_input_shape == (4,)


def _model():
    return Sequential([
        Rescaling(1 / 4, input_shape=(4, 4, 1)),
        Conv2D(3, 3, padding="same", activation="relu"),
        SpatialDropout2D(0.2, seed=1),
        UpSampling2D(interpolation="bilinear"),
        GaussianNoise(0.1, seed=2),
        Flatten(),
        GaussianDropout(0.1, seed=3),
        ActivityRegularization(l2=0.01),
        Dropout(0.2, noise_shape=(None, 192)),
        Dense(2, activation="softmax"),
    ])


def test_json_and_hdf5_round_trip(tmp_path):
    model = _model()
    text = model.to_json()
    classes = [e["class_name"] for e in json.loads(text)["config"]["layers"]]
    assert classes[1:6] == ["Rescaling", "Conv2D", "SpatialDropout2D", "UpSampling2D",
                            "GaussianNoise"]
    clone = model_from_json(text)
    for a, b in zip(model.layers, clone.layers):
        config = a.get_config()
        config.pop("batch_input_shape", None)
        assert b.get_config() == config
    model.save_weights(tmp_path / "w.h5")
    clone.load_weights(tmp_path / "w.h5")
    x = _x(3, 4, 4, 1)
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))


def test_model_trains_and_its_gradients_check():
    model = _model()
    model.compile(loss="categorical_crossentropy", optimizer=optimizers.SGD(0.1))
    x, y = _x(6, 4, 4, 1), np.eye(2)[[0, 1, 0, 1, 1, 0]]
    losses = [model.train_on_batch(x, y) for _ in range(3)]
    assert all(np.isfinite(np.ravel(loss)).all() for loss in losses)
    with gradcheck.float64():
        small = Sequential([
            Rescaling(0.5, input_shape=(3, 3, 2)), SpatialDropout2D(0.3),
            UpSampling2D(interpolation="bilinear"), GaussianNoise(0.2), Flatten(),
            GaussianDropout(0.2), Dropout(0.3, noise_shape=(None, 72)),
            Dense(3, activation="softmax")])
        small.compile(loss="categorical_crossentropy", optimizer="sgd")
    result = gradcheck.check_model(small, _x(4, 3, 3, 2), np.eye(3)[[0, 1, 2, 0]],
                                   tolerance=TOL)
    assert result.passed, result.table()


NEW_LAYER_FIXTURES = Path(__file__).parent / "fixtures" / "new_layers"


@pytest.mark.parametrize("flavour,weights", [("k2", "weights.h5"), ("k3", "model.weights.h5")])
def test_files_real_keras_wrote_load_and_predict_the_same(flavour, weights):
    # written by tests/keras_interop/write_new_layers_fixtures.py (tf-keras 2.21, Keras 3.15)
    folder = NEW_LAYER_FIXTURES / flavour
    model = model_from_json((folder / "model.json").read_text())
    model.load_weights(folder / weights)
    # float32 sums of at most 27 products per output and erf/tanh in each activation: the two
    # libraries' roundings stay far below this (measured: 6e-8)
    np.testing.assert_allclose(model.predict(np.load(folder / "input.npy")),
                               np.load(folder / "expected.npy"), rtol=0, atol=1e-5)
    conv, dense = model.layers[6], model.layers[15]
    assert conv.kernel_regularizer.l2 == pytest.approx(0.01)
    assert conv.kernel_constraint == constraints.MaxNorm(2.0, axis=[0, 1, 2])
    assert (conv.activation, dense.activation) == ("gelu", "mish")
    assert dense.activity_regularizer == regularizers.L2(dense.activity_regularizer.l2)


@pytest.mark.parametrize("make", [
    lambda: UpSampling2D(2, interpolation="bilinear"), lambda: UpSampling2D((1, 3)),
    lambda: Rescaling(2.0, offset=1.0), lambda: GaussianNoise(1.0), lambda: GaussianDropout(0.5),
    lambda: SpatialDropout2D(0.5), lambda: Dropout(0.5, noise_shape=(None, 1, 1, 2)),
], ids=lambda make: type(make()).__name__)
def test_infer_chunk_is_the_inference_forward(make):
    layer, x = make(), _x(3, 4, 5, 2)
    assert layer.runs_per_core
    np.testing.assert_array_equal(layer.infer_chunk(x), layer.forward(x, training=False))


@needs_keras
@pytest.mark.parametrize("python", KERAS_PYTHONS)
def test_real_keras_loads_what_convnet_writes(python, tmp_path):
    check_convnet_files(python, "write_new_layers_files.py", tmp_path, reports=2)
