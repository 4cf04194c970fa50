"""A survey of what Keras users type, run against convnet (issue 14).

Each entry is a short snippet in the spelling of tf.keras (2018-2023 tutorials) or Keras 3
(keras.io examples), executed with ``exec`` in a namespace holding ``keras`` (``import convnet as
keras``), ``layers``, ``np``, tiny data (``x``: 32 MNIST-shaped float32 images, ``y`` one-hot,
``y_int`` labels), ``tmp`` (an empty folder) and two model builders. The expected outcome is

* ``"works"``: it runs, and its own ``assert`` checks that it did the right thing (shapes,
  values, files), so a wrong result fails too;
* ``"refused"``: it raises an error of a plain type (not AttributeError, IndexError, KeyError,
  ZeroDivisionError, UnboundLocalError or a numba error) whose message names the feature or
  argument (every word in ``names``, case-insensitive): RNNs, embeddings and text are out of
  scope, and so is anything else convnet does not do, but it must say so.

An entry with ``xfail`` set fails today in an unclear way (a crash deep inside, an
AttributeError, a wrong result, or silently doing something Keras does differently); the reason
says what goes wrong and where the fix belongs. ``tests/test_keras_spellings.py`` runs every
entry under pytest (``xfail`` strictly, so a fixed entry shows up as XPASS and its mark must be
removed); ``python tests/keras_spellings.py`` prints the summary and each unclear outcome.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import textwrap
import traceback
import warnings
from dataclasses import dataclass

import numpy as np

# exception types that mean "crashed somewhere", never "refused clearly"
UNCLEAR_TYPES = (AttributeError, IndexError, KeyError, ZeroDivisionError, UnboundLocalError,
                 NameError, AssertionError)


@dataclass(frozen=True)
class Entry:
    id: str
    src: str
    expect: str = "works"            # "works" or "refused"
    names: tuple[str, ...] = ()      # for "refused": words the message must contain
    xfail: str | None = None         # why it fails unclearly today (and where the fix belongs)
    gap: str | None = None           # for "refused": Keras accepts this (what convnet could do)


ENTRIES: list[Entry] = []


def works(id: str, src: str, xfail: str | None = None) -> None:
    ENTRIES.append(Entry(id, textwrap.dedent(src).strip(), "works", (), xfail))


def refused(id: str, src: str, *names: str, xfail: str | None = None,
            gap: str | None = None) -> None:
    if not names:
        raise ValueError(f"{id}: a refused entry must name the words its error has to contain")
    ENTRIES.append(Entry(id, textwrap.dedent(src).strip(), "refused", names, xfail, gap))


# ---------------------------------------------------------------------------------------------
# the namespace every snippet runs in

_FRESH_SUBMODULES: dict[str, set[str]] | None = None


def fresh_submodules() -> dict[str, set[str]]:
    """For each convnet module, the names of its submodule attributes right after a bare
    ``import convnet`` (measured once in a subprocess, since this process may have imported more:
    ``keras.preprocessing`` must not work here only because an earlier snippet imported it)."""
    global _FRESH_SUBMODULES
    if _FRESH_SUBMODULES is None:
        import json
        import subprocess
        code = ("import json, sys, types, convnet\n"
                "print(json.dumps({n: [k for k, v in vars(m).items() "
                "if isinstance(v, types.ModuleType)] for n, m in list(sys.modules.items()) "
                "if n == 'convnet' or n.startswith('convnet.')}))")
        env = dict(os.environ, CONVNET_COMPILE_NOTICE="0")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, check=True).stdout
        _FRESH_SUBMODULES = {k: set(v) for k, v in json.loads(out.strip().splitlines()[-1]).items()}
    return _FRESH_SUBMODULES


class FreshModule:
    """A convnet module as a user's ``import convnet as keras`` sees it: attribute access as
    usual, except submodules that a bare ``import convnet`` does not load."""

    def __init__(self, module) -> None:
        self.__module = module

    def __getattr__(self, name: str):
        import types
        module = self.__module
        value = getattr(module, name)
        if isinstance(value, types.ModuleType) and value.__name__.startswith("convnet"):
            lazy = getattr(module, "_LAZY_MODULES", ())     # loaded on first use, by design
            fresh = fresh_submodules()
            # a module a bare import does not load (convnet.preprocessing, loaded on first use)
            # brings its own submodules with it
            if module.__name__ in fresh and name not in fresh[module.__name__] \
                    and name not in lazy:
                raise AttributeError(f"module {module.__name__!r} has no attribute {name!r} "
                                     "(after a bare import convnet)")
            return FreshModule(value)
        return value

    def __repr__(self) -> str:
        return repr(self.__module)

def namespace(tmp: str) -> dict:
    """Fresh names for one snippet: keras, layers, np, the tiny data set and model builders."""
    import convnet as keras
    from convnet import backend, layers, utils

    backend.set_floatx("float32")
    backend.set_image_data_format("channels_last")
    backend.clear_session()
    utils.set_random_seed(1234)
    rng = np.random.default_rng(0)
    x = rng.random((32, 28, 28, 1), dtype=np.float32)
    y_int = np.arange(32) % 10
    y = np.eye(10, dtype=np.float32)[y_int]

    def dense_model(compile: bool = True, **compile_args):
        """Input(28, 28, 1) -> Flatten -> Dense(10, softmax), compiled with Adam by default."""
        model = keras.Sequential([keras.Input(shape=(28, 28, 1)), layers.Flatten(),
                                  layers.Dense(10, activation="softmax")])
        if compile:
            args = {"optimizer": "adam", "loss": "categorical_crossentropy",
                    "metrics": ["accuracy"]}
            args.update(compile_args)
            model.compile(**args)
        return model

    def conv_model(compile: bool = True):
        """A small CNN: Conv2D(4, 3, strides 2) -> MaxPooling2D -> Flatten -> Dense(10)."""
        model = keras.Sequential([keras.Input(shape=(28, 28, 1)),
                                  layers.Conv2D(4, 3, strides=2, activation="relu"),
                                  layers.MaxPooling2D(), layers.Flatten(),
                                  layers.Dense(10, activation="softmax")])
        if compile:
            model.compile(optimizer="adam", loss="categorical_crossentropy",
                          metrics=["accuracy"])
        return model

    return {"keras": FreshModule(keras), "layers": FreshModule(layers), "np": np,
            "x": x, "y": y, "y_int": y_int,
            "tmp": tmp, "os": os, "dense_model": dense_model, "conv_model": conv_model}


def run(entry: Entry, tmp: str) -> BaseException | None:
    """Execute one snippet; return the exception it raised, or None. Output is swallowed."""
    ns = namespace(tmp)
    out = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(out):
            warnings.simplefilter("ignore")
            exec(compile(entry.src, f"<{entry.id}>", "exec"), ns)
    except Exception as exc:  # noqa: BLE001 -- classifying every failure is the point
        return exc
    finally:
        from convnet import backend
        backend.set_floatx("float32")
        backend.set_image_data_format("channels_last")
    return None


def is_clear_refusal(exc: BaseException, names: tuple[str, ...]) -> bool:
    """A plain exception type (or convnet's NotSupportedError, an AttributeError on purpose)
    whose message contains every word of ``names``."""
    from convnet.not_supported import NotSupportedError
    if not isinstance(exc, NotSupportedError) and (
            isinstance(exc, UNCLEAR_TYPES) or type(exc).__module__.startswith("numba")):
        return False
    message = f"{type(exc).__name__}: {exc}".lower()
    return all(name.lower() in message for name in names)


def outcome(entry: Entry, exc: BaseException | None) -> str:
    """'works', 'refused' (clearly, as expected) or 'unclear' (anything else)."""
    if entry.expect == "works":
        return "works" if exc is None else "unclear"
    if exc is not None and is_clear_refusal(exc, entry.names):
        return "refused"
    return "unclear"


def describe(entry: Entry, exc: BaseException | None) -> str:
    """Why an outcome is unclear: what was expected and what happened."""
    if exc is None:
        got = "ran without an error"
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        where = next((f"{os.path.relpath(f.filename)}:{f.lineno} in {f.name}"
                      for f in reversed(frames) if "convnet" in f.filename), "the snippet")
        got = f"{type(exc).__name__}: {str(exc)[:300]} (raised at {where})"
    want = ("to run" if entry.expect == "works"
            else f"an error naming {', '.join(entry.names)}")
    return f"expected {want}; {got}"


# ---------------------------------------------------------------------------------------------
# the catalogue

# --- building models: Sequential, functional, Input ----------------------------------------------

works("sequential_list", """
    model = keras.Sequential([keras.Input(shape=(28, 28, 1)), layers.Flatten(),
                              layers.Dense(10, activation="softmax")])
    assert model.predict(x, verbose=0).shape == (32, 10)
""")
works("sequential_add_input_shape", """
    model = keras.models.Sequential()
    model.add(layers.Flatten(input_shape=(28, 28, 1)))
    model.add(layers.Dense(10, activation="softmax"))
    assert model.output_shape == (None, 10)
""")
works("sequential_add_input", """
    model = keras.Sequential()
    model.add(keras.Input(shape=(28, 28, 1)))
    model.add(layers.Conv2D(8, 3))
    assert model.output_shape == (None, 26, 26, 8)
""")
works("sequential_name", """
    model = keras.Sequential([layers.Dense(3, input_shape=(4,))], name="my_model")
    assert model.name == "my_model"
""")
works("sequential_input_dim", """
    model = keras.Sequential([layers.Dense(64, input_dim=784, activation="relu"), layers.Dense(10)])
    assert model.predict(x.reshape(32, 784), verbose=0).shape == (32, 10)
""")
works("sequential_deferred_build", """
    model = keras.Sequential([layers.Flatten(), layers.Dense(10)])
    out = model.predict(x, verbose=0)
    assert out.shape == (32, 10) and model.built
""")
works("sequential_build_method", """
    model = keras.Sequential([layers.Conv2D(4, 3), layers.Flatten(), layers.Dense(10)])
    model.build((None, 28, 28, 1))
    assert model.output_shape == (None, 10)
""")
works("sequential_pop", """
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Flatten(), layers.Dense(32),
                              layers.Dense(10)])
    model.pop()
    assert len(model.layers) == 2 and model.output_shape == (None, 32)
""")
works("inputlayer_input_shape_tfkeras", """
    model = keras.Sequential([layers.InputLayer(input_shape=(28, 28, 1)), layers.Flatten()])
    assert model.output_shape == (None, 784)
""")
works("inputlayer_shape_keras3", """
    model = keras.Sequential([layers.InputLayer(shape=(28, 28, 1)), layers.Flatten()])
    assert model.output_shape == (None, 784)
""")
works("layers_input", """
    inputs = layers.Input(shape=(28, 28, 1))
    model = keras.Model(inputs, layers.Flatten()(inputs))
    assert model.output_shape == (None, 784)
""")
works("input_named_dtype", """
    inputs = keras.Input(shape=(28, 28, 1), name="image", dtype="float32")
    outputs = layers.Dense(10)(layers.Flatten()(inputs))
    model = keras.Model(inputs=inputs, outputs=outputs, name="classifier")
    assert model.name == "classifier" and model.input_names == ["image"]
""")
works("input_batch_size", """
    inputs = keras.Input(shape=(28, 28, 1), batch_size=32)
    model = keras.Model(inputs, layers.Flatten()(inputs))
    assert model.predict(x, verbose=0).shape == (32, 784)
""")
works("functional_cnn", """
    inputs = keras.Input(shape=(28, 28, 1))
    h = layers.Conv2D(4, 3, strides=2, activation="relu")(inputs)
    h = layers.MaxPooling2D(2)(h)
    h = layers.Flatten()(h)
    outputs = layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    model.fit(x[:8], y[:8], epochs=1, verbose=0)
    p = model.predict(x[:8], verbose=0)
    assert p.shape == (8, 10) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
""")
works("functional_models_Model", """
    inputs = keras.Input(shape=(4,))
    model = keras.models.Model(inputs, layers.Dense(2)(inputs))
    assert model.output_shape == (None, 2)
""")
works("functional_residual_add", """
    inputs = keras.Input(shape=(8, 8, 4))
    h = layers.Conv2D(4, 3, padding="same")(inputs)
    h = layers.add([h, inputs])
    model = keras.Model(inputs, h)
    assert model.predict(np.ones((2, 8, 8, 4), "float32"), verbose=0).shape == (2, 8, 8, 4)
""")
works("functional_concatenate_two_inputs", """
    a = keras.Input(shape=(3,))
    b = keras.Input(shape=(5,))
    out = layers.Dense(1)(layers.concatenate([a, b]))
    model = keras.Model(inputs=[a, b], outputs=out)
    assert model.predict([np.ones((4, 3)), np.ones((4, 5))], verbose=0).shape == (4, 1)
""")
works("functional_two_outputs", """
    inputs = keras.Input(shape=(28, 28, 1))
    h = layers.Flatten()(inputs)
    cls = layers.Dense(10, activation="softmax", name="cls")(h)
    reg = layers.Dense(1, name="reg")(h)
    model = keras.Model(inputs, [cls, reg])
    model.compile(optimizer="adam", loss=["categorical_crossentropy", "mse"],
                  loss_weights=[1.0, 0.5])
    hist = model.fit(x, [y, y_int.astype("float32")], epochs=1, verbose=0)
    assert "cls_loss" in hist.history and "reg_loss" in hist.history
