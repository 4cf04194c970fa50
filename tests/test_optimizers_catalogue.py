"""The Keras 3 optimizer catalogue: Nadam, Adamax, AdamW, Lion, the options every optimizer takes
(amsgrad, clipnorm, global_clipnorm, clipvalue, weight_decay, decay) and the learning-rate
schedules, each checked against values worked out by hand (formulas in the optimizers'
docstrings). Tolerances as in test_optimizers.py: float64, one update, ``rel=1e-12``."""

import json
import math
import os
import subprocess

import numpy as np
import pytest

from convnet import backend, callbacks, optimizers, utils
from convnet.layers import Dense
from convnet.models import Sequential

schedules = optimizers.schedules


def step(opt, p, *grads, name="w"):
    for g in grads:
        opt.apply_gradients([(name, p, np.array(g, dtype=float))])
    return p


# -- the new optimizers, by hand --------------------------------------------------------------

def test_adamax_two_steps_by_hand():
    p = step(optimizers.Adamax(learning_rate=0.1), np.array([1.0]), [0.5], [-0.2])
    # t=1: m = 0.05, u = max(0, 0.5) = 0.5, p = 1 - 0.1 * 0.05 / ((1 - 0.9) * (0.5 + 1e-7))
    p1 = 1.0 - 0.1 * 0.05 / (0.1 * (0.5 + 1e-7))
    # t=2: m = 0.05 + 0.1 * (-0.2 - 0.05) = 0.025, u = max(0.999 * 0.5, 0.2) = 0.4995
    p2 = p1 - 0.1 * 0.025 / ((1 - 0.9**2) * (0.4995 + 1e-7))
    assert p[0] == pytest.approx(p2, rel=1e-12)


def test_nadam_two_steps_by_hand():
    opt = optimizers.Nadam(learning_rate=0.1)
    p = step(opt, np.array([1.0]), [0.5])
    mu1, mu2, mu3 = (0.9 * (1 - 0.5 * 0.96**s) for s in (1, 2, 3))
    assert (mu1, mu2) == pytest.approx((0.468, 0.48528))
    # t=1: m = 0.05, v = 0.00025, v_hat = 0.25
    m_hat = mu2 * 0.05 / (1 - mu1 * mu2) + (1 - mu1) * 0.5 / (1 - mu1)
    p1 = 1.0 - 0.1 * m_hat / (math.sqrt(0.25) + 1e-7)
    assert p[0] == pytest.approx(p1, rel=1e-12) and p1 == pytest.approx(0.893721, rel=1e-6)
    step(opt, p, [0.5])
    m, v = 0.05 + 0.1 * 0.45, 0.00025 + 0.001 * (0.25 - 0.00025)
    m_hat = mu3 * m / (1 - mu1 * mu2 * mu3) + (1 - mu2) * 0.5 / (1 - mu1 * mu2)
    p2 = p1 - 0.1 * m_hat / (math.sqrt(v / (1 - 0.999**2)) + 1e-7)
    assert p[0] == pytest.approx(p2, rel=1e-12)
    assert set(opt.state) == {"m", "v"}          # the mu product is a function of the step


def test_adamw_decays_the_weights_before_adams_update():
    opt = optimizers.AdamW(learning_rate=0.1)      # Keras 3's default weight_decay = 0.004
    assert opt.weight_decay == 0.004
    p = step(opt, np.array([1.0]), [0.5])
    decayed = 1.0 - 1.0 * 0.004 * 0.1             # 0.9996
    adam = 0.1 * math.sqrt(0.001) / 0.1 * 0.05 / (math.sqrt(0.00025) + 1e-7)
    assert p[0] == pytest.approx(decayed - adam, rel=1e-12)


def test_lion_two_steps_by_hand():
    p = np.array([1.0, 1.0])
    opt = optimizers.Lion(learning_rate=0.1)       # beta_1 0.9, beta_2 0.99
    step(opt, p, [0.5, -0.2])                      # m = 0: sign(0.1 g) = [+1, -1]
    np.testing.assert_allclose(p, [0.9, 1.1], rtol=1e-12)
    np.testing.assert_allclose(opt.state["m"]["w"], [0.005, -0.002], rtol=1e-12)
    # step 2, element 0: 0.9 * 0.005 + 0.1 * -0.01 = 0.0035 > 0 -- the momentum wins
    step(opt, p, [-0.01, -0.2])
    np.testing.assert_allclose(p, [0.8, 1.2], rtol=1e-12)


