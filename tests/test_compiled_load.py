"""``load_model`` returns a compiled model, as Keras does: the file keeps the loss, the metrics
as given, the optimizer with its settings and its state, so ``evaluate`` works at once and
``fit`` continues where it stopped. Also ``compile=False``, ``custom_objects=``,
``load_weights(by_name=True, skip_mismatch=True)``.

Files written by real Keras (``tests/fixtures/keras/keras3_compiled``, ``k2_compiled``; made by
``tests/keras_interop/write_keras_file_fixtures.py``) load compiled too, with Keras's optimizer
state.
"""

import json
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

import convnet as keras
import error_bounds
from convnet import losses, metrics, optimizers, saving
from convnet.layers import Conv2D, Dense, Flatten, Input, Layer, MaxPooling2D
from convnet.models import Sequential, load_model, model_from_json
from convnet.saving import optimizer_state
from convnet.saving.training_config import compile_arguments

FIXTURES = Path(__file__).parent / "fixtures" / "keras"


def small_model() -> Sequential:
    return Sequential([Input(shape=(6, 6, 1)), Conv2D(3, 3, activation="relu"), Flatten(),
                       Dense(4, activation="softmax")])


def data(n: int = 16):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (n, 6, 6, 1)).astype("float32")
    return x, np.eye(4, dtype="float32")[rng.integers(0, 4, n)]


def trained(optimizer, loss="categorical_crossentropy", metric_list=("acc",)) -> Sequential:
    keras.utils.set_random_seed(1)
    model = small_model()
    model.compile(loss=loss, optimizer=optimizer, metrics=list(metric_list))
    x, y = data()
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return model


def same_state(a, b) -> None:
    assert type(a) is type(b) and a.iterations == b.iterations
    assert a.get_config() == b.get_config()
    assert sorted(a.state) == sorted(b.state)
    for slot in a.state:
        assert sorted(a.state[slot]) == sorted(b.state[slot])
        for name in a.state[slot]:
            np.testing.assert_array_equal(a.state[slot][name], b.state[slot][name],
                                          err_msg=f"{slot}/{name}")


OPTIMIZERS = [
    lambda: optimizers.Adadelta(learning_rate=1.0),
    lambda: optimizers.SGD(0.1),
    lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    lambda: optimizers.Adagrad(0.1),
    lambda: optimizers.RMSprop(0.01, momentum=0.5),
    lambda: optimizers.Adam(0.01, amsgrad=True),
    lambda: optimizers.AdamW(0.01),
    lambda: optimizers.Adamax(0.01),
    lambda: optimizers.Nadam(0.01),
    lambda: optimizers.Lion(0.001),
]


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
@pytest.mark.parametrize("make", OPTIMIZERS,
                         ids=[type(m()).__name__ + str(i) for i, m in enumerate(OPTIMIZERS)])
def test_fit_continues_where_it_stopped(tmp_path, make, suffix):
    """Keras: a saved model "resumes training exactly where it left off" (optimizer state
    included). Training on after load_model gives bit for bit the weights of training on."""
    model = trained(make())
    path = tmp_path / f"m{suffix}"
    model.save(path)
    loaded = load_model(path)
    same_state(model.optimizer, loaded.optimizer)
    assert loaded.metrics_names == model.metrics_names == ["loss", "acc"]
    x, y = data()
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    for m in (model, loaded):
        m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_h5_training_config_is_keras_spelling(tmp_path):
    """Keras 3's legacy writer: ``training_config`` JSON with loss, metrics as given and
    ``optimizer_config``; ``optimizer_weights`` in Keras 3's variable order."""
    model = trained(optimizers.Adam(0.01),
                    metric_list=("acc", metrics.TopKCategoricalAccuracy(k=2)))
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        config = json.loads(f.attrs["training_config"])
        names = [n.decode() if isinstance(n, bytes) else n
                 for n in f["optimizer_weights"].attrs["weight_names"]]
    assert config["loss"] == "categorical_crossentropy"
    assert config["metrics"] == ["acc", {"class_name": "TopKCategoricalAccuracy",
                                         "config": {"name": "top_k_categorical_accuracy",
                                                    "dtype": "float32", "k": 2}}]
    assert config["optimizer_config"]["class_name"] == "Adam"
    assert config["optimizer_config"]["config"]["learning_rate"] == 0.01
    assert "clipnorm" not in config["optimizer_config"]["config"]     # off: left out
    assert names[:2] == ["adam/iteration", "adam/learning_rate"]
    assert names[2:4] == ["adam/sequential_conv2d_kernel_momentum",
                          "adam/sequential_conv2d_kernel_velocity"]
    assert len(names) == 2 + 2 * 4