""")
works("functional_dict_losses", """
    inputs = keras.Input(shape=(28, 28, 1))
    h = layers.Flatten()(inputs)
    cls = layers.Dense(10, activation="softmax", name="cls")(h)
    reg = layers.Dense(1, name="reg")(h)
    model = keras.Model(inputs, [cls, reg])
    model.compile(optimizer="adam", loss={"cls": "categorical_crossentropy", "reg": "mse"},
                  metrics={"cls": ["accuracy"]})
    hist = model.fit(x, {"cls": y, "reg": np.zeros((32, 1))}, epochs=1, verbose=0)
    assert "cls_accuracy" in hist.history
""")
works("feature_extractor", """
    model = conv_model()
    extractor = keras.Model(inputs=model.inputs, outputs=[l.output for l in model.layers])
    feats = extractor.predict(x[:2], verbose=0)
    assert len(feats) == 4 and feats[0].shape == (2, 13, 13, 4)
""")
works("intermediate_model_get_layer_output", """
    model = conv_model()
    name = model.layers[0].name
    sub = keras.Model(model.input, model.get_layer(name).output)
    assert sub.predict(x[:2], verbose=0).shape == (2, 13, 13, 4)
""")
works("model_call_on_array", """
    model = dense_model(compile=False)
    out = model(x)
    assert np.asarray(out).shape == (32, 10)
""")
works("model_call_training_false", """
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Flatten(), layers.Dropout(0.5)])
    out = np.asarray(model(x, training=False))
    assert np.array_equal(out, x.reshape(32, -1))
""")
works("layer_call_on_array", """
    dense = layers.Dense(3, kernel_initializer="ones", bias_initializer="zeros")
    out = dense(np.ones((2, 4), "float32"))
    assert np.allclose(np.asarray(out), 4.0)
""")
works("subclassed_model", """
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.flat = layers.Flatten()
            self.d1 = layers.Dense(16, activation="relu")
            self.d2 = layers.Dense(10, activation="softmax")
        def call(self, inputs):
            return self.d2(self.d1(self.flat(inputs)))
    model = Net()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y_int, epochs=1, batch_size=16, verbose=0)
    assert len(hist.history["loss"]) == 1
    assert model.predict(x, verbose=0).shape == (32, 10)
""")
works("subclassed_model_training_arg", """
    class Net(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.flat = layers.Flatten()
            self.drop = layers.Dropout(0.5)
            self.out = layers.Dense(10, activation="softmax")
        def call(self, inputs, training=False):
            return self.out(self.drop(self.flat(inputs), training=training))
    model = Net(name="net")
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert model.name == "net" and model.predict(x, verbose=0).shape == (32, 10)
""")
works("nested_sequential_in_functional", """
    block = keras.Sequential([layers.Conv2D(4, 3, strides=2, activation="relu"),
                              layers.MaxPooling2D()])
    inputs = keras.Input((28, 28, 1))
    outputs = layers.Dense(10, activation="softmax")(layers.Flatten()(block(inputs)))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x[:8], y[:8], epochs=1, verbose=0)
    assert model.output_shape == (None, 10)
""")
works("clone_model", """
    model = dense_model()
    twin = keras.models.clone_model(model)
    assert twin.output_shape == (None, 10) and twin is not model
    assert len(twin.get_weights()) == len(model.get_weights())
""")
works("clone_model_copy_weights", """
    model = dense_model()
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    assert np.allclose(twin.predict(x, verbose=0), model.predict(x, verbose=0))
""")
works("transfer_freeze_base", """
    base = conv_model(compile=False)
    base.trainable = False
    inputs = keras.Input((28, 28, 1))
    outputs = layers.Dense(2, activation="softmax")(base(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = base.layers[0].get_weights()[0].copy()
    model.fit(x, y_int % 2, epochs=1, verbose=0)
    assert np.array_equal(before, base.layers[0].get_weights()[0])
""")
works("custom_layer_add_weight_call", """
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones",
                                     trainable=True, name="w")
        def call(self, inputs):
            return inputs * self.w
    model = keras.Sequential([keras.Input((4,)), Scale()])
    assert np.allclose(model.predict(np.full((2, 4), 3.0, "float32"), verbose=0), 3.0)
""")
refused("custom_layer_fit_needs_gradient", """
    class Square(layers.Layer):
        def call(self, inputs):
            return inputs ** 2
    model = keras.Sequential([keras.Input((4,)), layers.Dense(4), Square(), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 4)), np.ones((4, 1)), verbose=0)