def test_amsgrad_keeps_the_largest_second_moment():
    p, q = np.array([1.0]), np.array([1.0])
    step(optimizers.Adam(learning_rate=0.1, beta_2=0.5, amsgrad=True), p, [1.0], [0.0])
    step(optimizers.Adam(learning_rate=0.1, beta_2=0.5), q, [1.0], [0.0])
    # t=1: m = 0.1, v = v_hat = 0.5; t=2: m = 0.09, v = 0.25 but v_hat stays 0.5
    p1 = 1.0 - 0.1 * math.sqrt(0.5) / 0.1 * 0.1 / (math.sqrt(0.5) + 1e-7)
    alpha = 0.1 * math.sqrt(1 - 0.25) / (1 - 0.81)
    assert p[0] == pytest.approx(p1 - alpha * 0.09 / (math.sqrt(0.5) + 1e-7), rel=1e-12)
    assert q[0] == pytest.approx(p1 - alpha * 0.09 / (math.sqrt(0.25) + 1e-7), rel=1e-12)
    assert optimizers.AdamW(amsgrad=True).get_config()["amsgrad"] is True


# -- options every optimizer takes ------------------------------------------------------------

def test_clipnorm_clips_each_gradient_by_its_own_norm():
    a, b = np.zeros(2), np.zeros(1)
    ga, gb = np.array([3.0, 4.0]), np.array([0.5])
    optimizers.SGD(learning_rate=1.0, clipnorm=1.0).apply_gradients([("a", a, ga), ("b", b, gb)])
    np.testing.assert_allclose(a, [-0.6, -0.8], rtol=1e-12)     # norm 5 -> 1
    np.testing.assert_allclose(b, [-0.5], rtol=1e-12)           # norm 0.5 < 1: unchanged
    np.testing.assert_array_equal(ga, [3.0, 4.0])               # the layer's grads are untouched


def test_global_clipnorm_scales_all_gradients_together():
    a, b = np.zeros(2), np.zeros(1)
    opt = optimizers.SGD(learning_rate=1.0, global_clipnorm=2.6)
    opt.apply_gradients([("a", a, np.array([3.0, 4.0])), ("b", b, np.array([12.0]))])
    # global norm sqrt(9 + 16 + 144) = 13 -> scale 2.6 / 13 = 0.2
    np.testing.assert_allclose(a, [-0.6, -0.8], rtol=1e-12)
    np.testing.assert_allclose(b, [-2.4], rtol=1e-12)


def test_clipvalue_clips_each_element():
    p = step(optimizers.SGD(learning_rate=1.0, clipvalue=1.0), np.zeros(3), [-3.0, 0.5, 2.0])
    np.testing.assert_allclose(p, [1.0, -0.5, -1.0])


def test_weight_decay_is_decoupled_and_can_exclude_names():
    k, bias = np.array([2.0]), np.array([2.0])
    opt = optimizers.SGD(learning_rate=0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    opt.apply_gradients([("dense/kernel", k, np.array([0.5])),
                         ("dense/bias", bias, np.array([0.5]))])
    assert k[0] == pytest.approx(2.0 - 2.0 * 0.5 * 0.1 - 0.1 * 0.5, rel=1e-12)    # 1.85
    assert bias[0] == pytest.approx(2.0 - 0.1 * 0.5, rel=1e-12)                   # 1.95


def test_time_based_decay_of_tf_keras():
    p = step(optimizers.SGD(learning_rate=0.1, decay=1.0), np.array([0.0]), [1.0], [1.0], [1.0])
    # lr / (1 + decay * iterations): 0.1, 0.05, 0.0333...
    assert p[0] == pytest.approx(-(0.1 + 0.1 / 2 + 0.1 / 3), rel=1e-12)
    assert optimizers.Adam(decay=0.01).get_config()["decay"] == 0.01


# -- schedules --------------------------------------------------------------------------------

def test_exponential_and_inverse_time_decay():
    s = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert [s(0), s(10), s(20)] == pytest.approx([0.1, 0.05, 0.025])
    assert s(5) == pytest.approx(0.1 * math.sqrt(0.5))
    assert schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)(15) == pytest.approx(0.05)
    t = schedules.InverseTimeDecay(1.0, decay_steps=10, decay_rate=0.5)
    assert [t(0), t(20), t(15)] == pytest.approx([1.0, 0.5, 1 / 1.75])
    assert schedules.InverseTimeDecay(1.0, 10, 0.5, staircase=True)(15) == pytest.approx(1 / 1.5)


