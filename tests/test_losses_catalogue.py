"""The loss and metric catalogue (issue 14): every loss's gradient against its own value, hand
values, from_logits against the probability form, models that train and gradient-check, metrics
against hand counts, streaming Precision/Recall/AUC, and the errors for what cannot work."""

import numpy as np
import pytest

import convnet
from convnet import gradcheck, losses, metrics
from convnet.layers import Dense
from convnet.models import Sequential

RNG = np.random.default_rng(14)
PROBS = RNG.uniform(0.05, 0.95, size=(4, 3))          # away from the clip edges
ONEHOT = np.eye(3)[[0, 2, 1, 2]]
LABELS = np.array([0, 2, 1, 2])
LOGITS = RNG.standard_normal((4, 3)) * 2
REAL = RNG.standard_normal((4, 3))
DISTRIBUTIONS = PROBS[::-1] / PROBS[::-1].sum(axis=1, keepdims=True)

# (id, loss object, y_true, y_pred)
CASES = [
    ("categorical", losses.CategoricalCrossentropy(), ONEHOT, PROBS),
    ("categorical_smoothed", losses.CategoricalCrossentropy(label_smoothing=0.2), ONEHOT, PROBS),
    ("categorical_logits", losses.CategoricalCrossentropy(from_logits=True), ONEHOT, LOGITS),
    ("categorical_logits_smoothed",
     losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), ONEHOT, LOGITS),
    ("sparse", losses.SparseCategoricalCrossentropy(), LABELS, PROBS),
    ("sparse_logits", losses.SparseCategoricalCrossentropy(from_logits=True), LABELS, LOGITS),
    ("binary", losses.BinaryCrossentropy(), (PROBS > 0.5) * 1.0, PROBS[::-1].copy()),
    ("binary_smoothed", losses.BinaryCrossentropy(label_smoothing=0.2), ONEHOT, PROBS),
    ("binary_logits", losses.BinaryCrossentropy(from_logits=True), ONEHOT, LOGITS),
    ("mse", losses.MeanSquaredError(), REAL, LOGITS),
    ("mae", losses.MeanAbsoluteError(), REAL, LOGITS),
    ("huber", losses.Huber(), REAL, LOGITS),                       # both branches: |e| ~ 0..5
    ("huber_delta", losses.Huber(delta=0.3), REAL, LOGITS),
    ("categorical_hinge", losses.CategoricalHinge(), ONEHOT, LOGITS / 4),
    ("kl_divergence", losses.KLDivergence(), DISTRIBUTIONS, PROBS),
]


def numeric_gradient(loss, y, p, h=1e-6):
    grad = np.zeros_like(p)
    for idx in np.ndindex(p.shape):
        plus, minus = p.copy(), p.copy()
        plus[idx] += h
        minus[idx] -= h
        grad[idx] = (loss.call(y, plus).mean() - loss.call(y, minus).mean()) / (2 * h)
    return grad