""", "Square")
works("custom_layer_below_every_weight_trains", """
    class Square(layers.Layer):
        def call(self, inputs):
            return inputs ** 2
    model = keras.Sequential([keras.Input((4,)), Square(), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    before = model.layers[-1].get_weights()[0].copy()
    model.fit(np.ones((4, 4)), np.ones((4, 1)), verbose=0)
    assert not np.allclose(model.layers[-1].get_weights()[0], before)
""")
works("model_in_sequential", """
    inner = keras.Sequential([layers.Dense(4)])
    outer = keras.Sequential([keras.Input((3,)), inner, layers.Dense(1)])
    v = np.random.default_rng(1).random((2, 3), dtype="float32")
    h = v @ inner.layers[0].get_weights()[0] + inner.layers[0].get_weights()[1]
    k, b = outer.layers[-1].get_weights()
    assert np.allclose(outer.predict(v, verbose=0), h @ k + b, atol=1e-5)
""")
works("augmentation_sequential_in_sequential", """
    augment = keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)])
    model = keras.Sequential([keras.Input((28, 28, 1)), augment, layers.Conv2D(4, 3, strides=2),
                              layers.Flatten(), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    hist = model.fit(x[:8], y[:8], epochs=1, verbose=0)
    assert len(hist.history["loss"]) == 1 and model.output_shape == (None, 10)
""")


# --- layers and their common arguments -----------------------------------------------------------

def _shape(id, layer_src, in_shape, out_shape, xfail=None):
    """A layer built in a Sequential on ``in_shape`` must give ``out_shape`` (and predict it)."""
    works(id, f"""
        model = keras.Sequential([keras.Input({in_shape!r}), {layer_src}])
        assert model.output_shape == (None,) + {out_shape!r}, model.output_shape
        v = np.random.default_rng(0).random((2,) + {in_shape!r}, dtype="float32")
        out = model.predict(v, verbose=0)
        assert out.shape == (2,) + {out_shape!r}, out.shape
    """, xfail=xfail)


_shape("conv2d_basic", 'layers.Conv2D(32, (3, 3), activation="relu")', (28, 28, 1), (26, 26, 32))
_shape("conv2d_int_kernel", "layers.Conv2D(8, 5)", (28, 28, 1), (24, 24, 8))
_shape("conv2d_kwargs", 'layers.Conv2D(filters=8, kernel_size=3, strides=(2, 2), padding="same")',
       (28, 28, 1), (14, 14, 8))
_shape("conv2d_padding_upper", 'layers.Conv2D(4, 3, padding="SAME")', (28, 28, 1), (28, 28, 4))
_shape("conv2d_dilation", "layers.Conv2D(4, 3, dilation_rate=2)", (28, 28, 1), (24, 24, 4))
_shape("conv2d_initializers", 'layers.Conv2D(4, 3, kernel_initializer="he_normal", '
       'bias_initializer="zeros", use_bias=True)', (28, 28, 1), (26, 26, 4))
_shape("conv2d_regularizer", "layers.Conv2D(4, 3, kernel_regularizer=keras.regularizers.l2(1e-4))",
       (28, 28, 1), (26, 26, 4))
_shape("conv2d_constraint", "layers.Conv2D(4, 3, kernel_constraint=keras.constraints.max_norm(3))",
       (28, 28, 1), (26, 26, 4))
_shape("conv2d_no_bias", "layers.Conv2D(4, 3, use_bias=False)", (28, 28, 1), (26, 26, 4))
_shape("conv2d_channels_first", 'layers.Conv2D(4, 3, data_format="channels_first")',
       (1, 28, 28), (4, 26, 26))
_shape("convolution2d_alias", "layers.Convolution2D(4, 3)", (28, 28, 1), (26, 26, 4))
_shape("conv2d_activation_object", "layers.Conv2D(4, 3, activation=keras.activations.relu)",
       (28, 28, 1), (26, 26, 4))
_shape("maxpool_default", "layers.MaxPooling2D()", (28, 28, 4), (14, 14, 4))
_shape("maxpool_pool_size_tuple", "layers.MaxPooling2D(pool_size=(2, 2), strides=2)", (28, 28, 4),
       (14, 14, 4))
_shape("maxpool_same", 'layers.MaxPooling2D(3, strides=2, padding="same")', (28, 28, 4),
       (14, 14, 4))
_shape("maxpool2d_alias", "layers.MaxPool2D(2)", (28, 28, 4), (14, 14, 4))
_shape("avgpool", "layers.AveragePooling2D(pool_size=2)", (28, 28, 4), (14, 14, 4))
_shape("avgpool_alias", "layers.AvgPool2D()", (28, 28, 4), (14, 14, 4))
_shape("gap", "layers.GlobalAveragePooling2D()", (7, 7, 4), (4,))
_shape("gap_keepdims", "layers.GlobalAveragePooling2D(keepdims=True)", (7, 7, 4), (1, 1, 4))
_shape("gmp", "layers.GlobalMaxPooling2D()", (7, 7, 4), (4,))
_shape("dense_basic", 'layers.Dense(64, activation="relu")', (784,), (64,))
_shape("dense_units_kw", 'layers.Dense(units=10, activation="softmax", use_bias=False)', (784,),
       (10,))
_shape("dense_initializers", 'layers.Dense(10, kernel_initializer="glorot_uniform", '
       'bias_initializer="zeros")', (784,), (10,))
_shape("dense_initializer_object", "layers.Dense(10, kernel_initializer="
       "keras.initializers.HeNormal(seed=1))", (784,), (10,))
_shape("dense_regularizers", "layers.Dense(10, kernel_regularizer=keras.regularizers.l1_l2("
       "l1=1e-5, "
       "l2=1e-4), bias_regularizer=keras.regularizers.L2(1e-4))", (784,), (10,))
_shape("dense_3d_input", "layers.Dense(5)", (28, 28), (28, 5))
_shape("dense_gelu", 'layers.Dense(10, activation="gelu")', (784,), (10,))
_shape("dense_swish", "layers.Dense(10, activation=keras.activations.swish)", (784,), (10,))
_shape("dense_leaky_relu_string", 'layers.Dense(10, activation="leaky_relu")', (784,), (10,))
_shape("dense_selu_lecun", 'layers.Dense(10, activation="selu", kernel_initializer="lecun_normal")',
       (784,), (10,))
_shape("flatten", "layers.Flatten()", (7, 7, 4), (196,))
_shape("flatten_channels_first", 'layers.Flatten(data_format="channels_first")', (7, 7, 4), (196,))
_shape("dropout", "layers.Dropout(0.5)", (16,), (16,))
_shape("dropout_rate_seed", "layers.Dropout(rate=0.2, seed=1)", (16,), (16,))
_shape("dropout_noise_shape", "layers.Dropout(0.5, noise_shape=(None, 1, 1, 4))", (5, 5, 4),
       (5, 5, 4))
_shape("spatial_dropout", "layers.SpatialDropout2D(0.2)", (5, 5, 4), (5, 5, 4))
_shape("gaussian_noise", "layers.GaussianNoise(0.1)", (16,), (16,))
_shape("activation_relu", 'layers.Activation("relu")', (16,), (16,))
_shape("activation_softmax_fn", "layers.Activation(keras.activations.softmax)", (16,), (16,))
_shape("batchnorm_default", "layers.BatchNormalization()", (5, 5, 4), (5, 5, 4))
_shape("batchnorm_args", "layers.BatchNormalization(axis=-1, momentum=0.9, epsilon=1e-3, "
       "center=True, scale=True)", (5, 5, 4), (5, 5, 4))
_shape("reshape", "layers.Reshape((28, 28, 1))", (784,), (28, 28, 1))
_shape("reshape_minus_one", "layers.Reshape((-1, 4))", (8, 8, 1), (16, 4))
_shape("permute", "layers.Permute((2, 1, 3))", (4, 6, 2), (6, 4, 2))
_shape("zeropadding", "layers.ZeroPadding2D(padding=(1, 1))", (28, 28, 1), (30, 30, 1))
_shape("cropping", "layers.Cropping2D(cropping=((2, 2), (2, 2)))", (28, 28, 1), (24, 24, 1))
_shape("upsampling", "layers.UpSampling2D(size=(2, 2))", (7, 7, 3), (14, 14, 3))
_shape("upsampling_bilinear", 'layers.UpSampling2D(2, interpolation="bilinear")', (7, 7, 3),
       (14, 14, 3))
_shape("leaky_relu_alpha_tfkeras", "layers.LeakyReLU(alpha=0.1)", (16,), (16,))
_shape("leaky_relu_negative_slope", "layers.LeakyReLU(negative_slope=0.1)", (16,), (16,))
_shape("relu_max_value", "layers.ReLU(max_value=6.0)", (16,), (16,))
_shape("prelu", "layers.PReLU()", (5, 5, 2), (5, 5, 2))
_shape("elu_layer", "layers.ELU(alpha=1.0)", (16,), (16,))
_shape("softmax_layer", "layers.Softmax(axis=-1)", (16,), (16,))
_shape("rescaling", "layers.Rescaling(1.0 / 255)", (28, 28, 1), (28, 28, 1))
_shape("rescaling_offset", "layers.Rescaling(scale=1.0 / 127.5, offset=-1)", (28, 28, 1),
       (28, 28, 1))
_shape("random_flip", 'layers.RandomFlip("horizontal")', (28, 28, 1), (28, 28, 1))
_shape("random_rotation", "layers.RandomRotation(0.1)", (28, 28, 1), (28, 28, 1))
_shape("random_zoom", "layers.RandomZoom(0.1)", (28, 28, 1), (28, 28, 1))
_shape("random_translation", "layers.RandomTranslation(0.1, 0.1)", (28, 28, 1), (28, 28, 1))
_shape("random_contrast", "layers.RandomContrast(0.2)", (28, 28, 1), (28, 28, 1))
_shape("separable_conv", 'layers.SeparableConv2D(8, 3, padding="same")', (8, 8, 3), (8, 8, 8))
_shape("depthwise_conv", "layers.DepthwiseConv2D(3, depth_multiplier=2)", (8, 8, 3), (6, 6, 6))
_shape("conv2d_transpose", 'layers.Conv2DTranspose(4, 3, strides=2, padding="same")', (7, 7, 2),
       (14, 14, 4))
_shape("conv1d", 'layers.Conv1D(4, 3, activation="relu")', (10, 2), (8, 4))
_shape("conv1d_causal", 'layers.Conv1D(4, 3, padding="causal")', (10, 2), (10, 4))
_shape("maxpool1d", "layers.MaxPooling1D(2)", (10, 2), (5, 2))
_shape("gap1d", "layers.GlobalAveragePooling1D()", (10, 2), (2,))
_shape("activity_regularization", "layers.ActivityRegularization(l1=0.01)", (16,), (16,))
_shape("layers_experimental_preprocessing",
       "layers.experimental.preprocessing.Rescaling(1.0 / 255)",
       (28, 28, 1), (28, 28, 1))

works("batchnorm_moving_stats_update", """
    model = keras.Sequential([keras.Input((4,)), layers.BatchNormalization(momentum=0.5)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.full((8, 4), 3.0, "float32"), np.zeros((8, 4)), epochs=1, verbose=0)
    mean = model.layers[0].get_weights()[2]
    assert np.allclose(mean, 1.5), mean
""")
works("dropout_identity_in_predict", """
    model = keras.Sequential([keras.Input((16,)), layers.Dropout(0.9)])
    v = np.ones((4, 16), "float32")
    assert np.array_equal(model.predict(v, verbose=0), v)
""")
works("dropout_training_true_call", """
    out = np.asarray(layers.Dropout(0.5)(np.ones((100, 100), "float32"), training=True))
    kept = out[out != 0]
    assert 0.3 < (out != 0).mean() < 0.7 and np.allclose(kept, 2.0)
""")
works("relu_layer_values", """
    out = np.asarray(layers.ReLU()(np.array([[-1.0, 2.0]], "float32")))
    assert np.array_equal(out, [[0.0, 2.0]])
""")
works("merge_layers", """
    a, b = keras.Input((3,)), keras.Input((3,))
    outs = [layers.Add()([a, b]), layers.Subtract()([a, b]), layers.Multiply()([a, b]),
            layers.Average()([a, b]), layers.Maximum()([a, b]), layers.Minimum()([a, b]),
            layers.Concatenate(axis=-1)([a, b])]
    model = keras.Model([a, b], outs)
    res = model.predict([np.full((1, 3), 2.0), np.full((1, 3), 1.0)], verbose=0)
    assert [float(r[0, 0]) for r in res[:6]] == [3.0, 1.0, 2.0, 1.5, 2.0, 1.0]
    assert res[6].shape == (1, 6)
""")
works("layer_trainable_false_kwarg", """
    model = keras.Sequential([keras.Input((4,)), layers.Dense(2, trainable=False)])
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()[0].copy()
    model.fit(np.ones((4, 4)), np.zeros((4, 2)), verbose=0)
    assert np.array_equal(before, model.get_weights()[0])
""")
works("layer_name_kwarg", """
    model = keras.Sequential([keras.Input((4,)), layers.Dense(2, name="logits")])
    assert model.get_layer("logits") is model.layers[0]
""")
works("layer_dtype_kwarg", """
    model = keras.Sequential([keras.Input((4,)), layers.Dense(2, dtype="float32")])
    assert model.predict(np.ones((1, 4)), verbose=0).dtype == np.float32
""")

# arguments Keras refuses, and so must convnet
refused("dense_typo_kwarg", 'layers.Dense(10, activaton="relu")', "activaton")
refused("conv2d_typo_kwarg", 'layers.Conv2D(8, 3, stride=2)', "stride")
refused("unknown_activation", 'layers.Dense(10, activation="rellu")', "rellu")
refused("bad_padding", 'layers.Conv2D(8, 3, padding="full")', "padding")
refused("dropout_rate_too_big", "layers.Dropout(1.5)", "rate")
refused("dense_zero_units", "layers.Dense(0)", "units")
refused("conv2d_groups",
        "keras.Sequential([keras.Input((8, 8, 4)), layers.Conv2D(4, 3, groups=2)])",
        "groups")
refused("conv2d_on_3d_input_shape", """
    model = keras.Sequential([layers.Conv2D(4, 3, input_shape=(28, 28))])
    model.predict(x[..., 0], verbose=0)
""", "conv2d")
refused("reshape_wrong_size",
        "keras.Sequential([keras.Input((784,)), layers.Reshape((27, 27, 1))])",
        "reshape")
refused("add_mismatched_shapes", """
    a, b = keras.Input((3,)), keras.Input((4,))
    layers.Add()([a, b])
""", "add")


# --- layers convnet does not have: each must be refused by name ----------------------------------

for _name, _args in [
        ("LSTM", "32"), ("GRU", "32"), ("SimpleRNN", "16"), ("Embedding", "1000, 64"),
        ("TextVectorization", "max_tokens=100"), ("Conv3D", "8, 3"), ("MaxPooling3D", ""),
        ("MultiHeadAttention", "num_heads=2, key_dim=4"), ("Attention", ""),
        ("LayerNormalization", ""), ("GroupNormalization", "groups=2"),
        ("Normalization", ""), ("Lambda", "lambda t: t * 2"), ("TimeDistributed", "None"),
        ("Bidirectional", "None"), ("ConvLSTM2D", "8, 3"), ("Resizing", "32, 32"),
        ("CenterCrop", "24, 24"), ("RandomCrop", "24, 24"), ("RandomBrightness", "0.2"),
        ("StringLookup", ""), ("IntegerLookup", ""), ("CategoryEncoding", "num_tokens=4"),
        ("Hashing", "num_bins=4"), ("RepeatVector", "3"), ("Masking", ""),
        ("AlphaDropout", "0.1"), ("Dot", "axes=1"), ("UpSampling3D", ""),
        ("Cropping1D", "1"), ("ZeroPadding1D", "1"), ("UpSampling1D", "2"),
        ("LocallyConnected2D", "4, 3"), ("Identity", ""), ("Discretization", "")]:
    refused(f"layer_{_name}", f"layers.{_name}({_args})", _name)

refused("from_import_lstm", "from convnet.layers import LSTM", "LSTM")
refused("lstm_in_sequential", """
    model = keras.Sequential([layers.Embedding(1000, 16), layers.LSTM(32), layers.Dense(1)])
""", "Embedding")
refused("keras_applications", "keras.applications.ResNet50(weights=None)", "applications")
refused("keras_applications_mobilenet", """
    base = keras.applications.MobileNetV2(input_shape=(96, 96, 3), include_top=False,
                                          weights="imagenet")
""", "applications")
refused("mixed_precision_policy", 'keras.mixed_precision.set_global_policy("mixed_float16")',
        "mixed")
refused("mixed_precision_layer_dtype", """
    model = keras.Sequential([keras.Input((4,)), layers.Dense(2, dtype="mixed_float16")])
    model.predict(np.ones((1, 4)), verbose=0)
""", "mixed_float16", "dense")
works("float16_floatx", """
    keras.backend.set_floatx("float16")
    assert dense_model().predict(x, verbose=0).dtype == np.float16
""")
refused("distribution_strategy", "keras.distribution.DataParallel()", "distribution")
refused("keras_ops", "keras.ops.mean(np.ones(3))", "ops")
refused("backend_tensor_math", "keras.backend.mean(np.ones(3))", "mean")
refused("preprocessing_text_tokenizer",
        "keras.preprocessing.text.Tokenizer(num_words=100)", "text")
refused("pad_sequences", "keras.utils.pad_sequences([[1, 2], [3]], maxlen=4)", "pad_sequences")
refused("text_dataset_from_directory", "keras.utils.text_dataset_from_directory(tmp)",
        "text_dataset_from_directory")
refused("timeseries_dataset", "keras.utils.timeseries_dataset_from_array(np.ones(10), None, 3)",
        "timeseries")
refused("datasets_imdb", "keras.datasets.imdb.load_data(num_words=1000)", "imdb")
refused("datasets_cifar10", "keras.datasets.cifar10.load_data()", "cifar10")
refused("tensorboard_callback", 'keras.callbacks.TensorBoard(log_dir="logs", histogram_freq=1)',
        "TensorBoard")
refused("remote_monitor_callback", "keras.callbacks.RemoteMonitor()", "RemoteMonitor")
works("optimizers_legacy", """
    opt = keras.optimizers.legacy.Adam(learning_rate=1e-3)   # tf.keras 2.11-2.15's old classes
    assert isinstance(opt, keras.optimizers.Adam) and abs(float(opt.learning_rate) - 1e-3) < 1e-12
    from convnet.optimizers.legacy import SGD
    assert SGD is keras.optimizers.SGD
""")
refused("optimizer_ftrl", "keras.optimizers.Ftrl()", "Ftrl")
refused("optimizer_ftrl_string", """
    model = dense_model(compile=False)
    model.compile(optimizer="ftrl", loss="categorical_crossentropy")
""", "ftrl")
refused("model_export_savedmodel", """
    model = dense_model()
    model.export(os.path.join(tmp, "exported"))
""", "format")
refused("save_tf_savedmodel_dir", """
    model = dense_model()
    model.save(os.path.join(tmp, "saved_model"))
""", ".keras")
refused("save_weights_tf_checkpoint", """
    model = dense_model()
    model.save_weights(os.path.join(tmp, "ckpt"))
""", ".h5")
refused("to_yaml", "dense_model().to_yaml()", "yaml")


# --- compile: losses, metrics, optimizers --------------------------------------------------------

def _fit_with(id, compile_src, labels="y", final="softmax", xfail=None, check=""):
    """Compile a Flatten -> Dense(10) model with ``compile_src`` and fit one epoch."""
    works(id, f"""
        model = keras.Sequential([keras.Input((28, 28, 1)), layers.Flatten(),
                                  layers.Dense(10, activation="{final}")])
        model.compile({compile_src})
        hist = model.fit(x, {labels}, epochs=2, batch_size=16, verbose=0)
        losses = hist.history["loss"]
        assert len(losses) == 2 and all(np.isfinite(losses)), hist.history
        {check}
    """, xfail=xfail)


_fit_with("compile_strings",
          'optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"]',
          check='assert "accuracy" in hist.history')
_fit_with("compile_positional", '"adam", "categorical_crossentropy", metrics=["accuracy"]',
          check='assert "accuracy" in hist.history')
_fit_with("compile_loss_function", "loss=keras.losses.categorical_crossentropy, "
          "optimizer=keras.optimizers.Adadelta(), metrics=['accuracy']")
_fit_with("compile_sparse", 'optimizer="adam", loss="sparse_categorical_crossentropy", '
          'metrics=["sparse_categorical_accuracy"]', labels="y_int",
          check='assert "sparse_categorical_accuracy" in hist.history')
_fit_with("compile_sparse_from_logits", "optimizer='adam', metrics=['accuracy'], "
          "loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)", labels="y_int",
          final="linear")
_fit_with("compile_cce_object_smoothing",
          "optimizer='adam', loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1)")
_fit_with("compile_acc_alias", 'optimizer="adam", loss="categorical_crossentropy", metrics=["acc"]',
          check='assert hist.history["acc"] == hist.history["accuracy"]')
_fit_with("compile_metric_objects", "optimizer='adam', loss='categorical_crossentropy', "
          "metrics=[keras.metrics.CategoricalAccuracy(name='acc'), keras.metrics.Precision(), "
          "keras.metrics.Recall(), keras.metrics.AUC()]",
          check='assert {"acc", "precision", "recall", "auc"} <= set(hist.history)')
_fit_with("compile_topk_metric", "optimizer='adam', loss='categorical_crossentropy', "
          "metrics=[keras.metrics.TopKCategoricalAccuracy(k=3)]",
          check='assert "top_k_categorical_accuracy" in hist.history')
_fit_with("compile_metric_mae_mse", "optimizer='adam', loss='mse', metrics=['mae', 'mse']",
          check='assert "mae" in hist.history')
_fit_with("compile_sparse_metric_object", "optimizer='adam', "
          "loss='sparse_categorical_crossentropy', "
          "metrics=[keras.metrics.SparseCategoricalAccuracy(name='acc')]", labels="y_int",
          check='assert "acc" in hist.history')
_fit_with("compile_custom_metric_fn", """optimizer='adam', loss='categorical_crossentropy',
                      metrics=[lambda yt, yp: np.mean(np.argmax(yt, -1) == np.argmax(yp, -1))]""",
          check='assert len(hist.history) == 2')
_fit_with("compile_mse", 'optimizer="sgd", loss="mean_squared_error"')
_fit_with("compile_mae_object", "optimizer='sgd', loss=keras.losses.MeanAbsoluteError()")
_fit_with("compile_huber", "optimizer='sgd', loss=keras.losses.Huber(delta=1.0)")
_fit_with("compile_kld", "optimizer='sgd', loss='kld'")
_fit_with("compile_categorical_hinge", "optimizer='sgd', loss='categorical_hinge'")
_fit_with("compile_binary_crossentropy", "optimizer='adam', loss='binary_crossentropy', "
          "metrics=['binary_accuracy']", final="sigmoid",
          check='assert "binary_accuracy" in hist.history')
_fit_with("compile_bce_object_logits", "optimizer='adam', "
          "loss=keras.losses.BinaryCrossentropy(from_logits=True)", final="linear")
refused("compile_weighted_metrics", """
    dense_model(compile=False).compile(optimizer="adam", loss="categorical_crossentropy",
                                       weighted_metrics=['accuracy'])
""", "weighted_metrics", gap="metrics weighted by sample_weight/class_weight (Keras 2.x and "
                             "3); convnet/models.py Model.compile")

works("compile_run_eagerly", """
    model = dense_model(compile=False)
    model.compile(optimizer="adam", loss="categorical_crossentropy", run_eagerly=True)
    assert model.fit(x, y, epochs=1, verbose=0).history["loss"]
""")

works("compile_jit_compile", """
    model = dense_model(compile=False)
    model.compile(optimizer="adam", loss="categorical_crossentropy", jit_compile=False)
    assert model.fit(x, y, epochs=1, verbose=0).history["loss"]
""")

works("compile_steps_per_execution", """
    model = dense_model(compile=False)
    model.compile(optimizer="adam", loss="categorical_crossentropy", steps_per_execution=1)
    assert model.fit(x, y, epochs=1, verbose=0).history["loss"]
""")

refused("compile_steps_per_execution_many", """
    dense_model(compile=False).compile(optimizer="adam", loss="categorical_crossentropy",
                                       steps_per_execution=8)
""", "steps_per_execution")

refused("binary_crossentropy_digit_labels", """
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Flatten(),
                              layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, y_int, epochs=1, verbose=0)
""", "binary_crossentropy", "[0, 1]")
_fit_with("optimizer_adam_lr", "optimizer=keras.optimizers.Adam(learning_rate=1e-3), "
          "loss='categorical_crossentropy'")
_fit_with("optimizer_sgd_lr_tfkeras", "optimizer=keras.optimizers.SGD(lr=0.01, momentum=0.9, "
          "nesterov=True), loss='categorical_crossentropy'")
_fit_with("optimizer_sgd_decay_tfkeras", "optimizer=keras.optimizers.SGD(learning_rate=0.01, "
          "decay=1e-6), loss='categorical_crossentropy'")
_fit_with("optimizer_rmsprop_positional", "optimizer=keras.optimizers.RMSprop(0.001), "
          "loss='categorical_crossentropy'")
_fit_with("optimizer_adam_args", "optimizer=keras.optimizers.Adam(learning_rate=1e-3, beta_1=0.9, "
          "beta_2=0.999, epsilon=1e-7, amsgrad=True), loss='categorical_crossentropy'")
_fit_with("optimizer_clipnorm", "optimizer=keras.optimizers.Adam(clipnorm=1.0), "
          "loss='categorical_crossentropy'")
_fit_with("optimizer_clipvalue", "optimizer=keras.optimizers.SGD(clipvalue=0.5), "
          "loss='categorical_crossentropy'")
_fit_with("optimizer_adamw_weight_decay", "optimizer=keras.optimizers.AdamW(learning_rate=1e-3, "
          "weight_decay=1e-4), loss='categorical_crossentropy'")
_fit_with("schedule_exponential",
          "loss='categorical_crossentropy', optimizer=keras.optimizers.Adam("
          "keras.optimizers.schedules.ExponentialDecay(1e-3, decay_steps=100, decay_rate=0.9))")
_fit_with("schedule_cosine", "loss='categorical_crossentropy', optimizer=keras.optimizers.SGD("
          "learning_rate=keras.optimizers.schedules.CosineDecay(0.01, decay_steps=10))")
_fit_with("schedule_piecewise", "loss='categorical_crossentropy', optimizer=keras.optimizers.SGD("
          "keras.optimizers.schedules.PiecewiseConstantDecay([2], [0.1, 0.01]))")

works("optimizer_get_config", """
    opt = keras.optimizers.Adam(learning_rate=0.01)
    cfg = opt.get_config()
    assert abs(cfg["learning_rate"] - 0.01) < 1e-9 and cfg["name"].lower() == "adam"
""")
works("optimizer_from_config", """
    opt = keras.optimizers.SGD.from_config(keras.optimizers.SGD(0.05, momentum=0.5).get_config())
    assert abs(float(opt.learning_rate) - 0.05) < 1e-9
""")
works("optimizers_get", """
    opt = keras.optimizers.get("adam")
    assert type(opt).__name__ == "Adam"
""")
works("sgd_one_step_value", """
    model = keras.Sequential([keras.Input((1,)), layers.Dense(1, use_bias=False,
                                                             kernel_initializer="ones")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    model.fit(np.ones((1, 1)), np.zeros((1, 1)), epochs=1, verbose=0)
    assert np.allclose(model.get_weights()[0], 0.8)
""")
works("loss_function_values", """
    p = np.full((2, 10), 0.1, "float32")
    v = keras.losses.categorical_crossentropy(y[:2], p)
    assert np.allclose(np.asarray(v), np.log(10), rtol=1e-5)
""")
works("loss_object_call", """
    loss = keras.losses.SparseCategoricalCrossentropy()
    v = float(loss(np.array([1, 2]), np.full((2, 3), 1 / 3, "float32")))
    assert abs(v - np.log(3)) < 1e-5
""")
works("loss_mse_object_call", """
    v = float(keras.losses.MeanSquaredError()(np.zeros((2, 2)), np.ones((2, 2))))
    assert abs(v - 1.0) < 1e-6
""")
works("metric_object_stream", """
    m = keras.metrics.SparseCategoricalAccuracy()
    m.update_state(np.array([0, 1]), np.array([[0.9, 0.1], [0.8, 0.2]]))
    assert abs(float(m.result()) - 0.5) < 1e-6
    m.reset_state()
    m.update_state(np.array([1]), np.array([[0.1, 0.9]]))
    assert abs(float(m.result()) - 1.0) < 1e-6
""")
works("metric_mean", """
    m = keras.metrics.Mean()
    m.update_state([1.0, 2.0, 3.0])
    assert abs(float(m.result()) - 2.0) < 1e-6
""")
works("metric_accuracy_class", """
    m = keras.metrics.Accuracy()
    m.update_state([1, 2, 3, 4], [0, 2, 3, 4])
    assert abs(float(m.result()) - 0.75) < 1e-6
""")
works("metric_reset_states_tfkeras", """
    m = keras.metrics.Mean()
    m.update_state([4.0])
    m.reset_states()
    m.update_state([2.0])
    assert abs(float(m.result()) - 2.0) < 1e-6
""")
works("activation_function_values", """
    v = keras.activations.relu(np.array([-1.0, 2.0]))
    assert np.array_equal(np.asarray(v), [0.0, 2.0])
    s = np.asarray(keras.activations.softmax(np.zeros((1, 4))))
    assert np.allclose(s, 0.25)
""")
works("activations_get", """
    assert keras.activations.get("relu")(np.array([-3.0]))[0] == 0.0
""")
works("regularizer_objects", """
    r = keras.regularizers.l2(0.01)
    assert abs(float(r(np.ones((2, 2)))) - 0.04) < 1e-7
""")

refused("unknown_loss_string", """
    dense_model(compile=False).compile(optimizer="adam", loss="categorical_crossentropyy")
""", "categorical_crossentropyy")
refused("unknown_optimizer_string", """
    dense_model(compile=False).compile(optimizer="adamm", loss="mse")
""", "adamm")
refused("unknown_metric_string", """
    dense_model(compile=False).compile(optimizer="adam", loss="mse", metrics=["acuracy"])
""", "acuracy")
refused("loss_cosine_similarity", """
    dense_model(compile=False).compile(optimizer="adam", loss="cosine_similarity")
""", "cosine_similarity")
refused("loss_poisson", """
    dense_model(compile=False).compile(optimizer="adam", loss="poisson")
""", "poisson")
refused("loss_hinge", 'dense_model(compile=False).compile(optimizer="adam", loss="hinge")', "hinge")
refused("loss_log_cosh", 'dense_model(compile=False).compile(optimizer="adam", loss="log_cosh")',
        "log_cosh")
refused("loss_mape", 'dense_model(compile=False).compile(optimizer="adam", loss="mape")', "mape")
refused("loss_class_cosine", "keras.losses.CosineSimilarity()", "CosineSimilarity")
refused("loss_custom_function", """
    def my_loss(y_true, y_pred):
        return ((y_true - y_pred) ** 2).mean(axis=-1)
    model = dense_model(compile=False)
    model.compile(optimizer="adam", loss=my_loss)
    model.fit(x, y, verbose=0)
""", "gradient")
refused("metric_f1_score", "keras.metrics.F1Score()", "F1Score")
refused("metric_mean_iou", "keras.metrics.MeanIoU(num_classes=2)", "MeanIoU")
refused("optimizer_use_ema", "keras.optimizers.Adam(use_ema=True)", "use_ema")
refused("optimizer_negative_lr", "keras.optimizers.SGD(learning_rate=-0.1)", "learning_rate")
refused("optimizer_typo_kwarg", "keras.optimizers.Adam(learning_rat=0.1)", "learning_rat")
refused("fit_without_loss", """
    model = dense_model(compile=False)
    model.compile(optimizer="adam")
    model.fit(x, y, verbose=0)
""", "loss")
refused("fit_before_compile", "dense_model(compile=False).fit(x, y, verbose=0)", "compile")
refused("evaluate_before_compile", "dense_model(compile=False).evaluate(x, y, verbose=0)",
        "compile")
refused("cce_with_integer_labels", "dense_model().fit(x, y_int, verbose=0)", "to_categorical")
refused("sparse_with_onehot_labels", """
    model = dense_model(loss="sparse_categorical_crossentropy")
    model.fit(x, y, verbose=0)
""", "sparse")


# --- fit, evaluate, predict and their keyword arguments ------------------------------------------

works("fit_basic_history", """
    model = dense_model()
    hist = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert set(hist.history) == {"loss", "accuracy"} and len(hist.history["loss"]) == 2
    assert hist.epoch == [0, 1]
""")
works("fit_verbose_1_and_2", """
    import contextlib, io
    model = dense_model()
    for verbose in (1, 2, "auto"):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            model.fit(x, y, epochs=1, verbose=verbose)
        assert "loss" in out.getvalue(), (verbose, out.getvalue())
""")
works("fit_validation_split", """
    hist = dense_model().fit(x, y, epochs=1, validation_split=0.25, verbose=0)
    assert "val_loss" in hist.history and "val_accuracy" in hist.history
""")
works("fit_validation_data", """
    hist = dense_model().fit(x, y, epochs=1, validation_data=(x[:8], y[:8]), verbose=0)
    assert len(hist.history["val_loss"]) == 1
""")
works("fit_validation_data_weights", """
    hist = dense_model().fit(x, y, epochs=1, verbose=0,
                             validation_data=(x[:8], y[:8], np.ones(8)))
    assert "val_loss" in hist.history
""")
works("fit_validation_batch_size_freq", """
    hist = dense_model().fit(x, y, epochs=2, verbose=0, validation_data=(x, y),
                             validation_batch_size=8, validation_freq=2)
    assert len(hist.history["val_loss"]) == 1
""")
works("fit_shuffle_false_deterministic", """
    a = dense_model(); b = dense_model()
    b.set_weights(a.get_weights())
    a.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    b.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    assert all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights()))
""")
works("fit_initial_epoch", """
    hist = dense_model().fit(x, y, epochs=3, initial_epoch=2, verbose=0)
    assert hist.epoch == [2] and len(hist.history["loss"]) == 1
""")
works("fit_class_weight", """
    weights = {i: 1.0 + i for i in range(10)}
    hist = dense_model().fit(x, y, epochs=1, verbose=0, class_weight=weights)
    assert np.isfinite(hist.history["loss"][0])
""")
works("fit_sample_weight_zero_no_update", """
    model = dense_model(optimizer="sgd")
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, epochs=1, verbose=0, sample_weight=np.zeros(32))
    assert all(np.allclose(p, q) for p, q in zip(before, model.get_weights()))
""")
works("fit_workers_multiprocessing_tfkeras", """
    hist = dense_model().fit(x, y, epochs=1, verbose=0, workers=2, use_multiprocessing=False,
                             max_queue_size=4)
    assert len(hist.history["loss"]) == 1
""")
works("fit_x_without_channel_axis", """
    hist = dense_model().fit(x[..., 0], y, epochs=1, verbose=0)
    assert len(hist.history["loss"]) == 1
""")
works("fit_float64_and_uint8_input", """
    model = dense_model()
    model.fit(x.astype("float64"), y, epochs=1, verbose=0)
    assert model.predict((x * 255).astype("uint8"), verbose=0).shape == (32, 10)
""")
works("fit_list_labels", """
    model = dense_model(loss="sparse_categorical_crossentropy")
    model.fit(x, list(y_int), epochs=1, verbose=0)
""")
works("fit_generator_of_batches", """
    def batches():
        while True:
            for i in range(0, 32, 8):
                yield x[i:i + 8], y[i:i + 8]
    hist = dense_model().fit(batches(), steps_per_epoch=4, epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2
""")
works("fit_generator_tfkeras_name", """
    def batches():
        while True:
            yield x[:8], y[:8]
    hist = dense_model().fit_generator(batches(), steps_per_epoch=2, epochs=1, verbose=0)
    assert len(hist.history["loss"]) == 1
""")
works("fit_sequence", """
    class Batches(keras.utils.Sequence):
        def __len__(self):
            return 4
        def __getitem__(self, i):
            return x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8]
    hist = dense_model().fit(Batches(), epochs=1, verbose=0)
    assert len(hist.history["loss"]) == 1
""")
works("fit_pydataset", """
    class Batches(keras.utils.PyDataset):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
        def __len__(self):
            return 2
        def __getitem__(self, i):
            return x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16]
    hist = dense_model().fit(Batches(workers=1), epochs=1, verbose=0)
    assert len(hist.history["loss"]) == 1
