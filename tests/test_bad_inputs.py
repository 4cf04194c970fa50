"""Every way a user can go wrong, with the exact error class and a fragment of its message.

Each error names the layer or argument, what was expected and what was received; no low-level
IndexError, numba typing error or NumPy broadcasting error reaches the user.
"""

import json

import numpy as np
import pytest

import convnet as keras
from convnet import optimizers, saving, utils
from convnet.datasets import mnist
from convnet.layers import Activation, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from convnet.models import Sequential, model_from_json


def cnn():
    model = Sequential([Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)), MaxPooling2D(),
                        Flatten(), Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adadelta", metrics=["accuracy"])
    return model


def sparse_cnn():
    model = cnn()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adadelta")
    return model


X = np.zeros((4, 8, 8, 1), "float32")
Y = np.eye(3, dtype="float32")[[0, 1, 2, 0]]


def _file(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _weights_of(model, tmp_path, name="other.h5"):
    model.save_weights(tmp_path / name)
    return tmp_path / name


CASES = [
    # (id, action(tmp_path), exception, message fragment)
    ("x of the wrong rank", lambda t: cnn().fit(X[:, 0, :, 0], Y, verbose=0), ValueError,
     r"Conv2D 'conv2d' \(the first layer\) expects input of shape \(batch, 8, 8, 1\), "
     r"got \(4, 8\)"),
    ("x with wrong channels", lambda t: cnn().predict(np.zeros((2, 8, 8, 3))), ValueError,
     r"expects input of shape \(batch, 8, 8, 1\), got \(2, 8, 8, 3\)"),
    ("x with wrong size", lambda t: cnn().evaluate(np.zeros((4, 9, 8, 1)), Y, verbose=0),
     ValueError, r"got \(4, 9, 8, 1\)"),
    ("x/y length mismatch", lambda t: cnn().fit(X, Y[:3], verbose=0), ValueError,
     r"x and y hold different numbers of samples \(4 vs 3\)"),
    ("labels not one-hot", lambda t: cnn().fit(X, np.array([0, 1, 2, 0]), verbose=0), ValueError,
     r"to_categorical\(y, 3\)"),
    ("one-hot with too many classes", lambda t: cnn().fit(X, np.eye(10)[[0, 1, 2, 3]], verbose=0),
     ValueError, r"targets y have shape \(4, 10\) but the model's output .* \(batch, 3\)"),
    ("sparse label out of range", lambda t: sparse_cnn().fit(X, np.array([0, 1, 5, 0]),
                                                             verbose=0),
     ValueError, r"labels must be integers in \[0, 3\)"),
    ("negative sparse label", lambda t: sparse_cnn().fit(X, np.array([0, -1, 2, 0]), verbose=0),
     ValueError, r"labels must be integers in \[0, 3\)"),
    ("string x", lambda t: cnn().fit(np.full((4, 8, 8, 1), "a"), Y, verbose=0), TypeError,
     "x must be a numeric array, got dtype <U1"),
    ("object x", lambda t: cnn().predict(np.array([None] * 4).reshape(4, 1, 1, 1)), TypeError,
     "x must be a numeric array, got dtype object"),
    ("string y", lambda t: cnn().fit(X, np.full((4, 3), "a"), verbose=0), TypeError,
     "y must be numeric, got dtype <U1"),
    ("missing y", lambda t: cnn().fit(X, None, verbose=0), ValueError, r"y \(the targets\)"),
    ("fit before compile", lambda t: Sequential([Dense(3, input_shape=(2,))]).fit(
        np.zeros((2, 2)), np.zeros((2, 3))), RuntimeError, "fit: the model is not compiled"),
    ("evaluate before compile", lambda t: Sequential([Dense(3, input_shape=(2,))]).evaluate(
        np.zeros((2, 2)), np.zeros((2, 3))), RuntimeError, "evaluate: the model is not compiled"),
    ("unknown loss", lambda t: cnn().compile(loss="mse_typo", optimizer="sgd"), ValueError,
     "Unknown loss 'mse_typo'"),
    ("unknown optimizer", lambda t: cnn().compile(loss="categorical_crossentropy",
                                                  optimizer="ftrl"), ValueError,
     "Unknown optimizer 'ftrl'"),
    ("unknown metric", lambda t: cnn().compile(loss="categorical_crossentropy",
                                               optimizer="sgd", metrics=["f1"]), ValueError,
     "Unknown metric 'f1'"),
    ("unknown activation", lambda t: Dense(3, activation="hard_swish"), ValueError,
     "Unknown activation 'hard_swish'"),
    ("dropout rate 1", lambda t: Dropout(1.0), ValueError, r"rate .* must be in \[0, 1\)"),
    ("dropout rate negative", lambda t: Dropout(-0.5), ValueError, r"in \[0, 1\), got -0.5"),
    ("dropout rate text", lambda t: Dropout("half"), ValueError, "got 'half'"),
    ("zero filters", lambda t: Conv2D(0, 3), ValueError, "filters must be a positive integer"),
    ("zero kernel size", lambda t: Conv2D(4, (0, 3)), ValueError, "kernel_size must be"),
    ("negative stride", lambda t: Conv2D(4, 3, strides=-1), ValueError, "strides must be"),
    ("bad padding", lambda t: MaxPooling2D(padding="full"), ValueError,
     "padding must be 'valid' or 'same'"),
    ("zero units", lambda t: Dense(0), ValueError, "units must be a positive integer"),
    ("kernel larger than image", lambda t: Sequential([Conv2D(2, 5, input_shape=(3, 3, 1))]),
     ValueError, r"kernel \(5, 5\) does not fit in a 3x3 input"),
    ("backward before forward", lambda t: Dense(2).backward(np.zeros((1, 2))), RuntimeError,
     r"Dense 'dense': backward\(\) called before forward\(\)"),
    ("layer input of wrong rank", lambda t: Conv2D(2, 3, input_shape=(8, 8, 1)).forward(
        np.zeros((8, 8, 1))), ValueError, r"expects input of shape \(batch, 8, 8, 1\), got "
                                          r"\(8, 8, 1\)"),
    ("gradient of wrong shape", lambda t: (lambda d: (d.forward(np.zeros((2, 3))),
                                                      d.backward(np.zeros((2, 5)))))(Dense(4)),
     ValueError, r"backward expects dL/dy of shape \(2, 4\)"),
    ("batch size zero", lambda t: cnn().fit(X, Y, batch_size=0), ValueError,
     "batch_size must be a positive integer, got 0"),
    ("validation split 1.5", lambda t: cnn().fit(X, Y, validation_split=1.5, verbose=0),
     ValueError, r"validation_split must be in \(0, 1\)"),
    ("learning rate zero", lambda t: optimizers.SGD(learning_rate=0), ValueError,
     "learning_rate must be a positive number"),
    ("to_categorical out of range", lambda t: utils.to_categorical([1, 10], 10), ValueError,
     "label 10 is out of range for num_classes=10"),
    ("set_weights wrong shape", lambda t: cnn().set_weights(
        [np.zeros((3, 3, 1, 5)), np.zeros(4), np.zeros((64, 3)), np.zeros(3)]), ValueError,
     r"layer 'conv2d' weight 'kernel' expects shape \(3, 3, 1, 4\), got \(3, 3, 1, 5\)"),
    ("empty weights file", lambda t: cnn().load_weights(_file(t, "e.h5", b"")),
     saving.CorruptFileError, "e.h5 is empty"),
    ("text file as weights", lambda t: cnn().load_weights(_file(t, "t.h5", b"hello" * 20)),
     saving.CorruptFileError, "t.h5 is not a readable HDF5 file"),
    ("missing weights file", lambda t: cnn().load_weights(t / "nope.h5"),
     saving.CorruptFileError, "weights file not found: .*nope.h5"),
    ("weights of another architecture", lambda t: cnn().load_weights(_weights_of(
        Sequential([Conv2D(5, 3, input_shape=(8, 8, 1)), Flatten(), Dense(3)]), t)),
     saving.WeightsMismatchError, r"layer 'conv2d' \(Conv2D\) weight 'kernel': expected shape "
                                  r"\(3, 3, 1, 4\), found \(3, 3, 1, 5\)"),
    ("weights with too few layers", lambda t: cnn().load_weights(_weights_of(
        Sequential([Dense(3, input_shape=(2,))]), t)), saving.WeightsMismatchError,
     "holds weights for 1 layers"),
    ("malformed JSON", lambda t: model_from_json("{'class_name': 'Sequential'"),
     saving.FormatError, "not valid JSON"),
    ("Lambda layer in JSON", lambda t: model_from_json(json.dumps(
        {"class_name": "Sequential", "config": [{"class_name": "Lambda",
                                                 "config": {"name": "l"}}]})),
     saving.UnknownLayerError, "'Lambda', which convnet does not build"),
    ("subclassed model JSON", lambda t: model_from_json('{"class_name": "MyModel"}'),
     saving.UnknownLayerError, "'MyModel' is not supported"),
    ("functional model JSON without a config",
     lambda t: model_from_json('{"class_name": "Functional"}'),
     saving.FormatError, "'config' must be an object with 'layers'"),
    ("bad suffix for weights", lambda t: cnn().save_weights(t / "w.pt"), saving.FormatError,
     "use a name ending in '.h5'"),
    ("MNIST file that does not exist", lambda t: mnist.load_data(t / "m.npz"),
     mnist.DatasetError, "MNIST file not found"),
    ("summary of an empty model", lambda t: Sequential().summary(), ValueError,
     "not built yet"),
    ("activation object", lambda t: Activation(42), ValueError, "Unknown activation 42"),
]


@pytest.mark.parametrize("action,error,message", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, action, error, message):
    with pytest.raises(error, match=message):
        action(tmp_path)


def test_the_list_is_long():
    assert len(CASES) >= 45
    assert keras.__version__