@pytest.mark.parametrize("loss,y,p", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_gradient_matches_central_differences(loss, y, p):
    # float64, h = 1e-6: truncation ~h^2 |f'''| ~ 1e-11, round-off ~eps |L| / h ~ 1e-10; kinks
    # (|e| = delta, the hinge's max, mae's sign) are at least 1e-3 away from every input here
    np.testing.assert_allclose(loss.gradient(y, p), numeric_gradient(loss, y, p),
                               rtol=1e-6, atol=1e-8)
    assert loss.call(y, p).shape == (4,)


def test_hand_values():
    y = np.array([[1.0, 0.0]])
    p = np.array([[0.8, 0.2]])
    bce = -(np.log(0.8) + np.log(0.8)) / 2              # both outputs are right with 0.8
    np.testing.assert_allclose(losses.binary_crossentropy(y, p), [bce])
    # dL/dp = (-y / p + (1 - y) / (1 - p)) / K: -1/0.8/2 and 1/0.8/2
    np.testing.assert_allclose(losses.binary_crossentropy_gradient(y, p), [[-0.625, 0.625]])
    np.testing.assert_allclose(losses.mse(y, p), [0.04])
    np.testing.assert_allclose(losses.mean_squared_error_gradient(y, p), [[-0.2, 0.2]])
    np.testing.assert_allclose(losses.mae(y, p), [0.2])
    np.testing.assert_allclose(losses.mean_absolute_error_gradient(y, p), [[-0.5, 0.5]])
    e = np.array([[0.5, -2.0]])                          # one quadratic, one linear cell
    np.testing.assert_allclose(losses.huber(np.zeros((1, 2)), e), [(0.125 + 1.5) / 2])
    np.testing.assert_allclose(losses.huber_gradient(np.zeros((1, 2)), e), [[0.25, -0.5]])
    # pos = 0.8, neg = 0.2: max(0, 1 + 0.2 - 0.8) = 0.4; gradient -1 at the true class, +1 at
    # the best wrong one
    np.testing.assert_allclose(losses.categorical_hinge(y, p), [0.4])
    np.testing.assert_allclose(losses.categorical_hinge_gradient(y, p), [[-1.0, 1.0]])
    q = np.array([[0.5, 0.5]])
    np.testing.assert_allclose(losses.kl_divergence(np.array([[0.25, 0.75]]), q),
                               [0.25 * np.log(0.5) + 0.75 * np.log(1.5)])
    np.testing.assert_allclose(losses.kl_divergence_gradient(np.array([[0.25, 0.75]]), q),
                               [[-0.5, -1.5]])
    # label smoothing 0.2 over K = 2 classes: targets 0.9 / 0.1
    np.testing.assert_allclose(
        losses.CategoricalCrossentropy(label_smoothing=0.2).call(y, p),
        [-(0.9 * np.log(0.8) + 0.1 * np.log(0.2))])
    # logits [2, 0] and label 0: log(1 + e^-2); gradient softmax - onehot
    z = np.array([[2.0, 0.0]])
    sm = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy([0], z, from_logits=True),
                               [np.log1p(np.exp(-2.0))])
    np.testing.assert_allclose(
        losses.SparseCategoricalCrossentropy(from_logits=True).gradient([0], z), sm - [[1, 0]])
    # the Loss object's __call__ is the batch mean, as in Keras
    assert losses.MeanSquaredError()(np.zeros((2, 1)), np.array([[1.0], [3.0]])) == 5.0


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_from_logits_equals_probability_form(smoothing):
    probs = np.exp(LOGITS) / np.exp(LOGITS).sum(axis=1, keepdims=True)
    sigm = 1 / (1 + np.exp(-LOGITS))
    np.testing.assert_allclose(
        losses.categorical_crossentropy(ONEHOT, LOGITS, True, smoothing),
        losses.categorical_crossentropy(ONEHOT, probs, False, smoothing), rtol=1e-12)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(LABELS, LOGITS, True),
                               losses.sparse_categorical_crossentropy(LABELS, probs), rtol=1e-12)
    np.testing.assert_allclose(losses.binary_crossentropy(ONEHOT, LOGITS, True, smoothing),
                               losses.binary_crossentropy(ONEHOT, sigm, False, smoothing),
                               rtol=1e-12)
    # the fused softmax gradient of the probability form is the logits gradient
    loss = losses.CategoricalCrossentropy(label_smoothing=smoothing)
    np.testing.assert_allclose(
        loss.softmax_gradient(ONEHOT, probs),
        losses.CategoricalCrossentropy(True, smoothing).gradient(ONEHOT, LOGITS), atol=1e-15)


def test_logits_are_safe_far_out():
    z = np.array([[1000.0, -1000.0]])
    assert np.isfinite(losses.categorical_crossentropy([[0, 1]], z, from_logits=True)).all()
    assert np.isfinite(losses.binary_crossentropy([[0, 1]], z, from_logits=True)).all()
    np.testing.assert_allclose(losses.binary_crossentropy_gradient([[0, 1]], z, True),
                               [[0.5, -0.5]])


