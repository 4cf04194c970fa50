"""The augmentation layers: the identity at inference, seeded draws in training, geometry by
hand, gradient checks of the adjoint backward passes, configs, and a model that trains with
them first."""

import numpy as np
import pytest

from convnet import backend, gradcheck, optimizers, utils
from convnet.kernels import warp_jit
from convnet.layers import (
    Conv2D,
    Dense,
    Flatten,
    RandomContrast,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    image_warp,
)
from convnet.models import Sequential

TOL = 1e-6


def _images(n=2, h=4, w=4, c=1, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, h, w, c)).astype("float32")


ALL = [
    lambda: RandomFlip(seed=1),
    lambda: RandomTranslation(0.2, 0.3, seed=1),
    lambda: RandomRotation(0.1, seed=1),
    lambda: RandomZoom(0.2, seed=1),
    lambda: RandomContrast(0.3, value_range=(0, 1), seed=1),
]


@pytest.mark.parametrize("make", ALL)
def test_identity_at_inference_and_seeded_in_training(make):
    x = _images(3, 6, 5, 2)
    np.testing.assert_array_equal(make().forward(x), x)
    np.testing.assert_array_equal(make().infer_chunk(x), x)
    a, b = make().forward(x, training=True), make().forward(x, training=True)
    np.testing.assert_array_equal(a, b)                             # the same seed
    layer = make()
    assert not np.array_equal(layer.forward(x, training=True), layer.forward(x, training=True))


def test_each_image_gets_its_own_draw():
    utils.set_random_seed(0)
    x = np.repeat(_images(1, 6, 6), 8, axis=0)
    y = RandomRotation(0.2).forward(x, training=True)
    assert len({y[i].tobytes() for i in range(8)}) == 8


# ----- geometry by hand -------------------------------------------------------------------------
def test_flip_by_hand():
    x = np.arange(6, dtype="float32").reshape(1, 2, 3, 1)
    ys = {RandomFlip("horizontal", seed=s).forward(x, training=True).tobytes()
          for s in range(20)}
    assert ys == {x.tobytes(), x[:, :, ::-1].tobytes()}
    ys = {RandomFlip(seed=s).forward(x, training=True).tobytes() for s in range(40)}
    assert ys == {x.tobytes(), x[:, ::-1].tobytes(), x[:, :, ::-1].tobytes(),
                  x[:, ::-1, ::-1].tobytes()}


def test_translation_by_hand():
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    # a quarter of the height down, no sideways shift: one row, the top filled by fill_mode
    y = RandomTranslation((0.25, 0.25), 0.0, fill_mode="constant", fill_value=-1.0,
                          interpolation="nearest").forward(x, training=True)
    expected = np.concatenate([np.full((1, 1, 4, 1), -1.0), x[:, :3]], axis=1)
    np.testing.assert_array_equal(y, expected)
    y = RandomTranslation(0.0, (-0.25, -0.25), fill_mode="wrap").forward(x, training=True)
    np.testing.assert_allclose(y, np.roll(x, -1, axis=2), atol=1e-6)   # bilinear, whole pixels


def test_rotation_by_hand():
    x = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
    # a quarter turn counter-clockwise (factor 0.25 of a full turn), as np.rot90
    y = RandomRotation((0.25, 0.25)).forward(x, training=True)
    np.testing.assert_allclose(y[0, :, :, 0], np.rot90(x[0, :, :, 0]), atol=1e-5)


