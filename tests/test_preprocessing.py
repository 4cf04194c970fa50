"""Digit pictures of any size and colour are prepared the way MNIST digits were."""

import numpy as np
import pytest

from convnet.preprocessing import ImageError, prepare_digit, resize_area, to_gray


def _stroke_image(h=120, w=90, ink=0.0, paper=1.0, rgb=False):
    """A dark vertical bar (a '1') off-centre on white paper."""
    img = np.full((h, w), paper)
    img[20:100, 10:22] = ink
    return np.stack([img] * 3, axis=-1) if rgb else img


def _center_of_mass(a):
    total = a.sum()
    return ((a.sum(axis=1) * np.arange(28)).sum() / total,
            (a.sum(axis=0) * np.arange(28)).sum() / total)


@pytest.mark.parametrize("rgb", [False, True])
def test_dark_on_light_is_inverted_cropped_scaled_and_centred(rgb):
    out = prepare_digit(_stroke_image(rgb=rgb))
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert out.max() == pytest.approx(1.0) and out.min() == 0.0    # scaled by its max: 1 ulp
    assert out[0].max() == 0 and out[:, 0].max() == 0              # black background
    rows = np.flatnonzero(out.max(axis=1) > 0.1)
    assert len(rows) == 20                                         # longest side fits 20
    cy, cx = _center_of_mass(out)
    assert abs(cy - 13.5) <= 0.5 and abs(cx - 13.5) <= 0.5          # centred by mass


def test_light_on_dark_is_kept():
    out = prepare_digit(_stroke_image(ink=1.0, paper=0.0))
    # the same picture inverted: 1 - (1 - v) in float64 differs from v by ~1e-16, and the
    # float32 result of values in [0, 1] by at most an ulp (6e-8)
    np.testing.assert_allclose(out, prepare_digit(_stroke_image()), atol=1e-6)


def test_transparent_background_counts_as_paper():
    rgba = np.zeros((50, 40, 4))
    rgba[10:40, 15:20, 3] = 1.0                                    # opaque black strokes only
    out = prepare_digit(rgba)
    assert out.max() == pytest.approx(1.0) and out[0].max() == 0


def test_aspect_ratio_is_kept():
    img = np.ones((100, 100))
    img[40:60, 10:90] = 0                                          # a wide dash: 20 x 80
    out = prepare_digit(img)
    rows = np.flatnonzero(out.max(axis=1) > 0.1)
    cols = np.flatnonzero(out.max(axis=0) > 0.1)
    assert len(cols) == 20 and 4 <= len(rows) <= 6


def test_blank_image_is_refused():
    with pytest.raises(ImageError, match="no digit found"):
        prepare_digit(np.ones((30, 30)))


def test_resize_area_preserves_the_mean_and_gray():
    a = np.random.default_rng(0).uniform(0, 1, (37, 23))
    # float64 area weights sum to 1: the mean moves by rounding only (~1e-15)
    assert resize_area(a, 10, 7).mean() == pytest.approx(a.mean(), rel=1e-9)
    rgb = np.ones((4, 4, 3)) * [1.0, 0.0, 0.0]
    assert to_gray(rgb)[0, 0] == pytest.approx(0.299)
