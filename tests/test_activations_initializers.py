"""The activations beyond the tutorial's (Keras 3's elu, selu, softplus, softsign, relu6,
hard_sigmoid, exponential, leaky_relu) and the initialisers, by name and as objects."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from convnet import activations, backend, gradcheck, initializers, utils
from convnet.initializers import (
    Constant,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    Identity,
    LecunNormal,
    LecunUniform,
    Ones,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    Zeros,
)
from convnet.layers import Activation, BatchNormalization, Conv2D, Dense
from convnet.models import Sequential, model_from_json

TOL = 1e-5  # float64 central differences, as tests/test_gradients.py
NEW = ["elu", "selu", "softplus", "softsign", "relu6", "hard_sigmoid", "exponential",
       "leaky_relu"]
FIXTURES = Path(__file__).parent / "fixtures" / "keras"


# ----- activations: values ---------------------------------------------------------------------
E = math.e
SA, SS = 1.6732632423543772, 1.0507009873554805   # SELU's alpha and scale
VALUES = {  # name: [(z, y by hand)]
    "elu": [(-1.0, 1 / E - 1), (0.0, 0.0), (2.0, 2.0)],
    "selu": [(-1.0, SS * SA * (1 / E - 1)), (2.0, 2 * SS)],
    "softplus": [(0.0, math.log(2)), (1.0, math.log(1 + E)), (-800.0, 0.0), (800.0, 800.0)],
    "softsign": [(-3.0, -0.75), (0.0, 0.0), (1.0, 0.5)],
    "relu6": [(-2.0, 0.0), (3.5, 3.5), (9.0, 6.0)],
    "hard_sigmoid": [(-4.0, 0.0), (-3.0, 0.0), (0.0, 0.5), (1.5, 0.75), (3.0, 1.0), (7.0, 1.0)],
    "exponential": [(0.0, 1.0), (1.0, E), (-2.0, E ** -2)],
    "leaky_relu": [(-5.0, -1.0), (0.0, 0.0), (4.0, 4.0)],
}


@pytest.mark.parametrize("name", NEW)
def test_values_by_hand(name):
    _, f, _ = activations.lookup(name)
    z = np.array([p[0] for p in VALUES[name]])
    expected = np.array([p[1] for p in VALUES[name]])
    np.testing.assert_allclose(f(z), expected, rtol=1e-12, atol=1e-300,
                               err_msg=f"{name}: ours vs by hand at z={z}")


def test_hard_sigmoid_is_keras_3s_not_tf_keras_2s():
    # Keras 3: relu6(2.5 + 3) / 6 = 5.5 / 6; tf-keras 2.x: 0.2 * 2.5 + 0.5 = 1.0
    assert activations.hard_sigmoid(np.array(2.5))[()] == pytest.approx(5.5 / 6)


@pytest.mark.parametrize("name", NEW)
def test_forward_into_out_overwrites_the_input(name):
    """Layers pass their own z as ``out=``; the result must be as without it."""
    _, f, _ = activations.lookup(name)
    z = np.linspace(-7, 7, 29)
    expected = f(z.copy())
    buffer = z.copy()
    y = f(buffer, out=buffer)
    assert y is buffer
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("name", NEW)
def test_float32_stays_float32(name):
    _, f, b = activations.lookup(name)
    z = np.linspace(-2, 2, 9, dtype=np.float32)
    y = f(z)
    assert y.dtype == np.float32 and b(np.ones_like(y), y).dtype == np.float32


# ----- activations: derivatives from y ---------------------------------------------------------
# Points on both sides of every kink (0 for all; 6 for relu6; -3 and 3 for hard_sigmoid),
# at least 0.05 away from it, so the central difference (h = 1e-6) never straddles one.
Z = np.array([-7.9, -4.2, -3.05, -2.95, -1.3, -0.4, -0.05, 0.05, 0.3, 1.1, 2.95, 3.05, 4.4,
              5.95, 6.05, 7.9])


@pytest.mark.parametrize("name", NEW)
def test_derivative_from_y_matches_central_differences(name):
    _, f, b = activations.lookup(name)
    h = 1e-6
    numeric = (f(Z + h) - f(Z - h)) / (2 * h)
    analytic = b(np.ones_like(Z), f(Z))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8,
                               err_msg=f"{name}: dy/dz from y (ours) vs central differences")


@pytest.mark.parametrize("name", NEW)
def test_activation_layer_passes_the_gradient_check(name):
    result = gradcheck.check_layer(Activation(name), (3, 4), batch_size=2, tolerance=TOL)
    assert result.passed, result.table()


@pytest.mark.parametrize("name", NEW)
def test_dense_uses_each_by_name(name):
    # weights with stddev 2: pre-activations spread over about [-6, 6], past every kink
    layer = Dense(4, activation=name, kernel_initializer=RandomNormal(stddev=2.0, seed=1),
                  bias_initializer=RandomNormal(stddev=1.0, seed=2))
    result = gradcheck.check_layer(layer, (5,), batch_size=3, tolerance=TOL)
    assert result.passed, result.table()
    x = np.linspace(-1, 1, 10).reshape(2, 5)
    z = x @ layer.params["kernel"] + layer.params["bias"]
    np.testing.assert_allclose(layer(x), activations.lookup(name)[1](z), rtol=1e-12)
    assert layer.get_config()["activation"] == name


@pytest.mark.parametrize("engine", ["numpy", "fast"])
@pytest.mark.parametrize("name", ["elu", "hard_sigmoid", "softplus"])
def test_conv2d_uses_them_on_both_engines(engine, name):
    with backend.engine(engine):
        layer = Conv2D(3, 3, activation=name, kernel_initializer=HeNormal(seed=4))
        result = gradcheck.check_layer(layer, (5, 5, 2), batch_size=2, tolerance=TOL)
    assert result.passed, result.table()


def test_get_accepts_the_functions_and_keras_3s_serialised_form():
    assert activations.lookup(activations.selu)[0] == "selu"
    assert activations.lookup({"module": "builtins", "class_name": "function", "config": "relu6",
                            "registered_name": "function"})[0] == "relu6"
    assert Activation(activations.leaky_relu).get_config()["activation"] == "leaky_relu"
    assert set(NEW) <= set(activations.names())


@pytest.mark.parametrize("name", ["hard_silu", "hard_swish"])
def test_keras_activations_convnet_lacks_are_refused_with_the_reason(name):
    with pytest.raises(ValueError, match=f"Unknown activation '{name}': Keras has it, but "
                                         "convnet does not support it yet"):
        Dense(3, activation=name)


def test_unknown_activation_names_the_choices():
    with pytest.raises(ValueError, match=r"Unknown activation 'elux'; expected one of \["):
        activations.lookup("elux")


# ----- initializers: statistics ----------------------------------------------------------------
SHAPE = (3, 3, 64, 128)                     # a Conv2D kernel: fan_in 576, fan_out 1152
FAN_IN, FAN_OUT = 3 * 3 * 64, 3 * 3 * 128
N = int(np.prod(SHAPE))                      # 73,728 samples
# With N samples, the sample mean has standard error std / sqrt(N), and the sample std a relative
# standard error sqrt((kurtosis - 1) / 4N) <= 1 / sqrt(2N) for these (kurtosis <= 3). Allow 5
# standard errors: a false failure has probability below 1e-6 (and the seed is fixed anyway).
MEAN_BOUND = 5 / math.sqrt(N)               # times the std
STD_BOUND = 5 / math.sqrt(2 * N)            # relative
TRUNC = 0.87962566103423978                 # std of a unit normal cut at +-2

STATS = [  # (initializer, expected mean, expected std, bound on |w - mean| or None)
    ("glorot_uniform", 0.0, math.sqrt(2 / (FAN_IN + FAN_OUT)),
     math.sqrt(6 / (FAN_IN + FAN_OUT))),
    ("glorot_normal", 0.0, math.sqrt(2 / (FAN_IN + FAN_OUT)),
     2 * math.sqrt(2 / (FAN_IN + FAN_OUT)) / TRUNC),
    ("he_uniform", 0.0, math.sqrt(2 / FAN_IN), math.sqrt(6 / FAN_IN)),
    ("he_normal", 0.0, math.sqrt(2 / FAN_IN), 2 * math.sqrt(2 / FAN_IN) / TRUNC),
    ("lecun_uniform", 0.0, math.sqrt(1 / FAN_IN), math.sqrt(3 / FAN_IN)),
    ("lecun_normal", 0.0, math.sqrt(1 / FAN_IN), 2 * math.sqrt(1 / FAN_IN) / TRUNC),
    ("random_normal", 0.0, 0.05, None),
    ("random_uniform", 0.0, 0.1 / math.sqrt(12), 0.05),
    ("truncated_normal", 0.0, 0.05 * TRUNC, 0.1),
    (RandomNormal(mean=1.0, stddev=0.5), 1.0, 0.5, None),
    (RandomUniform(minval=2.0, maxval=4.0), 3.0, 2 / math.sqrt(12), 1.0),
    (TruncatedNormal(mean=-1.0, stddev=0.2), -1.0, 0.2 * TRUNC, 0.4),
    (VarianceScaling(scale=3.0, mode="fan_out", distribution="untruncated_normal"), 0.0,
     math.sqrt(3 / FAN_OUT), None),
    (VarianceScaling(scale=0.5, mode="fan_avg", distribution="uniform"), 0.0,
     math.sqrt(0.5 / ((FAN_IN + FAN_OUT) / 2)), math.sqrt(1.5 / ((FAN_IN + FAN_OUT) / 2))),
    (VarianceScaling(scale=2.0, mode="fan_in", distribution="truncated_normal"), 0.0,
     math.sqrt(2 / FAN_IN), 2 * math.sqrt(2 / FAN_IN) / TRUNC),
]


@pytest.mark.parametrize("init, mean, std, bound", STATS, ids=[str(s[0]) for s in STATS])
def test_statistics_follow_keras_fan_rules(init, mean, std, bound):
    utils.set_random_seed(11)
    w = initializers.initialize(init, SHAPE, "float64")
    assert w.shape == SHAPE and w.dtype == np.float64
    assert abs(w.mean() - mean) <= MEAN_BOUND * std, f"mean {w.mean()} vs {mean}"
    assert abs(w.std() / std - 1) <= STD_BOUND, f"std {w.std()} vs {std}"
    if bound is not None:
        assert np.abs(w - mean).max() <= bound
        assert np.abs(w - mean).max() > 0.95 * bound       # the whole range is used


def test_dense_fans_are_its_input_and_output_sizes():
    utils.set_random_seed(3)
    w = initializers.initialize("he_uniform", (300, 200), "float64")
    assert np.abs(w).max() <= math.sqrt(6 / 300) and np.abs(w).max() > 0.99 * math.sqrt(6 / 300)


@pytest.mark.parametrize("init, value", [("zeros", 0.0), ("ones", 1.0), (Zeros(), 0.0),
                                         (Ones(), 1.0), (Constant(2.5), 2.5), ("constant", 0.0)])
def test_constants(init, value):
    w = initializers.initialize(init, (2, 3), "float32")
    assert w.dtype == np.float32 and np.all(w == value)


@pytest.mark.parametrize("shape", [(40, 40), (72, 16), (10, 30), (3, 3, 8, 16)])
def test_orthogonal_is_orthogonal(shape):
    w = Orthogonal(gain=2.0, seed=1)(shape, "float64")
    m = w.reshape(-1, shape[-1])
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(len(gram)), atol=1e-12)


def test_identity():
    np.testing.assert_array_equal(Identity(gain=3.0)((2, 3), "float64"),
                                  [[3, 0, 0], [0, 3, 0]])


# ----- initializers: seeds ---------------------------------------------------------------------
SEEDED = [RandomNormal(seed=5), RandomUniform(seed=5), TruncatedNormal(seed=5), GlorotNormal(5),
          GlorotUniform(5), HeNormal(5), HeUniform(5), LecunNormal(5), LecunUniform(5),
          VarianceScaling(seed=5), Orthogonal(seed=5)]


@pytest.mark.parametrize("init", SEEDED, ids=repr)
def test_a_seeded_initializer_gives_the_same_weights_every_time(init):
    utils.set_random_seed(1)
    a = init((4, 6), "float32")
    utils.set_random_seed(2)                            # convnet's generator does not matter
    b = init((4, 6), "float32")
    c = type(init).from_config(init.get_config())((4, 6), "float32")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, type(init)(**{**init.get_config(), "seed": 6})((4, 6)))


def test_unseeded_draw_from_convnets_generator():
    utils.set_random_seed(7)
    a, b = HeNormal()((4, 6)), HeNormal()((4, 6))
    assert not np.array_equal(a, b)                     # two layers get different weights
    utils.set_random_seed(7)
    np.testing.assert_array_equal(HeNormal()((4, 6)), a)


def test_two_layers_with_one_seeded_initializer_start_equal():
    init = GlorotUniform(seed=9)
    a, b = Dense(3, kernel_initializer=init), Dense(3, kernel_initializer=init)
    a.build((4,))
    b.build((4,))
    np.testing.assert_array_equal(a.params["kernel"], b.params["kernel"])


# ----- initializers: names, objects and their JSON ---------------------------------------------
@pytest.mark.parametrize("spec, expected", [
    ("he_normal", "he_normal"), ("HeNormal", "he_normal"), (HeNormal(), "he_normal"),
    (HeNormal, "he_normal"), ("lecun_normal", "lecun_normal"), ("orthogonal", "orthogonal"),
    ("truncated_normal", "truncated_normal"), ("uniform", "random_uniform"), ("zero", "zeros"),
    ({"class_name": "GlorotUniform", "config": {"seed": None}}, "glorot_uniform"),
    (HeNormal(seed=1), HeNormal(seed=1)), (Constant(0.5), Constant(0.5)),
])
def test_normalize_keeps_names_for_defaults_and_objects_otherwise(spec, expected):
    assert initializers.normalize(spec) == expected


@pytest.mark.parametrize("spec, written", [
    ("glorot_uniform", {"class_name": "GlorotUniform", "config": {"seed": None}}),
    ("zeros", {"class_name": "Zeros", "config": {}}),
    (HeNormal(seed=1), {"class_name": "HeNormal", "config": {"seed": 1}}),
    (RandomNormal(0.0, 0.1, 3), {"class_name": "RandomNormal",
                                 "config": {"mean": 0.0, "stddev": 0.1, "seed": 3}}),
    (RandomUniform(-1, 1), {"class_name": "RandomUniform",
                            "config": {"minval": -1.0, "maxval": 1.0, "seed": None}}),
    (Constant(2), {"class_name": "Constant", "config": {"value": 2.0}}),
    (Orthogonal(gain=0.5), {"class_name": "Orthogonal", "config": {"gain": 0.5, "seed": None}}),
    (VarianceScaling(2.0, "fan_out", "uniform", 4), {
        "class_name": "VarianceScaling",
        "config": {"scale": 2.0, "mode": "fan_out", "distribution": "uniform", "seed": 4}}),
    (Identity(), {"class_name": "Identity", "config": {"gain": 1.0}}),
])
def test_serialize_writes_what_tf_keras_and_keras_3_both_read(spec, written):
    """``{"class_name", "config"}`` with exactly the constructor's arguments in both (no
    Keras-3-only keys such as input_axes, which tf-keras would refuse)."""
    assert initializers.serialize(spec) == written
    assert initializers.normalize(written) == initializers.normalize(spec)


def test_keras_3_dicts_load_with_module_registered_name_and_null_axes():
    spec = {"module": "keras.initializers", "class_name": "HeNormal",
            "config": {"seed": 1, "input_axes": None, "output_axes": None},
            "registered_name": None}
    assert initializers.normalize(spec) == HeNormal(seed=1)
    assert initializers.normalize({"class_name": "VarianceScaling", "config": {
        "scale": 1.0, "mode": "fan_avg", "distribution": "normal", "seed": 2}}) == \
        VarianceScaling(1.0, "fan_avg", "truncated_normal", 2)      # tf-keras's "normal"


def test_json_round_trip_of_a_model_with_initializer_objects():
    model = Sequential([
        Conv2D(4, 3, input_shape=(6, 6, 1), activation="elu",
               kernel_initializer=HeNormal(seed=1), bias_initializer=Constant(0.1)),
        Activation("hard_sigmoid"),
        BatchNormalization(gamma_initializer=RandomUniform(0.9, 1.1, seed=2)),
        Dense(3, activation="softsign", kernel_initializer=Orthogonal(seed=3),
              bias_initializer="ones"),
    ])
    text = model.to_json()
    entries = json.loads(text)["config"]["layers"]
    assert entries[1]["config"]["kernel_initializer"] == {"class_name": "HeNormal",
                                                          "config": {"seed": 1}}
    assert entries[4]["config"]["kernel_initializer"] == {"class_name": "Orthogonal",
                                                          "config": {"gain": 1.0, "seed": 3}}
    clone = model_from_json(text)
    assert clone.to_json() == text
    for ours, theirs in zip(model.layers, clone.layers):   # seeded: the very same weights
        for key, value in ours.params.items():
            np.testing.assert_array_equal(theirs.params[key], value, err_msg=f"{ours.name} {key}")


def test_a_keras_3_file_with_a_seeded_initializer_loads():
    description = json.loads((FIXTURES / "seed_k3" / "model.json").read_text())
    dense = next(e for e in description["config"]["layers"] if e["class_name"] == "Dense")
    dense["config"]["kernel_initializer"] = {
        "module": "keras.initializers", "class_name": "HeNormal",
        "config": {"seed": 1, "input_axes": None, "output_axes": None}, "registered_name": None}
    model = model_from_json(json.dumps(description))
    layer = next(la for la in model.layers if isinstance(la, Dense))
    assert layer.kernel_initializer == HeNormal(seed=1)
    np.testing.assert_array_equal(layer.params["kernel"],
                                  HeNormal(seed=1)(layer.params["kernel"].shape, "float32"))


def test_an_unknown_initializer_in_a_file_falls_back_with_a_warning():
    description = json.loads((FIXTURES / "seed_k3" / "model.json").read_text())
    dense = next(e for e in description["config"]["layers"] if e["class_name"] == "Dense")
    dense["config"]["kernel_initializer"] = {"class_name": "STFT", "config": {}}
    with pytest.warns(UserWarning, match="Unknown initializer 'STFT'"):
        model = model_from_json(json.dumps(description))
    assert next(la for la in model.layers if isinstance(la, Dense)).kernel_initializer == \
        "glorot_uniform"


# ----- initializers: errors --------------------------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda: Dense(3, kernel_initializer="he_normall"), "Unknown initializer 'he_normall'"),
    (lambda: initializers.normalize(42), "Unknown initializer 42"),
    (lambda: initializers.normalize({"class_name": "HeNormal", "config": {"sead": 1}}),
     "initializer 'HeNormal': config {'sead': 1} has arguments HeNormal does not take; "
     "it takes ['seed']"),
    (lambda: RandomNormal(stddev=-1), "RandomNormal: stddev must be a positive number, got -1"),
    (lambda: RandomUniform(1, 0), "RandomUniform: maxval must be greater than minval"),
    (lambda: HeNormal(seed=-3), "HeNormal: seed must be None or a non-negative integer, got -3"),
    (lambda: HeNormal(seed=1.5), "seed must be None or a non-negative integer, got 1.5"),
    (lambda: Constant("a"), "Constant: value must be a finite number, got 'a'"),
    (lambda: VarianceScaling(mode="fan_max"), "VarianceScaling: mode must be one of "
                                              "['fan_in', 'fan_out', 'fan_avg'], got 'fan_max'"),
    (lambda: VarianceScaling(distribution="gaussian"), "distribution must be one of"),
    (lambda: VarianceScaling(scale=0), "VarianceScaling: scale must be a positive number"),
    (lambda: Orthogonal()((5,)), "Orthogonal initializer needs a shape of at least 2 "
                                 "dimensions, got (5,)"),
    (lambda: Identity()((2, 2, 2)), "Identity initializer needs a 2-D shape, got (2, 2, 2)"),
    (lambda: BatchNormalization(beta_initializer="orthogonal").build((4, 3)),
     "Orthogonal initializer needs a shape of at least 2 dimensions, got (3,)"),
])
def test_bad_initializers_are_refused_clearly(make, message):
    with pytest.raises(ValueError) as info:
        make()
    assert message in str(info.value), f"ours: {info.value}\nexpected: {message}"


def test_layer_activation_is_callable_and_equal_to_its_name_as_in_keras():
    import json

    import numpy as np

    from convnet.layers import Conv2D
    layer = Dense(3, activation="relu")
    assert layer.activation == "relu" and layer.activation.__name__ == "relu"
    np.testing.assert_array_equal(layer.activation(np.array([-1.0, 2.0])), [0.0, 2.0])
    assert json.loads(json.dumps(layer.get_config()))["activation"] == "relu"
    # the saliency-map idiom: swap the last softmax for linear, and the layer follows it
    head = Dense(2, activation="softmax")
    x = np.array([[1.0, -1.0]], "float32")
    head.build((2,))
    head.params["kernel"][...] = [[2.0, 0.0], [0.0, 1.0]]
    probabilities = head.forward(x)
    head.activation = activations.linear
    assert head.activation == "linear"
    np.testing.assert_allclose(head.forward(x), [[2.0, -1.0]])
    assert probabilities.sum() == pytest.approx(1.0)
    conv = Conv2D(1, 1, activation=activations.elu)
    assert conv.activation == "elu" and callable(conv.activation)