def test_zoom_by_hand():
    x = np.arange(25, dtype="float32").reshape(1, 5, 5, 1)
    # z = 1 - 0.5: the output covers half the image about the centre pixel (2, 2): output
    # pixel r reads input row 0.5 r + 1, so rows 1, 1.5, 2, 2.5, 3 (bilinear)
    y = RandomZoom((-0.5, -0.5), fill_mode="nearest").forward(x, training=True)
    rows = np.array([1, 1.5, 2, 2.5, 3])
    np.testing.assert_allclose(y[0, :, :, 0], 5 * rows[:, None] + rows[None, :], atol=1e-5)
    # z = 1.5 zooms out: the centre stays, the border comes from fill_mode
    y = RandomZoom((0.5, 0.5), width_factor=(0.0, 0.0), fill_mode="constant",
                   interpolation="nearest").forward(x, training=True)
    np.testing.assert_array_equal(y[0, 2, :, 0], x[0, 2, :, 0])    # the width is unchanged
    assert y[0, 0, 0, 0] == 0.0 and y[0, 2, 2, 0] == x[0, 2, 2, 0]


def test_contrast_keeps_the_mean_and_scales_deviations():
    x = _images(4, 5, 5, 3)
    layer = RandomContrast(0.5, value_range=(-10, 10), seed=0)
    y = layer.forward(x, training=True)
    mean = x.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(y.mean(axis=(1, 2), keepdims=True), mean, atol=1e-6)
    f = ((y - mean) / (x - mean)).reshape(4, -1)
    np.testing.assert_allclose(f, f[:, :1] * np.ones_like(f), rtol=1e-4)  # one f per image
    assert np.all((0.5 <= f) & (f <= 1.5))
    clipped = RandomContrast((0.9, 0.9), value_range=(0.4, 0.6), seed=0).forward(
        x, training=True)
    assert clipped.min() >= 0.4 and clipped.max() <= 0.6


def test_contrast_factor_ranges():
    for factor, low, high in [(0.2, 0.8, 1.2), ((0.0, 0.2), 1.0, 1.2), ((0.1, 0.3), 0.9, 1.3)]:
        layer = RandomContrast(factor, value_range=(-1e9, 1e9), seed=0)
        x = np.repeat(np.array([[0.0], [1.0]], dtype="float64"), 1, axis=1).reshape(1, 2, 1, 1)
        fs = [float(np.ptp(layer.forward(np.repeat(x, 1, axis=0), training=True)))
              for _ in range(200)]
        assert low - 1e-6 <= min(fs) and max(fs) <= high + 1e-6
        assert min(fs) < low + 0.05 and max(fs) > high - 0.05


def test_warp_matches_keras_map_coordinates_edge_rules():
    # reflect: (d c b a | a b c d | d c b a); wrap; nearest; constant (masked)
    idx = np.arange(-5, 9)
    np.testing.assert_array_equal(image_warp.fix_index(idx, 4, "reflect"),
                                  [3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0])
    np.testing.assert_array_equal(image_warp.fix_index(idx, 4, "wrap"), idx % 4)
    np.testing.assert_array_equal(image_warp.fix_index(idx, 4, "nearest"), np.clip(idx, 0, 3))


# ----- gradients ---------------------------------------------------------------------------------
GRADIENT_CASES = [
    ("flip", lambda: RandomFlip(seed=3), (3, 4, 2)),
    ("flip_vertical_cf", lambda: RandomFlip("vertical", seed=2, data_format="channels_first"),
     (2, 3, 4)),
    ("translation_reflect", lambda: RandomTranslation(0.3, 0.4, seed=1), (4, 5, 2)),
    ("translation_constant_nearest", lambda: RandomTranslation(
        0.3, 0.3, fill_mode="constant", fill_value=0.5, interpolation="nearest", seed=1),
     (4, 4, 1)),
    ("rotation_wrap", lambda: RandomRotation(0.2, fill_mode="wrap", seed=4), (5, 4, 2)),
    ("rotation_constant_cf", lambda: RandomRotation(0.3, fill_mode="constant", seed=5,
                                                    data_format="channels_first"), (2, 4, 5)),
    ("zoom_nearest_fill", lambda: RandomZoom(0.4, 0.3, fill_mode="nearest", seed=6), (5, 5, 1)),
    ("zoom_in_reflect", lambda: RandomZoom((-0.5, -0.2), seed=7), (4, 6, 2)),
    ("contrast", lambda: RandomContrast(0.5, value_range=(-10, 10), seed=8), (3, 4, 2)),
    ("contrast_unseeded", lambda: RandomContrast((0.2, 0.6), value_range=(-10, 10)), (3, 3, 3)),
]