def test_names_functions_and_classes_resolve():
    for name in ["binary_crossentropy", "mse", "MSE", "mean_squared_error", "mae",
                 "mean_absolute_error", "huber", "huber_loss", "categorical_hinge",
                 "kl_divergence", "kld", "KLD", "kullback_leibler_divergence",
                 "MeanSquaredError", "CategoricalCrossentropy"]:
        assert isinstance(losses.get_loss(name), losses.Loss), name
    assert losses.get("mse")[0] == "mse"
    assert isinstance(losses.get_loss(losses.binary_crossentropy), losses.BinaryCrossentropy)
    assert isinstance(losses.get_loss(losses.KLD), losses.KLDivergence)
    assert isinstance(losses.get_loss(losses.MeanSquaredError), losses.MeanSquaredError)
    with pytest.raises(ValueError, match="Unknown loss 'msee'"):
        losses.get("msee")


def test_bare_function_is_refused_with_the_way_out():
    def my_loss(y_true, y_pred):
        return ((y_true - y_pred) ** 2).mean(axis=-1)

    with pytest.raises(TypeError, match=r"(?s)'my_loss' is a plain function.*no automatic "
                       r"differentiation.*Subclass convnet.losses.Loss.*gradient\(y_true"):
        Sequential([Dense(1, input_shape=(2,))]).compile(loss=my_loss, optimizer="sgd")

    class NoGradient(losses.Loss):
        def call(self, y_true, y_pred):
            return y_pred.sum(axis=-1)

    with pytest.raises(TypeError, match="must define both call.*and gradient"):
        losses.get_loss(NoGradient())


class Quartic(losses.Loss):
    """A user-defined loss: mean_k (p - y)^4, with its gradient 4 (p - y)^3 / (K N)."""

    def call(self, y_true, y_pred):
        return ((y_pred - y_true) ** 4).mean(axis=-1)

    def gradient(self, y_true, y_pred):
        return 4 * (y_pred - y_true) ** 3 / y_pred.size


def test_user_defined_loss_trains_and_gradient_checks():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 3))
    y = x @ np.array([[0.5], [-1.0], [2.0]])
    np.testing.assert_allclose(Quartic().gradient(y, x[:, :1]),
                               numeric_gradient(Quartic(), y, x[:, :1].copy()), rtol=1e-6)
    with gradcheck.float64():
        model = Sequential([Dense(4, activation="tanh", input_shape=(3,)), Dense(1)])
        model.compile(loss=Quartic(), optimizer="adam")
    result = gradcheck.check_model(model, x[:4], y[:4], tolerance=1e-6)
    assert result.passed, "\n" + result.table()
    history = model.fit(x, y, epochs=30, batch_size=8, verbose=0)
    assert model.loss.name == "quartic"
    assert history.history["loss"][-1] < history.history["loss"][0]


def _blobs(n, classes, rng):
    centres = rng.standard_normal((classes, 5)) * 3
    labels = rng.integers(0, classes, n)
    return centres[labels] + rng.standard_normal((n, 5)), labels