""")
works("fit_steps_per_epoch_float", """
    def batches():
        while True:
            yield x[:8], y[:8]
    dense_model().fit(batches(), steps_per_epoch=len(x) / 8, epochs=1, verbose=0)
""")
works("fit_loss_decreases", """
    model = dense_model(optimizer=keras.optimizers.Adam(0.01))
    hist = model.fit(x, y, epochs=5, batch_size=32, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
""")
works("history_attribute_model", """
    model = dense_model()
    model.fit(x, y, epochs=1, verbose=0)
    assert "loss" in model.history.history
""")
works("evaluate_list", """
    model = dense_model()
    score = model.evaluate(x, y, verbose=0)
    assert len(score) == 2 and 0.0 <= score[1] <= 1.0
""")
works("evaluate_loss_only_scalar", """
    model = dense_model(metrics=None)
    score = model.evaluate(x, y, verbose=0)
    assert np.ndim(score) == 0 and np.isfinite(score)
""")
works("evaluate_return_dict", """
    res = dense_model().evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    assert set(res) == {"loss", "accuracy"}
""")
works("evaluate_sample_weight", """
    model = dense_model()
    a = model.evaluate(x, y, verbose=0, sample_weight=np.ones(32))
    b = model.evaluate(x, y, verbose=0)
    assert np.allclose(a, b)
""")
works("evaluate_matches_manual_accuracy", """
    model = dense_model()
    loss, acc = model.evaluate(x, y, verbose=0)
    p = model.predict(x, verbose=0)
    assert abs(acc - np.mean(p.argmax(1) == y_int)) < 1e-6
    assert abs(loss - np.mean(-np.log(p[np.arange(32), y_int]))) < 1e-4
""")
works("metrics_names_after_evaluate", """
    model = dense_model()
    model.evaluate(x, y, verbose=0)
    assert list(model.metrics_names) == ["loss", "accuracy"], model.metrics_names
""")
works("predict_batch_size", """
    model = dense_model()
    assert np.allclose(model.predict(x, batch_size=5, verbose=0), model.predict(x, verbose=0),
                       atol=1e-6)
""")
works("predict_argmax_idiom", """
    classes = np.argmax(dense_model().predict(x, verbose=0), axis=-1)
    assert classes.shape == (32,) and classes.max() < 10
""")
works("predict_single_image", """
    assert dense_model().predict(x[:1], verbose=0).shape == (1, 10)
""")
works("predict_expand_dims", """
    assert dense_model().predict(np.expand_dims(x[0], 0), verbose=0).shape == (1, 10)
""")
works("predict_steps_generator", """
    def batches():
        while True:
            yield x[:8]
    assert dense_model().predict(batches(), steps=2, verbose=0).shape == (16, 10)
""")
works("predict_classes_tfkeras", """
    model = dense_model()
    assert np.array_equal(model.predict_classes(x, verbose=0),
                          model.predict(x, verbose=0).argmax(-1))
""")
works("train_on_batch", """
    model = dense_model()
    out = model.train_on_batch(x[:8], y[:8])
    assert len(out) == 2
""")
works("train_on_batch_return_dict", """
    out = dense_model().train_on_batch(x[:8], y[:8], return_dict=True)
    assert set(out) == {"loss", "accuracy"}
""")
works("test_on_batch", """
    model = dense_model()
    assert np.allclose(model.test_on_batch(x, y), model.evaluate(x, y, verbose=0, batch_size=32))
""")
works("predict_on_batch", """
    model = dense_model()
    assert np.allclose(model.predict_on_batch(x), model.predict(x, verbose=0), atol=1e-6)
""")
works("evaluate_generator_tfkeras", """
    def batches():
        while True:
            yield x[:8], y[:8]
    score = dense_model().evaluate_generator(batches(), steps=2)
    assert len(score) == 2
""")
works("stop_training_flag", """
    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True
    hist = dense_model().fit(x, y, epochs=5, verbose=0, callbacks=[Stop()])
    assert len(hist.history["loss"]) == 1
""")

refused("fit_typo_epoch", "dense_model().fit(x, y, epoch=2, verbose=0)", "epoch")
refused("fit_xy_length_mismatch", "dense_model().fit(x, y[:30], verbose=0)", "32", "30")
refused("fit_wrong_image_size", "dense_model().fit(np.zeros((4, 32, 32, 1)), y[:4], verbose=0)",
        "(batch, 28, 28, 1)", "(4, 32, 32, 1)")
refused("fit_y_missing", "dense_model().fit(x, verbose=0)", "targets")
refused("predict_wrong_channels", "conv_model().predict(np.zeros((2, 28, 28, 3)), verbose=0)",
        "(2, 28, 28, 3)")
refused("fit_validation_split_generator", """
    def batches():
        while True:
            yield x[:8], y[:8]
    dense_model().fit(batches(), steps_per_epoch=2, validation_split=0.2, verbose=0)
""", "validation_split")


# --- callbacks -----------------------------------------------------------------------------------

works("cb_modelcheckpoint_best_h5", """
    path = os.path.join(tmp, "best.h5")
    cb = keras.callbacks.ModelCheckpoint(filepath=path, monitor="val_accuracy", mode="max",
                                         save_best_only=True, verbose=1)
    dense_model().fit(x, y, epochs=2, validation_data=(x, y), callbacks=[cb], verbose=0)
    restored = keras.models.load_model(path)
    assert restored.predict(x, verbose=0).shape == (32, 10)
""")
works("cb_modelcheckpoint_keras", """
    path = os.path.join(tmp, "ckpt.keras")
    dense_model().fit(x, y, epochs=1, callbacks=[keras.callbacks.ModelCheckpoint(path)], verbose=0)
    assert os.path.exists(path)
""")
works("cb_modelcheckpoint_weights_only", """
    path = os.path.join(tmp, "ckpt.weights.h5")
    model = dense_model()
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[keras.callbacks.ModelCheckpoint(path, save_weights_only=True)])
    other = dense_model()
    other.load_weights(path)
    assert np.allclose(other.predict(x, verbose=0), model.predict(x, verbose=0))