def test_piecewise_constant_decay_boundaries_belong_to_the_left():
    s = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [s(0), s(10), s(11), s(20), s(21)] == [1.0, 1.0, 0.5, 0.5, 0.1]


def test_cosine_decay_with_alpha_and_warmup():
    s = schedules.CosineDecay(1.0, decay_steps=10, alpha=0.1)
    # (1 - alpha) * 0.5 * (1 + cos(pi * step / 10)) + alpha
    assert [s(0), s(5), s(10), s(20)] == pytest.approx([1.0, 0.55, 0.1, 0.1])
    w = schedules.CosineDecay(0.0, decay_steps=10, warmup_target=1.0, warmup_steps=4)
    # linear 0 -> 1 over 4 steps, then cosine from 1 over the next 10
    assert [w(0), w(2), w(4), w(9), w(14), w(30)] == pytest.approx([0, 0.5, 1, 0.5, 0, 0],
                                                                   abs=1e-12)


def test_polynomial_decay_with_and_without_cycle():
    s = schedules.PolynomialDecay(1.0, decay_steps=10, end_learning_rate=0.0, power=2.0)
    assert [s(0), s(5), s(10), s(20)] == pytest.approx([1.0, 0.25, 0.0, 0.0])
    c = schedules.PolynomialDecay(1.0, decay_steps=10, end_learning_rate=0.0, power=2.0,
                                  cycle=True)
    # step 15: decay_steps becomes 10 * ceil(1.5) = 20, (1 - 15/20)**2 = 0.0625
    assert [c(0), c(15)] == pytest.approx([1.0, 0.0625])
    assert schedules.PolynomialDecay(0.1, 10)(10) == pytest.approx(0.0001)   # Keras's default end


@pytest.mark.parametrize("schedule", [
    schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True),
    schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1]),
    schedules.InverseTimeDecay(1.0, 10, 0.5),
    schedules.CosineDecay(0.0, 10, alpha=0.1, warmup_target=1.0, warmup_steps=4),
    schedules.PolynomialDecay(1.0, 10, power=2.0, cycle=True)])
def test_schedules_round_trip_through_their_configs(schedule):
    clone = type(schedule).from_config(schedule.get_config())
    again = schedules.deserialize(schedules.serialize(schedule))
    assert [clone(s) for s in range(0, 40, 3)] == [schedule(s) for s in range(0, 40, 3)]
    assert again.get_config() == schedule.get_config()


def test_optimizer_follows_a_schedule_or_a_callable_step_by_step():
    lr = schedules.PiecewiseConstantDecay([0], [0.1, 0.01])      # 0.1 at step 0, then 0.01
    opt = optimizers.SGD(learning_rate=lr)
    assert opt.learning_rate == 0.1
    p = step(opt, np.array([0.0]), [1.0], [1.0])
    assert p[0] == pytest.approx(-0.11) and opt.learning_rate == 0.01
    p = step(optimizers.SGD(learning_rate=lambda t: 0.1 / (t + 1)), np.array([0.0]), [1.0], [1.0])
    assert p[0] == pytest.approx(-0.15)
    p = step(optimizers.SGD(learning_rate=lambda: 0.2), np.array([0.0]), [1.0])   # Keras 3's kind
    assert p[0] == pytest.approx(-0.2)
    config = optimizers.Adam(learning_rate=schedules.ExponentialDecay(0.1, 10, 0.5)).get_config()
    assert config["learning_rate"]["class_name"] == "ExponentialDecay"
    clone = optimizers.Adam.from_config(config)
    assert isinstance(clone._learning_rate, schedules.ExponentialDecay)


def _fit_with(opt, cb, epochs=3):
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    model.compile(loss="categorical_crossentropy", optimizer=opt)
    rng = np.random.default_rng(0)
    model.fit(rng.uniform(0, 1, (16, 4)), np.eye(3)[rng.integers(0, 3, 16)], epochs=epochs,
              verbose=0, callbacks=[cb])


def test_callbacks_refuse_to_set_a_scheduled_rate_as_keras_does():
    lr = schedules.ExponentialDecay(0.1, 10, 0.5)
    with pytest.raises(TypeError, match="created with a LearningRateSchedule as its "
                                        "learning_rate, so its learning rate cannot be set"):
        _fit_with(optimizers.SGD(learning_rate=lr),
                  callbacks.LearningRateScheduler(lambda epoch: 0.01))
    with pytest.raises(TypeError, match="cannot be set"):
        _fit_with(optimizers.SGD(learning_rate=lr),
                  callbacks.ReduceLROnPlateau(monitor="loss", patience=0, min_delta=10.0))
    opt = optimizers.SGD(learning_rate=0.1)              # a number stays settable
    _fit_with(opt, callbacks.LearningRateScheduler(lambda epoch: 0.01))
    assert opt.learning_rate == 0.01


