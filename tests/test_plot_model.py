"""plot_model: a PNG of the model's graph drawn with matplotlib (keras.utils.plot_model)."""

import os

import numpy as np
import pytest
from PIL import Image

import convnet
from convnet.layers import Add, Conv2D, Dense, Flatten, MaxPooling2D
from convnet.utils import plot_model


def sequential():
    return convnet.Sequential([Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
                               MaxPooling2D(), Flatten(), Dense(10, activation="softmax")])


def residual():
    inputs = convnet.Input((8, 8, 4))
    x = Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = Conv2D(4, 3, padding="same")(x)
    x = Add()([inputs, x])
    return convnet.Model(inputs, Dense(2)(Flatten()(x)))


def picture(path):
    with Image.open(path) as img:
        return np.asarray(img.convert("L"), dtype=np.float64)


def assert_chained(img):
    """Down the centre line of the boxes (that of the top box), boxes and the arrows between
    them leave no white gap."""
    top = np.flatnonzero((img < 250).any(axis=1))[0]
    cols = np.flatnonzero(img[top + 2] < 250)
    middle = img[:, (cols[0] + cols[-1]) // 2] < 250
    rows = np.flatnonzero(middle)
    assert rows[-1] - rows[0] > 0.8 * len(middle)
    assert middle[rows[0]:rows[-1] + 1].all(), "an arrow is missing between two boxes"


def test_sequential_png_has_a_box_per_layer(tmp_path):
    path = tmp_path / "model.png"
    plot_model(sequential(), to_file=str(path), show_shapes=True, dpi=50)
    img = picture(path)
    h, w = img.shape
    assert 150 < h < 1000 and 80 < w < 600 and h > w      # a column of 5 boxes
    assert_chained(img)
    assert not any(name.endswith(".tmp") for name in os.listdir(tmp_path))


def test_functional_residual_model(tmp_path):
    model = residual()
    tall = tmp_path / "tall.png"
    wide = tmp_path / "wide.png"
    plot_model(model, to_file=str(tall), show_shapes=True, show_layer_names=True, dpi=50)
    plot_model(model, to_file=str(wide), rankdir="LR", dpi=50)
    img = picture(tall)
    h, w = img.shape
    assert 250 < h < 1200 and h > w                        # six rows
    assert_chained(img)
    h, w = picture(wide).shape
    assert w > 3 * h                                       # six boxes side by side


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="rankdir"):
        plot_model(sequential(), to_file=str(tmp_path / "m.png"), rankdir="BT")
    with pytest.raises(ValueError, match="not built"):
        plot_model(convnet.Sequential([Dense(2)]), to_file=str(tmp_path / "m.png"))
    with pytest.raises(FileNotFoundError, match="no such folder"):
        plot_model(sequential(), to_file=str(tmp_path / "nowhere" / "m.png"))
    assert os.listdir(tmp_path) == []
