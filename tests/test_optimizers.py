"""Optimizer updates checked against values worked out by hand.

Tolerances: one update is a handful of elementwise roundings, with no long sums. float64
parameters match the hand computation to ~1e-15 (``rel=1e-12`` leaves room for FMA or not);
where ``pytest.approx``'s default ``rel=1e-6`` is used, the hand value is itself rounded (written
to 7 digits) or the parameters are float32 (a few ulps of 6e-8)."""

import math
import warnings

import numpy as np
import pytest

from convnet import optimizers


def test_adadelta_defaults_are_the_tutorials_keras():
    opt = optimizers.Adadelta()
    assert (opt.learning_rate, opt.rho, opt.epsilon) == (1.0, 0.95, 1e-7)
    assert "0.001" in optimizers.Adadelta.__doc__ and "99 %" in optimizers.Adadelta.__doc__


def test_adadelta_two_steps_by_hand():
    p = np.array([1.0, -2.0])
    g1, g2 = np.array([0.5, -1.0]), np.array([0.1, 0.2])
    opt = optimizers.Adadelta()           # lr 1, rho 0.95, eps 1e-7
    opt.apply_gradients([("w", p, g1)])
    # step 1, element 0: a = 0.05 * 0.25 = 0.0125
    #   update = 0.5 * sqrt(0 + 1e-7) / sqrt(0.0125 + 1e-7) = 0.5 * 3.16227766e-4 / 0.111803846
    a0 = 0.05 * 0.25
    u0 = 0.5 * math.sqrt(1e-7) / math.sqrt(a0 + 1e-7)
    assert u0 == pytest.approx(1.414207e-3, rel=1e-6)
    a1 = 0.05 * 1.0
    u1 = -1.0 * math.sqrt(1e-7) / math.sqrt(a1 + 1e-7)
    np.testing.assert_allclose(p, [1.0 - u0, -2.0 - u1], rtol=1e-12)
    d0, d1 = 0.05 * u0**2, 0.05 * u1**2
    np.testing.assert_allclose(opt.state["accumulator"]["w"], [a0, a1])
    np.testing.assert_allclose(opt.state["delta_accumulator"]["w"], [d0, d1])
    # step 2 uses both accumulators
    opt.apply_gradients([("w", p, g2)])
    a0b, a1b = 0.95 * a0 + 0.05 * 0.01, 0.95 * a1 + 0.05 * 0.04
    v0 = 0.1 * math.sqrt(d0 + 1e-7) / math.sqrt(a0b + 1e-7)
    v1 = 0.2 * math.sqrt(d1 + 1e-7) / math.sqrt(a1b + 1e-7)
    np.testing.assert_allclose(p, [1.0 - u0 - v0, -2.0 - u1 - v1], rtol=1e-12)
    assert opt.iterations == 2


def test_adadelta_state_is_keyed_by_parameter_name():
    opt = optimizers.Adadelta()
    a, b = np.zeros(2), np.zeros(3)
    opt.apply_gradients([("dense/kernel", a, np.ones(2)), ("dense/bias", b, np.ones(3))])
    assert set(opt.state["accumulator"]) == {"dense/kernel", "dense/bias"}


def test_sgd_plain_and_momentum_by_hand():
    p = np.array([1.0])
    optimizers.SGD(learning_rate=0.1).apply_gradients([("w", p, np.array([2.0]))])
    assert p[0] == pytest.approx(0.8)
    p = np.array([1.0])
    opt = optimizers.SGD(learning_rate=0.1, momentum=0.9)
    opt.apply_gradients([("w", p, np.array([2.0]))])     # v = -0.2, p = 0.8
    opt.apply_gradients([("w", p, np.array([1.0]))])     # v = -0.18 - 0.1 = -0.28, p = 0.52
    assert p[0] == pytest.approx(0.52)


def test_sgd_nesterov_by_hand():
    p = np.array([1.0])
    opt = optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    opt.apply_gradients([("w", p, np.array([2.0]))])
    # v = -0.2; p += 0.9 * v - 0.1 * 2 = -0.38
    assert p[0] == pytest.approx(0.62)