def test_compile_false_and_uncompiled_files(tmp_path):
    model = trained("adam")
    model.save(tmp_path / "m.h5")
    assert load_model(tmp_path / "m.h5", compile=False).optimizer is None
    plain = small_model()
    plain.save(tmp_path / "plain.h5")
    plain.save(tmp_path / "plain.keras")
    assert load_model(tmp_path / "plain.h5").optimizer is None
    assert load_model(tmp_path / "plain.keras").optimizer is None


def test_loss_and_metric_objects_keep_their_settings(tmp_path):
    model = trained(optimizers.SGD(0.1), loss=losses.CategoricalCrossentropy(label_smoothing=0.2),
                    metric_list=(metrics.TopKCategoricalAccuracy(k=2), "categorical_accuracy"))
    for suffix in (".h5", ".keras"):
        model.save(tmp_path / f"m{suffix}")
        loaded = load_model(tmp_path / f"m{suffix}")
        assert isinstance(loaded.loss, losses.CategoricalCrossentropy)
        assert loaded.loss.label_smoothing == 0.2
        assert loaded.metrics_names == ["loss", "top_k_categorical_accuracy",
                                        "categorical_accuracy"]
        x, y = data()
        assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


class Scale(Layer):
    """A layer of the user's own: multiplies by a fixed factor."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def _build(self, input_shape):
        return input_shape

    def compute_output_shape(self, input_shape):
        return input_shape

    def forward(self, x, training=False):
        return x * self.factor

    def backward(self, dy):
        return dy * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class HalfMSE(losses.Loss):
    def call(self, y_true, y_pred):
        return 0.5 * ((y_pred - y_true) ** 2).mean(axis=-1)

    def gradient(self, y_true, y_pred):
        return (y_pred - y_true) / y_pred.size


def test_custom_objects_layers_and_losses(tmp_path):
    """Keras: files naming your own classes load with ``custom_objects={name: class}``;
    without it, an error naming the class (nothing is imported from the file)."""
    keras.utils.set_random_seed(2)
    model = Sequential([Input(shape=(5,)), Dense(3), Scale(0.5, name="scale")])
    model.compile(loss=HalfMSE(), optimizer="sgd")
    x = np.random.default_rng(3).normal(size=(4, 5)).astype("float32")
    for suffix in (".h5", ".keras"):
        path = tmp_path / f"custom{suffix}"
        model.save(path)
        with pytest.raises(saving.UnknownLayerError, match="custom_objects"):
            load_model(path)
        with pytest.raises(saving.FormatError, match="HalfMSE.*custom_objects"):
            load_model(path, custom_objects={"Scale": Scale})
        loaded = load_model(path, custom_objects={"Scale": Scale, "HalfMSE": HalfMSE})
        assert isinstance(loaded.layers[-1], Scale) and loaded.layers[-1].factor == 0.5
        assert isinstance(loaded.loss, HalfMSE)
        np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
        assert load_model(path, custom_objects={"Scale": Scale}, compile=False).optimizer is None
    again = model_from_json(model.to_json(), custom_objects={"Scale": Scale})
    assert [type(layer) for layer in again.layers] == [Dense, Scale]


def test_custom_objects_name_an_activation():
    """An activation name from another codebase, mapped to one of convnet's functions."""
    from convnet import activations
    config = json.loads(small_model().to_json())
    config["config"]["layers"][1]["config"]["activation"] = "my_relu"
    text = json.dumps(config)
    with pytest.raises(saving.FormatError, match="my_relu"):
        model_from_json(text)
    model = model_from_json(text, custom_objects={"my_relu": activations.relu})
    assert model.layers[0].activation == "relu"


