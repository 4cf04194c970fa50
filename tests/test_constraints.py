"""Constraints: the projections by hand, applied after each optimizer step (Dense, Conv2D with
axis=[0, 1, 2]), Keras's names and JSON forms."""

import json

import numpy as np
import pytest

from convnet import backend, constraints, optimizers
from convnet.layers import Conv2D, Dense, Flatten
from convnet.models import Sequential, model_from_json

EPS = backend.epsilon()
# columns of norm 5 (3, 4) and 1 (0, 1): axis 0 gives one norm per column
W = np.array([[3.0, 0.0], [4.0, 1.0]])


def test_max_norm_by_hand():
    out = constraints.MaxNorm(2.0)(W)
    np.testing.assert_allclose(out[:, 0], np.array([3.0, 4.0]) * 2 / (5 + EPS))
    np.testing.assert_allclose(out[:, 1], np.array([0.0, 1.0]) * 1 / (1 + EPS))
    rows = constraints.MaxNorm(1.0, axis=1)(W)                  # row norms 3 and sqrt(17)
    np.testing.assert_allclose(rows[1], np.array([4.0, 1.0]) / (np.sqrt(17) + EPS))


def test_min_max_norm_by_hand():
    # norms 5 and 1 into [2, 3]: 3 and 2; with rate 0.5 half-way: 4 and 1.5
    out = constraints.MinMaxNorm(2.0, 3.0)(W)
    np.testing.assert_allclose(np.linalg.norm(out, axis=0), [3.0, 2.0], rtol=1e-6)
    half = constraints.MinMaxNorm(2.0, 3.0, rate=0.5)(W)
    np.testing.assert_allclose(np.linalg.norm(half, axis=0), [4.0, 1.5], rtol=1e-6)


def test_unit_norm_and_non_neg_by_hand():
    np.testing.assert_allclose(constraints.UnitNorm()(W), W / (np.array([5.0, 1.0]) + EPS))
    np.testing.assert_array_equal(constraints.NonNeg()(np.array([-1.0, 0.0, 2.0])), [0, 0, 2])


def test_conv_kernel_axis_0_1_2_constrains_each_filter():
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((3, 3, 2, 4)) * 2
    out = constraints.max_norm(1.5, axis=[0, 1, 2])(kernel)
    norms = np.sqrt((out ** 2).sum(axis=(0, 1, 2)))
    np.testing.assert_allclose(norms, np.minimum(np.sqrt((kernel ** 2).sum(axis=(0, 1, 2))),
                                                 1.5), rtol=1e-6)


def test_names_and_keras_forms():
    assert constraints.get("max_norm") == constraints.MaxNorm(2, 0)
    assert constraints.get("maxnorm") == constraints.MaxNorm()             # tf-keras alias
    assert isinstance(constraints.get("non_neg"), constraints.NonNeg)
    assert isinstance(constraints.get("nonneg"), constraints.NonNeg)
    assert constraints.get("unit_norm") == constraints.UnitNorm(0)
    assert constraints.get("min_max_norm") == constraints.MinMaxNorm(0.0, 1.0, 1.0, 0)
    keras3 = {"module": "keras.constraints", "class_name": "MaxNorm",
              "config": {"max_value": 3, "axis": [0, 1, 2]}, "registered_name": None}
    assert constraints.get(keras3) == constraints.MaxNorm(3, axis=(0, 1, 2))
    assert constraints.serialize(constraints.MaxNorm(3, axis=(0, 1, 2))) == {
        "class_name": "MaxNorm", "config": {"max_value": 3, "axis": [0, 1, 2]}}
    assert constraints.serialize(constraints.NonNeg()) == {"class_name": "NonNeg",
                                                           "config": {}}


@pytest.mark.parametrize("spec,message", [
    ("max_normal", "Unknown constraint 'max_normal'"),
    (lambda w: w, "Constraint objects"),
    ({"class_name": "MaxNorm", "config": {"max_value": -1}}, "max_value must be"),
    ({"class_name": "MaxNorm", "config": {"axis": "rows"}}, "axis must be"),
    ({"class_name": "MinMaxNorm", "config": {"rate": 2.0}}, "rate must be"),
])
def test_bad_constraints_are_refused_clearly(spec, message):
    with pytest.raises(ValueError, match=message):
        constraints.get(spec)


def test_axis_that_does_not_exist_is_named():
    with pytest.raises(ValueError, match=r"axis \[0, 1, 2\] does not exist.*\(3, 2\)"):
        constraints.MaxNorm(axis=[0, 1, 2])(np.ones((3, 2)))


def test_applied_after_every_optimizer_step():
    model = Sequential([
        Conv2D(3, 3, input_shape=(6, 6, 1), activation="relu",
               kernel_constraint=constraints.MaxNorm(0.5, axis=[0, 1, 2]),
               bias_constraint=constraints.NonNeg()),
        Flatten(),
        Dense(2, activation="softmax", kernel_constraint=constraints.UnitNorm()),
    ])
    model.compile(loss="categorical_crossentropy", optimizer=optimizers.SGD(1.0))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 6, 6, 1)).astype("float32"), np.eye(2)[rng.integers(0, 2, 8)]
    for _ in range(3):
        model.train_on_batch(x, y)
        conv, dense = model.layers[0], model.layers[2]
        assert np.all(np.sqrt((conv.kernel ** 2).sum(axis=(0, 1, 2))) <= 0.5 + 1e-6)
        assert np.all(conv.bias >= 0)
        np.testing.assert_allclose(np.linalg.norm(dense.kernel, axis=0), 1.0, rtol=1e-5)


def test_one_sgd_step_then_the_projection_by_hand():
    layer = Dense(1, use_bias=False, kernel_initializer="ones",
                  kernel_constraint=constraints.MaxNorm(1.0), input_shape=(2,))
    model = Sequential([layer])
    model.compile(loss="mse", optimizer=optimizers.SGD(0.5))
    x, y = np.array([[1.0, 2.0]], dtype="float32"), np.array([[1.0]], dtype="float32")
    model.train_on_batch(x, y)
    # y_pred = 3, dL/dy = 2 (3 - 1) = 4, dK = x.T * 4 = (4, 8); K = (1, 1) - 0.5 (4, 8)
    stepped = np.array([[-1.0], [-3.0]])
    np.testing.assert_allclose(layer.kernel, stepped / (np.sqrt(10) + EPS), rtol=1e-6)


def test_config_and_json_round_trip():
    model = Sequential([
        Conv2D(2, 3, input_shape=(5, 5, 1), kernel_constraint=constraints.max_norm(3, [0, 1, 2]),
               bias_constraint="non_neg"),
        Flatten(),
        Dense(2, kernel_constraint=constraints.MinMaxNorm(0.5, 2.0, rate=0.5, axis=0)),
    ])
    text = model.to_json()
    entries = json.loads(text)["config"]["layers"]
    assert entries[1]["config"]["kernel_constraint"] == {
        "class_name": "MaxNorm", "config": {"max_value": 3, "axis": [0, 1, 2]}}
    clone = model_from_json(text)
    for a, b in zip(model.layers, clone.layers):
        config = a.get_config()
        config.pop("batch_input_shape", None)
        assert b.get_config() == config
