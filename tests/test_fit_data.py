"""What ``fit``/``evaluate``/``predict`` take, as Keras 3 (issue 15): sample and class weights
(Keras's ``sum_i w_i l_i / N``, gradient-checked), generators, ``Sequence``/``PyDataset`` and
iterables of batches with ``steps_per_epoch``, 3-tuple and streamed validation data,
``validation_freq``, the 2018 ``*_generator`` and ``predict_classes`` spellings, the one-batch
methods, ``input_shape`` with its batch ``None`` and images without their channel axis."""

import math
import warnings

import numpy as np
import pytest

from convnet import callbacks, gradcheck, losses, optimizers, utils
from convnet.data_adapters import class_weight_to_sample_weights
from convnet.graph import Input
from convnet.layers import Conv2D, Dense, Flatten
from convnet.models import Model, Sequential

TOL = 1e-5  # float64 central differences (as tests/test_gradients.py)


def classifier(optimizer="sgd"):
    model = Sequential([Dense(5, activation="relu", input_shape=(4,)),
                        Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model


def data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, 4)).astype("float32"), np.eye(3)[rng.integers(0, 3, n)]


def line(kernel=2.0, bias=0.0, lr=0.1):
    """y = kernel * x + bias, one weight each, for results computed by hand."""
    model = Sequential([Dense(1, input_shape=(1,))])
    model.compile(loss="mse", optimizer=optimizers.SGD(learning_rate=lr))
    model.set_weights([np.array([[kernel]], "float32"), np.array([bias], "float32")])
    return model


# ----- 1. sample_weight and class_weight: Keras's reduction, by hand -------------------------
X1 = np.array([[1.0], [2.0], [3.0]], "float32")
Y1 = np.zeros((3, 1), "float32")
W1 = np.array([1.0, 0.0, 2.0])


def test_weighted_loss_is_sum_of_weighted_losses_over_batch_size():
    # predictions 2, 4, 6; squared errors 4, 16, 36; Keras 3: sum(w * l) / N, not / sum(w)
    model = line()
    assert model.evaluate(X1, Y1, verbose=0) == pytest.approx(56 / 3)
    assert model.evaluate(X1, Y1, sample_weight=W1, verbose=0) == pytest.approx(76 / 3)
    assert model.evaluate(X1, Y1, sample_weight=2 * np.ones(3), verbose=0) == \
        pytest.approx(2 * 56 / 3)                                   # not normalised
    assert losses.MeanSquaredError()(Y1, model.predict(X1), sample_weight=W1) == \
        pytest.approx(76 / 3)
    assert model.test_on_batch(X1, Y1, sample_weight=W1) == pytest.approx(76 / 3)


def test_weighted_sgd_step_by_hand():
    # dL/dk = 2/N sum w_i (p_i - y_i) x_i = 2/3 (1*2*1 + 0 + 2*6*3) = 76/3; dL/db = 2/3 * 14
    model = line(lr=0.1)
    loss = model.train_on_batch(X1, Y1, sample_weight=W1)[0]
    assert loss == pytest.approx(76 / 3)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(kernel, [[2.0 - 0.1 * 76 / 3]], rtol=1e-6)
    np.testing.assert_allclose(bias, [0.0 - 0.1 * 28 / 3], rtol=1e-6)


def test_fit_sample_weight_equals_train_on_batch_steps():
    a, b = line(lr=0.01), line(lr=0.01)
    a.fit(X1, Y1, sample_weight=W1, batch_size=3, epochs=2, shuffle=False, verbose=0)
    b.train_on_batch(X1, Y1, sample_weight=W1)
    b.train_on_batch(X1, Y1, sample_weight=W1)
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("loss, activation", [("categorical_crossentropy", "softmax"),
                                              ("mse", "tanh"),
                                              ("sparse_categorical_crossentropy", "softmax")])
