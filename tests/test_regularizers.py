"""Regularizers: penalties and gradients by hand, gradient checks (alone, in Dense and Conv2D,
in a model), the loss fit and evaluate report (penalties included, as Keras), one SGD step by
hand, and the Keras spellings and JSON forms."""

import json
from pathlib import Path

import numpy as np
import pytest

from convnet import constraints, gradcheck, optimizers, regularizers
from convnet.layers import Conv2D, Dense, Flatten
from convnet.models import Sequential, model_from_json

W = np.array([[1.0, -2.0], [0.0, 3.0]])


# ----- the penalties by hand ------------------------------------------------------------------
def test_penalties_and_gradients_by_hand():
    # |w| sums to 6, w**2 to 14; sign(0) = 0
    assert regularizers.L1(0.1)(W) == pytest.approx(0.6)
    np.testing.assert_allclose(regularizers.L1(0.1).gradient(W), [[0.1, -0.1], [0.0, 0.1]])
    assert regularizers.L2(0.01)(W) == pytest.approx(0.14)
    np.testing.assert_allclose(regularizers.L2(0.01).gradient(W), [[0.02, -0.04], [0.0, 0.06]])
    both = regularizers.L1L2(l1=0.1, l2=0.01)
    assert both(W) == pytest.approx(0.74)
    np.testing.assert_allclose(both.gradient(W), [[0.12, -0.14], [0.0, 0.16]])
    assert regularizers.L1L2()(W) == 0.0                       # Keras 3's class: zero factors


def test_keras_defaults_and_names():
    assert regularizers.get("l1") == regularizers.L1(0.01)
    assert regularizers.get("l2") == regularizers.L2(0.01)
    assert regularizers.get("L2") == regularizers.L2(0.01)
    assert regularizers.get("l1_l2") == regularizers.L1L2(0.01, 0.01)    # tf-keras
    assert regularizers.l1_l2() == regularizers.L1L2(0.01, 0.01)         # tf-keras
    assert regularizers.get("l1l2") == regularizers.L1L2(0.0, 0.0)       # Keras 3's snake case
    assert regularizers.l2(0.5) == regularizers.L2(0.5)
    assert regularizers.get(regularizers.L1) == regularizers.L1(0.01)
    assert regularizers.get(None) is None


