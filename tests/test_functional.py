"""Models as graphs: keras.Input, Model(inputs, outputs), merge layers, shared layers, the
feature-map idiom, and Sequential as the special case."""

import numpy as np
import pytest

import convnet
from convnet import gradcheck
from convnet.layers import (
    Activation,
    Add,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    InputLayer,
    Maximum,
    MaxPooling2D,
    Multiply,
    Subtract,
    add,
)
from convnet.models import Model, Sequential

TOL = 1e-5  # float64 central differences, as in test_gradients.py


def residual_model(classes=3, shape=(6, 6, 2)):
    """A small residual CNN: the shortcut feeds both the block and the Add."""
    inputs = Input(shape=shape)
    x = Conv2D(4, 3, padding="same", activation="relu")(inputs)
    shortcut = x
    y = Conv2D(4, 3, padding="same", use_bias=False)(x)
    y = BatchNormalization()(y)
    y = Add()([y, shortcut])
    y = Activation("relu")(y)
    y = GlobalAveragePooling2D()(y)
    outputs = Dense(classes, activation="softmax")(y)
    return Model(inputs, outputs, name="residual")


def _data(n=6, shape=(6, 6, 2), classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n,) + shape), np.eye(classes)[rng.integers(0, classes, n)]


def test_input_and_symbolic_calls():
    x = convnet.Input(shape=(28, 28, 1))
    assert x.shape == (None, 28, 28, 1) and x.dtype == "float32"
    y = Conv2D(8, 3)(x)
    assert y.shape == (None, 26, 26, 8)
    assert Input(batch_shape=(None, 5)).shape == (None, 5)
    with pytest.raises(ValueError, match="give the per-sample shape"):
        Input()
    with pytest.raises(ValueError, match="sizes must be positive"):
        Input(shape=(0, 3))


def test_layers_are_callable_on_arrays():
    layer = Dense(2)
    out = layer(np.ones((3, 4), "float32"))
    assert out.shape == (3, 2)
    np.testing.assert_array_equal(out, layer.forward(np.ones((3, 4), "float32")))


def test_a_residual_block_passes_the_gradient_check():
    with gradcheck.float64():
        model = residual_model()
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    x, y = _data()
    result = gradcheck.check_model(model, x, y, tolerance=TOL)
    assert result.passed, "\n" + result.table()
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer", "Conv2D", "Conv2D", "BatchNormalization", "Add", "Activation",
        "GlobalAveragePooling2D", "Dense"]


@pytest.mark.parametrize("merge", [Add, Subtract, Multiply, Maximum,
                                   lambda: Concatenate(axis=-1), lambda: Concatenate(axis=1)])
def test_every_merge_layer_in_a_model_passes_the_gradient_check(merge):
    with gradcheck.float64():
        inputs = Input(shape=(4, 3, 2))
        a = Conv2D(2, 2, padding="same", activation="tanh")(inputs)
        b = Conv2D(2, 3, padding="same")(inputs)
        merged = merge()([a, b])
        outputs = Dense(3, activation="softmax")(Flatten()(merged))
        model = Model(inputs, outputs)
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    x, y = _data(shape=(4, 3, 2))
    result = gradcheck.check_model(model, x, y, tolerance=TOL)
    assert result.passed, "\n" + result.table()


def test_a_shared_layer_sums_its_gradients_over_its_calls():
    with gradcheck.float64():
        inputs = Input(shape=(5,))
        shared = Dense(5, activation="tanh")
        h = shared(shared(inputs))                       # the same weights twice
        outputs = Dense(2, activation="softmax")(add([h, inputs]))
        model = Model(inputs, outputs)
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    assert [layer.name for layer in model.layers].count(shared.name) == 1
    x, y = _data(shape=(5,), classes=2)
    result = gradcheck.check_model(model, x, y, tolerance=TOL)
    assert result.passed, "\n" + result.table()
    with pytest.raises(AttributeError, match="called 2 times"):
        _ = shared.output