""")
works("cb_modelcheckpoint_formatted_name", """
    path = os.path.join(tmp, "model-{epoch:02d}-{val_loss:.2f}.h5")
    dense_model().fit(x, y, epochs=2, validation_data=(x, y), verbose=0,
                      callbacks=[keras.callbacks.ModelCheckpoint(path)])
    names = sorted(os.listdir(tmp))
    assert len(names) == 2 and names[0].startswith("model-01-") and names[1].startswith("model-02-")
""")
refused("cb_modelcheckpoint_period_tfkeras", """
    keras.callbacks.ModelCheckpoint(os.path.join(tmp, "w-{epoch}.h5"), period=2)
""", "period", gap="tf.keras (deprecated) saves every `period` epochs; convnet's "
                   "ModelCheckpoint could accept it (convnet/callbacks.py)")
refused("cb_modelcheckpoint_save_freq_epoch", """
    keras.callbacks.ModelCheckpoint(os.path.join(tmp, "m.h5"), save_freq="epoch")
""", "save_freq", gap="save_freq='epoch' is Keras's default; convnet's ModelCheckpoint could "
                      "accept it and an integer (every N batches) (convnet/callbacks.py)")
works("cb_early_stopping", """
    cb = keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=100.0)
    hist = dense_model().fit(x, y, epochs=10, callbacks=[cb], verbose=0)
    assert len(hist.history["loss"]) == 2, len(hist.history["loss"])
""")
works("cb_early_stopping_restore", """
    cb = keras.callbacks.EarlyStopping(monitor="val_loss", patience=1, mode="min", verbose=1,
                                       restore_best_weights=True, baseline=None)
    hist = dense_model().fit(x, y, epochs=3, validation_data=(x, y), callbacks=[cb], verbose=0)
    assert 1 <= len(hist.history["loss"]) <= 3
""")
works("cb_reduce_lr_on_plateau", """
    model = dense_model(optimizer=keras.optimizers.Adam(0.01))
    cb = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0,
                                           min_delta=100.0, min_lr=1e-5, verbose=1)
    model.fit(x, y, epochs=2, callbacks=[cb], verbose=0)
    lr = float(keras.backend.get_value(model.optimizer.learning_rate))
    assert abs(lr - 0.005) < 1e-9, lr   # best set after epoch 1, reduced once after epoch 2
""")
works("cb_reduce_lr_logs_lr", """
    model = dense_model(optimizer=keras.optimizers.Adam(0.01))
    cb = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=1)
    hist = model.fit(x, y, epochs=2, validation_data=(x, y), callbacks=[cb], verbose=0)
    key = "learning_rate" if "learning_rate" in hist.history else "lr"
    assert np.allclose(hist.history[key][0], 0.01), hist.history
""")
works("cb_lr_scheduler_two_args", """
    model = dense_model(optimizer=keras.optimizers.SGD(0.1))
    cb = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5, verbose=1)
    model.fit(x, y, epochs=2, callbacks=[cb], verbose=0)
    assert abs(float(model.optimizer.learning_rate) - 0.025) < 1e-9
""")
works("cb_lr_scheduler_one_arg", """
    model = dense_model(optimizer=keras.optimizers.SGD(0.1))
    def schedule(epoch):
        return 0.1 if epoch < 1 else 0.01
    model.fit(x, y, epochs=2, callbacks=[keras.callbacks.LearningRateScheduler(schedule)],
              verbose=0)
    assert abs(float(model.optimizer.learning_rate) - 0.01) < 1e-9
""")
works("cb_csv_logger", """
    path = os.path.join(tmp, "log.csv")
    dense_model().fit(x, y, epochs=2, verbose=0,
                      callbacks=[keras.callbacks.CSVLogger(path, separator=",", append=False)])
    rows = open(path).read().strip().splitlines()
    assert rows[0].split(",")[0] == "epoch" and len(rows) == 3 and "loss" in rows[0]
""")
works("cb_csv_logger_append", """
    path = os.path.join(tmp, "log.csv")
    model = dense_model()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[keras.callbacks.CSVLogger(path)])
    model.fit(x, y, epochs=1, verbose=0, callbacks=[keras.callbacks.CSVLogger(path, append=True)])
    assert len(open(path).read().strip().splitlines()) == 3
""")
works("cb_lambda", """
    seen = []
    cb = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(logs["loss"]))
    dense_model().fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    assert len(seen) == 2
""")
works("cb_custom_subclass_hooks", """
    calls = []
    class Recorder(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            calls.append("train_begin")
        def on_epoch_begin(self, epoch, logs=None):
            calls.append("epoch_begin")
        def on_train_batch_end(self, batch, logs=None):
            calls.append("batch")
        def on_epoch_end(self, epoch, logs=None):
            calls.append(("epoch_end", sorted(logs)))
            assert self.model.output_shape == (None, 10)
        def on_train_end(self, logs=None):
            calls.append("train_end")
    dense_model().fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[Recorder()])
    assert calls == ["train_begin", "epoch_begin", "batch", "batch",
                     ("epoch_end", ["accuracy", "loss"]), "train_end"], calls
""")
works("cb_on_batch_end_keras2", """
    losses = []
    class Batches(keras.callbacks.Callback):
        def on_batch_end(self, batch, logs={}):
            losses.append(logs.get("loss"))
    dense_model().fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[Batches()])
    assert len(losses) == 4 and all(v is not None for v in losses)
""")
works("cb_params_attribute", """
    class Check(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            assert self.params["epochs"] == 2, self.params
    dense_model().fit(x, y, epochs=2, verbose=0, callbacks=[Check()])
""")
works("cb_predict_hooks", """
    calls = []
    class Recorder(keras.callbacks.Callback):
        def on_predict_end(self, logs=None):
            calls.append("predict_end")
        def on_test_end(self, logs=None):
            calls.append("test_end")
    model = dense_model()
    model.predict(x, verbose=0, callbacks=[Recorder()])
    model.evaluate(x, y, verbose=0, callbacks=[Recorder()])
    assert calls == ["predict_end", "test_end"], calls
""")
works("cb_terminate_on_nan", """
    dense_model().fit(x, y, epochs=1, verbose=0, callbacks=[keras.callbacks.TerminateOnNaN()])
""")
works("cb_history_object", """
    h = keras.callbacks.History()
    dense_model().fit(x, y, epochs=2, verbose=0, callbacks=[h])
    assert len(h.history["loss"]) == 2
""")
works("cb_backup_and_restore", """
    cb = keras.callbacks.BackupAndRestore(backup_dir=os.path.join(tmp, "backup"))
    hist = dense_model().fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    assert len(hist.history["loss"]) == 1
""")
works("cb_progbar_logger", """
    dense_model().fit(x, y, epochs=1, verbose=0, callbacks=[keras.callbacks.ProgbarLogger()])
""")
works("cb_monitor_missing_warns_not_crash", """
    cb = keras.callbacks.EarlyStopping(monitor="val_loss", patience=0)
    hist = dense_model().fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    assert len(hist.history["loss"]) == 2
""")
refused("cb_early_stopping_start_from_epoch", """
    keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, start_from_epoch=2)