def test_names_and_bad_arguments():
    assert isinstance(optimizers.get("adadelta"), optimizers.Adadelta)
    assert isinstance(optimizers.get("SGD"), optimizers.SGD)
    with pytest.raises(ValueError, match="Unknown optimizer 'ftrl'"):
        optimizers.get("ftrl")
    with pytest.raises(ValueError, match="learning_rate must be a positive number"):
        optimizers.Adadelta(learning_rate=0)
    with pytest.raises(ValueError, match=r"rho must be in \[0, 1\)"):
        optimizers.Adadelta(rho=1.5)
    with pytest.raises(TypeError, match="unexpected arguments"):
        optimizers.SGD(decay_rate=0.1)


def test_old_lr_keyword_still_works_with_a_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt = optimizers.SGD(lr=0.5)
    assert opt.learning_rate == 0.5
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)


def test_adagrad_two_steps_by_hand():
    p = np.array([1.0])
    opt = optimizers.Adagrad(learning_rate=0.1)            # acc starts at 0.1
    opt.apply_gradients([("w", p, np.array([0.5]))])       # acc = 0.35
    assert p[0] == pytest.approx(1.0 - 0.1 * 0.5 / math.sqrt(0.35 + 1e-7))
    opt.apply_gradients([("w", p, np.array([-1.0]))])      # acc = 1.35
    assert p[0] == pytest.approx(1.0 - 0.05 / math.sqrt(0.35 + 1e-7) + 0.1 / math.sqrt(1.35 + 1e-7))


def test_rmsprop_two_steps_by_hand():
    p = np.array([1.0])
    opt = optimizers.RMSprop(learning_rate=0.01)           # rho 0.9
    opt.apply_gradients([("w", p, np.array([2.0]))])       # v = 0.4
    step1 = 0.01 * 2 / (math.sqrt(0.4) + 1e-7)
    assert p[0] == pytest.approx(1.0 - step1)
    opt.apply_gradients([("w", p, np.array([1.0]))])       # v = 0.36 + 0.1 = 0.46
    assert p[0] == pytest.approx(1.0 - step1 - 0.01 / (math.sqrt(0.46) + 1e-7))
    q = np.array([1.0])
    mom = optimizers.RMSprop(learning_rate=0.01, momentum=0.5)
    mom.apply_gradients([("w", q, np.array([2.0]))])
    mom.apply_gradients([("w", q, np.array([1.0]))])       # m = 0.5 * step1 + step2
    assert q[0] == pytest.approx(1.0 - step1 - (0.5 * step1 + 0.01 / (math.sqrt(0.46) + 1e-7)))


def test_adam_two_steps_by_hand():
    p = np.array([1.0])
    opt = optimizers.Adam(learning_rate=0.1)
    opt.apply_gradients([("w", p, np.array([0.5]))])
    # t=1: m = 0.05, v = 0.00025, alpha = 0.1 * sqrt(0.001) / 0.1 -> step = alpha m / sqrt(v) = 0.1
    p1 = 1.0 - 0.1 * math.sqrt(0.001) / 0.1 * 0.05 / (math.sqrt(0.00025) + 1e-7)
    assert p[0] == pytest.approx(p1, rel=1e-12) and p1 == pytest.approx(0.9, rel=1e-5)
    opt.apply_gradients([("w", p, np.array([0.5]))])
    m, v = 0.05 + 0.1 * (0.5 - 0.05), 0.00025 + 0.001 * (0.25 - 0.00025)
    alpha = 0.1 * math.sqrt(1 - 0.999**2) / (1 - 0.9**2)
    assert p[0] == pytest.approx(p1 - alpha * m / (math.sqrt(v) + 1e-7), rel=1e-12)


@pytest.mark.parametrize("name,cls", [("adam", optimizers.Adam), ("RMSprop", optimizers.RMSprop),
                                      ("adagrad", optimizers.Adagrad)])
def test_string_names_work_in_compile(name, cls):
    from convnet.layers import Dense
    from convnet.models import Sequential
    model = Sequential([Dense(2, activation="softmax", input_shape=(3,))])
    model.compile(loss="categorical_crossentropy", optimizer=name)
    assert isinstance(model.optimizer, cls)
    assert model.optimizer.learning_rate == 0.001          # Keras's default
    model.fit(np.ones((4, 3)), np.eye(2)[[0, 1, 0, 1]], epochs=1, verbose=0)