def test_fit_evaluate_predict_and_call_on_a_graph():
    model = residual_model()
    model.compile(loss="categorical_crossentropy", optimizer=convnet.optimizers.Adam(0.01),
                  metrics=["accuracy"])
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 90)
    x = rng.normal(0, 0.3, (90, 6, 6, 2)).astype("float32")
    x[labels == 0, :, :, 0] += 1.0                       # class 0 bright in channel 0,
    x[labels == 1, :, :, 1] += 1.0                       # class 1 in channel 1, class 2 in none
    y = np.eye(3, dtype="float32")[labels]
    history = model.fit(x, y, batch_size=16, epochs=15, verbose=0, validation_split=0.2)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.8
    p = model.predict(x, batch_size=7)
    np.testing.assert_allclose(model(x), p, rtol=0, atol=1e-6)   # same arithmetic, one batch
    assert p.shape == (90, 3) and model.output_shape == (None, 3)


def test_feature_maps_of_a_sequential_model():
    model = Sequential([Input(shape=(8, 8, 1)), Conv2D(3, 3, activation="relu"),
                        MaxPooling2D(), Flatten(), Dense(2, activation="softmax")])
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "MaxPooling2D", "Flatten", "Dense"]        # no InputLayer, as in Keras
    x = np.random.default_rng(2).random((5, 8, 8, 1)).astype("float32")
    maps = Model(model.input, model.layers[0].output).predict(x)
    np.testing.assert_array_equal(maps, model.layers[0].forward(x))
    both = Model(model.input, [model.layers[1].output, model.output]).predict(x)
    assert [a.shape for a in both] == [(5, 3, 3, 3), (5, 2)]
    np.testing.assert_allclose(both[1], model.predict(x), rtol=1e-6)


def test_sequential_accepts_an_input_layer_and_pop():
    model = Sequential([InputLayer(input_shape=(4,)), Dense(3), Dense(2)])
    assert model.built and model.output_shape == (None, 2)
    model.pop()
    assert [type(layer).__name__ for layer in model.layers] == ["Dense"]
    model = Sequential()
    model.add(convnet.Input(shape=(6,)))
    model.add(Dense(1))
    assert model.layers[0].built_shapes() == ((6,), (1,))


def test_unclear_graphs_are_refused_clearly():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    out = Dense(2)(add([a, b]))
    with pytest.raises(ValueError, match="not computed from the model's inputs"):
        Model(a, out)
    with pytest.raises(TypeError, match="symbolic tensors"):
        Model(np.zeros((1, 3)), out)
    with pytest.raises(TypeError, match="Model\\(inputs, outputs\\)"):
        Model()
    with pytest.raises(ValueError, match="inputs of one shape"):
        Add()([Input(shape=(3,)), Input(shape=(4,))])
    with pytest.raises(ValueError, match="takes a list"):
        Add()(Input(shape=(3,)))
    two = Model([a, b], out)
    assert two([np.ones((2, 3)), np.ones((2, 3))]).shape == (2, 2)
    with pytest.raises(ValueError, match="several inputs"):
        two.predict(np.ones((2, 3)))
    with pytest.raises(AttributeError, match="never been called"):
        _ = Dense(3).output
    dense = Dense(2)
    dense(Input(shape=(3,)))
    with pytest.raises(ValueError, match="built for input shape \\(3,\\), but is called on"):
        dense(Input(shape=(4,)))


def test_dropout_in_a_graph_trains_and_is_the_identity_at_inference():
    inputs = Input(shape=(4,))
    outputs = Dense(2, activation="softmax")(Dropout(0.5)(Dense(8, activation="relu")(inputs)))
    model = Model(inputs, outputs)
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    x = np.random.default_rng(3).random((10, 4)).astype("float32")
    model.train_on_batch(x, np.eye(2)[[0, 1] * 5])
    np.testing.assert_array_equal(model.predict(x), model.predict(x))


def test_two_inputs_multiply_and_the_input_gradient():
    with gradcheck.float64():
        a, b = Input(shape=(3,)), Input(shape=(3,))
        out = Dense(2, activation="softmax")(Multiply()([Dense(3)(a), b]))
        model = Model([a, b], out)
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    xa, xb = np.random.default_rng(4).standard_normal((2, 4, 3))
    y = np.eye(2)[[0, 1, 1, 0]]
    p = model([xa, xb], training=True)
    grads = model.backward(y, p, input_gradient=True)
    assert isinstance(grads, list) and [g.shape for g in grads] == [(4, 3), (4, 3)]