""", "start_from_epoch", gap="Keras 2.11+ / Keras 3 argument; convnet/callbacks.py "
                             "EarlyStopping could accept it")
refused("cb_earlystopping_bad_mode", 'keras.callbacks.EarlyStopping(mode="maximum")', "mode")
refused("cb_scheduler_with_schedule_lr", """
    model = dense_model(optimizer=keras.optimizers.SGD(
        keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)))
    cb = keras.callbacks.LearningRateScheduler(lambda e, lr: lr)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
""", "schedule")
refused("cb_swap_ema_weights", "keras.callbacks.SwapEMAWeights()", "SwapEMAWeights")

# --- saving and loading --------------------------------------------------------------------------

works("save_h5_load_model", """
    model = dense_model()
    model.fit(x, y, epochs=1, verbose=0)
    path = os.path.join(tmp, "model.h5")
    model.save(path)
    again = keras.models.load_model(path)
    assert np.allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert np.allclose(again.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), atol=1e-5)
""")
works("save_keras_load_model", """
    model = conv_model()
    path = os.path.join(tmp, "model.keras")
    model.save(path)
    again = keras.models.load_model(path)
    assert np.allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
""")
works("save_load_compile_false", """
    path = os.path.join(tmp, "m.h5")
    dense_model().save(path)
    again = keras.models.load_model(path, compile=False)
    assert again.predict(x, verbose=0).shape == (32, 10)
""")
refused("save_include_optimizer_false", """
    dense_model().save(os.path.join(tmp, "m.h5"), include_optimizer=False)
""", "include_optimizer", gap="Model.save takes only filepath (convnet/models.py); Keras "
                              "accepts include_optimizer=")
refused("save_overwrite_kwarg", """
    dense_model().save(os.path.join(tmp, "m.keras"), overwrite=True)
""", "overwrite", gap="Model.save takes only filepath (convnet/models.py); overwrite=True is "
                      "Keras's default")
refused("save_format_h5_tfkeras", """
    dense_model().save(os.path.join(tmp, "m.h5"), save_format="h5")
""", "save_format", gap="tf.keras's save_format='h5' (convnet/models.py Model.save could accept "
                        "it when it agrees with the file name)")
works("models_save_model_function", """
    path = os.path.join(tmp, "m.h5")
    keras.models.save_model(dense_model(), path)
    assert keras.models.load_model(path).output_shape == (None, 10)
""")
works("saving_module_keras3", """
    path = os.path.join(tmp, "m.keras")
    keras.saving.save_model(dense_model(), path)
    assert keras.saving.load_model(path).output_shape == (None, 10)
""")
works("save_weights_h5", """
    model = dense_model()
    path = os.path.join(tmp, "w.h5")
    model.save_weights(path)
    other = dense_model()
    other.load_weights(path)
    assert np.allclose(other.predict(x, verbose=0), model.predict(x, verbose=0))
""")
works("save_weights_keras3_name", """
    model = conv_model()
    path = os.path.join(tmp, "model.weights.h5")
    model.save_weights(path)
    other = conv_model()
    other.load_weights(path)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), other.get_weights()))
""")
works("load_weights_by_name", """
    def build(units):
        return keras.Sequential([keras.Input((4,)), layers.Dense(3, name="shared"),
                                 layers.Dense(units, name=f"head{units}")])
    model = build(2)
    path = os.path.join(tmp, "w.h5")
    model.save_weights(path)
    other = build(5)
    other.load_weights(path, by_name=True, skip_mismatch=True)
    assert np.array_equal(other.get_layer("shared").get_weights()[0],
                          model.get_layer("shared").get_weights()[0])
""")
works("to_json_model_from_json", """
    model = conv_model()
    again = keras.models.model_from_json(model.to_json())
    assert again.output_shape == (None, 10)
    assert [type(l).__name__ for l in again.layers] == [type(l).__name__ for l in model.layers]
""")
works("json_file_roundtrip_tutorial", """
    model = conv_model()
    with open(os.path.join(tmp, "model.json"), "w") as f:
        f.write(model.to_json())
    model.save_weights(os.path.join(tmp, "model.h5"))
    with open(os.path.join(tmp, "model.json")) as f:
        loaded = keras.models.model_from_json(f.read())
    loaded.load_weights(os.path.join(tmp, "model.h5"))
    assert np.allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
""")
works("get_config_from_config", """
    model = conv_model()
    again = keras.Sequential.from_config(model.get_config())
    assert again.output_shape == (None, 10) and len(again.layers) == 4
""")
works("functional_get_config_from_config", """
    inputs = keras.Input((4,))
    model = keras.Model(inputs, layers.Dense(2)(inputs))
    again = keras.Model.from_config(model.get_config())
    assert again.output_shape == (None, 2)
""")
works("layer_get_config_from_config", """
    layer = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")
    cfg = layer.get_config()
    again = layers.Conv2D.from_config(cfg)
    assert cfg["filters"] == 8 and tuple(cfg["kernel_size"]) == (3, 3)
    assert again.get_config()["padding"] == "same"
""")
works("load_model_custom_objects", """
    path = os.path.join(tmp, "m.h5")
    dense_model().save(path)
    assert keras.models.load_model(path, custom_objects={}).output_shape == (None, 10)
""")
refused("load_model_missing_file", "keras.models.load_model(os.path.join(tmp, 'nope.h5'))",
        "nope.h5")
refused("load_weights_wrong_architecture", """
    path = os.path.join(tmp, "w.h5")
    dense_model().save_weights(path)
    conv_model().load_weights(path)
""", "w.h5")
refused("model_from_json_garbage", "keras.models.model_from_json('{not json')", "json")


# --- utils ---------------------------------------------------------------------------------------

works("to_categorical_num_classes", """
    out = keras.utils.to_categorical(y_int, num_classes=10)
    assert out.shape == (32, 10) and np.array_equal(out.argmax(1), y_int)
""")
works("to_categorical_inferred", """
    out = keras.utils.to_categorical([0, 2, 1])
    assert np.array_equal(out, np.eye(3)[[0, 2, 1]])
""")
works("to_categorical_column_labels", """
    out = keras.utils.to_categorical(y_int.reshape(-1, 1), 10)
    assert out.shape == (32, 10)
""")
works("to_categorical_np_utils", """
    from convnet.utils import np_utils
    assert np_utils.to_categorical([1], 3).tolist() == [[0.0, 1.0, 0.0]]
""")
works("to_categorical_dtype", """
    assert keras.utils.to_categorical([1], 2, dtype="int32").dtype == np.int32
""")
works("utils_normalize", """
    out = keras.utils.normalize(np.array([[3.0, 4.0]]), axis=1)
    assert np.allclose(out, [[0.6, 0.8]])
""")
works("set_random_seed_repeatable", """
    keras.utils.set_random_seed(42)
    a = dense_model().get_weights()[0]
    keras.utils.set_random_seed(42)
    b = dense_model().get_weights()[0]
    assert np.array_equal(a, b)
""")
works("plot_model_file", """
    path = os.path.join(tmp, "model.png")
    keras.utils.plot_model(conv_model(), to_file=path, show_shapes=True, show_layer_names=True)
    assert os.path.getsize(path) > 0
""")
works("plot_model_dpi_rankdir", """
    path = os.path.join(tmp, "model.png")
    keras.utils.plot_model(dense_model(), to_file=path, show_shapes=True, rankdir="LR", dpi=72,
                           expand_nested=False, show_layer_activations=True)
    assert os.path.exists(path)
""")
works("img_utils_roundtrip", """
    img = keras.utils.array_to_img(x[0])
    path = os.path.join(tmp, "digit.png")
    img.save(path)
    back = keras.utils.img_to_array(keras.utils.load_img(path, color_mode="grayscale"))
    assert back.shape == (28, 28, 1)
""")
works("load_img_target_size", """
    path = os.path.join(tmp, "digit.png")
    keras.utils.save_img(path, x[0])
    img = keras.utils.load_img(path, target_size=(14, 14))
    assert keras.utils.img_to_array(img).shape[:2] == (14, 14)
""")
works("image_dataset_from_directory", """
    for label in ("cats", "dogs"):
        os.makedirs(os.path.join(tmp, "data", label))
        for i in range(3):
            keras.utils.save_img(os.path.join(tmp, "data", label, f"{i}.png"),
                                 np.repeat(x[i], 3, axis=-1) * 255)
    ds = keras.utils.image_dataset_from_directory(os.path.join(tmp, "data"), image_size=(28, 28),
                                                  batch_size=4, seed=1)
    images, labels = next(iter(ds))
    assert images.shape == (4, 28, 28, 3) and list(ds.class_names) == ["cats", "dogs"]
""")
works("image_dataset_validation_subset", """
    for label in ("a", "b"):
        os.makedirs(os.path.join(tmp, "d", label))
        for i in range(5):
            keras.utils.save_img(os.path.join(tmp, "d", label, f"{i}.png"), x[i] * 255)
    train = keras.utils.image_dataset_from_directory(os.path.join(tmp, "d"), validation_split=0.2,
                                                     subset="training", seed=1,
                                                     image_size=(28, 28), batch_size=8)
    val = keras.utils.image_dataset_from_directory(os.path.join(tmp, "d"), validation_split=0.2,
                                                   subset="validation", seed=1,
                                                   image_size=(28, 28), batch_size=8)
    assert sum(len(b[0]) for b in train) == 8 and sum(len(b[0]) for b in val) == 2
""")
works("sequence_len_getitem", """
    class S(keras.utils.Sequence):
        def __len__(self):
            return 3
        def __getitem__(self, i):
            return x[:2], y[:2]
    assert len(S()) == 3
""")
refused("utils_get_file", """
    keras.utils.get_file("mnist.npz", origin="https://example.invalid/mnist.npz",
                         cache_dir=tmp)
""", "get_file")
works("utils_progbar", """
    bar = keras.utils.Progbar(3)
    for i in range(3):
        bar.update(i + 1)
""")
works("utils_register_keras_serializable", """
    @keras.utils.register_keras_serializable()
    class MyDense(layers.Dense):
        pass
    assert MyDense(3).units == 3
""")
works("utils_custom_object_scope", """
    with keras.utils.custom_object_scope({}):
        pass
""")

# --- backend -------------------------------------------------------------------------------------

works("backend_clear_session", """
    from convnet import backend as K
    layers.Dense(3)
    K.clear_session()
    assert layers.Dense(3).name == "dense"
""")
works("backend_image_data_format", """
    from convnet import backend as K
    assert K.image_data_format() == "channels_last"
""")
works("backend_channels_first_tutorial", """
    from convnet import backend as K
    K.set_image_data_format("channels_first")
    assert K.image_data_format() == "channels_first"
    model = keras.Sequential([layers.Conv2D(4, 3, input_shape=(1, 28, 28)), layers.Flatten()])
    assert model.output_shape == (None, 4 * 26 * 26)
    assert model.predict(x[:4].transpose(0, 3, 1, 2), verbose=0).shape == (4, 2704)
""")
works("backend_epsilon_floatx", """
    K = keras.backend
    assert K.epsilon() == 1e-7 and K.floatx() == "float32"
""")
works("backend_set_epsilon", """
    K = keras.backend
    K.set_epsilon(1e-5)
    try:
        assert K.epsilon() == 1e-5
    finally:
        K.set_epsilon(1e-7)
""")
works("backend_set_floatx_float64", """
    keras.backend.set_floatx("float64")
    model = dense_model()
    assert model.predict(x, verbose=0).dtype == np.float64
""")
works("backend_int_shape", """
    model = conv_model()
    assert keras.backend.int_shape(model.output) == (None, 10)
    assert keras.backend.int_shape(np.zeros((2, 3))) == (2, 3)
""")
works("backend_get_set_value_lr", """
    K = keras.backend
    model = dense_model(optimizer=keras.optimizers.Adam(0.001))
    K.set_value(model.optimizer.lr, 0.01)
    assert abs(float(K.get_value(model.optimizer.lr)) - 0.01) < 1e-9
""")
works("backend_function_feature_maps", """
    K = keras.backend
    model = conv_model()
    f = K.function([model.input], [model.layers[0].output])
    out = f([x[:2]])[0]
    assert out.shape == (2, 13, 13, 4)
""")
works("backend_function_learning_phase", """
    K = keras.backend
    model = conv_model()
    f = K.function([model.layers[0].input, K.learning_phase()], [model.layers[-1].output])
    assert f([x[:2], 0])[0].shape == (2, 10)
""")
works("backend_name", """
    assert isinstance(keras.backend.backend(), str)
""")
works("backend_count_params", """
    model = dense_model()
    assert keras.backend.count_params(model.layers[-1].kernel) == 7840
""")
works("backend_is_keras_tensor", """
    model = conv_model()
    assert keras.backend.is_keras_tensor(model.output)
""")

# --- preprocessing -------------------------------------------------------------------------------

works("imagedatagenerator_flow", """
    from convnet.preprocessing.image import ImageDataGenerator
    gen = ImageDataGenerator(rotation_range=10, width_shift_range=0.1, height_shift_range=0.1,
                             zoom_range=0.1, horizontal_flip=True)
    bx, by = next(gen.flow(x, y, batch_size=8, seed=1))
    assert bx.shape == (8, 28, 28, 1) and by.shape == (8, 10)
""")
works("imagedatagenerator_attr_path", """
    gen = keras.preprocessing.image.ImageDataGenerator(rescale=1.0 / 255)
    bx, _ = next(gen.flow(x * 255, y, batch_size=4, shuffle=False))
    assert np.allclose(bx, x[:4], atol=1e-5)