def test_load_weights_by_name_and_skip_mismatch(tmp_path):
    """Keras 2's ``load_weights(by_name=True)``: weights go to layers of the same name, other
    layers keep theirs; ``skip_mismatch=True`` skips (with a warning) a same-named layer whose
    shapes differ instead of failing."""
    keras.utils.set_random_seed(4)
    source = Sequential([Input(shape=(6, 6, 1)), Conv2D(3, 3, name="features"), Flatten(),
                         Dense(4, name="head")])
    source.save_weights(tmp_path / "w.h5")
    target = Sequential([Input(shape=(6, 6, 1)), Conv2D(3, 3, name="features"),
                         MaxPooling2D(), Flatten(), Dense(2, name="head"),
                         Dense(5, name="extra")])
    extra_before = target.get_layer("extra").get_weights()
    head_before = target.get_layer("head").get_weights()
    with pytest.raises(saving.WeightsMismatchError, match="head"):
        target.load_weights(tmp_path / "w.h5", by_name=True)
    np.testing.assert_array_equal(target.get_layer("head").get_weights()[0], head_before[0])
    with pytest.warns(UserWarning, match="skipping layer 'head'"):
        target.load_weights(tmp_path / "w.h5", by_name=True, skip_mismatch=True)
    for a, b in zip(target.get_layer("features").get_weights(),
                    source.get_layer("features").get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(target.get_layer("head").get_weights() + target.get_layer("extra").
                    get_weights(), head_before + extra_before):
        np.testing.assert_array_equal(a, b)
    source.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(saving.FormatError, match="by_name"):
        target.load_weights(tmp_path / "w.weights.h5", by_name=True)


def test_keras_2_2_training_config_spellings():
    """2018 files: ``lr`` (not ``learning_rate``), ``decay: 0.0``; tf-keras: ``Custom>Adam``,
    metrics per output as ``MeanMetricWrapper`` objects, ``reduction: "auto"``."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")             # no deprecation warning for an old file
        old = compile_arguments({"optimizer_config": {"class_name": "Adadelta", "config": {
            "lr": 1.0, "rho": 0.95, "decay": 0.0, "epsilon": 1e-07}},
            "loss": "categorical_crossentropy", "metrics": ["accuracy"]})
    assert isinstance(old["optimizer"], optimizers.Adadelta)
    assert old["optimizer"].learning_rate == 1.0 and old["metrics"] == ["accuracy"]
    tf = compile_arguments({"optimizer_config": {"class_name": "Custom>Adam", "config": {
        "name": "Adam", "jit_compile": False, "is_legacy_optimizer": False,
        "learning_rate": 0.01}},
        "loss": {"class_name": "CategoricalCrossentropy", "config": {
            "reduction": "auto", "name": "categorical_crossentropy", "from_logits": True,
            "label_smoothing": 0.0, "axis": -1}},
        "metrics": [[{"class_name": "MeanMetricWrapper", "config": {
            "name": "acc", "dtype": "float32", "fn": "categorical_accuracy"}}]]})
    assert isinstance(tf["optimizer"], optimizers.Adam)
    assert tf["loss"].from_logits and tf["metrics"] == ["acc"]
    with pytest.raises(saving.FormatError, match="compile=False"):
        compile_arguments({"loss": "no_such_loss", "optimizer_config": "adam"})


def test_optimizer_state_that_does_not_fit_leaves_a_fresh_optimizer(tmp_path):
    model = trained(optimizers.Adam(0.01))
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r+") as f:      # drop one slot array
        names = list(f["optimizer_weights"].attrs["weight_names"])
        f["optimizer_weights"].attrs["weight_names"] = names[:-1]
    with pytest.warns(UserWarning, match="optimizer state was not restored"):
        loaded = load_model(tmp_path / "m.h5")
    assert isinstance(loaded.optimizer, optimizers.Adam)
    assert loaded.optimizer.iterations == 0 and loaded.optimizer.state == {}


@pytest.mark.parametrize("make", [lambda: optimizers.Adam(0.01),
                                  lambda: optimizers.Adadelta(1.0),
                                  lambda: optimizers.RMSprop(0.01, momentum=0.5)])
def test_tf_keras_legacy_optimizer_layout_is_read_slot_by_slot(make):
    """tf-keras re-saves an .h5 it loaded with its legacy optimizer: ``iter``, then each slot
    for every variable (``dense/kernel/m:0``...), not Keras 3's variable by variable."""
    model = trained(make())
    opt = model.optimizer
    groups = optimizer_state.slot_groups(opt)
    variables = optimizer_state.trainable_variables(model)
    legacy = [("iter:0", np.asarray(opt.iterations))]
    for group in groups:
        for _, slot, _ in group:
            name = optimizer_state.legacy_slot(opt, slot)
            legacy += [(f"{layer}/{key}/{name}:0", opt.state[slot][f"{layer}/{key}"] + 1.0)
                       for layer, key, _ in variables]
    model.optimizer.state = {}
    assert optimizer_state.restore(model, legacy, "test")
    for group in groups:
        for _, slot, _ in group:
            for (layer, key, _), (name, array) in zip(
                    variables, [e for e in legacy if f"/{optimizer_state.legacy_slot(opt, slot)}:"
                                in e[0]]):
                assert name == f"{layer}/{key}/{optimizer_state.legacy_slot(opt, slot)}:0"
                np.testing.assert_array_equal(opt.state[slot][f"{layer}/{key}"], array)
    swapped = [legacy[0]] + legacy[1 + len(variables):] + legacy[1:1 + len(variables)]
    with pytest.warns(UserWarning, match="was expected"):       # slots in the wrong order
        assert not optimizer_state.restore(model, swapped, "test")


# ----- files written by real Keras ---------------------------------------------------------------
def keras_fixture(name: str):
    folder = FIXTURES / name
    spec = json.loads((folder / "keras_file.json").read_text())
    x, y = np.load(folder / spec["input"]), np.load(folder / spec["labels"])
    with np.load(folder / spec["optimizer"]) as f:
        saved = [f[f"v{i}"] for i in range(len(f.files))]
    scores = json.loads((folder / spec["evaluate"]).read_text())
    return folder, spec, x, y, np.load(folder / spec["expected"]), saved, scores


@pytest.mark.parametrize("name,file", [("keras3_compiled", "model.h5"),
                                       ("k2_compiled", "model.h5"),
                                       ("k2_compiled", "model.keras")])
def test_keras_files_load_compiled(name, file):
    """Keras 3's and tf-keras's ``model.save('x.h5')`` (and tf-keras's ``'x.keras'``) of a
    compiled, trained model: convnet's ``load_model`` compiles it (tf-keras's
    ``Custom>Adadelta`` and ``MeanMetricWrapper`` spellings too), predicts and evaluates as
    Keras did, and restores Keras's optimizer state."""
    folder, spec, x, y, expected, saved, scores = keras_fixture(name)
    model = load_model(folder / file)
    assert type(model.optimizer).__name__ == spec["optimizer_class"]
    assert model.metrics_names == ["loss", *[k for k in scores if k != "loss"]]
    with error_bounds.probabilistic():
        _, bound = error_bounds.model_bound(model, x)
    error_bounds.check_paths(model.predict(x), expected, bound, f"{name} predict")
    got = dict(zip(model.metrics_names, model.evaluate(x, y, verbose=0)))
    p, e_p = error_bounds.model_bound(model, x)
    _, loss_bound = error_bounds.crossentropy_bound(y, p, e_p, model.layers[0].dtype)
    error_bounds.check_paths(got["loss"], scores["loss"], loss_bound, f"{name} loss")
    accuracy = [k for k in scores if k != "loss"][0]
    if error_bounds.accuracy_is_decided(p, e_p):
        assert got[accuracy] == pytest.approx(scores[accuracy], abs=1e-7)
    # Keras's variables: iteration, [learning_rate (Keras 3)], the slots in Keras's order
    ours = [a for n, a in optimizer_state.state_arrays(model) if not n.endswith("learning_rate")]
    theirs = [a for a in saved if not (a.ndim == 0 and a.dtype.kind == "f")]
    assert model.optimizer.iterations == spec["iterations"]
    assert len(ours) == len(theirs)
    for a, b in zip(ours[1:], theirs[1:]):
        np.testing.assert_array_equal(a, b)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)       # and training goes on
    assert model.optimizer.iterations == spec["iterations"] + 3