def test_weighted_gradient_matches_central_differences(loss, activation):
    """The softmax path (dL/dz fused) and the plain one, each sample's row times its weight."""
    rng = np.random.default_rng(3)
    with gradcheck.float64():
        model = Sequential([Dense(4, activation="tanh", input_shape=(3,)),
                            Dense(3, activation=activation)])
        model.compile(loss=loss, optimizer="sgd")
        x = rng.standard_normal((5, 3))
        labels = np.array([0, 2, 1, 1, 0])
        y = labels if loss.startswith("sparse") else np.eye(3)[labels]
        w = np.array([0.5, 2.0, 0.0, 1.0, 3.0])
        loss_fn = losses.get_loss(loss).call

        def weighted_loss():
            return losses.weighted_mean(loss_fn(y, model.forward(x, training=True)), w)

        model.backward(y, model.forward(x, training=True), sample_weight=w)
        h = 1e-5
        for layer in model.layers:
            for key, value in layer.params.items():
                analytic = layer.grads[key].copy()
                numeric = np.zeros_like(value)
                for idx in np.ndindex(value.shape):
                    old = value[idx]
                    value[idx] = old + h
                    plus = weighted_loss()
                    value[idx] = old - h
                    minus = weighted_loss()
                    value[idx] = old
                    numeric[idx] = (plus - minus) / (2 * h)
                error = np.abs(analytic - numeric) / np.maximum(
                    np.maximum(np.abs(analytic), np.abs(numeric)), 1e-6)
                assert error.max() <= TOL, (layer.name, key, analytic, numeric)


def test_class_weight_is_sample_weight_of_each_class():
    x, y = data()
    weights = {0: 1.0, 1: 3.0, 2: 0.5}
    labels = y.argmax(axis=1)
    np.testing.assert_array_equal(class_weight_to_sample_weights(y, weights),
                                  [weights[c] for c in labels])
    np.testing.assert_array_equal(class_weight_to_sample_weights(labels, {1: 3.0}),
                                  np.where(labels == 1, 3.0, 1.0))    # unnamed classes: 1.0
    utils.set_random_seed(7)
    a = classifier()
    a.fit(x, y, class_weight=weights, epochs=2, batch_size=8, verbose=0)
    utils.set_random_seed(7)
    b = classifier()
    b.fit(x, y, sample_weight=[weights[c] for c in labels], epochs=2, batch_size=8, verbose=0)
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(p, q)


def test_bad_weights_are_refused_clearly():
    x, y = data()
    model = classifier()
    with pytest.raises(ValueError, match="class_weight or sample_weight, not both"):
        model.fit(x, y, class_weight={0: 2}, sample_weight=np.ones(24), verbose=0)
    with pytest.raises(ValueError, match=r"one weight per sample, shape \(24,\); got \(23,\)"):
        model.fit(x, y, sample_weight=np.ones(23), verbose=0)
    with pytest.raises(ValueError, match="sample_weight contains NaN"):
        model.evaluate(x, y, sample_weight=np.full(24, np.nan), verbose=0)
    with pytest.raises(TypeError, match="class_weight must be a dict"):
        model.fit(x, y, class_weight=[1, 2, 3], verbose=0)


def test_validation_split_and_3_tuple_validation_weights():
    x, y = data(30)
    w = np.linspace(0.1, 3.0, 30)
    model = classifier()
    h = model.fit(x, y, sample_weight=w, validation_split=0.2, epochs=1, verbose=0).history
    assert h["val_loss"][0] == pytest.approx(
        model.evaluate(x[24:], y[24:], sample_weight=w[24:], verbose=0)[0], rel=1e-6)
    h = model.fit(x, y, validation_data=(x[:6], y[:6], w[:6]), epochs=1, verbose=0).history
    assert h["val_loss"][0] == pytest.approx(
        model.evaluate(x[:6], y[:6], sample_weight=w[:6], verbose=0)[0], rel=1e-6)
    assert h["val_loss"][0] != pytest.approx(model.evaluate(x[:6], y[:6], verbose=0)[0])