""")
works("imagedatagenerator_fit_model", """
    from convnet.preprocessing.image import ImageDataGenerator
    gen = ImageDataGenerator(shear_range=0.1, fill_mode="nearest")
    hist = dense_model().fit(gen.flow(x, y, batch_size=16), epochs=1, verbose=0)
    assert len(hist.history["loss"]) == 1
""")
works("imagedatagenerator_featurewise", """
    from convnet.preprocessing.image import ImageDataGenerator
    gen = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True)
    gen.fit(x)
    bx, _ = next(gen.flow(x, y, batch_size=32, shuffle=False))
    assert abs(float(bx.mean())) < 1e-3
""")
works("imagedatagenerator_validation_split", """
    from convnet.preprocessing.image import ImageDataGenerator
    gen = ImageDataGenerator(validation_split=0.25)
    train = gen.flow(x, y, batch_size=32, subset="training")
    val = gen.flow(x, y, batch_size=32, subset="validation")
    assert len(next(train)[0]) == 24 and len(next(val)[0]) == 8
""")
works("flow_from_directory", """
    from convnet.preprocessing.image import ImageDataGenerator
    for label in ("a", "b"):
        os.makedirs(os.path.join(tmp, "train", label))
        for i in range(2):
            keras.utils.save_img(os.path.join(tmp, "train", label, f"{i}.png"), x[i] * 255)
    it = ImageDataGenerator(rescale=1.0 / 255).flow_from_directory(
        os.path.join(tmp, "train"), target_size=(28, 28), batch_size=4, class_mode="categorical")
    bx, by = next(it)
    assert bx.shape == (4, 28, 28, 3) and by.shape == (4, 2)
    assert it.class_indices == {"a": 0, "b": 1}
""")
works("preprocessing_image_load_img", """
    from convnet.preprocessing.image import load_img, img_to_array
    path = os.path.join(tmp, "d.png")
    keras.utils.save_img(path, x[0] * 255)
    assert img_to_array(load_img(path, color_mode="grayscale")).shape == (28, 28, 1)
""")
works("preprocessing_image_dataset_from_directory_tf23", """
    os.makedirs(os.path.join(tmp, "d", "a"))
    keras.utils.save_img(os.path.join(tmp, "d", "a", "0.png"), x[0] * 255)
    ds = keras.preprocessing.image_dataset_from_directory(os.path.join(tmp, "d"),
                                                          image_size=(28, 28))
    assert next(iter(ds))[0].shape[1:] == (28, 28, 3)
""")


# --- model and layer attributes ------------------------------------------------------------------

works("model_layers_list", """
    model = conv_model()
    assert len(model.layers) == 4 and type(model.layers[0]).__name__ == "Conv2D"
""")
works("model_summary_prints", """
    import io, contextlib
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        conv_model().summary()
    text = buf.getvalue()
    assert "Conv2D" in text and "Total params" in text and "1,490" in text
""")
works("model_summary_print_fn", """
    lines = []
    dense_model().summary(print_fn=lambda line, **kw: lines.append(line))
    assert any("7,850" in l or "7850" in l for l in lines), lines
""")
works("model_summary_line_length", """
    lines = []
    dense_model().summary(line_length=100, positions=[0.4, 0.7, 1.0], expand_nested=True,
                          print_fn=lines.append)
    assert max(len(l) for l in lines) == 100
""")
works("model_summary_show_trainable", """
    lines = []
    dense_model().summary(show_trainable=True, print_fn=lines.append)
    assert any("Trainable" in l for l in lines)
""")
works("model_weights_list", """
    model = dense_model()
    shapes = [tuple(w.shape) for w in model.weights]
    assert shapes == [(784, 10), (10,)], shapes
""")
works("model_trainable_non_trainable_weights", """
    model = keras.Sequential([keras.Input((4,)), layers.BatchNormalization()])
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
""")
works("model_get_layer_name_index", """
    model = conv_model()
    first = model.layers[0]
    assert model.get_layer(first.name) is first and model.get_layer(index=0) is first
""")
works("model_get_layer_unknown", """
    try:
        conv_model().get_layer("nope")
    except ValueError as e:
        assert "nope" in str(e)
    else:
        raise AssertionError("no error")
""")
works("model_trainable_false_freezes", """
    model = dense_model()
    model.trainable = False
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    before = model.get_weights()[0].copy()
    model.fit(x, y, epochs=1, verbose=0)
    assert np.array_equal(before, model.get_weights()[0])
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 2
""")
works("layer_trainable_attribute", """
    model = conv_model(compile=False)
    for layer in model.layers[:2]:
        layer.trainable = False
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    before = model.layers[0].get_weights()[0].copy()
    model.fit(x, y, epochs=1, verbose=0)
    assert np.array_equal(before, model.layers[0].get_weights()[0])
""")
works("model_input_output_shape", """
    model = conv_model()
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
""")
works("layer_input_output_shape_tfkeras", """
    model = conv_model()
    assert model.layers[0].input_shape == (None, 28, 28, 1)
    assert model.layers[0].output_shape == (None, 13, 13, 4)
""", xfail="layer.input_shape / layer.output_shape are per-sample in convnet ((28, 28, 1)); "
           "tf.keras gives (None, 28, 28, 1) like model.input_shape (convnet/layers/base.py "
           "Layer: keep the per-sample shapes under another name)")
works("layer_output_shape_attr_loop", """
    shapes = [layer.output.shape for layer in conv_model().layers]
    assert tuple(shapes[-1]) == (None, 10), shapes
""")
works("model_count_params", """
    model = conv_model()
    assert model.count_params() == 4 * 9 + 4 + 144 * 10 + 10
    assert model.layers[-1].count_params() == 1450
""")
works("layer_get_set_weights", """
    model = dense_model()
    dense = model.layers[-1]
    kernel, bias = dense.get_weights()
    assert kernel.shape == (784, 10) and bias.shape == (10,)
    dense.set_weights([np.zeros_like(kernel), np.ones_like(bias)])
    assert np.allclose(model.predict(x, verbose=0), 0.1)
""")
works("model_get_set_weights", """
    a, b = dense_model(), dense_model()
    b.set_weights(a.get_weights())
    assert np.array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))
""")
refused("layer_set_weights_wrong_shape", """
    dense_model().layers[-1].set_weights([np.zeros((3, 3)), np.zeros(10)])
""", "784")
works("layer_kernel_bias_attributes", """
    dense = dense_model().layers[-1]
    assert dense.kernel.shape == (784, 10) and dense.bias.shape == (10,)
""")
works("layer_kernel_numpy", """
    dense = dense_model().layers[-1]
    assert np.asarray(dense.kernel.numpy()).shape == (784, 10)
""", xfail=("weights are plain ndarrays: .numpy() and .name (Keras Variables) are "
            "AttributeErrors (convnet/layers/base.py weights/kernel: an ndarray subclass "
            "with numpy() and name, or document the difference)"))
works("weights_numpy_loop", """
    for w in dense_model().weights:
        assert w.numpy().shape == tuple(w.shape)
""", xfail=("weights are plain ndarrays: .numpy() and .name (Keras Variables) are "
            "AttributeErrors (convnet/layers/base.py weights/kernel: an ndarray subclass "
            "with numpy() and name, or document the difference)"))
works("layer_weights_names", """
    names = [w.name for w in dense_model().layers[-1].weights]
    assert any("kernel" in n for n in names), names
""", xfail=("weights are plain ndarrays: .numpy() and .name (Keras Variables) are "
            "AttributeErrors (convnet/layers/base.py weights/kernel: an ndarray subclass "
            "with numpy() and name, or document the difference)"))
works("layer_config_attributes", """
    conv = layers.Conv2D(8, (3, 3), strides=2, padding="same", activation="relu")
    assert conv.filters == 8 and conv.kernel_size == (3, 3) and conv.strides == (2, 2)
    assert conv.padding == "same"
    dense = layers.Dense(5)
    assert dense.units == 5
    assert layers.Dropout(0.3).rate == 0.3
    assert layers.MaxPooling2D(3).pool_size == (3, 3)
""")
works("layer_activation_attribute", """
    dense = layers.Dense(3, activation="relu")
    assert dense.activation(np.array([-1.0]))[0] == 0.0
    assert dense.get_config()["activation"] == "relu"
""")
works("layer_input_output_functional", """
    model = conv_model()
    sub = keras.Model(model.layers[0].input, model.layers[1].output)
    assert sub.output_shape == (None, 6, 6, 4)
""")
works("layer_dtype_attribute", """
    assert dense_model().layers[-1].dtype == "float32"
""")
works("layer_name_auto", """
    model = keras.Sequential([keras.Input((4,)), layers.Dense(2), layers.Dense(2)])
    assert [l.name for l in model.layers] == ["dense", "dense_1"]
""")
works("model_inputs_outputs", """
    model = conv_model()
    assert len(model.inputs) == 1 and len(model.outputs) == 1
    assert tuple(model.outputs[0].shape) == (None, 10)
""")
works("model_optimizer_attrs", """
    model = dense_model(optimizer=keras.optimizers.Adam(learning_rate=0.005))
    assert abs(float(model.optimizer.learning_rate) - 0.005) < 1e-9
    assert abs(float(model.optimizer.lr) - 0.005) < 1e-9
""")
works("optimizer_lr_assign_keras3", """
    model = dense_model()
    model.optimizer.learning_rate = 0.01
    assert abs(float(model.optimizer.learning_rate) - 0.01) < 1e-9
""")
works("optimizer_lr_assign_method_tf", """
    model = dense_model()
    model.optimizer.learning_rate.assign(0.01)
    assert abs(float(model.optimizer.learning_rate) - 0.01) < 1e-9
""")
works("optimizer_iterations", """
    model = dense_model()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 4
""")
works("model_loss_attribute", """
    model = dense_model()
    assert model.loss == "categorical_crossentropy"
""")
works("model_built_and_name", """
    model = dense_model()
    assert model.built and isinstance(model.name, str)
""")
works("model_metrics_attribute", """
    model = dense_model()
    model.fit(x, y, epochs=1, verbose=0)
    names = [m.name for m in model.metrics]
    assert "loss" in names and "accuracy" in names or "compile_metrics" in names, names
""")
works("model_compiled_loss_value", """
    model = dense_model()
    loss = model.evaluate(x, y, verbose=0)[0]
    p = model.predict(x, verbose=0)
    ref = float(np.mean(keras.losses.categorical_crossentropy(y, p)))
    assert abs(loss - ref) < 1e-4
""")
works("layer_losses_regularization", """
    model = keras.Sequential([keras.Input((4,)),
                              layers.Dense(2, kernel_initializer="ones",
                                           kernel_regularizer=keras.regularizers.l2(0.1))])
    assert abs(float(sum(model.losses)) - 0.8) < 1e-6
""")
works("model_to_json_indent", """
    import json
    text = dense_model().to_json(indent=2)
    assert json.loads(text)["class_name"] == "Sequential"
""")
works("model_iterate_layers_weights", """
    for layer in conv_model().layers:
        for w in layer.get_weights():
            assert np.isfinite(w).all()
""")
works("layer_built_attribute", """
    model = dense_model()
    assert all(layer.built for layer in model.layers)
""")
works("model_len_layers_pop_add", """
    model = dense_model()
    model.pop()
    model.add(layers.Dense(3, activation="softmax"))
    assert model.output_shape == (None, 3)
""")
refused("summary_before_build", "keras.Sequential([layers.Dense(3)]).summary()", "build")
refused("get_layer_bad_index", "conv_model().get_layer(index=10)", "10")

# --- datasets ------------------------------------------------------------------------------------

works("mnist_load_data", """
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.max() == 9
""")
works("mnist_from_import", """
    from convnet.datasets import mnist
    (a, b), (c, d) = mnist.load_data(path="mnist.npz")
    assert len(a) == len(b) == 60000
""")
works("fashion_mnist_callable", """
    from convnet.datasets import fashion_mnist
    assert callable(fashion_mnist.load_data)
""")
refused("fashion_mnist_missing_folder", """
    keras.datasets.fashion_mnist.load_data(path=os.path.join(tmp, "no-such-folder"))
""", "fashion")



# --- Keras's defaults and semantics, checked by value (a silent difference is a bug too) ---------

works("default_adam_config", """
    cfg = keras.optimizers.Adam().get_config()
    assert abs(cfg["learning_rate"] - 0.001) < 1e-12 and cfg["beta_1"] == 0.9
    assert cfg["beta_2"] == 0.999 and abs(cfg["epsilon"] - 1e-7) < 1e-15
""")
works("default_sgd_rmsprop_lr", """
    assert abs(float(keras.optimizers.SGD().learning_rate) - 0.01) < 1e-12
    assert abs(float(keras.optimizers.RMSprop().learning_rate) - 0.001) < 1e-12
    assert keras.optimizers.RMSprop().get_config()["rho"] == 0.9
""")
works("default_dense_conv_initializers", """
    for layer in (layers.Dense(3), layers.Conv2D(3, 3)):
        cfg = layer.get_config()
        k, b = cfg["kernel_initializer"], cfg["bias_initializer"]
        k = k if isinstance(k, str) else k["class_name"]
        b = b if isinstance(b, str) else b["class_name"]
        assert k.lower().replace("_", "") == "glorotuniform" and b.lower() == "zeros", (k, b)
""")
works("default_batchnorm_config", """
    cfg = layers.BatchNormalization().get_config()
    assert cfg["momentum"] == 0.99 and abs(cfg["epsilon"] - 1e-3) < 1e-12
    assert cfg["axis"] in (-1, [-1], [3]), cfg["axis"]
""")
works("default_leaky_relu_slope", """
    out = np.asarray(layers.LeakyReLU()(np.array([[-1.0]], "float32")))
    assert abs(float(out[0, 0]) + 0.3) < 1e-6, out