def test_weights_kernel_bias_and_summary_options(capsys):
    model = residual_model()
    conv = model.layers[1]
    assert conv.kernel is conv.params["kernel"] and conv.bias is conv.params["bias"]
    assert model.layers[2].bias is None                          # use_bias=False
    bn = model.layers[3]
    assert [w.shape for w in bn.non_trainable_weights] == [(4,), (4,)]   # moving statistics
    assert len(model.weights) == len(model.trainable_weights) + len(model.non_trainable_weights)
    assert sum(w.size for w in model.non_trainable_weights) == 8
    model.summary(line_length=60, positions=[0.5, 0.8, 1.0], show_trainable=False)
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) == 60 and "Non-trainable params: 8" in lines[-2]
    model.summary(show_trainable=True, layer_range=("conv2d", "add"))
    out = capsys.readouterr().out
    assert "Trainable" in out and "dense" not in out and "add (Add)" in out
    with pytest.raises(ValueError, match="layer_range"):
        model.summary(layer_range=("nope", "add"))


class _SubclassedResidual(Model):
    """Keras's subclassing style: layers in __init__, their composition in call."""

    def __init__(self, classes=3):
        super().__init__()
        self.conv = Conv2D(4, 3, padding="same", activation="relu")
        self.block = Conv2D(4, 3, padding="same")
        self.add = Add()
        self.pool = GlobalAveragePooling2D()
        self.head = Dense(classes, activation="softmax")

    def call(self, inputs):
        x = self.conv(inputs)
        return self.head(self.pool(self.add([self.block(x), x])))


def test_a_subclassed_model_is_traced_from_call_and_trains():
    with gradcheck.float64():
        model = _SubclassedResidual()
        assert not model.built and model.name.endswith("subclassed_residual")
        model.compile(loss="categorical_crossentropy", optimizer="adam")
        x, y = _data()
        result = gradcheck.check_model(model, x, y, tolerance=TOL)
    assert result.passed, "\n" + result.table()
    assert model.built and [type(layer).__name__ for layer in model.layers] == [
        "InputLayer", "Conv2D", "Conv2D", "Add", "GlobalAveragePooling2D", "Dense"]
    before = model.predict(x)
    model.fit(x, y, epochs=2, batch_size=3, verbose=0)
    assert not np.allclose(model.predict(x), before)


def test_a_subclass_call_must_return_layer_outputs():
    class Broken(Model):
        def call(self, inputs):
            return 3.0

    with pytest.raises(TypeError, match="must return what its layers made"):
        Broken().predict(np.zeros((2, 3), "float32"))


def test_clone_model_and_from_config_rebuild_the_architecture():
    from convnet.models import clone_model

    for model in (residual_model(), Sequential([Input(shape=(5,)), Dense(4, activation="relu"),
                                                 Dense(2, activation="softmax")])):
        clone = clone_model(model)
        assert type(clone) is type(model) and clone is not model
        assert [type(layer).__name__ for layer in clone.layers] == \
            [type(layer).__name__ for layer in model.layers]
        assert all(a.shape == b.shape for a, b in zip(clone.get_weights(), model.get_weights()))
        clone.set_weights(model.get_weights())
        x = np.random.default_rng(5).standard_normal((3,) + model.input_shape[1:]).astype(
            "float32")
        np.testing.assert_array_equal(clone.predict(x), model.predict(x))
        again = type(model).from_config(model.get_config())
        assert [layer.name for layer in again.layers] == [layer.name for layer in model.layers]
    with pytest.raises(TypeError, match="clone_model expects a convnet model"):
        clone_model("model")


def test_add_sums_in_order_and_gives_every_input_its_own_gradient():
    rng = np.random.default_rng(5)
    xs = [rng.standard_normal((4, 3, 3, 2)).astype("float32") * 10 ** k for k in range(3)]
    add = Add()
    np.testing.assert_array_equal(add.forward(xs), np.sum(xs, axis=0))   # same order, same bits
    dy = rng.standard_normal((4, 3, 3, 2)).astype("float32")
    grads = add.backward(dy)
    assert len(grads) == 3 and len({id(g) for g in grads}) == 3
    grads[1][...] = 0                       # a layer below working in place touches only its own
    np.testing.assert_array_equal(grads[0], dy)
    np.testing.assert_array_equal(grads[2], dy)