# ----- 2. generators, Sequence, iterables ----------------------------------------------------
def batches_of(x, y, size, weights=None):
    for start in range(0, len(x), size):
        part = slice(start, start + size)
        yield (x[part], y[part]) if weights is None else (x[part], y[part], weights[part])


def same_weights(a, b):
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(p, q)


def test_generator_trains_as_the_same_arrays():
    x, y = data()

    def forever():
        while True:                                   # 2018's fit_generator style
            yield from batches_of(x, y, 8)

    utils.set_random_seed(1)
    a = classifier()
    h = a.fit(forever(), steps_per_epoch=3, epochs=2, verbose=0)
    assert h.epoch == [0, 1] and len(h.history["loss"]) == 2
    utils.set_random_seed(1)
    b = classifier()
    b.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    same_weights(a, b)


class Batches(utils.Sequence):
    def __init__(self, x, y, size, weights=None):
        super().__init__()
        self.x, self.y, self.size, self.weights = x, y, size, weights
        self.asked, self.epochs_ended = [], 0

    def __len__(self):
        return math.ceil(len(self.x) / self.size)

    def __getitem__(self, i):
        self.asked.append(i)
        part = slice(i * self.size, (i + 1) * self.size)
        if self.weights is None:
            return self.x[part], self.y[part]
        return self.x[part], self.y[part], self.weights[part]

    def on_epoch_end(self):
        self.epochs_ended += 1


def test_sequence_each_batch_once_per_epoch_and_on_epoch_end():
    x, y = data()
    seq = Batches(x, y, 8)
    model = classifier()
    model.fit(seq, epochs=3, verbose=0)                # shuffle=True: the batch order
    assert seq.epochs_ended == 3
    assert sorted(seq.asked) == sorted([0, 1, 2] * 3)
    utils.set_random_seed(2)
    a = classifier()
    a.fit(Batches(x, y, 8), epochs=2, shuffle=False, verbose=0)
    utils.set_random_seed(2)
    b = classifier()
    b.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    same_weights(a, b)


def test_sequence_with_sample_weights_and_pydataset_name():
    x, y = data()
    w = np.linspace(0, 2, 24)
    assert utils.PyDataset is utils.Sequence
    model = classifier()
    seq = Batches(x, y, 8, w)
    expected = model.evaluate(x, y, sample_weight=w, verbose=0)
    np.testing.assert_allclose(model.evaluate(seq, verbose=0), expected, rtol=1e-6)


def test_an_iterable_of_batches_is_read_again_each_epoch():
    x, y = data()

    class Loader:                                     # like a torch DataLoader
        def __iter__(self):
            return batches_of(x, y, 6)

    seen = []
    model = classifier()
    model.fit(Loader(), epochs=2, verbose=0, callbacks=[callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append(batch))])
    assert seen == [0, 1, 2, 3] * 2


def test_steps_per_epoch_continues_across_epochs_and_warns_when_data_runs_out():
    x, y = data(20)
    seen = []
    model = classifier()
    with pytest.warns(UserWarning, match="ran out of data"):
        model.fit(x, y, batch_size=4, steps_per_epoch=2, epochs=3, shuffle=False, verbose=0,
                  callbacks=[callbacks.LambdaCallback(
                      on_epoch_end=lambda epoch, logs: seen.append("end"),
                      on_train_batch_end=lambda batch, logs: seen.append(batch))])
    # 5 batches: epochs 1 and 2 take two each, epoch 3 the last one (Keras 3's EpochIterator)
    assert seen == [0, 1, "end", 0, 1, "end", 0, "end"]