# -- configs, names, errors -------------------------------------------------------------------

KERAS_BASE_KEYS = {"name", "learning_rate", "weight_decay", "clipnorm", "global_clipnorm",
                   "clipvalue", "use_ema", "ema_momentum", "ema_overwrite_frequency",
                   "loss_scale_factor", "gradient_accumulation_steps"}
OWN_KEYS = {"adam": {"beta_1", "beta_2", "epsilon", "amsgrad"},
            "adamw": {"beta_1", "beta_2", "epsilon", "amsgrad"},
            "adamax": {"beta_1", "beta_2", "epsilon"}, "nadam": {"beta_1", "beta_2", "epsilon"},
            "lion": {"beta_1", "beta_2"}, "sgd": {"momentum", "nesterov"},
            "rmsprop": {"rho", "momentum", "epsilon"}, "adadelta": {"rho", "epsilon"},
            "adagrad": {"initial_accumulator_value", "epsilon"}}


@pytest.mark.parametrize("name", sorted(OWN_KEYS))
def test_configs_have_keras_keys_and_round_trip(name):
    opt = optimizers.get(name)
    assert type(opt).__name__.lower() == name
    config = opt.get_config()
    assert set(config) == KERAS_BASE_KEYS | OWN_KEYS[name]
    clone = type(opt).from_config(config)
    assert clone.get_config() == config
    assert optimizers.get(optimizers.serialize(opt)).get_config() == config
    tuned = type(opt).from_config({**config, "clipnorm": 1.0, "weight_decay": 0.01})
    assert (tuned.clipnorm, tuned.weight_decay) == (1.0, 0.01)


def test_bad_arguments_say_what_is_wrong():
    cases = [
        (lambda: optimizers.Adam(beta_1=2), ValueError, r"Adam: beta_1 must be in \[0, 1\), got 2"),
        (lambda: optimizers.Nadam(beta_2=-0.1), ValueError, r"Nadam: beta_2 must be in \[0, 1\)"),
        (lambda: optimizers.Adamax(beta_1="x"), ValueError, r"Adamax: beta_1 must be in"),
        (lambda: optimizers.Lion(beta_1=0), ValueError, r"Lion: beta_1 must be in \(0, 1\]"),
        (lambda: optimizers.AdamW(weight_decay=None), ValueError, "AdamW: weight_decay must be"),
        (lambda: optimizers.SGD(weight_decay=-1), ValueError, "SGD: weight_decay must be a "
                                                              "number >= 0, got -1"),
        (lambda: optimizers.Adam(clipnorm=1, clipvalue=1), ValueError,
         "only one of clipnorm, clipvalue and global_clipnorm"),
        (lambda: optimizers.Adam(global_clipnorm=0), ValueError,
         "global_clipnorm must be a positive number, got 0"),
        (lambda: optimizers.SGD(decay=-0.5), ValueError, "decay must be a number >= 0"),
        (lambda: optimizers.Adam(use_ema=True), ValueError, "use_ema is not supported"),
        (lambda: optimizers.Adam(amsgrad=True, beta3=1), TypeError, "unexpected arguments"),
        (lambda: optimizers.get("ftrl"), ValueError, "Unknown optimizer 'ftrl'"),
        (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), ValueError,
         "ExponentialDecay: decay_steps must be a positive number, got 0"),
        (lambda: schedules.PiecewiseConstantDecay([1, 2], [0.1]), ValueError,
         "values must have one more entry than boundaries"),
        (lambda: schedules.deserialize({"class_name": "StepDecay"}), ValueError,
         "Unknown learning-rate schedule 'StepDecay'"),
    ]
    for make, error, message in cases:
        with pytest.raises(error, match=message):
            make()


# -- in a model -------------------------------------------------------------------------------

def _data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 4))
    return x, np.eye(3)[np.argmax(x[:, :3] + 0.5 * x[:, 3:], axis=1)]