def test_quickstart_logits_model_trains_and_gradient_checks():
    # the TF2 quickstart: Dense(10) without softmax, SparseCategoricalCrossentropy(from_logits)
    rng = np.random.default_rng(1)
    x, labels = _blobs(200, 10, rng)
    with gradcheck.float64():
        model = Sequential([Dense(16, activation="relu", input_shape=(5,)), Dense(10)])
        model.compile(optimizer=convnet.optimizers.Adam(learning_rate=0.01),
                      loss=convnet.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    result = gradcheck.check_model(model, x[:6], labels[:6], tolerance=1e-6)
    assert result.passed, "\n" + result.table()
    history = model.fit(x, labels, epochs=15, batch_size=32, verbose=0)
    losses_seen = history.history["loss"]
    assert losses_seen[-1] < 0.5 * losses_seen[0], losses_seen
    assert history.history["accuracy"][-1] > 0.8


def test_binary_crossentropy_sigmoid_model_trains_and_gradient_checks():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((200, 5))
    y = (x @ rng.standard_normal(5) > 0).astype(np.float64)[:, None]
    with gradcheck.float64():
        model = Sequential([Dense(8, activation="tanh", input_shape=(5,)),
                            Dense(1, activation="sigmoid")])
        model.compile(optimizer=convnet.optimizers.Adam(learning_rate=0.01),
                      loss="binary_crossentropy",
                      metrics=["binary_accuracy", "AUC"])
    result = gradcheck.check_model(model, x[:6], y[:6], tolerance=1e-6)
    assert result.passed, "\n" + result.table()
    history = model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    assert history.history["binary_accuracy"][-1] > 0.85
    assert set(history.history) == {"loss", "binary_accuracy", "auc"}


def test_label_smoothing_with_softmax_output_gradient_checks():
    # the fused softmax path must use the smoothed targets
    rng = np.random.default_rng(3)
    x, labels = _blobs(6, 4, rng)
    with gradcheck.float64():
        model = Sequential([Dense(4, activation="softmax", input_shape=(5,))])
        model.compile(optimizer="sgd",
                      loss=losses.CategoricalCrossentropy(label_smoothing=0.2))
    result = gradcheck.check_model(model, x, np.eye(4)[labels], tolerance=1e-6)
    assert result.passed, "\n" + result.table()


# ----- metrics ------------------------------------------------------------------------------
def test_accuracy_metrics_by_hand():
    p = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3], [0.2, 0.3, 0.5], [0.4, 0.35, 0.25]])
    labels = np.array([1, 2, 2, 1])                  # right, wrong, right, wrong
    np.testing.assert_array_equal(metrics.categorical_accuracy(np.eye(3)[labels], p),
                                  [1, 0, 1, 0])
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy(labels, p), [1, 0, 1, 0])
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy(labels[:, None], p),
                                  [1, 0, 1, 0])
    # top 2: sample 1's label 2 scores 0.3, second best -> in; sample 3's label 1 is second -> in
    np.testing.assert_array_equal(
        metrics.top_k_categorical_accuracy(np.eye(3)[labels], p, k=2), [1, 1, 1, 1])
    np.testing.assert_array_equal(
        metrics.top_k_categorical_accuracy(np.eye(3)[[0, 1, 1, 2]], p, k=1), [0, 0, 0, 0])
    # k = 5 (the default) with 3 classes: always in
    assert metrics.top_k_categorical_accuracy(np.eye(3)[labels], p).sum() == 4
    # binary: threshold 0.5, strictly above is positive
    np.testing.assert_array_equal(
        metrics.binary_accuracy(np.array([[1], [0], [1], [0]]),
                                np.array([[0.7], [0.5], [0.5], [0.2]])), [1, 1, 0, 1])
    np.testing.assert_allclose(metrics.mae(np.zeros((1, 2)), np.array([[1.0, -3.0]])), [2.0])
    np.testing.assert_allclose(metrics.mse(np.zeros((1, 2)), np.array([[1.0, -3.0]])), [5.0])


def test_metric_names_and_objects():
    for name in ["categorical_accuracy", "sparse_categorical_accuracy", "binary_accuracy",
                 "top_k_categorical_accuracy", "mae", "mse", "precision", "recall", "auc"]:
        assert metrics.get(name)[0] == name
    assert metrics.get("Precision")[0] == "precision"
    assert metrics.get(metrics.AUC(name="roc"))[0] == "roc"
    assert metrics.get(metrics.Recall)[0] == "recall"

    def sum_of_pred(y_true, y_pred):            # a user metric: forward only
        return y_pred.sum(axis=-1)

    name, metric = metrics.get(sum_of_pred)
    assert name == "sum_of_pred"
    metric.update_state(None, np.ones((2, 3)))
    metric.update_state(None, np.zeros((2, 3)))
    assert metric.result() == 1.5
    with pytest.raises(ValueError, match="Unknown metric 'f2'"):
        metrics.get("f2")


