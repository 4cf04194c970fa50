"""BatchNormalization: gradients, the moving statistics, Keras's weights and config, errors."""

import json

import h5py
import numpy as np
import pytest

from convnet import backend, gradcheck, optimizers
from convnet.layers import Activation, BatchNormalization, Conv2D, Dense, Flatten
from convnet.models import Sequential, load_model, model_from_json

TOL = 1e-5  # float64 central differences, as in test_gradients.py


def built(layer, input_shape, seed=0):
    """``layer`` built in float64 with every weight drawn from [0.5, 1.5): no gradient check
    or hand calculation sits at the special point gamma = 1, beta = 0."""
    with gradcheck.float64():
        layer.build(input_shape)
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in layer.get_weights()])
    return layer


# ----- gradients --------------------------------------------------------------------------

CASES = [
    # (id, keyword arguments, per-sample input shape)
    ("channels_last_images", {}, (4, 5, 3)),
    ("channels_last_axis_3", {"axis": 3}, (4, 5, 3)),
    ("channels_first_images", {"axis": 1}, (3, 4, 5)),
    ("dense_outputs", {}, (6,)),
    ("middle_axis", {"axis": -2}, (4, 3, 5)),
    ("no_center", {"center": False}, (4, 5, 3)),
    ("no_scale", {"scale": False}, (4, 5, 3)),
    ("no_center_no_scale", {"center": False, "scale": False}, (6,)),
]


