"""The pictures are produced, with the right number of panels and non-constant content."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from convnet import backend, callbacks, utils, visualize  # noqa: E402
from convnet.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D  # noqa: E402
from convnet.models import Sequential  # noqa: E402


@pytest.fixture(scope="module")
def trained():
    backend.clear_session()
    utils.set_random_seed(0)
    model = Sequential([
        Conv2D(8, (3, 3), activation="relu", input_shape=(12, 12, 1)),
        MaxPooling2D((2, 2)), Dropout(0.25), Flatten(),
        Dense(16, activation="relu"), Dense(3, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adadelta", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 90)
    x = rng.uniform(0, 0.3, (90, 12, 12, 1)).astype("float32")
    for i, k in enumerate(labels):
        x[i, 2 + 3 * k: 4 + 3 * k, :, 0] = 1.0     # class = position of a bright band
    stats = callbacks.GradientStats()
    history = model.fit(x, utils.to_categorical(labels, 3), batch_size=16, epochs=3, verbose=0,
                        validation_data=(x, utils.to_categorical(labels, 3)), callbacks=[stats])
    return model, x, labels, history, stats


def _images(fig):
    return [im.get_array() for ax in fig.axes for im in ax.get_images()]


def _non_constant(arrays):
    return all(np.ptp(np.asarray(a)) > 0 for a in arrays)


def test_plot_digits_grid(trained, tmp_path):
    _, x, labels, _, _ = trained
    fig = visualize.plot_digits(x, labels, path=tmp_path / "d.png")
    assert len(fig.axes) == 9 and _non_constant(_images(fig))
    assert fig.axes[0].get_title() == f"Digit: {labels[0]}"
    assert (tmp_path / "d.png").stat().st_size > 1000


def test_plot_history(trained):
    _, _, _, history, _ = trained
    fig = visualize.plot_history(history)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert len(ax.get_lines()) == 2
        assert len(ax.get_lines()[0].get_ydata()) == 3
    fig = visualize.plot_history({"loss": [1.0, 0.5], "acc": [0.5, 0.7]})   # tutorial names
    assert len(fig.axes[0].get_lines()) == 1


def test_plot_filters_and_feature_maps(trained):
    model, x, _, _, _ = trained
    fig = visualize.plot_filters(model.layers[0])
    assert len(_images(fig)) == 8 and _non_constant(_images(fig))
    fig = visualize.plot_feature_maps(model, x[0], max_maps=4)
    conv_like = 3   # conv2d, max_pooling2d, dropout outputs are images
    assert len(_images(fig)) == conv_like * (4 + 1)
    assert _non_constant(_images(fig)[1:5])


def test_plot_gradients(trained):
    model, x, labels, _, _ = trained
    fig = visualize.plot_gradients(model, x[0], int(labels[0]))
    images = _images(fig)
    assert len(images) == 1 + 2      # input, |dL/d input| of conv2d and of max_pooling2d
    assert _non_constant(images)
    grads = visualize.input_gradients(model, x[0], int(labels[0]))
    assert grads[0][1].shape == x[0].shape


def test_confusion_matrix(trained):
    model, x, labels, _, _ = trained
    pred = model.predict(x).argmax(axis=1)
    m = visualize.confusion_matrix(labels, pred, classes=3)
    assert m.sum() == len(labels) and m.trace() == (pred == labels).sum()
    fig = visualize.plot_confusion_matrix(labels, pred, classes=3)
    assert len(_images(fig)) == 1 and len(fig.axes[0].texts) == 9


def test_plot_misclassified_shows_only_mistakes(trained):
    model, x, labels, _, _ = trained
    wrong_labels = (labels + 1) % 3          # every prediction is now "wrong"
    fig = visualize.plot_misclassified(model, x, wrong_labels, count=6)
    assert len(_images(fig)) == 6 and _non_constant(_images(fig))


def test_gradient_stats_callback_and_plot(trained):
    _, _, _, _, stats = trained
    assert stats.epochs == [0, 1, 2]
    assert set(stats.norms) == {"conv2d/kernel", "conv2d/bias", "dense/kernel", "dense/bias",
                                "dense_1/kernel", "dense_1/bias"}
    assert all(len(v) == 3 and min(v) > 0 for v in stats.norms.values())
    assert set(stats.dead_relu) == {"conv2d", "dense"}
    assert all(0 <= f <= 1 for v in stats.dead_relu.values() for f in v)
    assert len(stats.batch_norms["conv2d/kernel"]) == 3 * 6 and stats.epoch_starts == [0, 6, 12]
    fig = visualize.plot_gradient_stats(stats)
    assert len(fig.axes) == 2 and len(fig.axes[0].get_lines()) == 6 + 2   # + epoch markers


def test_feature_maps_and_input_gradients_of_a_graph_model(tmp_path):
    from convnet.layers import Add, Conv2D, Dense, GlobalAveragePooling2D, Input
    from convnet.models import Model

    inputs = Input(shape=(10, 10, 1))
    x = Conv2D(3, 3, padding="same", activation="relu")(inputs)
    y = Add()([Conv2D(3, 3, padding="same")(x), x])
    model = Model(inputs, Dense(4, activation="softmax")(GlobalAveragePooling2D()(y)))
    image = np.random.default_rng(0).random((10, 10, 1)).astype("float32")
    maps = visualize._activations(model, image)
    assert [layer.name for layer, _ in maps] == [node.layer.name for node in model.nodes]
    assert visualize.plot_feature_maps(model, image, tmp_path / "maps.png") is not None
    (layer, dx), = visualize.input_gradients(model, image, 2)
    assert layer is model.layers[0] and dx.shape == (10, 10, 1) and np.abs(dx).sum() > 0
    visualize.plot_gradients(model, image, 2, tmp_path / "grads.png")
    assert (tmp_path / "maps.png").stat().st_size > 0 and (tmp_path / "grads.png").exists()