def test_a_generator_that_runs_out_stops_training_with_a_warning():
    x, y = data()
    model = classifier()
    with pytest.warns(UserWarning, match="ran out of data"):
        h = model.fit(batches_of(x, y, 8), epochs=5, verbose=0)
    assert h.epoch == [0]                              # epoch 2 found the generator empty
    with pytest.raises(ValueError, match="the data gave no batch"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(iter([]), epochs=1, verbose=0)


def test_stream_arguments_are_checked_like_keras():
    x, y = data()
    model = classifier()
    with pytest.raises(ValueError, match="when x is a generator, y must not be passed"):
        model.fit(batches_of(x, y, 8), y, verbose=0)
    with pytest.raises(ValueError, match="when x is a PyDataset, sample_weight must not be"):
        model.fit(Batches(x, y, 8), sample_weight=np.ones(24), verbose=0)
    with pytest.raises(ValueError, match=r"\(x,\), \(x, y\) or \(x, y, sample_weight\)"):
        model.fit(iter([(x, y, None, None)]), verbose=0)
    with pytest.raises(ValueError, match=r"expects input of shape \(batch, 4\), got \(8, 5\)"):
        model.fit(iter([(np.zeros((8, 5)), y[:8])]), verbose=0)
    with pytest.raises(ValueError, match="validation_split needs arrays"):
        model.fit(batches_of(x, y, 8), validation_split=0.5, verbose=0)
    with pytest.raises(ValueError, match="steps must be a positive number of batches"):
        model.fit(x, y, steps_per_epoch=0, verbose=0)
    with pytest.raises(TypeError, match=r"unsupported arguments \['worker'\]"):
        model.fit(x, y, worker=2, verbose=0)
    model.fit(x, y, workers=4, use_multiprocessing=True, max_queue_size=3, verbose=0)


def test_validation_generator_steps_and_freq():
    x, y = data()
    model = classifier()

    def forever():
        while True:
            yield from batches_of(x, y, 8)

    h = model.fit(x, y, epochs=4, verbose=0, validation_data=forever(), validation_steps=3,
                  validation_freq=2).history
    assert len(h["loss"]) == 4 and len(h["val_loss"]) == 2     # after epochs 2 and 4
    assert h["val_loss"][-1] == pytest.approx(model.evaluate(x, y, verbose=0)[0], rel=1e-6)
    h = model.fit(x, y, epochs=3, verbose=0, validation_data=Batches(x, y, 5),
                  validation_freq=[1, 3]).history
    assert len(h["val_loss"]) == 2
    with pytest.raises(ValueError, match="validation_freq must be"):
        model.fit(x, y, validation_data=(x, y), validation_freq=0, verbose=0)
    with pytest.raises(ValueError, match=r"validation_data must be a tuple \(x_val, y_val\)"):
        model.fit(x, y, validation_data=(x,), verbose=0)


# ----- 3. the one-batch methods, return_dict, steps, the 2018 spellings ----------------------
def test_on_batch_methods_and_return_dict():
    x, y = data()
    model = classifier()
    np.testing.assert_array_equal(model.predict_on_batch(x), model.predict(x))
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "accuracy"]
    assert [logs["loss"], logs["accuracy"]] == model.evaluate(x, y, verbose=0)
    assert model.test_on_batch(x, y, return_dict=True) == pytest.approx(logs)
    result = model.train_on_batch(x, y, return_dict=True)
    assert list(result) == ["loss", "accuracy"]
    assert result["loss"] == pytest.approx(logs["loss"], rel=1e-6)   # before the update


def test_predict_and_evaluate_steps_and_streams():
    x, y = data()
    model = classifier()
    full = model.predict(x)
    np.testing.assert_array_equal(model.predict(x, batch_size=5, steps=2), full[:10])
    np.testing.assert_allclose(model.predict(batches_of(x, y, 7)), full, rtol=1e-6)
    np.testing.assert_allclose(model.predict(iter([x[:4], x[4:]])), full, rtol=1e-6)
    np.testing.assert_allclose(model.predict(Batches(x, y, 8), steps=2), full[:16], rtol=1e-6)
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=8, steps=2, verbose=0),
                               model.evaluate(x[:16], y[:16], verbose=0), rtol=1e-6)