@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("kwargs, shape", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_layer_gradients(kwargs, shape, training):
    layer = built(BatchNormalization(**kwargs), shape)
    result = gradcheck.check_layer(layer, shape, batch_size=3, training=training, tolerance=TOL)
    assert result.passed, "\n" + result.table()
    trained = ["gamma"] * layer.scale + ["beta"] * layer.center
    assert [c.param for c in result.checks] == ["input", *trained]   # no moving statistics


def test_whole_model_gradients():
    with gradcheck.float64():
        # no conv bias, as usual before BatchNormalization: the normalisation subtracts any
        # per-channel shift, so its true gradient is exactly 0 (the numeric one is rounding)
        model = Sequential([Conv2D(3, (3, 3), use_bias=False, input_shape=(6, 6, 2)),
                            BatchNormalization(), Activation("relu"), Flatten(),
                            Dense(4, activation="softmax")])
        model.compile(loss="categorical_crossentropy", optimizer="sgd")
    rng = np.random.default_rng(3)
    x = gradcheck.distinct_values((4, 6, 6, 2), rng)
    y = np.eye(4)[[0, 3, 1, 2]]
    result = gradcheck.check_model(model, x, y, tolerance=TOL)
    assert result.passed, "\n" + result.table()
    assert [(c.layer, c.param) for c in result.checks] == [
        ("model", "input"), ("conv2d", "kernel"), ("batch_normalization", "gamma"),
        ("batch_normalization", "beta"), ("dense", "kernel"), ("dense", "bias")]


def test_input_gradient_has_no_part_along_ones_or_xhat():
    """Shifting or scaling one channel of the input leaves xhat unchanged (up to eps), so in
    training dx sums to 0 over each channel and is orthogonal to xhat there."""
    layer = built(BatchNormalization(epsilon=1e-12), (4, 5, 3))
    x = np.random.default_rng(1).standard_normal((2, 4, 5, 3))
    y = layer.forward(x, training=True)
    dx = layer.backward(np.random.default_rng(2).standard_normal(y.shape))
    xhat = (x - x.mean(axis=(0, 1, 2))) / x.std(axis=(0, 1, 2))
    np.testing.assert_allclose(dx.sum(axis=(0, 1, 2)), 0.0, atol=1e-12)
    np.testing.assert_allclose((dx * xhat).sum(axis=(0, 1, 2)), 0.0, atol=1e-10)


def test_backward_twice_gives_the_same_gradients():
    layer = built(BatchNormalization(), (5,))
    x = np.random.default_rng(0).standard_normal((4, 5))
    dy = np.random.default_rng(1).standard_normal((4, 5))
    layer.forward(x, training=True)
    dx1, g1 = layer.backward(dy), {k: v.copy() for k, v in layer.grads.items()}
    dx2 = layer.backward(dy)
    np.testing.assert_array_equal(dx1, dx2)
    for key in g1:
        np.testing.assert_array_equal(g1[key], layer.grads[key])


# ----- the moving statistics --------------------------------------------------------------

def test_moving_statistics_one_step_by_hand():
    with gradcheck.float64():
        layer = BatchNormalization(momentum=0.9)
        x = np.array([[1.0], [2.0], [3.0], [6.0]])       # mean 3, biased variance 14/4 = 3.5
        y = layer.forward(x, training=True)
    # moving = moving * momentum + batch * (1 - momentum), from moving_mean 0, moving_var 1
    np.testing.assert_allclose(layer.params["moving_mean"], [0.3], rtol=1e-15)   # 0 + 0.1*3
    np.testing.assert_allclose(layer.params["moving_variance"], [1.25], rtol=1e-15)
    # (the unbiased 14/3 would give 1.3667: Keras 3 uses the biased variance, as here)
    np.testing.assert_allclose(y[:, 0], [-2, -1, 0, 3] / np.sqrt(3.5 + 0.001), rtol=1e-15)
    layer.forward(np.array([[0.0], [4.0]]), training=True)  # mean 2, variance 4
    np.testing.assert_allclose(layer.params["moving_mean"], [0.47], rtol=1e-15)  # .27 + .2
    np.testing.assert_allclose(layer.params["moving_variance"], [1.525], rtol=1e-15)


def test_inference_uses_the_moving_statistics():
    with gradcheck.float64():
        layer = BatchNormalization()              # epsilon 0.001
        layer.build((2,))
    # gamma, beta, moving_mean, moving_variance: sqrt(var + eps) = (2, 0.5)
    layer.set_weights([[2.0, 3.0], [0.5, -1.0], [1.0, -2.0], [3.999, 0.249]])
    x = np.array([[3.0, -1.0], [1.0, -2.5]])      # xhat = [[1, 2], [0, -1]]
    y = layer.forward(x)                          # training=False
    np.testing.assert_allclose(y, [[2.5, 5.0], [0.5, -4.0]], rtol=1e-12)
    np.testing.assert_allclose(layer.infer_chunk(x), y, rtol=0, atol=0)
    np.testing.assert_array_equal(layer.params["moving_mean"], [1.0, -2.0])   # unchanged
    dx = layer.backward(np.ones((2, 2)))          # the affine map: gamma / sqrt(var + eps)
    np.testing.assert_allclose(dx, [[1.0, 6.0], [1.0, 6.0]], rtol=1e-12)


def test_a_frozen_layer_runs_in_inference_mode():
    layer = built(BatchNormalization(trainable=False), (3,))
    before = layer.get_weights()
    x = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_array_equal(layer.forward(x, training=True), layer.forward(x))
    for a, b in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_the_optimizer_never_changes_the_moving_statistics():
    model = Sequential([BatchNormalization(input_shape=(4,)), Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=optimizers.SGD(learning_rate=50.0))
    bn = model.layers[0]
    x = np.random.default_rng(0).uniform(-3, 5, (8, 4)).astype("float32")
    y = np.eye(3)[[0, 1, 2, 0, 1, 2, 0, 1]]
    gamma = bn.params["gamma"].copy()
    model.train_on_batch(x, y)
    # the momentum rule from (0, 1): the batch statistics of 8 rows are summed in float32
    # (NumPy) or float64 (the fast engine's kernel), then the update rounds twice, so the
    # float32 result is within a few float32 ulps (8 + 4 roundings) of the float64 value
    x64 = x.astype(np.float64)
    expect_mean = 0.0 * 0.99 + x64.mean(axis=0) * (1.0 - 0.99)
    expect_var = 1.0 * 0.99 + x64.var(axis=0) * (1.0 - 0.99)
    tol = 12 * 2.0**-24
    np.testing.assert_allclose(bn.params["moving_mean"], expect_mean,
                               rtol=tol, atol=tol * float(np.abs(x64).max()) * 0.01)
    np.testing.assert_allclose(bn.params["moving_variance"], expect_var, rtol=tol)
    assert not np.allclose(bn.params["gamma"], gamma)     # the trained weights did move
    assert sorted(bn.grads) == ["beta", "gamma"]
    assert [name for name, _, _ in model.trainable_triples()] == [
        "batch_normalization/gamma", "batch_normalization/beta", "dense/kernel", "dense/bias"]


# ----- weights, config, files -------------------------------------------------------------

@pytest.mark.parametrize("center, scale, names", [
    (True, True, ["gamma", "beta", "moving_mean", "moving_variance"]),
    (False, True, ["gamma", "moving_mean", "moving_variance"]),
    (True, False, ["beta", "moving_mean", "moving_variance"]),
    (False, False, ["moving_mean", "moving_variance"]),
])
def test_weights_in_keras_order(center, scale, names):
    layer = BatchNormalization(axis=1, center=center, scale=scale)
    layer.build((3, 4, 5))
    assert layer.weight_names() == names
    assert all(w.shape == (3,) for w in layer.get_weights())
    assert layer.count_params() == 3 * len(names)


def test_config_round_trip():
    layer = BatchNormalization(axis=1, momentum=0.9, epsilon=1e-4, center=False, scale=False,
                               moving_variance_initializer="zeros", name="bn")
    config = layer.get_config()
    clone = BatchNormalization.from_config(config)
    assert clone.get_config() == config
    assert (clone.axis, clone.momentum, clone.epsilon, clone.center, clone.scale) == \
           (1, 0.9, 1e-4, False, False)


def test_config_has_keras_3_keys():
    config = BatchNormalization().get_config()
    assert set(config) == {
        "name", "trainable", "dtype", "axis", "momentum", "epsilon", "center", "scale",
        "beta_initializer", "gamma_initializer", "moving_mean_initializer",
        "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
        "beta_constraint", "gamma_constraint", "synchronized"}
    assert config["gamma_initializer"] == {"class_name": "Ones", "config": {}}
    assert (config["axis"], config["momentum"], config["epsilon"]) == (-1, 0.99, 0.001)


def _entry(config):
    return json.dumps({"module": "keras", "class_name": "Sequential", "config": {
        "name": "s", "layers": [
            {"class_name": "InputLayer",
             "config": {"batch_input_shape": [None, 4, 4, 2], "name": "in"}},
            {"class_name": "BatchNormalization", "config": config}]}})


def test_tf_keras_and_keras_3_entries_are_read():
    # tf-keras writes the built axis as a list; Keras 3 a DTypePolicy, `synchronized`, modules
    tf_keras = {"name": "bn", "trainable": True, "dtype": "float32", "axis": [3],
                "momentum": 0.9, "epsilon": 0.001, "center": True, "scale": False,
                "beta_initializer": {"module": "keras.initializers", "class_name": "Zeros",
                                     "config": {}, "registered_name": None},
                "gamma_initializer": {"class_name": "Ones", "config": {}},
                "moving_mean_initializer": {"class_name": "Zeros", "config": {}},
                "moving_variance_initializer": {"class_name": "Ones", "config": {}},
                "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
                "gamma_constraint": None}
    keras3 = dict(tf_keras, axis=-1, synchronized=False, dtype={
        "module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
        "registered_name": None})
    for config in (tf_keras, keras3):
        layer = model_from_json(_entry(config)).layers[0]
        assert (layer.axis in (3, -1), layer.momentum, layer.scale) == (True, 0.9, False)
        assert layer.weight_names() == ["beta", "moving_mean", "moving_variance"]


def test_to_json_round_trip():
    model = Sequential([Conv2D(2, 3, input_shape=(5, 5, 1)), BatchNormalization(momentum=0.8)])
    clone = model_from_json(model.to_json())
    assert clone.layers[1].get_config() == model.layers[1].get_config()


def _trained_model():
    model = Sequential([Conv2D(3, 3, input_shape=(6, 6, 1)), BatchNormalization(),
                        Activation("relu"), Flatten(), Dense(2, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    x = np.random.default_rng(0).standard_normal((8, 6, 6, 1)).astype("float32")
    model.fit(x, np.eye(2)[[0, 1] * 4], epochs=2, batch_size=4, verbose=0)
    return model, x


def test_save_and_load_keep_all_four_weights(tmp_path):
    model, x = _trained_model()
    bn = model.layers[1]
    assert not np.array_equal(bn.params["moving_variance"], np.ones(3))   # training moved it
    model.save(tmp_path / "bn.h5")
    with h5py.File(tmp_path / "bn.h5") as f:
        assert list(f["model_weights/batch_normalization"].attrs["weight_names"]) == [
            "batch_normalization/gamma:0", "batch_normalization/beta:0",
            "batch_normalization/moving_mean:0", "batch_normalization/moving_variance:0"]
    clone = load_model(tmp_path / "bn.h5")
    for a, b in zip(bn.get_weights(), clone.layers[1].get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(x), clone.predict(x))


def test_keras_3_weights_file_keeps_all_four_weights(tmp_path):
    model, _ = _trained_model()
    model.save_weights(tmp_path / "bn.weights.h5")
    with h5py.File(tmp_path / "bn.weights.h5") as f:
        saved = [np.asarray(f[f"layers/batch_normalization/vars/{i}"]) for i in range(4)]
    for a, b in zip(model.layers[1].get_weights(), saved):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("engine", ["numpy", "fast"])
def test_predict_equals_the_inference_forward(engine):
    model, x = _trained_model()
    with backend.engine(engine):
        np.testing.assert_array_equal(model.predict(x), model.forward(x))


# ----- errors -----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"momentum": 2}, "BatchNormalization 'bn': momentum must be in [0, 1), got 2"),
    ({"momentum": 1.0}, "momentum must be in [0, 1), got 1.0"),
    ({"momentum": "high"}, "momentum must be in [0, 1), got 'high'"),
    ({"epsilon": 0}, "BatchNormalization 'bn': epsilon must be a positive number, got 0"),
    ({"epsilon": float("nan")}, "epsilon must be a positive number, got nan"),
    ({"axis": 0}, "axis=0 is the batch axis"),
    ({"axis": 1.5}, "axis must be an integer (-1 for the last axis), got 1.5"),
    ({"axis": [1, 3]}, "axis must be one axis (normalising over several feature axes at once "
                       "is not supported), got [1, 3]"),
    ({"center": "yes"}, "center must be True or False, got 'yes'"),
    ({"gamma_regularizer": "l2"}, "gamma_regularizer is not supported (got 'l2')"),
    ({"beta_constraint": "non_neg"}, "beta_constraint is not supported (got 'non_neg')"),
    ({"renorm": True}, "renorm=True is not supported"),
    ({"synchronized": True}, "synchronized=True is not supported"),
    ({"virtual_batch_size": 4}, "virtual_batch_size is not supported (got 4)"),
    ({"beta_initializer": "magic"}, "Unknown initializer 'magic'"),
])
def test_bad_arguments_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError) as info:
        BatchNormalization(name="bn", **kwargs)
    assert message in str(info.value), f"ours: {info.value}\nexpected: {message}"


def test_tf_keras_defaults_are_accepted():
    layer = BatchNormalization(axis=[3], fused=True, renorm=False, renorm_clipping=None,
                               renorm_momentum=0.99, virtual_batch_size=None, adjustment=None)
    assert layer.axis == 3


@pytest.mark.parametrize("axis", [4, -5])
def test_an_axis_outside_the_input_is_refused_at_build(axis):
    layer = BatchNormalization(axis=axis, name="bn")
    with pytest.raises(ValueError, match=r"BatchNormalization 'bn': axis=-?\d is not a feature "
                                         r"axis of input of shape \(batch, 4, 5, 3\); use -1"):
        layer.forward(np.zeros((2, 4, 5, 3)))


# ----- float32 against float64 ------------------------------------------------------------

def test_float32_forward_matches_float64():
    """Each mean and variance sums m = 8*6*6 = 288 values; a float32 sum of m terms can be off
    by up to about m * eps32 * sum|x| in the worst case (NumPy's pairwise summation is much
    better), and xhat = (x - mean) / std passes that on relative to std. So y, of size ~1
    here (|x| <= 1, std ~ 0.58), is held to a few ulps times m."""
    rng = np.random.default_rng(0)
    x32 = rng.uniform(-1, 1, (8, 6, 6, 3)).astype("float32")
    weights = [rng.uniform(0.5, 1.5, 3) for _ in range(4)]
    outputs = {}
    for dtype in ("float32", "float64"):
        layer = BatchNormalization(dtype=dtype)
        layer.build((6, 6, 3))
        layer.set_weights(weights)
        outputs[dtype] = layer.forward(x32.astype(dtype), training=True)
        assert outputs[dtype].dtype == dtype
    m = 8 * 6 * 6
    tolerance = 4 * m * np.finfo(np.float32).eps            # ~1.4e-4
    error = np.max(np.abs(outputs["float32"] - outputs["float64"]))
    assert error <= tolerance, f"float32 vs float64: {error:.2e} > {tolerance:.2e}"