@pytest.mark.parametrize("opt", [
    optimizers.Nadam(learning_rate=0.01), optimizers.Adamax(learning_rate=0.01),
    optimizers.AdamW(learning_rate=0.01), optimizers.Lion(learning_rate=0.003),
    optimizers.Adam(learning_rate=0.01, amsgrad=True),
    optimizers.SGD(learning_rate=0.1, clipnorm=0.5, weight_decay=0.01),
    optimizers.RMSprop(learning_rate=0.01, global_clipnorm=1.0, decay=0.01),
    optimizers.Adagrad(learning_rate=0.1, clipvalue=0.1),
    optimizers.Adadelta(learning_rate=schedules.CosineDecay(1.0, 40, warmup_target=2.0,
                                                            warmup_steps=5)),
], ids=lambda o: type(o).__name__)
def test_a_tiny_model_trains_with_each(opt):
    x, y = _data()
    model = Sequential([Dense(8, activation="relu", input_shape=(4,)),
                        Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=opt)
    losses = model.fit(x, y, batch_size=16, epochs=8, verbose=0).history["loss"]
    assert losses[-1] < 0.9 * losses[0], losses


@pytest.mark.parametrize("make", [lambda: optimizers.AdamW(learning_rate=0.01, amsgrad=True),
                                  lambda: optimizers.Nadam(learning_rate=0.01, clipnorm=1.0)],
                         ids=["AdamW", "Nadam"])
def test_checkpoint_restores_the_state_and_continues_identically(make, tmp_path):
    x, y = _data()

    def model():
        m = Sequential([Dense(8, activation="relu", input_shape=(4,)),
                        Dense(3, activation="softmax")])
        m.compile(loss="categorical_crossentropy", optimizer=make())
        return m

    utils.set_random_seed(3)
    straight = model()
    straight.fit(x, y, batch_size=16, epochs=4, verbose=0)

    backend.clear_session()
    utils.set_random_seed(3)
    first = model()
    first.fit(x, y, batch_size=16, epochs=2, verbose=0)
    first.save_checkpoint(tmp_path / "c.h5", 2)

    backend.clear_session()
    utils.set_random_seed(99)
    resumed = model()
    assert resumed.load_checkpoint(tmp_path / "c.h5") == 2
    assert resumed.optimizer.iterations == 8
    for slot, per_param in first.optimizer.state.items():
        for name, value in per_param.items():
            np.testing.assert_array_equal(resumed.optimizer.state[slot][name], value)
    resumed.fit(x, y, batch_size=16, epochs=4, initial_epoch=2, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


# -- optional: the same numbers as real Keras 3 -----------------------------------------------

KERAS_SIDE = r"""
import importlib.util, json, sys
if importlib.util.find_spec("tf_keras") is not None:
    print("SKIP: a tf-keras interpreter; these are Keras 3's formulas"); sys.exit(0)
import numpy as np, keras
if int(keras.__version__.split(".")[0]) < 3:
    print("SKIP: not Keras 3"); sys.exit(0)
cases, data = json.load(open(sys.argv[1])), np.load(sys.argv[2])
S = keras.optimizers.schedules
for i, (name, kw, lr) in enumerate(cases):
    if lr is not None:
        kw["learning_rate"] = getattr(S, lr[0])(**lr[1])
    opt = getattr(keras.optimizers, name)(**kw)
    vs = [keras.Variable(data["p0"], dtype="float64"), keras.Variable(data["p1"], dtype="float64")]
    for s in range(data["steps"]):
        opt.apply_gradients([(keras.ops.convert_to_tensor(data[f"g{s}_{j}"]), v)
                             for j, v in enumerate(vs)])
    for j, v in enumerate(vs):
        ours = data[f"case{i}_{j}"]
        rel = np.max(np.abs(keras.ops.convert_to_numpy(v) - ours) / (np.abs(ours) + 1e-3))
        print(("OK  " if rel < 1e-6 else "FAIL"), name, kw, f"rel={rel:.1e}")
"""

# learning rates and decays exactly representable in float32 (Keras keeps the learning rate in a
# float32 variable); RMSprop is left out: convnet keeps tf-keras 2.x's sqrt(v) + epsilon, Keras 3
# has sqrt(v + epsilon)
KERAS_CASES = [
    ("Adam", {"learning_rate": 0.0625}, None),
    ("Adam", {"learning_rate": 0.0625, "amsgrad": True, "weight_decay": 0.125}, None),
    ("AdamW", {"learning_rate": 0.0625}, None),
    ("AdamW", {"learning_rate": 0.0625, "weight_decay": 0.25, "amsgrad": True}, None),
    ("Adamax", {"learning_rate": 0.0625}, None), ("Nadam", {"learning_rate": 0.0625}, None),
    ("Lion", {"learning_rate": 0.0625, "beta_1": 0.5, "beta_2": 0.75}, None),
    ("SGD", {"learning_rate": 0.0625, "momentum": 0.9, "nesterov": True, "clipnorm": 0.5}, None),
    ("Adagrad", {"learning_rate": 0.0625, "global_clipnorm": 0.5}, None),
    ("Adadelta", {"learning_rate": 1.0, "clipvalue": 0.25}, None),
    ("Nadam", {"weight_decay": 0.125},
     ("CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 6, "alpha": 0.125,
                      "warmup_target": 0.25, "warmup_steps": 3})),
    ("SGD", {"momentum": 0.5}, ("ExponentialDecay", {"initial_learning_rate": 0.25,
                                                     "decay_steps": 3, "decay_rate": 0.5})),
    ("SGD", {}, ("PiecewiseConstantDecay", {"boundaries": [2, 5], "values": [0.5, 0.25, 0.125]})),
    ("SGD", {}, ("InverseTimeDecay", {"initial_learning_rate": 0.5, "decay_steps": 2,
                                      "decay_rate": 0.5, "staircase": True})),
    ("SGD", {}, ("PolynomialDecay", {"initial_learning_rate": 0.5, "decay_steps": 4,
                                     "end_learning_rate": 0.0625, "power": 2.0, "cycle": True})),
]
KERAS_PYTHONS = [p for p in os.environ.get("CONVNET_KERAS_PYTHONS", "").split(os.pathsep) if p]


@pytest.mark.skipif(not KERAS_PYTHONS, reason="set CONVNET_KERAS_PYTHONS to interpreters with "
                                              "Keras (see test_keras_interop.py)")
@pytest.mark.parametrize("python", KERAS_PYTHONS)
def test_the_same_numbers_as_real_keras_3(python, tmp_path):
    rng, steps = np.random.default_rng(0), 8
    data = {"p0": rng.normal(size=3), "p1": rng.normal(size=(2, 2)), "steps": steps}
    data.update({f"g{s}_{j}": rng.normal(size=data[f"p{j}"].shape)
                 for s in range(steps) for j in (0, 1)})
    for i, (name, kw, lr) in enumerate(KERAS_CASES):
        if lr is not None:
            kw = {**kw, "learning_rate": getattr(schedules, lr[0])(**lr[1])}
        opt = getattr(optimizers, name)(**kw)
        ps = [data["p0"].copy(), data["p1"].copy()]
        for s in range(steps):
            opt.apply_gradients([(f"l/p{j}", p, data[f"g{s}_{j}"]) for j, p in enumerate(ps)])
        data.update({f"case{i}_{j}": p for j, p in enumerate(ps)})
    np.savez(tmp_path / "data.npz", **data)
    (tmp_path / "cases.json").write_text(json.dumps(KERAS_CASES))
    (tmp_path / "keras_side.py").write_text(KERAS_SIDE)
    env = dict(os.environ)
    env.setdefault("KERAS_BACKEND", "torch")
    env.pop("PYTHONPATH", None)
    result = subprocess.run([python, str(tmp_path / "keras_side.py"), str(tmp_path / "cases.json"),
                             str(tmp_path / "data.npz")], capture_output=True, text=True, env=env,
                            timeout=600)
    if result.stdout.startswith("SKIP"):
        pytest.skip(result.stdout.strip())
    report = [line for line in result.stdout.splitlines() if line[:4] in ("OK  ", "FAIL")]
    assert result.returncode == 0 and len(report) == 2 * len(KERAS_CASES), (result.stdout
                                                                            + result.stderr)
    assert not [line for line in report if line.startswith("FAIL")], result.stdout


def test_a_checkpoint_with_a_scheduled_learning_rate_resumes(tmp_path):
    from convnet import optimizers as opts
    from convnet.layers import Dense
    from convnet.models import Sequential

    def make():
        from convnet import backend
        backend.clear_session()                      # the same layer names both times
        model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
        schedule = opts.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
        model.compile(loss="categorical_crossentropy", optimizer=opts.Adam(schedule))
        return model

    rng = np.random.default_rng(0)
    x, y = rng.random((8, 4)).astype("float32"), np.eye(3)[rng.integers(0, 3, 8)]
    model = make()
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    model.save_checkpoint(tmp_path / "c.h5", 1)
    again = make()
    again.build((None, 4))
    assert again.load_checkpoint(tmp_path / "c.h5") == 1
    assert again.optimizer.iterations == 2
    assert again.optimizer.learning_rate == model.optimizer.learning_rate == 0.05