def test_reads_both_keras_json_forms():
    keras3 = {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01},
              "registered_name": None}
    tf_keras = {"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.009999999776482582}}
    assert regularizers.get(keras3) == regularizers.L2(0.01)
    assert regularizers.get(tf_keras).l2 == pytest.approx(0.01)
    assert regularizers.serialize(regularizers.L1(0.3)) == {"class_name": "L1",
                                                             "config": {"l1": 0.3}}
    assert regularizers.serialize(None) is None


@pytest.mark.parametrize("spec,message", [
    ("l3", "Unknown regularizer 'l3'"),
    (lambda w: 0.01 * np.sum(w ** 2), "gradient"),
    ({"class_name": "OrthogonalRegularizer", "config": {}}, "does not support"),
    ({"class_name": "L2", "config": {"l2": -1.0}}, "l2 must be a finite number >= 0"),
    ({"class_name": "L2", "config": {"factor": 1.0}}, "bad config"),
])
def test_bad_regularizers_are_refused_clearly(spec, message):
    with pytest.raises(ValueError, match=message):
        regularizers.get(spec)


def test_layers_name_the_argument_in_errors():
    with pytest.raises(ValueError, match="Dense 'd'.*kernel_regularizer.*Unknown regularizer"):
        Dense(2, kernel_regularizer="l9", name="d")
    with pytest.raises(ValueError, match="activity_regularizer is not supported on Conv2D"):
        Conv2D(2, 3, activity_regularizer="l2")


@pytest.mark.parametrize("reg", [regularizers.L1(0.3), regularizers.L2(0.2),
                                 regularizers.L1L2(0.1, 0.4)], ids=repr)
def test_gradient_equals_central_differences(reg):
    rng = np.random.default_rng(0)
    w = gradcheck.distinct_values((3, 4), rng)           # no zeros: |w| has no kink there
    h, grad = 1e-6, reg.gradient(w)
    for idx in np.ndindex(*w.shape):
        plus, minus = w.copy(), w.copy()
        plus[idx] += h
        minus[idx] -= h
        assert grad[idx] == pytest.approx((reg(plus) - reg(minus)) / (2 * h), rel=1e-6, abs=1e-9)


# ----- in layers: the total loss sum(y * R) + sum(layer.losses) -------------------------------
def _check_penalised_layer(layer, input_shape, batch=3, seed=0, h=1e-6):
    """Central differences of ``sum(y * R) + sum(layer.losses)`` against ``backward(R)``
    followed by ``add_regularization_gradients()`` (what a training step does), for dL/dx and
    every weight, in float64."""
    rng = np.random.default_rng(seed)
    with gradcheck.float64():
        x = gradcheck.distinct_values((batch,) + input_shape, rng)
        y = layer.forward(x, training=True)
        r = rng.standard_normal(y.shape)

        def total():
            return float(np.sum(layer.forward(x, training=True) * r)) + sum(layer.losses)

        layer.forward(x, training=True)
        dx = layer.backward(r)
        layer.add_regularization_gradients()
        arrays = {"input": (x, dx)}
        arrays.update({k: (layer.params[k], layer.grads[k].copy()) for k in layer.grads})
        for name, (array, grad) in arrays.items():
            for idx in list(np.ndindex(*array.shape))[::3]:
                old = array[idx]
                array[idx] = old + h
                plus = total()
                array[idx] = old - h
                minus = total()
                array[idx] = old
                numeric = (plus - minus) / (2 * h)
                assert grad[idx] == pytest.approx(numeric, rel=1e-5, abs=1e-8), (name, idx)


PENALISED = [
    ("dense_kernel_l2", lambda: Dense(4, activation="tanh", kernel_regularizer="l2"), (5,)),
    ("dense_all_three", lambda: Dense(3, activation="sigmoid",
                                      kernel_regularizer=regularizers.L1L2(0.05, 0.1),
                                      bias_regularizer=regularizers.L2(0.3),
                                      activity_regularizer=regularizers.L2(0.2)), (4,)),
    ("dense_activity_l1_softmax", lambda: Dense(3, activation="softmax",
                                                activity_regularizer=regularizers.L1(0.1)),
     (4,)),
    ("conv_kernel_bias", lambda: Conv2D(3, 3, activation="tanh",
                                        kernel_regularizer=regularizers.L2(0.1),
                                        bias_regularizer=regularizers.L1(0.2)), (5, 5, 2)),
    ("conv_direct_l1l2", lambda: Conv2D(2, 3, activation="relu",
                                        kernel_regularizer="l1_l2"), (5, 6, 1)),
]


@pytest.mark.parametrize("factory,shape", [c[1:] for c in PENALISED],
                         ids=[c[0] for c in PENALISED])
def test_penalised_layer_gradients(factory, shape):
    with gradcheck.float64():
        layer = factory()
    layer.bias_initializer = "ones"         # a non-zero bias, so its L1 gradient is not sign(0)
    _check_penalised_layer(layer, shape)


def test_layer_losses_by_hand():
    layer = Dense(2, kernel_regularizer=regularizers.L1(0.1), bias_regularizer="l2",
                  activity_regularizer=regularizers.L2(0.5), kernel_initializer="ones",
                  bias_initializer="ones")
    y = layer.forward(np.array([[1.0, 2.0], [0.0, -1.0]]))   # y = [[4, 4], [0, 0]]
    np.testing.assert_allclose(y, [[4, 4], [0, 0]])
    # kernel 0.1 * 4 ones; bias 0.01 * 2; activity 0.5 * (16 + 16) / batch 2
    np.testing.assert_allclose(layer.losses, [0.4, 0.02, 8.0], rtol=1e-6)
    layer.trainable = False                       # Keras 3: frozen weights add no penalty
    np.testing.assert_allclose(layer.losses, [8.0], rtol=1e-6)


def test_activity_gradient_reaches_the_input():
    # y = x (identity kernel), penalty 0.5 * sum(y**2) / 2: dL/dx = dy + 0.5 * 2 * y / 2
    layer = Dense(2, use_bias=False, kernel_initializer="identity",
                  activity_regularizer=regularizers.L2(0.5))
    x = np.array([[1.0, -2.0], [3.0, 0.5]], dtype="float32")
    layer.forward(x, training=True)
    dx = layer.backward(np.zeros((2, 2), dtype="float32"))
    np.testing.assert_allclose(dx, 0.5 * x, rtol=1e-6)


# ----- in a model: the reported loss and one SGD step -----------------------------------------
def _model(lr=0.1):
    model = Sequential([
        Dense(3, input_shape=(4,), activation="tanh", kernel_regularizer=regularizers.L2(0.05),
              bias_regularizer=regularizers.L1(0.02), activity_regularizer=regularizers.L2(0.1),
              bias_initializer="ones"),
        Dense(2, activation="softmax", kernel_regularizer=regularizers.L1L2(0.01, 0.02)),
    ])
    model.compile(loss="categorical_crossentropy", optimizer=optimizers.SGD(lr))
    return model


def _data():
    rng = np.random.default_rng(1)
    return rng.standard_normal((5, 4)).astype("float32"), np.eye(2)[[0, 1, 1, 0, 1]]


def _by_hand(model, x, y):
    """Cross-entropy + penalties, and the total loss's kernel gradients, in float64 NumPy."""
    (k1, b1), (k2, b2) = [[w.astype(np.float64) for w in layer.get_weights()]
                          for layer in model.layers]
    a = np.tanh(x @ k1 + b1)
    z = a @ k2 + b2
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    n = len(x)
    data = -np.mean(np.sum(y * np.log(p), axis=1))
    penalty = (0.05 * np.sum(k1 ** 2) + 0.02 * np.sum(np.abs(b1)) + 0.1 * np.sum(a ** 2) / n
               + 0.01 * np.sum(np.abs(k2)) + 0.02 * np.sum(k2 ** 2))
    dz = (p - y) / n
    dk2 = a.T @ dz + 0.01 * np.sign(k2) + 0.04 * k2
    da = dz @ k2.T + 0.2 * a / n
    dk1 = x.T @ (da * (1 - a ** 2)) + 0.1 * k1
    return data + penalty, dk1, dk2


def test_train_on_batch_reports_the_penalised_loss_and_steps_with_its_gradient():
    model, (x, y) = _model(lr=0.1), _data()
    expected, dk1, dk2 = _by_hand(model, x, y)
    k1, k2 = model.layers[0].get_weights()[0], model.layers[1].get_weights()[0]
    loss = model.train_on_batch(x, y)
    loss = loss[0] if isinstance(loss, list) else loss
    assert loss == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(model.layers[0].kernel, k1 - 0.1 * dk1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.layers[1].kernel, k2 - 0.1 * dk2, rtol=1e-5, atol=1e-6)


def test_evaluate_includes_the_penalties_as_keras_does():
    model, (x, y) = _model(), _data()
    expected, _, _ = _by_hand(model, x, y)
    for batch_size in (5, 2):          # the activity penalty is a mean per sample
        loss = model.evaluate(x, y, batch_size=batch_size, verbose=0)
        assert loss == pytest.approx(expected, rel=1e-5)
    assert model.regularization_loss() > 0


def test_model_gradient_check_with_penalties():
    with gradcheck.float64():
        model = Sequential([
            Conv2D(2, 3, input_shape=(5, 5, 1), activation="tanh",
                   kernel_regularizer=regularizers.L2(0.2)),
            Flatten(),
            Dense(3, activation="softmax", kernel_regularizer=regularizers.L1(0.05),
                  activity_regularizer=regularizers.L2(0.3)),
        ])
        model.compile(loss="categorical_crossentropy", optimizer="sgd")
        rng = np.random.default_rng(0)
        x, y = rng.standard_normal((4, 5, 5, 1)), np.eye(3)[[0, 1, 2, 0]]
        from convnet import losses
        loss_fn = losses.get(model.loss)[1]

        def total():
            out = model.forward(x, training=True)
            return float(np.mean(loss_fn(y, out))) + model.regularization_loss()

        model.backward(y, model.forward(x, training=True))
        model.add_regularization_gradients()
        h = 1e-6
        for layer in (model.layers[0], model.layers[2]):
            for key in layer.grads:
                array, grad = layer.params[key], layer.grads[key].copy()
                for idx in list(np.ndindex(*array.shape))[::2]:
                    old = array[idx]
                    array[idx] = old + h
                    plus = total()
                    array[idx] = old - h
                    minus = total()
                    array[idx] = old
                    assert grad[idx] == pytest.approx((plus - minus) / (2 * h), rel=1e-5,
                                                      abs=1e-8), (layer.name, key, idx)


# ----- configs and saving ---------------------------------------------------------------------
def test_config_uses_keras_names_and_round_trips():
    layer = Dense(3, kernel_regularizer="l2", bias_regularizer=regularizers.L1(0.2),
                  activity_regularizer=regularizers.L1L2(0.1, 0.3))
    config = layer.get_config()
    assert config["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.01}}
    assert config["bias_regularizer"] == {"class_name": "L1", "config": {"l1": 0.2}}
    assert config["activity_regularizer"] == {"class_name": "L1L2",
                                              "config": {"l1": 0.1, "l2": 0.3}}
    assert Dense.from_config(config).get_config() == config
    conv = Conv2D(2, 3, kernel_regularizer="l1")
    assert Conv2D.from_config(conv.get_config()).kernel_regularizer == regularizers.L1(0.01)


def test_json_round_trip_and_keras_written_entries():
    model = _model()
    clone = model_from_json(model.to_json())
    for a, b in zip(model.layers, clone.layers):
        assert a.kernel_regularizer == b.kernel_regularizer
        assert a.activity_regularizer == b.activity_regularizer
    # a Dense entry as tf-keras 2.21 writes it (float32-rounded factor, module keys)
    entry = {"class_name": "Dense", "config": {
        "name": "dense", "units": 2, "activation": "linear", "use_bias": True,
        "kernel_regularizer": {"module": "keras.regularizers", "class_name": "L2",
                               "config": {"l2": 0.009999999776482582},
                               "registered_name": None},
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
        "bias_constraint": None}}
    text = json.dumps({"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 3]}}, entry]}})
    loaded = model_from_json(text).layers[0]
    assert loaded.kernel_regularizer.l2 == pytest.approx(0.01)


def test_dense_input_dim_is_input_shape():
    assert Dense(2, input_dim=7).declared_input_shape == (7,)
    with pytest.raises(ValueError, match="not both"):
        Dense(2, input_dim=7, input_shape=(7,))


def test_one_step_matches_real_keras_3():
    # tests/keras_interop/write_regularization_fixture.py, Keras 3.15.1 (torch backend)
    path = Path(__file__).parent / "fixtures" / "new_layers" / "regularized_step_k3.npz"
    with np.load(path) as f:
        saved = {k: f[k] for k in f.files}
    model = Sequential([
        Dense(5, input_shape=(4,), activation="tanh", kernel_regularizer=regularizers.L2(0.03),
              bias_regularizer=regularizers.L1(0.02), activity_regularizer=regularizers.L2(0.05),
              kernel_constraint=constraints.MaxNorm(0.8)),
        Dense(3, activation="softmax", kernel_regularizer=regularizers.L1L2(0.01, 0.02)),
    ])
    model.set_weights([saved[f"w{i}"] for i in range(4)])
    model.compile(loss="categorical_crossentropy", optimizer=optimizers.SGD(0.1))
    loss = model.train_on_batch(saved["x"], saved["y"])
    loss = loss[0] if isinstance(loss, list) else loss
    # float32 throughout, a few dozen operations per value: both sides round at ~1e-7
    assert loss == pytest.approx(float(saved["train_loss"]), rel=1e-6)
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_allclose(w, saved[f"after{i}"], rtol=0, atol=1e-6)
    assert model.evaluate(saved["x"], saved["y"], verbose=0) == pytest.approx(
        float(saved["eval_loss"]), rel=1e-6)


@pytest.mark.parametrize("make", [
    lambda: Dense(3, activation="tanh", kernel_regularizer=regularizers.l2(0.1),
                  bias_regularizer="l1", activity_regularizer=regularizers.l1(0.05)),
    lambda: Conv2D(2, 3, activation="relu", kernel_regularizer=regularizers.l1_l2(0.02, 0.1)),
], ids=["dense", "conv2d"])
def test_the_gradient_checker_counts_the_penalties(make):
    # check_layer's loss includes layer.losses and its gradient the penalties' gradients, so a
    # regularized layer passes (and would fail if either side left them out)
    with gradcheck.float64():
        layer = make()
        shape = (4,) if isinstance(layer, Dense) else (5, 5, 1)
        if isinstance(layer, Dense):
            layer.build(shape)
            layer.params["bias"][...] = 0.3          # away from l1's kink at 0
        result = gradcheck.check_layer(layer, shape)
    assert result.passed, result.table()