""")
works("default_maxpool_strides_equal_pool", """
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.MaxPooling2D(pool_size=3)])
    assert model.output_shape == (None, 9, 9, 1)
""")
works("default_batch_size_32", """
    count = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: count.append(b))
    model = dense_model()
    model.fit(np.concatenate([x, x[:8]]), np.concatenate([y, y[:8]]), epochs=1, verbose=0,
              callbacks=[cb])
    assert len(count) == 2, count
    count.clear()
    model.fit(x, y, batch_size=10, epochs=1, verbose=0, callbacks=[cb])
    assert len(count) == 4, count
""")
works("validation_split_takes_last_samples", """
    model = dense_model(optimizer="sgd")
    hist = model.fit(x, y, epochs=1, batch_size=8, validation_split=0.25, verbose=0)
    expected = model.evaluate(x[24:], y[24:], verbose=0)[0]
    assert abs(hist.history["val_loss"][0] - expected) < 1e-5
""")
works("accuracy_means_binary_for_sigmoid", """
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Flatten(),
                              layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    labels = (y_int % 2).astype("float32")
    _, acc = model.evaluate(x, labels, verbose=0)
    p = model.predict(x, verbose=0)[:, 0]
    assert abs(acc - np.mean((p > 0.5) == labels)) < 1e-6
""")
works("accuracy_means_sparse_for_sparse_loss", """
    model = dense_model(loss="sparse_categorical_crossentropy")
    _, acc = model.evaluate(x, y_int, verbose=0)
    p = model.predict(x, verbose=0)
    assert abs(acc - np.mean(p.argmax(1) == y_int)) < 1e-6
""")
works("sparse_labels_column_vector", """
    model = dense_model(loss="sparse_categorical_crossentropy")
    a = model.evaluate(x, y_int.reshape(-1, 1), verbose=0)
    b = model.evaluate(x, y_int, verbose=0)
    assert np.allclose(a, b)
""")
works("flatten_order_channels_last", """
    model = keras.Sequential([keras.Input((4, 4, 2)), layers.Flatten()])
    v = np.arange(32, dtype="float32").reshape(1, 4, 4, 2)
    assert np.array_equal(model.predict(v, verbose=0), v.reshape(1, -1))
""")
works("avgpool_same_excludes_padding", """
    model = keras.Sequential([keras.Input((5, 5, 1)),
                              layers.AveragePooling2D(2, padding="same")])
    assert np.allclose(model.predict(np.ones((1, 5, 5, 1)), verbose=0), 1.0)
""")
works("gap_is_mean", """
    v = np.random.default_rng(2).random((2, 5, 5, 3), dtype="float32")
    out = np.asarray(layers.GlobalAveragePooling2D()(v))
    assert np.allclose(out, v.mean(axis=(1, 2)), atol=1e-6)
""")
works("upsampling_nearest_repeats", """
    v = np.arange(4, dtype="float32").reshape(1, 2, 2, 1)
    out = np.asarray(layers.UpSampling2D(2)(v))
    assert np.array_equal(out[0, :, :, 0], np.repeat(np.repeat(v[0, :, :, 0], 2, 0), 2, 1))
""")
works("zeropadding_values", """
    out = np.asarray(layers.ZeroPadding2D(1)(np.ones((1, 2, 2, 1), "float32")))
    assert out.shape == (1, 4, 4, 1) and out.sum() == 4 and out[0, 0, 0, 0] == 0
""")
works("rescaling_values", """
    out = np.asarray(layers.Rescaling(1.0 / 255)(np.full((1, 2), 255.0, "float32")))
    assert np.allclose(out, 1.0)
""")
works("concatenate_default_last_axis", """
    a, b = keras.Input((2, 3)), keras.Input((2, 4))
    model = keras.Model([a, b], layers.Concatenate()([a, b]))
    assert model.output_shape == (None, 2, 7)
""")
works("conv2d_is_cross_correlation", """
    layer = layers.Conv2D(1, 2, use_bias=False)
    v = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
    layer(v)
    k = np.array([[1, 0], [0, 0]], "float32").reshape(2, 2, 1, 1)
    layer.set_weights([k])
    assert np.array_equal(np.asarray(layer(v))[0, :, :, 0], v[0, :2, :2, 0])
""")
works("dense_kernel_layout", """
    layer = layers.Dense(2)
    layer(np.zeros((1, 3), "float32"))
    kernel, bias = layer.get_weights()
    assert kernel.shape == (3, 2)
    layer.set_weights([np.arange(6, dtype="float32").reshape(3, 2), np.array([1, -1], "float32")])
    assert np.array_equal(np.asarray(layer(np.ones((1, 3), "float32"))), [[7.0, 8.0]])
""")
works("to_categorical_float_labels", """
    out = keras.utils.to_categorical(np.array([1.0, 2.0]), 3)
    assert np.array_equal(out, [[0, 1, 0], [0, 0, 1]]) and out.dtype == np.float32
""")
works("predict_returns_float32", """
    assert dense_model().predict(x.astype("float64"), verbose=0).dtype == np.float32
""")
works("evaluate_default_not_shuffled_equal_batches", """
    model = dense_model()
    assert np.allclose(model.evaluate(x, y, verbose=0, batch_size=7),
                       model.evaluate(x, y, verbose=0, batch_size=32), atol=1e-5)
""")
works("history_keys_with_validation_and_lr", """
    hist = dense_model().fit(x, y, epochs=1, validation_data=(x, y), verbose=0)
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(hist.history)
""")
works("trainable_flag_layer_count_params", """
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3), layers.BatchNormalization()])
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 4 * 3 + 3 + 3 + 3 and model.count_params() == trainable + 6
""")
works("dropout_scales_in_training_fit", """
    model = keras.Sequential([keras.Input((1,)), layers.Dropout(0.5),
                              layers.Dense(1, use_bias=False, kernel_initializer="ones")])
    model.compile(optimizer="sgd", loss="mse")   # one batch: the loss is from before the step
    loss_train = model.fit(np.ones((4000, 1)), np.zeros((4000, 1)), batch_size=4000, verbose=0,
                           shuffle=False).history["loss"][0]
    assert abs(loss_train - 2.0) < 0.2, loss_train   # outputs 0 or 2: mean of squares is 2
    w = float(model.get_weights()[0][0, 0])   # evaluate: no dropout, output w, loss w ** 2
    assert abs(model.evaluate(np.ones((4, 1)), np.zeros((4, 1)), verbose=0) - w * w) < 1e-5
""")


# --- more Keras 3 and tf.keras idioms ----------------------------------------------------------

works("keras3_config_namespace", """
    assert keras.config.image_data_format() == "channels_last"
    assert keras.config.floatx() == "float32" and keras.config.epsilon() == 1e-7
""")
works("keras_version", """
    assert isinstance(keras.__version__, str)
""")
refused("variable_size_input_gap", """
    inputs = keras.Input(shape=(None, None, 1))
    h = layers.Conv2D(4, 3, activation="relu")(inputs)
    outputs = layers.Dense(2)(layers.GlobalMaxPooling2D()(h))
    model = keras.Model(inputs, outputs)
    assert model.predict(np.ones((1, 12, 12, 1)), verbose=0).shape == (1, 2)
    assert model.predict(np.ones((1, 20, 16, 1)), verbose=0).shape == (1, 2)
""", "(None, None, 1)",
        gap=("Keras builds models on inputs of unknown height and width (fully convolutional "
             "nets); convnet builds every layer for one known size (convnet/layers/base.py)"))
refused("loss_reduction_sum", """
    loss = keras.losses.MeanSquaredError(reduction="sum")
    v = float(loss(np.zeros((4, 2)), np.ones((4, 2))))
    assert abs(v - 4.0) < 1e-6, v
""", "reduction", "sum",
        gap="Keras losses accept reduction='sum' / 'none' (convnet/losses.py Loss)")
works("loss_cce_from_logits_value", """
    logits = np.array([[2.0, 0.0, 0.0]], "float32")
    cce = keras.losses.CategoricalCrossentropy(from_logits=True)
    v = float(cce(np.array([[1.0, 0, 0]]), logits))
    assert abs(v - (np.log(np.exp(2.0) + 2) - 2.0)) < 1e-5
""")
works("constant_bias_initializer_value", """
    layer = layers.Dense(3, bias_initializer=keras.initializers.Constant(0.1))
    layer(np.zeros((1, 2), "float32"))
    assert np.allclose(layer.get_weights()[1], 0.1)
""")
works("random_normal_initializer_stddev", """
    layer = layers.Dense(200, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01))
    layer(np.zeros((1, 200), "float32"))
    assert 0.008 < float(np.std(layer.get_weights()[0])) < 0.012
""")
works("activation_none", """
    layer = layers.Dense(2, activation=None, kernel_initializer="ones")
    assert np.allclose(np.asarray(layer(np.full((1, 2), -1.0, "float32"))), -2.0)
""")
works("batchnorm_call_training_false", """
    bn = layers.BatchNormalization()
    v = np.full((4, 3), 5.0, "float32")
    out = np.asarray(bn(v, training=False))
    assert np.allclose(out, v / np.sqrt(1 + 1e-3), atol=1e-5)
""")
works("pooling_channels_first", """
    model = keras.Sequential([keras.Input((3, 8, 8)),
                              layers.MaxPooling2D(data_format="channels_first"),
                              layers.GlobalAveragePooling2D(data_format="channels_first")])
    assert model.output_shape == (None, 3)
""")
works("early_stopping_val_acc_tfkeras", """
    cb = keras.callbacks.EarlyStopping(monitor="val_acc", patience=0, min_delta=10.0, mode="max")
    hist = dense_model().fit(x, y, epochs=5, validation_data=(x, y), callbacks=[cb], verbose=0)
    assert len(hist.history["loss"]) == 2
""")
refused("save_weights_overwrite_kwarg", """
    path = os.path.join(tmp, "w.weights.h5")
    dense_model().save_weights(path)
    dense_model().save_weights(path, overwrite=True)
    assert os.path.exists(path)
""", "overwrite",
        gap=("Model.save_weights takes only filepath (convnet/models.py); overwrite=True is "
             "Keras's default"))
refused("load_model_safe_mode_keras3", """
    path = os.path.join(tmp, "m.keras")
    dense_model().save(path)
    assert keras.models.load_model(path, safe_mode=True).output_shape == (None, 10)
""", "safe_mode",
        gap=("Keras 3's load_model(safe_mode=True) is the default; convnet/models.py "
             "load_model could accept it (reading .keras never runs code anyway)"))
works("backend_set_learning_phase_tf2", """
    keras.backend.set_learning_phase(0)
""")
refused("backend_get_session_tf1", "keras.backend.get_session()", "session")
works("model_evaluate_x_only_generator", """
    def batches():
        while True:
            yield x[:8], y[:8]
    loss, acc = dense_model().evaluate(batches(), steps=2, verbose=0)
    assert np.isfinite(loss) and 0 <= acc <= 1
""")
works("fit_validation_data_generator", """
    def batches():
        while True:
            yield x[:8], y[:8]
    hist = dense_model().fit(x, y, epochs=1, validation_data=batches(), validation_steps=2,
                             verbose=0)
    assert "val_loss" in hist.history
""")
works("metrics_precision_value", """
    m = keras.metrics.Precision()
    m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert abs(float(m.result()) - 2 / 3) < 1e-6
""")
works("metrics_auc_value", """
    m = keras.metrics.AUC()
    m.update_state([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert abs(float(m.result()) - 0.75) < 0.01
""")
works("callbacks_list_order", """
    order = []
    class A(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            order.append("a")
    class B(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            order.append("b")
    dense_model().fit(x, y, epochs=1, verbose=0, callbacks=[A(), B()])
    assert order == ["a", "b"]
""")


_ids = [e.id for e in ENTRIES]
if len(set(_ids)) != len(_ids):
    raise ValueError("duplicate ids: "
                     + ", ".join(sorted({i for i in _ids if _ids.count(i) > 1})))


def summary_line(counts: dict) -> str:
    return (f"{len(ENTRIES)} snippets: {counts['works']} work, {counts['refused']} refused "
            f"clearly, {counts['unclear']} unclear "
            f"({sum(e.xfail is not None for e in ENTRIES)} marked xfail)")


def main() -> int:
    counts = {"works": 0, "refused": 0, "unclear": 0}
    unclear = []
    with tempfile.TemporaryDirectory() as root:
        for n, entry in enumerate(ENTRIES):
            tmp = os.path.join(root, str(n))
            os.mkdir(tmp)
            exc = run(entry, tmp)
            kind = outcome(entry, exc)
            counts[kind] += 1
            if kind == "unclear":
                unclear.append((entry, exc))
    print(summary_line(counts))
    gaps = [e for e in ENTRIES if e.gap]
    print(f"\nrefused clearly, though Keras accepts them ({len(gaps)}):")
    for entry in gaps:
        print(f"  {entry.id}: {entry.gap}")
    for entry, exc in unclear:
        mark = "xfail" if entry.xfail else "NOT MARKED"
        print(f"\n[{mark}] {entry.id}\n{textwrap.indent(entry.src, '    ')}\n    -> "
              f"{describe(entry, exc)}")
    new = [e.id for e, _ in unclear if not e.xfail]
    fixed = [e.id for e in ENTRIES if e.xfail and e.id not in {u.id for u, _ in unclear}]
    if fixed:
        print("\nmarked xfail but now fine (remove the mark):", ", ".join(fixed))
    return 1 if new or fixed else 0


if __name__ == "__main__":
    sys.exit(main())