Y = np.array([1, 0, 1, 1, 0, 0, 1, 0])
P = np.array([0.9, 0.8, 0.4, 0.7, 0.2, 0.6, 0.55, 0.1])


def test_precision_recall_auc_by_hand():
    # at 0.5: predicted positive 0.9 0.8 0.7 0.6 0.55 -> tp 3 (0.9 0.7 0.55), fp 2, fn 1 (0.4)
    assert metrics.Precision()(Y, P) == pytest.approx(3 / 5)
    assert metrics.Recall()(Y, P) == pytest.approx(3 / 4)
    # the exact ROC AUC: positive/negative pairs ranked right, 4 + 2 + 3 + 2 of 16 (fine
    # thresholds separate every pair, and the trapezoids then add up exactly)
    assert metrics.AUC(num_thresholds=1001)(Y, P) == pytest.approx(11 / 16, abs=1e-12)


@pytest.mark.parametrize("cls", [metrics.Precision, metrics.Recall, metrics.AUC])
def test_streaming_over_two_batches_equals_all_at_once(cls):
    whole = cls()(Y, P)
    streamed = cls()
    streamed.update_state(Y[:2], P[:2])     # precision 1/2, recall 1, AUC 1
    streamed.update_state(Y[2:], P[2:])     # precision 2/3, recall 2/3, AUC 7/9
    assert streamed.result() == pytest.approx(whole, abs=1e-15)
    batch_mean = (cls()(Y[:2], P[:2]) + cls()(Y[2:], P[2:])) / 2
    assert batch_mean != pytest.approx(whole)    # the mean of batch values would be wrong
    streamed.reset_state()
    assert streamed.result() == 0.0


def test_fit_and_evaluate_log_streaming_values():
    # fit's epoch value and evaluate's value are over all samples, whatever the batch size
    with gradcheck.float64():
        model = Sequential([Dense(1, activation="sigmoid", input_shape=(1,))])
        model.compile(optimizer="sgd", loss="binary_crossentropy",
                      metrics=["Precision", "recall", metrics.AUC(), "acc"])
    model.set_weights([np.array([[20.0]]), np.array([-10.0])])   # output ~ step at x = 0.5
    x, y = P[:, None], Y[:, None]
    evaluated = model.evaluate(x, y, batch_size=3, verbose=0)
    assert model.metrics_names == ["loss", "precision", "recall", "auc", "acc"]
    assert evaluated[1] == pytest.approx(3 / 5) and evaluated[2] == pytest.approx(3 / 4)
    model.INFERENCE_BLOCK = 3                   # evaluate in blocks of 3: same values
    assert model.evaluate(x, y, verbose=0) == pytest.approx(evaluated)
    model.trainable = False                     # fit without changing the weights
    history = model.fit(x, y, batch_size=3, epochs=1, verbose=0, shuffle=False)
    assert [history.history[k][0] for k in model.metrics_names] == pytest.approx(evaluated)


def test_binary_targets_of_shape_n_fit_a_one_unit_output():
    """Keras takes y of shape (N,) for a Dense(1) output (binary classification)."""
    from convnet.layers import Dense
    from convnet.models import Sequential

    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")                       # shape (64,)
    model = Sequential([Dense(1, activation="sigmoid", input_shape=(3,))])
    model.compile(loss="binary_crossentropy", optimizer=convnet.optimizers.Adam(0.05),
                  metrics=["binary_accuracy"])
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.8 and np.isclose(loss, model.evaluate(x, y[:, None], verbose=0)[0])