def test_generator_methods_are_deprecated_aliases():
    x, y = data()

    def forever():
        while True:
            yield from batches_of(x, y, 8)

    model = classifier()
    with pytest.warns(UserWarning, match=r"fit_generator is deprecated .* use Model.fit"):
        h = model.fit_generator(forever(), steps_per_epoch=3, epochs=2, verbose=0)
    assert h.epoch == [0, 1]
    with pytest.warns(UserWarning, match=r"evaluate_generator is deprecated .* Model.evaluate"):
        scores = model.evaluate_generator(forever(), steps=3)
    np.testing.assert_allclose(scores, model.evaluate(x, y, verbose=0), rtol=1e-6)
    with pytest.warns(UserWarning, match=r"predict_generator is deprecated .* Model.predict"):
        out = model.predict_generator(forever(), steps=3)
    np.testing.assert_allclose(out, model.predict(x), rtol=1e-6)


def test_predict_classes_and_proba_are_deprecated_aliases():
    x, _ = data()
    model = classifier()
    with pytest.warns(UserWarning, match=r"np.argmax\(model.predict\(x\), axis=-1\)"):
        classes = model.predict_classes(x)
    np.testing.assert_array_equal(classes, model.predict(x).argmax(axis=-1))
    with pytest.warns(UserWarning, match="use model.predict"):
        np.testing.assert_array_equal(model.predict_proba(x), model.predict(x))
    binary = Sequential([Dense(1, activation="sigmoid", input_shape=(4,))])
    with pytest.warns(UserWarning):
        flags = binary.predict_classes(x)
    np.testing.assert_array_equal(flags, (binary.predict(x) > 0.5).astype("int32"))
    assert flags.shape == (24, 1) and flags.dtype == np.int32


# ----- 4. input_shape with the batch None; images without their channel axis ----------------
def cnn():
    model = Sequential([Conv2D(2, 3, input_shape=(8, 8, 1)), Flatten(),
                        Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    return model


def test_input_and_output_shape_have_the_batch_none_as_keras():
    model = cnn()
    assert model.input_shape == (None, 8, 8, 1) and model.output_shape == (None, 3)
    inputs = Input(shape=(8, 8, 1))
    functional = Model(inputs, Dense(2)(Flatten()(inputs)))
    assert functional.input_shape == (None, 8, 8, 1) and functional.output_shape == (None, 2)
    assert Sequential([Flatten()]).input_shape is None          # not built yet


def test_images_without_channel_axis_get_one_as_in_keras_3():
    """Keras 3 (Functional._adjust_input_rank): one axis short and the model's input ends with
    1 -> a last axis of 1 is added; one extra last axis of 1 is dropped; anything else fails."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (4, 8, 8, 1)).astype("float32")
    labels = np.array([0, 1, 2, 0])
    model = cnn()
    np.testing.assert_array_equal(model.predict(x[..., 0]), model.predict(x))
    np.testing.assert_array_equal(model.predict(x[..., None]), model.predict(x))
    assert model.evaluate(x[..., 0], labels, verbose=0) == model.evaluate(x, labels, verbose=0)
    model.fit(x[..., 0], labels, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"expects input of shape \(batch, 8, 8, 1\), got "
                                         r"\(4, 8, 8, 3\)"):
        model.predict(np.repeat(x, 3, axis=3))
    with pytest.raises(ValueError, match=r"got \(4, 8\)"):
        model.predict(x[:, 0, :, 0])


def test_steps_per_epoch_as_a_fraction_rounds_up_as_keras_2():
    # Keras 2's docs: fit_generator(gen, steps_per_epoch=len(x_train) / 32, ...)
    from convnet.data_adapters import positive_steps
    assert positive_steps(1875.0, "steps_per_epoch") == 1875
    assert positive_steps(60000 / 32 + 0.5, "steps_per_epoch") == 1876
    for bad in (0, -1, 0.0, float("nan"), float("inf"), True, "3"):
        with pytest.raises(ValueError, match="positive number of batches"):
            positive_steps(bad, "steps_per_epoch")