@pytest.mark.parametrize("engine", ["numpy", "fast"])
@pytest.mark.parametrize("factory,shape", [c[1:] for c in GRADIENT_CASES],
                         ids=[c[0] for c in GRADIENT_CASES])
def test_gradients_in_training(factory, shape, engine):
    with backend.engine(engine):
        result = gradcheck.check_layer(factory(), shape, batch_size=3, training=True,
                                       tolerance=TOL)
    assert result.passed, result.table()


def _transforms(n, rng):
    """Rotations, zooms, shears and shifts: a mix of every kind the layers draw."""
    return np.column_stack([rng.uniform(0.5, 1.5, n), rng.uniform(-0.5, 0.5, n),
                            rng.uniform(-3, 3, n), rng.uniform(-0.5, 0.5, n),
                            rng.uniform(0.5, 1.5, n), rng.uniform(-3, 3, n)])


@pytest.mark.parametrize("fill_mode", image_warp.FILL_MODES)
@pytest.mark.parametrize("interpolation", image_warp.INTERPOLATIONS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numba_warp_equals_the_numpy_definition(fill_mode, interpolation, dtype):
    rng = np.random.default_rng(0)
    for n, h, w, c in [(3, 5, 7, 2), (2, 1, 4, 3), (4, 9, 6, 1)]:
        x = rng.standard_normal((n, h, w, c)).astype(dtype)
        t = _transforms(n, rng)
        # the forward adds the same products in the same order: the same bits
        np.testing.assert_array_equal(
            warp_jit.warp(x, t, interpolation, fill_mode, 0.25),
            image_warp.warp(x, t, interpolation, fill_mode, 0.25))
        # the adjoint adds each cell's k contributions in another order: both lie within
        # (k + 1) u S of the exact sum, S the sum of their magnitudes (gamma_k, Higham 2002)
        dy = rng.standard_normal((n, h, w, c)).astype(dtype)
        got = warp_jit.warp_adjoint(dy, t, interpolation, fill_mode)
        expected = image_warp.warp_adjoint(dy, t, interpolation, fill_mode)
        taps = image_warp.taps_for(t, (h, w), (h, w), interpolation, fill_mode)
        count = np.zeros((n, h, w, 1))
        for ri, ci, weight in taps.taps:
            np.add.at(count, (taps.n, ri, ci), (weight > 0)[..., None])
        magnitude = image_warp.warp_adjoint(np.abs(dy).astype(np.float64), t, interpolation,
                                            fill_mode)
        bound = 2 * (count + 1) * np.finfo(dtype).eps / 2 * magnitude
        assert np.all(np.abs(got.astype(np.float64) - expected) <= bound)


def test_contrast_gradient_is_zero_where_clipped():
    layer = RandomContrast(0.5, value_range=(0.0, 0.5), seed=0)
    x = _images(2, 3, 3, 1).astype("float64")
    with gradcheck.float64():
        y = layer.forward(x, training=True)
        dx = layer.backward(np.ones_like(y))
    inside = ((y > 0.0) & (y < 0.5)).astype(float)
    assert 0 < inside.sum() < inside.size                  # some values were clipped
    mean = x.mean(axis=(1, 2), keepdims=True)
    first = np.argmax(inside.reshape(2, -1), axis=1)       # an unclipped pixel per image
    f = np.array([((y[i] - mean[i]) / (x[i] - mean[i])).ravel()[first[i]] for i in range(2)])
    f = f[:, None, None, None]
    # dL/dx = f g + (1 - f) mean(g), with g = dy where not clipped (dy = 1), else 0
    np.testing.assert_allclose(dx, f * inside + (1 - f) * inside.mean(axis=(1, 2),
                                                                      keepdims=True))


def test_first_layer_does_no_backward_work():
    layer = RandomRotation(0.1, seed=0)
    y = layer.forward(_images(), training=True)
    assert layer.backward(np.ones_like(y), input_gradient=False) is None


# ----- configs -------------------------------------------------------------------------------
CONFIGS = [
    (RandomFlip("horizontal", seed=1), {"mode": "horizontal", "seed": 1}),
    (RandomTranslation(0.1, (-0.2, 0.3)), {"height_factor": 0.1, "width_factor": [-0.2, 0.3],
                                            "fill_mode": "reflect", "interpolation": "bilinear",
                                            "fill_value": 0.0, "seed": None}),
    (RandomRotation(0.1, fill_mode="constant"), {"factor": 0.1, "fill_mode": "constant"}),
    (RandomZoom(0.1), {"height_factor": 0.1, "width_factor": None}),
    (RandomContrast(0.2), {"factor": 0.2}),
    (RandomContrast(0.2, value_range=(0, 1)), {"factor": 0.2, "value_range": [0.0, 1.0]}),
    (RandomFlip(data_format="channels_first"), {"data_format": "channels_first"}),
]


@pytest.mark.parametrize("layer,keys", CONFIGS, ids=lambda v: type(v).__name__)
def test_configs_use_keras_names_and_round_trip(layer, keys):
    config = layer.get_config()
    assert {k: config[k] for k in keys} == keys
    assert type(layer).from_config(config).get_config() == config


def test_tf_keras_and_keras3_configs_load():
    # tf-keras 2.21 writes rng_type; Keras 3.15 writes factor pairs and data_format
    RandomFlip.from_config({"name": "f", "trainable": True, "dtype": "float32",
                            "rng_type": "stateful", "mode": "horizontal", "seed": None})
    layer = RandomRotation.from_config({"name": "r", "trainable": True, "dtype": "float32",
                                        "data_format": "channels_last", "factor": [-0.1, 0.1],
                                        "fill_mode": "reflect", "fill_value": 0.0,
                                        "interpolation": "bilinear", "seed": None})
    assert layer.get_config()["factor"] == [-0.1, 0.1]


@pytest.mark.parametrize("make,message", [
    (lambda: RandomFlip("diagonal"), "mode must be one of"),
    (lambda: RandomRotation(1.5), r"factor must be a number or a pair.*in \[-1, 1\]"),
    (lambda: RandomZoom(-1.0), r"height_factor .* in \(-1, 1\]"),
    (lambda: RandomTranslation(0.1, 0.1, fill_mode="mirror"), "fill_mode must be one of"),
    (lambda: RandomTranslation(0.1, 0.1, interpolation="bicubic"), "interpolation must be"),
    (lambda: RandomContrast(0.2, value_range=(1, 0)), "value_range must be a pair"),
    (lambda: RandomFlip(seed=-1), "seed must be a non-negative integer"),
])
def test_bad_arguments_are_refused_clearly(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_images_only():
    with pytest.raises(ValueError, match=r"expects images \(batch, H, W, C\)"):
        RandomFlip().forward(np.ones((2, 3)))


# ----- in a model ----------------------------------------------------------------------------
def test_model_with_augmentation_first_trains_and_predicts_without_it():
    utils.set_random_seed(0)
    augment = [RandomFlip("horizontal", seed=1, input_shape=(6, 6, 1)),
               RandomTranslation(0.1, 0.1, seed=2), RandomRotation(0.05, seed=3),
               RandomZoom(0.1, seed=4), RandomContrast(0.2, value_range=(0, 1), seed=5)]
    model = Sequential(augment + [Conv2D(2, 3, activation="relu"), Flatten(),
                                  Dense(2, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=optimizers.SGD(0.1))
    x, y = _images(8, 6, 6, 1), np.eye(2)[[0, 1] * 4]
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    plain = Sequential([Conv2D(2, 3, activation="relu", input_shape=(6, 6, 1)), Flatten(),
                        Dense(2, activation="softmax")])
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(x), plain.predict(x), rtol=1e-6)
