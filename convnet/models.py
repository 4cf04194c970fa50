"""Models: ``Model(inputs, outputs)`` (a graph of layers, :mod:`convnet.graph`) and its special
case ``Sequential`` (a stack), both trained by backpropagation.

One training step on a batch ``(x, y)``::

    forward:   a_0 = x,  a_l = layer_l.forward(a_{l-1}, training=True)
    loss:      L = mean over the batch of loss(y, a_last)
    backward:  d = dL/da_last, then d = layer_l.backward(d) from the last layer to the first
               (softmax + cross-entropy start from dL/dz = (p - y) / N instead)
    update:    optimizer.apply_gradients((name, param, grad) for every layer's params)

:meth:`Sequential.output_gradient` and :meth:`Sequential.backward_steps` are the backward half,
public so that the gradient checks, the profiler and the benchmarks run exactly what ``fit`` runs.
"""

from __future__ import annotations

import functools
import time
import warnings
from typing import Any

import numpy as np

from convnet import backend, data_adapters, graph, losses, multi_io, optimizers, threads
from convnet import callbacks as callbacks_module
from convnet import metrics as metrics_module
from convnet.fast import inference
from convnet.layers.base import Layer, format_shape, snake_case
from convnet.progress import format_logs


class Model:
    """A graph of layers from ``inputs`` to ``outputs`` (Keras's functional API), with
    ``compile``/``fit``/``evaluate``/``predict``/``summary``::

        inputs = convnet.Input(shape=(28, 28, 1))
        x = Conv2D(32, 3, activation="relu")(inputs)
        shortcut = x
        x = Conv2D(32, 3, padding="same")(x)
        x = Add()([x, shortcut])                   # a residual connection: gradients add
        outputs = Dense(10, activation="softmax")(Flatten()(x))
        model = Model(inputs, outputs)

    Forward runs the graph's nodes in topological order, backward in reverse
    (:mod:`convnet.graph`). Several inputs take a list of arrays (or a dict by input name);
    several outputs give a list, and ``fit``/``evaluate`` take their targets, losses,
    ``loss_weights`` and metrics per output (:mod:`convnet.multi_io`). A model called on
    symbolic tensors (``y = inner(x)``), or put in a Sequential, is one layer of the new model,
    as in Keras (transfer learning: freeze it with ``inner.trainable = False``).
    ``Model(model.input, model.layers[i].output)`` shares the layers
    and shows the feature maps of any layer.

    Subclassing works as in Keras, for a ``call`` made of layer calls: make the layers in
    ``__init__`` (after ``super().__init__()``) and combine them in ``call(inputs)``. On the first
    batch (or ``build``) convnet calls ``call`` once on a symbolic ``Input`` of that shape, and
    the graph it records is the model (so ``call`` must not branch on the values)::

        class Residual(convnet.Model):
            def __init__(self):
                super().__init__()
                self.conv = Conv2D(8, 3, padding="same", activation="relu")
                self.head = Dense(10, activation="softmax")
            def call(self, x):
                return self.head(Flatten()(Add()([self.conv(x), x])))
    """

    _sample_shape: tuple | None

    def __init__(self, inputs=None, outputs=None, name: str | None = None, **kwargs):
        if kwargs:
            raise TypeError(f"Model: unsupported arguments {sorted(kwargs)}")
        subclassed = type(self).call is not Model.call
        self._init_state(name or (snake_case(type(self).__name__) if subclassed
                                  else "functional"))
        self._traced = not subclassed
        if subclassed and inputs is None and outputs is None:
            return                                   # traced from call() on the first batch
        if inputs is None or outputs is None:
            raise TypeError("Model(inputs, outputs): give the symbolic inputs (keras.Input) and "
                            "outputs, or subclass Model and write call()")
        self._init_graph(inputs, outputs)

    def call(self, inputs):
        """A subclass's forward pass, written with layer calls (see the class docstring)."""
        raise NotImplementedError

    def _trace(self, input_shape: tuple) -> None:
        """Record a subclass's ``call`` on a symbolic input of per-sample ``input_shape``."""
        inputs = graph.Input(shape=tuple(input_shape))
        outputs = self.call(inputs)
        if not graph.is_symbolic(outputs):
            raise TypeError(f"{type(self).__name__}.call must return what its layers made of the "
                            f"input (symbolic tensors), got {type(outputs).__name__}")
        self._init_graph(inputs, outputs)
        self._traced = True

    def _init_graph(self, inputs, outputs) -> None:
        self._single_input = not isinstance(inputs, (list, tuple))
        self._single_output = not isinstance(outputs, (list, tuple))
        self._inputs = [inputs] if self._single_input else list(inputs)
        self._outputs = [outputs] if self._single_output else list(outputs)
        for what, tensors in (("inputs", self._inputs), ("outputs", self._outputs)):
            if not tensors or not all(isinstance(t, graph.SymbolicTensor) for t in tensors):
                raise TypeError(f"Model: {what} must be symbolic tensors (keras.Input(...) and "
                                f"what layers made of it), got {tensors!r}")
        for t in self._inputs:
            if t.node is not None and type(t.node.layer).__name__ != "InputLayer":
                raise ValueError(f"Model: inputs must come from keras.Input, got {t!r}")
        self._nodes = graph.nodes_between(self._inputs, self._outputs)
        seen: set[int] = set()
        for layer in [t.node.layer for t in self._inputs if t.node is not None] + \
                [n.layer for n in self._nodes]:
            if id(layer) not in seen:
                seen.add(id(layer))
                self.layers.append(layer)
        names = [layer.name for layer in self.layers]
        clash = sorted({n for n in names if names.count(n) > 1})
        if clash:
            raise ValueError(f"Model: layer names must be unique, {clash} appear twice")
        self._sample_shape = tuple(self._inputs[0].shape[1:])

    def _init_state(self, name: str) -> None:
        self.name = name
        self.layers: list[Layer] = []       # a model used as a layer is one of them too
        self._calls: list = []              # this model's calls as a layer of other models
        self._sample_shape = None       # the (first) input's per-sample shape, once known
        self._traced = True
        self._values: dict | None = None
        self._multi: multi_io.OutputLosses | None = None   # compiled with several outputs
        self.optimizer: optimizers.Optimizer | None = None
        self.loss: str | losses.Loss | None = None
        self._loss: losses.Loss | None = None
        self.metrics_names: list[str] = []
        self.stop_training = False
        self.stop_reason: str | None = None
        self.nonfinite: str | None = None
        self.history: callbacks_module.History | None = None

    # ----- the graph --------------------------------------------------------------------------
    @property
    def inputs(self) -> list:
        """The symbolic inputs (``keras.Input`` tensors)."""
        return list(self._inputs)

    @property
    def outputs(self) -> list:
        """The symbolic outputs."""
        return list(self._outputs)

    @property
    def input(self):
        """The symbolic input (a list for several)."""
        return self._inputs[0] if self._single_input else self.inputs

    @property
    def output(self):
        """The symbolic output (a list for several)."""
        return self._outputs[0] if self._single_output else self.outputs

    @property
    def input_names(self) -> list[str]:
        """The names of the input layers, in input order (the keys of a dict ``x``)."""
        return [t.node.layer.name if t.node is not None else t.name for t in self._inputs]

    @property
    def output_names(self) -> list[str]:
        """The names of the layers that make the outputs, in output order (the keys of a dict
        ``y``, ``loss`` or ``metrics``, and the prefixes of the per-output logs, as Keras 3)."""
        return [t.node.layer.name for t in self._outputs if t.node is not None]

    @property
    def nodes(self) -> list:
        """The graph's nodes (layer calls) in topological order (:mod:`convnet.graph`)."""
        return list(self._nodes)

    def _output_layer(self) -> Layer:
        node = self._outputs[0].node
        assert node is not None
        return node.layer

    @property
    def built(self) -> bool:
        return self._traced

    def build(self, input_shape: tuple) -> None:
        """A graph model is built when made (its inputs have shapes); a subclass traces its
        ``call`` for a batch shape such as ``(None, 28, 28, 1)``."""
        if not self._traced:
            self._trace(tuple(input_shape)[1:])

    @property
    def input_shape(self):
        """The input's shape with ``None`` for the batch axis, as Keras: ``(None, 28, 28, 1)``
        (a list for several inputs; None until a subclassed model has seen its input)."""
        if not self._traced:
            return None
        shapes = [tuple(t.shape) for t in self._inputs]
        return shapes[0] if self._single_input else shapes

    @property
    def output_shape(self):
        """The output's shape with ``None`` for the batch axis (a list for several outputs)."""
        if not self._traced:
            return None
        shapes = [tuple(t.shape) for t in self._outputs]
        return shapes[0] if self._single_output else shapes

    def _ensure_built(self, x) -> None:
        if not self._traced:
            self._trace(tuple(np.shape(x)[1:]))

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name, or by position in ``layers``."""
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or \
                    not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"get_layer: asked for the layer at index {index!r}, but the "
                                 f"model has {len(self.layers)} layers")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"get_layer: no layer named {name!r}; the layers are "
                         f"{[layer.name for layer in self.layers]}")

    def __call__(self, x, training: bool = False):
        """``model(x)``: the output for arrays (as ``predict`` in one batch). On symbolic tensors
        (``y = inner(x)`` while building another model) the model is called as one layer, as in
        Keras: the outer model lists it once in ``layers``, its forward and backward passes run
        this model's graph, and its weights are the outer model's (frozen with
        ``inner.trainable = False``). Called twice, it shares its weights between the calls."""
        if graph.is_symbolic(x):
            given = [x] if isinstance(x, graph.SymbolicTensor) else list(x)
            if not self.built:
                self.build(tuple(given[0].shape))
            if len(given) != len(self.inputs):
                raise ValueError(f"{self.describe()}: expects {len(self.inputs)} input tensors, "
                                 f"got {len(given)}")
            for t, g in zip(self.inputs, given):
                if not graph.fits(tuple(t.shape[1:]), tuple(g.shape[1:])):
                    raise ValueError(f"{self.describe()}: expects input shape {t.shape}, got "
                                     f"{g.shape}")
            if len(self.outputs) != 1:
                raise ValueError(f"{self.describe()} has {len(self.outputs)} outputs; convnet "
                                 "uses a model with one output as a layer of another model")
            return graph.call_symbolic(self, x)      # type: ignore[arg-type]
        return self.forward(x, training=training)

    # ----- a model as one layer of another model (Keras: a Model is a Layer) ----------------
    # The outer model's graph calls this model like any layer: forward() runs this graph,
    # backward_as_layer() backpropagates dL/d(output) through it (backward() starts from a
    # loss), and params / grads name every weight "inner_layer/kernel".
    @property
    def keras_class_name(self) -> str:
        """The class Keras names this model by in files and summaries: ``Sequential``,
        ``Functional`` for ``Model(inputs, outputs)``, or a subclass's own name."""
        return "Functional" if type(self) is Model else type(self).__name__

    def describe(self) -> str:
        """``Functional 'encoder'``: how error messages name the model."""
        return f"{self.keras_class_name} '{self.name}'"

    @property
    def takes_list(self) -> bool:
        """Whether, as a layer, it takes a list of arrays (several inputs)."""
        return self.built and len(self.inputs) > 1

    @property
    def declared_input_shape(self) -> tuple | None:
        """The per-sample input shape, once known (the first layer of a Sequential passes it
        on to the outer model)."""
        return tuple(self._sample_shape) if self.built and self._sample_shape is not None \
            else None

    def built_shapes(self) -> tuple:
        """``(input shape, output shape)`` per sample, as a layer reports them (a list of input
        shapes for several inputs)."""
        if not self.built:
            raise RuntimeError(f"{self.describe()} is not built yet (no input shape known)")
        shapes = [tuple(t.shape[1:]) for t in self.inputs]
        return (shapes[0] if len(shapes) == 1 else shapes), tuple(self.outputs[0].shape[1:])

    def compute_output_shape(self, input_shape) -> tuple:
        return self.built_shapes()[1]

    def compute_dtype(self) -> str:
        return self.dtype

    @property
    def dtype(self) -> str:
        """The dtype of the output layer (the model's computations, as a layer's ``dtype``)."""
        return self._output_layer().dtype or backend.floatx()

    def record_node(self, node) -> None:
        """Remember a call on symbolic tensors (one node of an outer graph)."""
        self._calls.append(node)

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Every layer's parameters, named ``"layer/kernel"`` (the arrays themselves)."""
        return {f"{layer.name}/{key}": value for layer in self.layers
                for key, value in zip(layer.weight_names(), layer.weights)}

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """The gradients of the trainable parameters, named as in ``params`` (the layers' own
        arrays, so that an outer graph can write a shared model's summed gradients)."""
        return {name: grad for name, _, grad in self.trainable_triples()}

    @property
    def non_trainable_names(self) -> tuple[str, ...]:
        """The ``params`` no optimizer updates (moving statistics, frozen layers)."""
        trainable = set(self.grads)
        return tuple(k for k in self.params if k not in trainable)

    def weight_names(self) -> list[str]:
        return list(self.params)

    @property
    def losses(self) -> list[float]:
        """Every layer's regularization penalties (Keras's ``model.losses``)."""
        return [loss for layer in self.layers for loss in layer.losses]

    def fuses_backward_of(self, above) -> bool:
        return False

    runs_per_core = False

    def _not_a_layer_backward(self) -> TypeError:
        """The error for ``model.backward(dy)`` called as a layer's backward (code that walks
        ``model.layers`` calling ``layer.backward(dy)``)."""
        return TypeError(f"{self.describe()}: backward(y, out) starts from the targets y and the "
                         "training output out; to backpropagate dL/dy through a model used as a "
                         "layer, call backward_as_layer(dy), or convnet.graph.backward_of(layer, "
                         "dy, input_gradient), which makes the right call for any layer")

    def backward_as_layer(self, dy: np.ndarray, input_gradient: bool = True):
        """As a layer of another model: given dL/d(output) after a training ``forward``, run
        this graph's backward pass (:func:`convnet.graph.backward`); fills every layer's
        ``grads`` and returns dL/d(input) (None unless ``input_gradient``)."""
        if self._values is None:
            raise RuntimeError(f"{self.describe()}: backward called before a forward pass")
        grads = graph.backward(self._nodes, self._inputs, self._outputs, [dy],
                               input_gradient=input_gradient, values=self._values)
        if not input_gradient:
            return None
        return grads[0] if self._single_input else grads

    # ----- compile / train ------------------------------------------------------------------
    def compile(self, optimizer="adadelta", loss=None, metrics=None, loss_weights=None,
                **kwargs) -> None:
        """Choose the loss (a name, a :mod:`convnet.losses` function, or a ``Loss`` such as
        ``SparseCategoricalCrossentropy(from_logits=True)``), the optimizer and the metrics
        (names, functions or :mod:`convnet.metrics` objects; ``fit`` logs each under the name
        given, as Keras does, and a single name without a list is accepted, as tf.keras did).

        With several outputs, ``loss``, ``loss_weights`` and ``metrics`` may be given per output
        (a list in output order or a dict by output name; :mod:`convnet.multi_io`).

        The arguments come in Keras's order, ``compile("adam", "categorical_crossentropy")``.
        Keras 3's ``run_eagerly`` and ``jit_compile`` are accepted and change nothing (convnet
        always runs eagerly; its kernels are compiled by numba either way), as is
        ``steps_per_execution=1``."""
        for ignored in ("run_eagerly", "jit_compile", "auto_scale_loss"):
            kwargs.pop(ignored, None)
        if kwargs.get("steps_per_execution", 1) == 1:
            kwargs.pop("steps_per_execution", None)
        if kwargs:
            raise TypeError(f"compile: unsupported arguments {sorted(kwargs)}")
        if loss is None:
            raise ValueError("compile: a loss is required, e.g. "
                             "loss='categorical_crossentropy'")
        several = self._traced and not getattr(self, "_single_output", True)
        given = (loss, metrics, loss_weights)          # saved by get_compile_config
        if loss_weights is not None and not several:
            raise ValueError("compile: loss_weights weigh the losses of several outputs; this "
                             "model has one output")
        multi = multi_io.OutputLosses(self.output_names, loss, loss_weights, metrics) \
            if several else None
        self._loss = multi.losses[0] if multi is not None else losses.get_loss(loss)
        # model.loss: the name for a name or function, else the Loss itself (its settings, such
        # as from_logits, must survive losses.get(model.loss), as gradcheck resolves it)
        self.loss = self._loss if isinstance(loss, (losses.Loss, type)) else self._loss.name
        self._loss_fn = self._loss.call
        self._loss_mean = metrics_module.Mean("loss")
        self.optimizer = optimizers.get(optimizer)
        if metrics is None or isinstance(metrics, str) or callable(metrics) or several:
            metrics = [] if metrics is None or several else [metrics]
        self._metrics = [metrics_module.get(m) for m in metrics]
        self.metrics_names = ["loss"] + [name for name, _ in self._metrics]
        self._compile_args = (loss, list(metrics))      # as given: saved by get_compile_config
        self._multi = multi
        self._multi_compile_args = given if multi is not None else None
        if multi is not None:
            self.loss = loss                           # as given: one, a list or a dict
            self.metrics_names = multi.metrics_names

    @property
    def metrics(self) -> list:
        """The metric objects, as Keras lists them: the loss's running mean first (named
        ``loss``), then each compiled metric; empty before :meth:`compile`."""
        if self.optimizer is None:
            return []
        return [self._loss_mean] + [metric for _, metric in self._metrics]

    def get_compile_config(self) -> dict | None:
        """Keras 3's ``compile_config``: the loss and metrics as given to :meth:`compile` and
        the optimizer's current settings (what ``save`` writes); None if not compiled."""
        if self.optimizer is None:
            return None
        from convnet.saving import training_config
        if self._multi is not None:
            return self._multi_compile_config()
        loss, metrics = getattr(self, "_compile_args", (self.loss, []))
        return training_config.compile_config(loss, self.optimizer, metrics)

    def _multi_compile_config(self) -> dict:
        """Keras 3's ``compile_config`` of several outputs: the losses, ``loss_weights`` and
        metrics per output, as lists or dicts as they were given to :meth:`compile`."""
        from convnet.saving import training_config
        assert self.optimizer is not None and self._multi_compile_args is not None
        loss, metrics, loss_weights = self._multi_compile_args

        def each(value, entry):
            if isinstance(value, dict):
                return {k: each(v, entry) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [each(v, entry) for v in value]
            return None if value is None else entry(value)

        config = training_config.compile_config("mse", self.optimizer, [])
        config.update(loss=each(loss, training_config.loss_entry),
                      metrics=each(metrics, training_config.metric_entry),
                      loss_weights=each(loss_weights, float))
        return config

    def compile_from_config(self, config: dict, custom_objects: dict | None = None) -> None:
        """Compile from a :meth:`get_compile_config` dict (or an ``.h5`` ``training_config``)."""
        from convnet.saving import training_config
        self.compile(**training_config.compile_arguments(config, custom_objects,
                                                         len(self.outputs)))

    def _check_compiled(self, what: str) -> None:
        if self.optimizer is None:
            raise RuntimeError(f"{what}: the model is not compiled; call model.compile(loss=..., "
                               "optimizer=..., metrics=[...]) first")

    def _fused_softmax(self) -> bool:
        return (getattr(self._output_layer(), "activation", None) == "softmax"
                and self._loss is not None and self._loss.fuses_softmax)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict: bool = False) -> list[float] | dict[str, float]:
        """One forward/backward/update step; returns ``[loss, *metrics]`` for this batch (a
        dict with ``return_dict``). ``sample_weight``/``class_weight`` as in :meth:`fit`.

        A non-finite loss or gradient skips the update (weights unchanged) with a warning."""
        self._check_compiled("train_on_batch")
        x, y, weights = self._one_batch(x, y, sample_weight, class_weight, "train_on_batch")
        self._reset_metrics()               # this batch's values, as tf.keras's default
        results = self._train_step(x, y, weights)
        if self.nonfinite is not None:
            warnings.warn(f"train_on_batch: {self.nonfinite}; the weights were not updated",
                          RuntimeWarning, stacklevel=2)
        return dict(zip(self.metrics_names, results)) if return_dict else results

    def test_on_batch(self, x, y=None, sample_weight=None,
                      return_dict: bool = False) -> list[float] | float | dict[str, float]:
        """Loss (and metrics) of one batch, without training: what :meth:`evaluate` returns for
        it (a float without metrics, a dict with ``return_dict``)."""
        self._check_compiled("test_on_batch")
        x, y, weights = self._one_batch(x, y, sample_weight, None, "test_on_batch")
        self._reset_metrics()
        results = self._scores(y, self._forward(x), weights)
        if return_dict:
            return dict(zip(self.metrics_names, results))
        return results if len(results) > 1 else results[0]

    def predict_on_batch(self, x) -> np.ndarray:
        """The outputs for one batch ``x``, computed in one pass (:meth:`predict` without the
        batching)."""
        return self._forward(self._check_x(x, "predict_on_batch"))

    def _one_batch(self, x, y, sample_weight, class_weight, what: str) -> tuple:
        """``(x, y, weights)`` of one batch, checked as :meth:`fit` checks its arrays."""
        if class_weight is not None and self._multi is not None:
            raise ValueError(f"{what}: class_weight is only supported for models with one "
                             "output (as in Keras); pass sample_weight instead")
        adapter = data_adapters.ArrayAdapter(
            x, y, sample_weight, batch_size=1, shuffle=False, class_weight=class_weight,
            check=lambda x, y: self._check_xy(x, y, what), what=what)
        if adapter.num_samples == 0:
            raise ValueError(f"{what}: x has 0 samples (shape {tuple(adapter.x.shape)})")
        return adapter.x, adapter.y, adapter.sample_weight

    def _train_step(self, x: np.ndarray, y: np.ndarray,
                    sample_weight: np.ndarray | None = None) -> list[float]:
        # NaN/inf in data or weights is reported once, clearly, below -- not as NumPy warnings
        with np.errstate(invalid="ignore", over="ignore"):
            return self._train_step_unchecked(x, y, sample_weight)

    def forward(self, x, training: bool = False):
        """The graph's output for ``x`` (a list of arrays for several inputs): every node's
        ``forward`` in topological order, on one batch; a list for several outputs."""
        if not self._traced:
            self._trace(tuple(np.shape(x)[1:]))
        arrays = [x] if self._single_input else multi_io.gather(x, self.input_names, self.name)
        if len(arrays) != len(self._inputs):
            raise ValueError(f"{self.name}: expects {len(self._inputs)} input arrays, got "
                             f"{len(arrays)}")
        arrays = [layer.check_input(a) for layer, a in
                  zip([t.node.layer for t in self._inputs if t.node is not None], arrays)]
        values = graph.forward(self._nodes, self._inputs, arrays, training)
        self._values = values          # what backward needs (as a layer keeps its inputs)
        outs = [values[t.id] for t in self._outputs]
        return outs[0] if self._single_output else outs

    def _train_step_unchecked(self, x: np.ndarray, y: np.ndarray,
                              sample_weight: np.ndarray | None = None) -> list[float]:
        out = self.forward(x, training=True)
        results = self._scores(y, out, sample_weight)
        self.nonfinite = None
        if not np.isfinite(results[0]):
            self.nonfinite = f"the loss is {results[0]}"
            return results          # no update: the weights stay the last good ones
        self.backward(y, out, sample_weight=sample_weight)
        self.add_regularization_gradients()
        for name, _, g in self.trainable_triples():
            if not np.isfinite(np.sum(g)):          # NaN/inf anywhere makes the sum non-finite
                self.nonfinite = f"the gradient of {name} is not finite"
                return results
        assert self.optimizer is not None
        self.optimizer.apply_gradients(self.trainable_triples())
        self.apply_constraints()
        return results

    def batch_loss(self, y, out, sample_weight=None) -> float:
        """The compiled loss of one batch of targets ``y`` and outputs ``out`` (without the
        regularization penalties): with several outputs ``sum_k w_k L_k`` over the outputs'
        lists of arrays (:mod:`convnet.multi_io`), else the (sample-weighted) batch mean."""
        self._check_compiled("batch_loss")
        if self._multi is not None:
            return self._multi.total(multi_io.unpack(y), out, sample_weight)[0]
        assert self._loss is not None
        return losses.weighted_mean(self._loss.call(y, out), sample_weight)

    def regularization_loss(self) -> float:
        """What Keras adds to the loss, in ``fit`` and ``evaluate``: the sum of every layer's
        ``losses`` (kernel/bias regularizer penalties at the current weights, activity
        penalties of the last forward pass; :mod:`convnet.layers.regularized`)."""
        return float(sum(sum(layer.losses) for layer in self.layers))

    def add_regularization_gradients(self) -> None:
        """Add the weight penalties' gradients to the layers' gradients, once, after
        :meth:`backward` (the activity penalties' gradients are part of the backward pass),
        to the layers that learn: a frozen layer's ``grads`` are not the optimizer's business,
        and training's backward pass may skip it (:func:`graph.wanted_gradients`)."""
        for layer in self.layers:
            if graph.learns(layer):
                layer.add_regularization_gradients()

    def apply_constraints(self) -> None:
        """Project constrained weights (``kernel_constraint``, ...) after an optimizer step."""
        for layer in self.layers:
            if layer.trainable:
                layer.apply_constraints()

    def output_gradient(self, y: np.ndarray, out: np.ndarray,
                        sample_weight: np.ndarray | None = None) -> np.ndarray:
        """Where backpropagation starts, for targets ``y`` and the training output ``out``:
        dL/d(out) of the batch-mean loss -- or, when the last layer is softmax and the loss a
        cross-entropy, dL/dz of that layer, ``(p - y) / N`` (no softmax Jacobian, no division by
        small probabilities). :meth:`backward_steps` takes it from there. With
        ``sample_weight`` the loss is ``sum_i w_i l_i / N`` and row ``i`` is scaled by ``w_i``
        (:func:`convnet.losses.weight_gradient`)."""
        assert self._loss is not None
        if self._fused_softmax():
            grad = self._loss.softmax_gradient(y, out)
        else:
            grad = self._loss.gradient(y, out)
        return losses.weight_gradient(grad, sample_weight)

    def output_gradients(self, y, out, sample_weight=None) -> tuple[list[np.ndarray], bool]:
        """Where :func:`convnet.graph.backward` starts: one gradient per output and whether the
        first is the fused dL/dz of a softmax layer (:meth:`output_gradient`). With several
        outputs, ``w_k dL_k/d(out_k)`` for each (:mod:`convnet.multi_io`)."""
        if self._multi is not None:
            return self._multi.gradients(multi_io.unpack(y), out, sample_weight), False
        if not getattr(self, "_single_output", True):
            raise ValueError(f"{self.name}: compile the model (its losses per output) before "
                             "training")
        return [self.output_gradient(y, out, sample_weight)], self._fused_softmax()

    def backward(self, y: np.ndarray, out: np.ndarray | None = None, input_gradient: bool = False,
                 sample_weight: np.ndarray | None = None) -> np.ndarray | None:
        """Backpropagate the loss of targets ``y`` from the training output ``out`` through the
        graph (:func:`convnet.graph.backward`: nodes in reverse order, gradients added where a
        tensor feeds several layers): fills every layer's ``grads``; returns dL/d(input) with
        ``input_gradient`` (a list for several inputs), else None."""
        if out is None:
            raise self._not_a_layer_backward()
        seeds, preactivation = self.output_gradients(y, out, sample_weight)
        grads = graph.backward(self._nodes, self._inputs, self._outputs, seeds,
                               preactivation=preactivation,
                               input_gradient=input_gradient, values=self._values)
        if not input_gradient:
            return None
        return grads[0] if self._single_input else grads  # type: ignore[return-value]

    def _stop_on_nonfinite(self, epoch: int, step: int) -> None:
        """TerminateOnNaN, always on: stop, keep the weights from before the bad batch."""
        message = (f"Epoch {epoch + 1}, batch {step + 1}: {self.nonfinite}; training stopped. "
                   "The model keeps the weights from before this batch (lower the learning "
                   "rate, or check the data for NaN/inf values).")
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        self.stop_training = True
        self.stop_reason = message

    @property
    def trainable(self) -> bool:
        """``model.trainable = False`` freezes every layer (each layer's ``trainable`` is set, as
        in Keras) and, while it stays False, ``fit`` changes no weight at all."""
        return getattr(self, "_trainable", True)

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for layer in self.layers:
            layer.trainable = self._trainable

    def trainable_triples(self):
        """``(qualified name, parameter, gradient)`` of every trainable layer's parameters, as the
        optimizer takes them (none while ``model.trainable`` is False)."""
        if not self.trainable:
            return
        for layer in self.layers:
            if layer.trainable:
                grads = layer.grads                   # (a nested model: all its layers')
                for key, value in layer.params.items():
                    if key in grads:                  # not the non-trainable weights
                        yield f"{layer.name}/{key}", value, grads[key]

    def _reset_metrics(self) -> None:
        if self._multi is not None:
            self._multi.reset()
            return
        self._loss_mean.reset_state()
        for _, metric in self._metrics:
            metric.reset_state()

    def _scores(self, y: np.ndarray, out: np.ndarray,
                sample_weight: np.ndarray | None = None) -> list[float]:
        """Add one batch to the streaming loss and metrics; ``[loss, *metrics]`` over every
        batch since :meth:`_reset_metrics` (Precision/AUC from summed counts, not batch means).

        The batch loss is Keras's ``sum_i w_i l_i / N`` (:func:`convnet.losses.weighted_mean`),
        averaged over batches by their sizes, as Keras's loss tracker; the metrics are not
        weighted (Keras weights only ``weighted_metrics``)."""
        if self._multi is not None:
            return self._multi.update(multi_io.unpack(y), out, sample_weight,
                                      self.regularization_loss())
        batch_loss = losses.weighted_mean(self._loss_fn(y, out), sample_weight)
        self._loss_mean.update_state(batch_loss + self.regularization_loss(),
                                     sample_weight=len(y))
        for _, metric in self._metrics:
            metric.update_state(y, out)
        return [self._loss_mean.result()] + [metric.result() for _, metric in self._metrics]

    def fit(self, x=None, y=None, batch_size: int | None = None, epochs: int = 1,
            verbose: int | str = "auto", callbacks: list | None = None,
            validation_split: float = 0.0, validation_data=None, shuffle: bool = True,
            class_weight: dict | None = None, sample_weight=None, initial_epoch: int = 0,
            steps_per_epoch: int | None = None, validation_steps: int | None = None,
            validation_batch_size: int | None = None, validation_freq=1,
            **kwargs) -> callbacks_module.History:
        """Train for ``epochs`` epochs; returns a :class:`History`. As Keras 3's ``fit``:

        * ``x``, ``y``: arrays, or ``x`` alone a generator, iterable or ``keras.utils.Sequence``
          yielding ``(x, y)`` or ``(x, y, sample_weight)`` batches
          (:mod:`convnet.data_adapters`); an epoch is one pass, or ``steps_per_epoch`` batches.
        * ``sample_weight`` (one weight per sample) or ``class_weight`` (``{class: weight}``)
          weight each sample's loss and gradient: a batch's loss is ``sum_i w_i l_i / N``, not
          normalised by the weights' sum (:func:`convnet.losses.weighted_mean`).
        * ``verbose``: 0 silent, 1 live progress bar, 2 one line per epoch (``'auto'`` = 1).
        * ``validation_data``: ``(x_val, y_val)``, ``(x_val, y_val, sample_weight)``, or a
          generator / Sequence (``validation_steps`` batches); or the last
          ``validation_split`` fraction of the arrays. It is evaluated after every
          ``validation_freq``-th epoch (or the epochs in a list, counted from 1) into
          ``val_loss``/``val_accuracy``.

        tf-keras's ``workers``, ``use_multiprocessing`` and ``max_queue_size`` are accepted and
        change nothing (batches are made in the training thread).
        """
        _accept_queue_arguments(kwargs, "fit")
        self._check_compiled("fit")
        if class_weight is not None and self._multi is not None:
            raise ValueError("fit: class_weight is only supported for models with one output "
                             "(as in Keras); pass sample_weight instead")
        batch_size = _positive_int(32 if batch_size is None else batch_size, "fit: batch_size")
        epochs = int(epochs)
        verbose = 1 if verbose == "auto" else int(verbose)
        if validation_data is None and validation_split:
            if self._several_io() and not data_adapters.is_stream(x):
                x, y = self._check_xy(x, y, "fit")       # lists/dicts as one Arrays to split
            x, y, sample_weight, validation_data = _split_validation(
                x, y, sample_weight, validation_split)
        data = data_adapters.EpochIterator(
            self._adapter(x, y, sample_weight, batch_size, shuffle, class_weight, "fit"),
            steps_per_epoch, "fit")
        validation = None
        if validation_data is not None:
            # arrays are evaluated INFERENCE_BLOCK samples at a time, as in evaluate
            block = self.INFERENCE_BLOCK if validation_steps is None else \
                _positive_int(validation_batch_size or batch_size, "fit: validation_batch_size")
            x_val, y_val, w_val = _unpack_validation(validation_data)
            validation = data_adapters.EpochIterator(
                self._adapter(x_val, y_val, w_val, block, False, None, "fit (validation_data)"),
                validation_steps, "fit (validation_data)")
            _should_validate(0, validation_freq)         # a bad validation_freq fails now

        history = callbacks_module.History()
        cbs = self._training_callbacks(callbacks, history, {
            "batch_size": batch_size, "epochs": epochs, "steps": data.steps, "verbose": verbose})
        self.history = history
        self.stop_training = False
        self.stop_reason = None
        self.resumed_epoch: int | None = None    # set by BackupAndRestore.on_train_begin
        cbs.on_train_begin()
        if self.resumed_epoch is not None:
            initial_epoch = self.resumed_epoch
        logs = None
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            self._reset_metrics()           # the epoch's logs cover this epoch's batches
            scores: list[float] = []
            for step, (xb, yb, wb) in enumerate(data.epoch()):
                cbs.on_train_batch_begin(step)
                scores = self._train_step(xb, yb, wb)
                if self.nonfinite is not None:
                    self._stop_on_nonfinite(epoch, step)
                    break
                cbs.on_train_batch_end(step, dict(zip(self.metrics_names, scores)))
                if self.stop_training:
                    break
            data.end_epoch()
            if self.nonfinite is not None:
                break
            if data.exhausted:              # the input ran out (Keras's warning was given)
                if epoch == initial_epoch:
                    raise ValueError("fit: the data gave no batch; there is nothing to train on")
                self.stop_training = True
                break
            logs = dict(zip(self.metrics_names, scores))
            if validation is not None and _should_validate(epoch, validation_freq):
                val = self._evaluate_batches(validation, cbs)
                logs.update({f"val_{k}": v for k, v in zip(self.metrics_names, val)})
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        return history

    def _training_callbacks(self, callbacks, history, params: dict):
        """``fit``'s callbacks: the user's, a :class:`ProgbarLogger` when ``verbose`` and none
        was given, then ``history`` -- last, as in Keras, so that it records what the others add
        to the logs. Every one gets ``params`` (Keras's ``set_params``)."""
        user = list(callbacks or [])
        if params["verbose"] and not any(isinstance(cb, callbacks_module.ProgbarLogger)
                                         for cb in user):
            user.append(callbacks_module.ProgbarLogger())
        cbs = callbacks_module.CallbackList(user + [history], self)
        cbs.set_params(params)
        return cbs

    def _adapter(self, x, y, sample_weight, batch_size: int, shuffle: bool, class_weight,
                 what: str, targets: bool = True) -> data_adapters.Adapter:
        """Whatever the user passed as data, as batches checked by this model
        (:func:`convnet.data_adapters.adapt`); arrays of 0 samples are refused."""
        def check(xb, yb):
            if targets:
                return self._check_xy(xb, yb, what)
            return self._check_x(xb, what), yb

        adapter = data_adapters.adapt(x, y, sample_weight, batch_size=batch_size,
                                      shuffle=shuffle, class_weight=class_weight, check=check,
                                      what=what)
        if isinstance(adapter, data_adapters.ArrayAdapter) and adapter.num_samples == 0:
            if what == "fit (validation_data)":
                raise ValueError("fit: validation_data has 0 samples; pass None for no "
                                 "validation")
            consequence = {"fit": "there is nothing to train on",
                           "evaluate": "a loss over no samples is undefined"}.get(what)
            if consequence is not None:
                raise ValueError(f"{what}: x has 0 samples (shape {tuple(adapter.x.shape)}); "
                                 f"{consequence}")
        return adapter

    def _evaluate_batches(self, data: data_adapters.EpochIterator, cbs) -> list[float]:
        """Loss and metrics over one epoch of ``data`` (evaluate, and fit's validation)."""
        cbs.on_test_begin()
        self._reset_metrics()
        results: list[float] = []
        for step, (xb, yb, wb) in enumerate(data.epoch()):
            cbs.on_test_batch_begin(step)
            results = self._scores(yb, self._forward(xb), wb)
            cbs.on_test_batch_end(step, dict(zip(self.metrics_names, results)))
        data.end_epoch()
        if not results:
            raise ValueError(f"{data.what}: the data gave no batch; a loss over no samples is "
                             "undefined")
        cbs.on_test_end(dict(zip(self.metrics_names, results)))
        return results

    # ----- inference ------------------------------------------------------------------------
    def _forward(self, x: np.ndarray | multi_io.Arrays):
        """Inference output for a block of samples (predict, evaluate). On the fast engine the
        nodes that can run per core do (:func:`convnet.fast.inference.leading_nodes`: a few
        samples at a time through all of them, on one worker thread per core), and the rest
        (a Dense classifier) on the whole block, from what those made."""
        arrays = x.arrays if isinstance(x, multi_io.Arrays) else [self.layers[0].check_input(x)]
        nodes, inputs = self._nodes, self._inputs
        leading = inference.leading_nodes(nodes, inputs) if self._per_core_inference() else []
        if leading and len(arrays[0]) > self.CHUNK:
            rest = [node for node in nodes if node not in leading]
            needed = {t.id for node in rest for t in node.inputs} | {t.id for t in self._outputs}
            handed_on = [node.output for node in leading
                         if node.output.id in needed]          # made per core, used after
            arrays = list(arrays) + inference.graph_forward_per_core(leading, inputs, arrays,
                                                                     handed_on, self.CHUNK)
            nodes, inputs = rest, list(inputs) + handed_on
        values = graph.forward(nodes, inputs, arrays, training=False)
        outs = [values[t.id] for t in self._outputs]
        return outs[0] if self._single_output else outs

    INFERENCE_BLOCK = 512   # samples per forward pass in predict/evaluate (see predict)
    CHUNK = inference.GRAPH_CHUNK  # samples per task of a per-core worker (Sequential: 8)

    @staticmethod
    def _per_core_inference() -> bool:
        return backend.get_engine() == "fast" and threads.available()

    def predict(self, x, batch_size: int | None = None, verbose: int | str = 0,
                steps: int | None = None, callbacks=None, **kwargs) -> np.ndarray:
        """Outputs for ``x``, computed ``batch_size`` samples at a time (default 32 as Keras; any
        size gives the same result). Memory beyond the output array stays bounded by one batch.
        ``x`` may also be a generator, iterable or ``keras.utils.Sequence`` of batches (``x``,
        or ``(x, y)`` whose ``y`` is ignored); ``steps`` limits the batches used (for arrays:
        the first ``steps * batch_size`` samples). ``callbacks`` get ``on_predict_begin`` and
        ``on_predict_end``.

        Whatever ``batch_size``, samples run through the layers ``INFERENCE_BLOCK`` at a time: a
        sample's output never depends on its neighbours at inference, and blocks of that size keep
        every intermediate array in reused memory (1000-image blocks would allocate ~400 MB of
        fresh pages per batch, a quarter of the time in page faults). Within a block, the leading
        convolution and pooling layers run per core, CHUNK images at a time (fast engine)."""
        _accept_queue_arguments(kwargs, "predict")
        batch_size = _positive_int(32 if batch_size is None else batch_size, "predict: batch_size")
        steps = data_adapters.positive_steps(steps, "predict: steps")
        cbs = callbacks_module.CallbackList(callbacks or [], self)
        cbs.on_predict_begin()
        if data_adapters.is_stream(x):
            result = self._predict_batches(x, batch_size, steps)
        else:
            x = self._check_x(x, "predict")
            result = self._predict_array(x if steps is None else x[:steps * batch_size])
        cbs.on_predict_end()
        return result

    def _predict_array(self, x: np.ndarray):
        step = self.INFERENCE_BLOCK      # batch_size changes neither the result nor memory
        outs: list[np.ndarray] | None = None
        for start in range(0, len(x), step):
            parts = self._forward(x[start:start + step])
            parts = parts if isinstance(parts, list) else [parts]
            if outs is None:
                outs = [np.empty((len(x),) + p.shape[1:], dtype=p.dtype) for p in parts]
            for out, part in zip(outs, parts):
                out[start:start + len(part)] = part
        if outs is None:
            outs = [np.empty((0,) + tuple(shape[1:]), dtype=self.layers[-1].dtype)
                    for shape in self._output_shapes()]
        return outs[0] if len(outs) == 1 else outs

    def _predict_batches(self, x, batch_size: int, steps: int | None):
        """predict for a stream of batches: every batch's outputs, concatenated."""
        data = data_adapters.EpochIterator(
            self._adapter(x, None, None, batch_size, False, None, "predict", targets=False),
            steps, "predict")
        parts = []
        for xb, _, _ in data.epoch():
            out = self._forward(xb)
            parts.append(out if isinstance(out, list) else [out])
        data.end_epoch()
        if not parts:
            raise ValueError("predict: the data gave no batch")
        outs = [np.concatenate(column) for column in zip(*parts)]
        return outs[0] if len(outs) == 1 else outs

    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose: int | str = 1,
                 sample_weight=None, steps: int | None = None, callbacks=None,
                 return_dict: bool = False, **kwargs) -> list[float] | float | dict[str, float]:
        """Loss (and metrics) over all of ``(x, y)``: ``[loss, accuracy]`` when compiled with
        ``metrics=['accuracy']``, a plain float otherwise, a dict ``{name: value}`` with
        ``return_dict``. ``x`` may be a generator or Sequence of batches as in :meth:`fit`
        (``steps`` batches; for arrays, ``steps`` batches of ``batch_size``);
        ``sample_weight`` weights each sample's loss as in :meth:`fit`. ``callbacks`` get
        ``on_test_begin``/``on_test_end`` and the test batch hooks (as ``fit``'s callbacks do
        around each validation). Arrays run ``INFERENCE_BLOCK`` samples per pass, as in
        :meth:`predict` (the result does not depend on it)."""
        _accept_queue_arguments(kwargs, "evaluate")
        self._check_compiled("evaluate")
        cbs = callbacks if isinstance(callbacks, callbacks_module.CallbackList) else \
            callbacks_module.CallbackList(callbacks or [], self)
        batch_size = _positive_int(32 if batch_size is None else batch_size,
                                   "evaluate: batch_size")
        steps = data_adapters.positive_steps(steps, "evaluate: steps")
        block = self.INFERENCE_BLOCK if steps is None else batch_size
        adapter = self._adapter(x, y, sample_weight, block, False, None, "evaluate")
        data = data_adapters.EpochIterator(adapter, steps, "evaluate")
        started = time.perf_counter()
        results = self._evaluate_batches(data, cbs)
        logs = dict(zip(self.metrics_names, results))
        if verbose:
            seen = (f"{adapter.num_samples} samples" if steps is None and
                    isinstance(adapter, data_adapters.ArrayAdapter) else f"{data.steps} steps")
            print(f"{seen} - {time.perf_counter() - started:.1f}s{format_logs(logs)}")
        if return_dict:
            return logs
        return results if len(results) > 1 else results[0]

    def fit_generator(self, generator, steps_per_epoch=None, epochs: int = 1, verbose=1,
                      callbacks=None, validation_data=None, validation_steps=None,
                      validation_freq=1, class_weight=None, max_queue_size: int = 10,
                      workers: int = 1, use_multiprocessing: bool = False, shuffle: bool = True,
                      initial_epoch: int = 0) -> callbacks_module.History:
        """Deprecated (Keras 2.2's spelling): ``fit``, which takes generators."""
        _deprecated("fit_generator", "fit")
        return self.fit(generator, epochs=epochs, verbose=verbose, callbacks=callbacks,
                        validation_data=validation_data, shuffle=shuffle,
                        class_weight=class_weight, initial_epoch=initial_epoch,
                        steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
                        validation_freq=validation_freq)

    def evaluate_generator(self, generator, steps=None, callbacks=None, max_queue_size=10,
                           workers=1, use_multiprocessing=False, verbose=0):
        """Deprecated (Keras 2.2's spelling): ``evaluate``, which takes generators."""
        _deprecated("evaluate_generator", "evaluate")
        return self.evaluate(generator, steps=steps, callbacks=callbacks, verbose=verbose)

    def predict_generator(self, generator, steps=None, callbacks=None, max_queue_size=10,
                          workers=1, use_multiprocessing=False, verbose=0):
        """Deprecated (Keras 2.2's spelling): ``predict``, which takes generators."""
        _deprecated("predict_generator", "predict")
        return self.predict(generator, steps=steps, callbacks=callbacks, verbose=verbose)

    def _several_io(self) -> bool:
        """Whether the model has several inputs or several outputs (data as lists/dicts)."""
        return len(getattr(self, "_inputs", ())) > 1 or self._multi is not None

    def _output_shapes(self) -> list[tuple]:
        shape = self.output_shape
        return shape if isinstance(shape, list) else [shape]

    # ----- checks ---------------------------------------------------------------------------
    def _check_x(self, x, what: str) -> np.ndarray | multi_io.Arrays:
        if x is None:
            raise ValueError(f"{what}: x is required")
        if len(getattr(self, "_inputs", ())) > 1:
            arrays = multi_io.gather(x, self.input_names, what, "inputs")
            return multi_io.Arrays([self._check_input_array(a, t, what)
                                    for a, t in zip(arrays, self._inputs)], f"{what}: x")
        if not isinstance(x, np.ndarray):
            try:
                x = np.asarray(x)
            except (ValueError, TypeError) as exc:
                raise TypeError(f"{what}: x must be a numeric array ({exc})") from None
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{what}: x must be a numeric array, got dtype {x.dtype}")
        if x.ndim < 1:
            raise ValueError(f"{what}: x must have a batch axis, got a scalar")
        self._ensure_built(x)
        first = self.layers[0]
        assert self._sample_shape is not None                # built just above
        expected = (None,) + tuple(self._sample_shape)
        x = _conform_rank(x, expected)
        if x.ndim != len(expected) or any(e is not None and e != d
                                          for e, d in zip(expected[1:], x.shape[1:])):
            raise ValueError(f"{what}: {type(first).__name__} '{first.name}' (the first layer) "
                             f"expects input of shape {format_shape(expected)}, "
                             f"got {tuple(x.shape)}")
        return x

    def _check_input_array(self, x, tensor, what: str) -> np.ndarray:
        """One array of a model with several inputs, checked against its input's shape."""
        layer = tensor.node.layer
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{what}: input '{layer.name}' must be a numeric array "
                            f"({exc})") from None
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{what}: input '{layer.name}' must be a numeric array, got dtype "
                            f"{x.dtype}")
        expected = tuple(tensor.shape)
        x = _conform_rank(x, expected) if x.ndim else x
        if x.ndim != len(expected) or any(e is not None and e != d
                                          for e, d in zip(expected[1:], x.shape[1:])):
            raise ValueError(f"{what}: input '{layer.name}' expects shape "
                             f"{format_shape(expected)}, got {tuple(x.shape)}")
        return x

    def _check_ys(self, x, y, what: str) -> tuple:
        """``(x, y)`` for a model with several outputs: ``y`` one array per output (a list, or
        a dict by output name), each checked against its output's shape."""
        ys = multi_io.gather(y, self.output_names, what, "outputs")
        checked: list[np.ndarray] = []
        for name, target, tensor in zip(self.output_names, ys, self._outputs):
            target = np.asarray(target)
            if target.dtype.kind not in "fiub":
                raise TypeError(f"{what}: y for output '{name}' must be numeric, got dtype "
                                f"{target.dtype}")
            out_shape = tuple(tensor.shape[1:])
            loss = self._multi.losses[len(checked)] if self._multi is not None else None
            sparse = loss is not None and loss.sparse_labels      # integer labels, any shape
            if target.ndim == 1 and out_shape == (1,):
                target = target.reshape(-1, 1)
            elif not sparse and tuple(target.shape[1:]) != out_shape:
                raise ValueError(f"{what}: targets for output '{name}' have shape "
                                 f"{tuple(target.shape)}, but the output has shape "
                                 f"{format_shape((None,) + out_shape)}")
            checked.append(target)
        ys_arrays = multi_io.Arrays(checked, f"{what}: y")
        if len(ys_arrays) != len(x):
            raise ValueError(f"{what}: x and y hold different numbers of samples "
                             f"({len(x)} vs {len(ys_arrays)})")
        return x, ys_arrays

    def _check_xy(self, x, y, what: str) -> tuple[np.ndarray, np.ndarray]:
        x = self._check_x(x, what)
        if y is None:
            raise ValueError(f"{what}: y (the targets) is required")
        if len(self._output_shapes()) > 1:
            return self._check_ys(x, y, what)
        y = np.asarray(y)
        if y.dtype.kind not in "fiub":
            raise TypeError(f"{what}: y must be numeric, got dtype {y.dtype}")
        if len(y) != len(x):
            raise ValueError(f"{what}: x and y hold different numbers of samples "
                             f"({len(x)} vs {len(y)})")
        last = self._output_layer()
        out_shape = tuple(last.built_shapes()[1])
        if self._loss is not None and self._loss.sparse_labels:
            labels = y.reshape(len(y), -1)
            if labels.shape[1] != 1:
                raise ValueError(f"{what}: sparse_categorical_crossentropy expects integer labels "
                                 f"of shape (n,) or (n, 1), got {tuple(y.shape)}")
            if y.size and (labels.min() < 0 or labels.max() >= out_shape[-1]
                           or np.any(labels != np.round(labels))):
                raise ValueError(f"{what}: labels must be integers in [0, {out_shape[-1]}) for "
                                 f"{type(last).__name__} '{last.name}' with {out_shape[-1]} "
                                 f"outputs; found values in [{labels.min()}, {labels.max()}]")
        elif y.ndim == 1 and out_shape == (1,):
            y = y.reshape(-1, 1)    # one target per sample for a one-unit output, as Keras takes
        elif tuple(y.shape[1:]) != out_shape:
            hint = ""
            if y.ndim == 1 and len(out_shape) == 1:
                hint = (f"; one-hot encode the labels with to_categorical(y, {out_shape[0]}) or "
                        "use loss='sparse_categorical_crossentropy'")
            raise ValueError(f"{what}: targets y have shape {tuple(y.shape)} but the model's "
                             f"output ({type(last).__name__} '{last.name}') has shape "
                             f"{format_shape((None,) + out_shape)}{hint}")
        return x, y

    # ----- weights and description ----------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        """All parameter arrays, layer by layer, in Keras's order."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights: list) -> None:
        """Set all parameters from a list in :meth:`get_weights` order (shapes checked first)."""
        if not self.built:
            raise ValueError("set_weights: the model is not built; give the first layer an "
                             "input_shape or call model.build((None, ...)) first")
        weights = list(weights)
        expected = sum(len(layer.params) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"set_weights: the model has {expected} weight arrays, "
                             f"got {len(weights)}")
        pos = 0
        for layer in self.layers:  # check every shape before changing anything
            for key in layer.weight_names():
                w = np.asarray(weights[pos])
                if w.shape != layer.params[key].shape:
                    raise ValueError(f"set_weights: layer '{layer.name}' weight '{key}' expects "
                                     f"shape {layer.params[key].shape}, got {w.shape}")
                pos += 1
        pos = 0
        for layer in self.layers:
            k = len(layer.params)
            layer.set_weights(weights[pos:pos + k])
            pos += k

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, line_length: int | None = None, positions=None, print_fn=None,
                expand_nested: bool = False, show_trainable: bool = False,
                layer_range=None, profile: bool = False, x=None) -> None:
        """Print Keras's table: layer (type), output shape, parameter count.

        ``line_length`` is the table's width and ``positions`` the right end of each column,
        as fractions of it (all <= 1) or in characters, as in Keras; ``show_trainable`` adds a
        column; ``layer_range=(first_name, last_name)`` prints part of the layers. A model
        used as a layer is one row; ``expand_nested`` lists its layers under it.
        ``profile=True`` adds FLOPs, measured milliseconds and buffer sizes per layer (see
        :func:`convnet.profiling.profile`; ``x`` is an optional sample batch)."""
        print_fn = print if print_fn is None else print_fn
        if profile:
            from convnet import profiling
            print_fn(profiling.profile(self, x, verbose=False).table())
            return
        if not self.built:
            raise ValueError("summary: the model is not built yet; give the first layer an "
                             "input_shape or call model.build((None, ...))")
        layers = list(self.layers)
        if layer_range is not None:
            names = [layer.name for layer in layers]
            try:
                first, last = (names.index(n) for n in layer_range)
            except (ValueError, TypeError):
                raise ValueError(f"summary: layer_range must name two layers of {names}, got "
                                 f"{layer_range!r}") from None
            layers = layers[first:last + 1]
        heads = ["Layer (type)", "Output Shape", "Param #"] + (["Trainable"] if show_trainable
                                                               else [])
        rows = [[f"{indent}{layer.name} ({layer.keras_class_name})",
                 str((None,) + tuple(layer.built_shapes()[1])), f"{layer.count_params():,}"]
                + (["Y" if layer.trainable else "N"] if show_trainable else [])
                for indent, layer in _summary_layers(layers, expand_nested)]
        widths = [max(len(h), *(len(r[i]) for r in rows)) + 2 for i, h in enumerate(heads)]
        if line_length is not None or positions is not None:
            total = int(line_length) if line_length is not None else sum(widths)
            ends = list(positions) if positions is not None else None
            if ends is None:
                scale = total / sum(widths)
                ends = list(np.cumsum([w * scale for w in widths]))
            elif all(p <= 1 for p in ends):
                ends = [p * total for p in ends]
            if len(ends) != len(heads):
                raise ValueError(f"summary: positions needs {len(heads)} column ends, got "
                                 f"{list(positions)}")
            ends = [int(e) for e in ends]
            widths = [max(b - a, 2) for a, b in zip([0] + ends[:-1], ends)]
        total = sum(widths)

        def cells(values) -> str:
            return "".join((v if len(v) < w else v[:w - 2] + "…").ljust(w)
                           for v, w in zip(values, widths))

        print_fn(f'Model: "{self.name}"')
        print_fn("_" * total)
        print_fn(cells(heads))
        print_fn("=" * total)
        for i, r in enumerate(rows):
            print_fn(cells(r))
            print_fn(("_" if i < len(rows) - 1 else "=") * total)
        trainable = sum(value.size for _, value, _ in self.trainable_triples())
        print_fn(f"Total params: {self.count_params():,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {self.count_params() - trainable:,}")
        print_fn("_" * total)

    @property
    def weights(self) -> list[np.ndarray]:
        """Every layer's weights (the arrays themselves), in Keras's order."""
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The weights an optimizer updates."""
        return [value for _, value, _ in self.trainable_triples()]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        """The rest (BatchNormalization's moving statistics, frozen layers)."""
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    def serve(self, weights=None, port: int = 0, host: str = "127.0.0.1",
              open_browser: bool = False) -> str:
        """Show this model in the browser (``convnet serve``'s page, docs/serve.md), served
        from a background thread; returns the URL. ``weights`` is a weights file to load
        first; ``port=0`` picks a free port. In a notebook, ``convnet.serve.inline(url)``."""
        from convnet import serve
        return serve.start(self, weights=weights, port=port, host=host,
                           open_browser=open_browser).url

    # ----- Keras files (the formats live in convnet.saving) ---------------------------------
    def to_yaml(self, **kwargs):
        """Refused, as in tf-keras 2.6 and later: YAML could run code when loaded."""
        raise RuntimeError("Model.to_yaml: the YAML format was removed from Keras (tf-keras "
                           "2.6) because loading YAML could run arbitrary code; use to_json()")

    def to_json(self, **json_kwargs) -> str:
        """The model's architecture as Keras JSON that tf-keras 2.x and Keras 3 both load."""
        from convnet import saving
        return saving.to_json(self, **json_kwargs)

    def save_weights(self, filepath) -> None:
        """Write the weights: ``x.h5`` in Keras 2's layout (both Keras load it), ``x.weights.h5``
        in Keras 3's. Atomic: a failed write never replaces a good file."""
        from convnet import saving
        saving.save_weights(self, filepath)

    def load_weights(self, filepath, by_name: bool = False, skip_mismatch: bool = False) -> None:
        """Read Keras weights: either HDF5 layout (recognised by content) or a ``.keras``
        archive's. ``by_name`` (Keras 2 ``.h5`` files): to the layers of the same name, others
        untouched; ``skip_mismatch``: skip layers that do not fit, with a warning. On error,
        nothing changes."""
        from convnet import saving
        saving.load_weights(self, filepath, by_name=by_name, skip_mismatch=skip_mismatch)

    def save(self, filepath) -> None:
        """Write the whole model -- architecture, weights and, if compiled, the compile settings
        and optimizer state: ``m.keras`` as Keras 3's zip, ``m.h5`` as Keras 2's HDF5 (see
        :func:`load_model`). Atomic: a failed write never replaces a good file."""
        from convnet import saving
        saving.save_model(self, filepath)

    def export(self, filepath, format: str | None = None, verbose: bool | None = None,
               input_signature=None, **kwargs) -> None:
        """``model.export("m.onnx", format="onnx")`` (Keras 3's spelling): the model for
        inference as ONNX (``pip install convnet[onnx]``); ``opset_version=`` as Keras. A path
        ending in ``.onnx`` needs no ``format``; another path without it is refused."""
        from convnet.saving import onnx_export
        onnx_export.export(self, filepath, format, verbose, input_signature, **kwargs)

    def save_checkpoint(self, filepath, epochs_done: int) -> None:
        """Write weights, optimizer state, epoch count and random state (to resume training)."""
        from convnet import saving
        saving.save_checkpoint(self, filepath, epochs_done)

    def load_checkpoint(self, filepath) -> int:
        """Restore a :meth:`save_checkpoint` file; returns the epochs done (``initial_epoch``)."""
        from convnet import saving
        return saving.load_checkpoint(self, filepath)

    def get_config(self) -> dict[str, Any]:
        """The architecture as Keras's ``config`` (what ``to_json`` writes under "config")."""
        import json
        return json.loads(self.to_json())["config"]

    @classmethod
    def from_config(cls, config: dict) -> Model:
        """A new model (fresh weights) from :meth:`get_config`'s output."""
        from convnet import saving
        class_name = "Sequential" if issubclass(cls, Sequential) else "Model"
        return saving.model_from_config({"class_name": class_name, "config": config})


class Sequential(Model):
    """A linear stack of layers (``Model``'s simplest graph), with Keras's ``add``.

    ``layers`` lists the layers; the model is *built* (all parameters exist) once the input shape
    is known: from ``keras.Input(shape)`` first, the first layer's ``input_shape``, or the first
    batch it sees. On the fast engine ``predict`` runs the leading convolution and pooling layers
    per core, and training fuses a Conv2D's backward pass with the max-pooling layer above it.
    """

    CHUNK = inference.CHUNK  # samples per task of a per-core worker

    def __init__(self, layers: list | None = None, name: str | None = None):
        self._init_state(name or "sequential")
        self._declared_input: tuple | None = None
        self._symbolic: tuple | None = None
        self._symbolic_nodes: list = []           # (layer, node) of the traced stack
        for layer in layers or []:
            self.add(layer)

    def add(self, layer) -> None:
        """Append a layer; its shape is checked against the previous layer's output right away.
        ``keras.Input(shape)`` or an ``InputLayer`` first sets the input shape (and is not one
        of ``layers``, as in Keras)."""
        from convnet.layers.input_layer import InputLayer

        if isinstance(layer, graph.SymbolicTensor) and layer.node is not None:
            layer = layer.node.layer                     # keras.Input(...) -> its InputLayer
        if isinstance(layer, InputLayer):
            if self.layers:
                raise ValueError("Sequential.add: an Input can only come first")
            self._declared_input = tuple(layer.built_shapes()[0])
            return
        if isinstance(layer, Model) and layer.built and \
                (len(layer.inputs) != 1 or len(layer.outputs) != 1):
            raise ValueError(f"Sequential.add: {layer.describe()} has {len(layer.inputs)} "
                             f"inputs and {len(layer.outputs)} outputs; a layer of a Sequential "
                             "model takes one input and makes one output")
        if layer is self:
            raise ValueError("Sequential.add: a model cannot be a layer of itself")
        if not isinstance(layer, (Layer, Model)):
            raise TypeError(f"Sequential.add expects a convnet layer, got {layer!r}")
        if any(other.name == layer.name for other in self.layers):
            raise ValueError(f"Sequential.add: a layer named '{layer.name}' is already in the "
                             "model; layer names must be unique")
        if any(other is layer for other in self.layers):
            raise ValueError(f"Sequential.add: {layer!r} is already in the model")
        self.layers.append(layer)                  # type: ignore[arg-type]
        if len(self.layers) == 1:
            declared = layer.declared_input_shape or self._declared_input
            if isinstance(layer, Model) and self._declared_input is not None:
                declared = self._declared_input          # a built model must fit the Input
            if declared is not None:
                self.build((None,) + tuple(declared))
        elif self.layers[-2].built:
            try:
                _build_layer(layer, self.layers[-2].built_shapes()[1])
            except Exception:
                self.layers.pop()
                raise
            if self._symbolic is not None:               # extend the traced stack
                self._symbolic = (self._symbolic[0], self._call_traced(layer, self._symbolic[1]))
            elif self._sample_shape is not None:
                self._symbolic_graph()

    @property
    def built(self) -> bool:
        return bool(self.layers) and all(layer.built for layer in self.layers)

    def build(self, input_shape: tuple) -> None:
        """Build every layer for a batch shape such as ``(None, 28, 28, 1)``."""
        if not self.layers:
            raise ValueError("Sequential.build: the model has no layers; add some first")
        shape = tuple(input_shape)[1:]
        self._sample_shape = shape
        for layer in self.layers:
            shape = _build_layer(layer, shape)
        if self._symbolic is None:
            # trace the stack on a keras.Input once, as Keras does: every layer then has its
            # symbolic input and output (Model(model.input, model.layers[0].output))
            self._symbolic_graph()

    @property
    def input_shape(self) -> tuple | None:
        """``(None, 28, 28, 1)``: the input's shape with ``None`` for the batch axis, as Keras
        (None until the model is built)."""
        return None if self._sample_shape is None else (None,) + tuple(self._sample_shape)

    @property
    def output_shape(self) -> tuple | None:
        """The output's shape with ``None`` for the batch axis (None until built)."""
        return (None,) + tuple(self.layers[-1].built_shapes()[1]) if self.built else None

    def _ensure_built(self, x: np.ndarray) -> None:
        if not self.layers:
            raise ValueError("The model has no layers; add some with model.add(...)")
        # layers built elsewhere (a model called on arrays, layers reused) leave the model's
        # own input shape unknown: build() skips built layers and records it
        if not self.built or self._sample_shape is None:
            self.build((None,) + tuple(x.shape[1:]))

    def _output_layer(self) -> Layer:
        if not self.layers:
            raise ValueError("The model has no layers; add some with model.add(...)")
        return self.layers[-1]

    def _symbolic_graph(self) -> tuple:
        """``(input, output)`` symbolic tensors through the stack, made once it is built, so
        that ``Model(model.input, model.layers[i].output)`` can share its layers."""
        if self._symbolic is None:
            if not self.built or self._sample_shape is None:
                raise AttributeError("Sequential: the model has no input yet; give the first "
                                     "layer an input_shape, start with keras.Input(shape), or "
                                     "build it")
            start = graph.Input(shape=self._sample_shape, dtype=self.layers[0].dtype)
            out = start
            for layer in self.layers:
                out = self._call_traced(layer, out)
            self._symbolic = (start, out)
        return self._symbolic

    def _call_traced(self, layer, tensor):
        """``layer(tensor)`` on the traced stack, remembering the node for :meth:`pop`."""
        out = layer(tensor)
        if isinstance(out, graph.SymbolicTensor) and out.node is not None:
            self._symbolic_nodes.append((layer, out.node))
        return out

    @property
    def inputs(self) -> list:
        return [self._symbolic_graph()[0]]

    @property
    def outputs(self) -> list:
        return [self._symbolic_graph()[1]]

    @property
    def input(self):
        return self._symbolic_graph()[0]

    @property
    def output(self):
        return self._symbolic_graph()[1]

    def pop(self) -> Layer:
        """Remove and return the last layer (Keras's ``pop``)."""
        if not self.layers:
            raise ValueError("Sequential.pop: the model has no layers")
        for layer, node in self._symbolic_nodes:      # the stack is traced anew when needed
            layer.forget_node(node)
        self._symbolic, self._symbolic_nodes = None, []
        return self.layers.pop()

    def predict_classes(self, x, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        """Deprecated (Keras 2's Sequential API, removed in tf-keras 2.6): the class of each
        sample, ``np.argmax(model.predict(x), axis=-1)``, or ``(model.predict(x) > 0.5)`` as
        int32 for a one-unit (sigmoid) output, as Keras 2 returned them."""
        warnings.warn("Sequential.predict_classes is deprecated (removed from Keras); use "
                      "np.argmax(model.predict(x), axis=-1) for a softmax output, or "
                      "(model.predict(x) > 0.5).astype('int32') for a sigmoid one.",
                      UserWarning, stacklevel=2)
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        if proba.shape[-1] > 1:
            return proba.argmax(axis=-1)
        return (proba > 0.5).astype("int32")

    def predict_proba(self, x, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        """Deprecated (Keras 2's Sequential API, removed in tf-keras 2.6): ``model.predict(x)``
        (the outputs are the probabilities)."""
        warnings.warn("Sequential.predict_proba is deprecated (removed from Keras); use "
                      "model.predict(x), which returns the same probabilities.", UserWarning,
                      stacklevel=2)
        return self.predict(x, batch_size=batch_size, verbose=verbose)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:  # type: ignore[override]
        """Every layer's ``forward`` in turn on one batch (no blocks, no per-core pass): the
        output the backward pass starts from when ``training``."""
        out = x
        for layer in self.layers:
            out = layer.forward(out, training=training)
        return out


    def backward_steps(self, input_gradient: bool = False, from_loss: bool = True):
        """The backward calls from the last layer to the first, after a training forward pass:
        yields ``(layers covered, call)``, ``call(grad)`` returning the gradient for the layer
        below; the first call takes :meth:`output_gradient`'s result.

        Each layer's ``backward`` in turn (the last layer's ``backward_preactivation`` when the
        softmax gradient is fused); where a layer can take the next one's backward pass with its
        own (``Layer.fuses_backward_of``: Conv2D under MaxPooling2D), one call covers both: the
        same numbers, one full-size gradient fewer in memory. Without ``input_gradient``
        (training) the steps stop at the lowest layer that :func:`graph.learns`, which computes
        no dL/dx: the layers below it (augmentation, a frozen base) lead to no weight. Asked
        lazily, so each step sees the layers as the steps above left them.
        ``from_loss=False``: the first call takes dL/dy of the last layer (this model as a
        layer of another), never the fused dL/dz."""
        layers = self.layers
        lowest = 0 if input_gradient else graph.lowest_learner(layers)
        first = layers[lowest]
        i = len(layers) - 1
        if from_loss and self._fused_softmax():
            last = layers[-1]
            yield (last,), functools.partial(
                last.backward_preactivation,                        # type: ignore[attr-defined]
                input_gradient=input_gradient or last is not first)
            i -= 1
        while i >= lowest:
            layer, below = layers[i], layers[i - 1] if i > lowest else None
            if below is not None and below.fuses_backward_of(layer):
                yield (below, layer), functools.partial(
                    below.backward_fused, layer,
                    input_gradient=input_gradient or below is not first)
                i -= 2
            else:
                yield (layer,), functools.partial(
                    graph.backward_of, layer,        # layer.backward (a model: its own graph's)
                    input_gradient=input_gradient or layer is not first)
                i -= 1

    def backward_as_layer(self, dy: np.ndarray, input_gradient: bool = True):
        """As a layer of another model: given dL/dy of the last layer after a training
        ``forward``, every layer's backward in turn (:meth:`backward_steps`); returns dL/dx
        (None unless ``input_gradient``)."""
        grad = dy
        for _, call in self.backward_steps(input_gradient, from_loss=False):
            grad = call(grad)
        return grad

    def built_shapes(self) -> tuple:
        if not self.built or self._sample_shape is None:
            raise RuntimeError(f"{self.describe()} is not built yet (no input shape known)")
        return tuple(self._sample_shape), tuple(self.layers[-1].built_shapes()[1])

    @property
    def takes_list(self) -> bool:
        return False

    def backward(self, y: np.ndarray, out: np.ndarray | None = None, input_gradient: bool = False,
                 sample_weight: np.ndarray | None = None) -> np.ndarray | None:
        """Backpropagate the loss of targets ``y`` from the training output ``out`` through
        every layer (:meth:`output_gradient`, then :meth:`backward_steps`): fills every layer's
        ``grads``; returns dL/d(input) with ``input_gradient``, else None. ``sample_weight``
        weights each sample's loss (:meth:`output_gradient`)."""
        if out is None:
            raise self._not_a_layer_backward()
        grad: np.ndarray | None = self.output_gradient(y, out, sample_weight)
        for _, call in self.backward_steps(input_gradient):
            grad = call(grad)
        return grad


    def _forward(self, x: np.ndarray) -> np.ndarray:  # type: ignore[override]
        """Inference output for a block of samples (predict, evaluate). On the fast engine the
        leading convolution and pooling layers run per core (:mod:`convnet.fast.inference`)."""
        layers = self.layers
        leading = inference.leading_layers(layers) if self._per_core_inference() else 0
        if leading and len(x) > self.CHUNK:
            x = inference.forward_per_core(layers[0].check_input(x), layers[:leading],
                                           self.CHUNK)
            layers = layers[leading:]
        for layer in layers:
            x = layer.forward(x, training=False)
        return x



def _summary_layers(layers: list, expand_nested: bool, indent: str = "") -> list[tuple]:
    """``(indent, layer)`` rows of a summary: with ``expand_nested`` a model used as a layer is
    followed by its own layers, indented (as Keras 3's ``└``)."""
    rows = []
    for layer in layers:
        rows.append((indent, layer))
        if expand_nested and isinstance(layer, Model):
            rows += _summary_layers(layer.layers, True, "   " + indent.replace("└ ", "  ") + "└ ")
    return rows


def _build_layer(layer, shape: tuple) -> tuple:
    """Build a layer of a Sequential for per-sample input ``shape`` (a built layer must fit it);
    returns its per-sample output shape. A model used as a layer builds from the batch shape, as
    Keras's ``Model.build`` does."""
    if layer.built:
        if isinstance(layer, Model) and not graph.fits(layer.built_shapes()[0], tuple(shape)):
            raise ValueError(f"{layer.describe()} expects input of shape "
                             f"{format_shape((None,) + tuple(layer.built_shapes()[0]))}, but "
                             f"the layer before it makes {format_shape((None,) + tuple(shape))}")
        return layer.built_shapes()[1]
    if isinstance(layer, Model):
        layer.build((None,) + tuple(shape))
        return layer.built_shapes()[1]
    return layer.build(shape)


def _conform_rank(x: np.ndarray, expected: tuple) -> np.ndarray:
    """Keras 3's rule for an input of one axis more or less than the model's
    (``Functional._adjust_input_rank``): images without their channel axis, ``(N, 28, 28)``
    for a model whose input is ``(None, 28, 28, 1)``, gain a last axis of 1; an extra last
    axis of 1 is dropped. Any other rank is left for the shape check to refuse."""
    if x.ndim == len(expected) - 1 and expected[-1] == 1:
        return x[..., None]
    if x.ndim == len(expected) + 1 and x.shape[-1] == 1:
        return x[..., 0]
    return x


def _deprecated(old: str, new: str) -> None:
    """The warning tf-keras gave for its 2018 spellings: the name to use instead."""
    warnings.warn(f"Model.{old} is deprecated (Keras 2.2's API, gone from Keras 3); use "
                  f"Model.{new}, which does the same.", UserWarning, stacklevel=3)


def _accept_queue_arguments(kwargs: dict, what: str) -> None:
    """tf-keras's ``workers``, ``use_multiprocessing``, ``max_queue_size`` (they tuned how batches
    were prefetched, never the result) are accepted; any other unknown argument is an error."""
    unknown = sorted(set(kwargs) - {"workers", "use_multiprocessing", "max_queue_size"})
    if unknown:
        raise TypeError(f"{what}: unsupported arguments {unknown}")


def _split_validation(x, y, sample_weight, fraction) -> tuple:
    """Keras's ``validation_split``: the last ``fraction`` of the arrays (rounded as Keras)
    becomes ``(x_val, y_val, sample_weight_val)``; returns ``(x, y, sample_weight, val)``."""
    if data_adapters.is_stream(x):
        raise ValueError("fit: validation_split needs arrays; with a generator or Sequence "
                         "pass validation_data instead")
    if not 0.0 < float(fraction) < 1.0:
        raise ValueError(f"fit: validation_split must be in (0, 1), got {fraction!r}")
    x = x if isinstance(x, multi_io.Arrays) else np.asarray(x)
    n = len(x)
    split = int(n * (1.0 - float(fraction)))   # Keras's rounding (down)
    if split == 0 or split == n:
        raise ValueError(f"fit: validation_split={fraction} of {n} samples leaves {split} for "
                         f"training and {n - split} for validation; each needs at least one. "
                         "Give more data or another validation_split")

    def cut(a):
        if a is None:
            return None, None
        a = a if isinstance(a, multi_io.Arrays) else np.asarray(a)
        return a[:split], a[split:]

    (y_fit, y_val), (w_fit, w_val) = cut(y), cut(sample_weight)
    return x[:split], y_fit, w_fit, (x[split:], y_val, w_val)


def _unpack_validation(validation_data) -> tuple:
    """``validation_data`` as ``(x, y, sample_weight)``: a 2- or 3-tuple of arrays, or a stream
    (whose batches carry their targets)."""
    if data_adapters.is_stream(validation_data):
        return validation_data, None, None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError("fit: validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                         "sample_weight_val), or a generator / Sequence of such batches")
    x, y, *rest = validation_data
    return x, y, (rest[0] if rest else None)


def _should_validate(epoch: int, validation_freq) -> bool:
    """Keras's ``validation_freq``: every n-th epoch (an int), or the epochs listed (counted
    from 1)."""
    if isinstance(validation_freq, (int, np.integer)) and not isinstance(validation_freq, bool):
        if validation_freq < 1:
            raise ValueError(f"fit: validation_freq must be a positive integer or a list of "
                             f"epochs, got {validation_freq!r}")
        return (epoch + 1) % int(validation_freq) == 0
    if isinstance(validation_freq, (list, tuple, set, range)):
        return epoch + 1 in validation_freq
    raise ValueError(f"fit: validation_freq must be an int or a list of epochs, got "
                     f"{validation_freq!r}")


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def clone_model(model: Model) -> Model:
    """A new model with the same architecture and new, freshly initialised weights (Keras's
    ``clone_model``); copy the weights with ``clone.set_weights(model.get_weights())``."""
    import json

    from convnet import saving
    if not isinstance(model, Model):
        raise TypeError(f"clone_model expects a convnet model, got {type(model).__name__}")
    return saving.model_from_config(json.loads(model.to_json()))


def model_from_json(json_string: str, custom_objects: dict | None = None) -> Model:
    """Build a model from Keras JSON (tf-keras, Keras 3 or 2018 Keras 2.2 dialect);
    ``custom_objects`` maps class names in the file to your own layer classes."""
    from convnet import saving
    return saving.model_from_json(json_string, custom_objects)


def save_model(model: Model, filepath) -> None:
    """``keras.models.save_model(model, path)``: the same as ``model.save(path)``."""
    model.save(filepath)


def load_model(filepath, custom_objects: dict | None = None, compile: bool = True) -> Model:
    """Load a whole model saved with ``model.save``: a ``.keras`` archive (convnet or Keras 3)
    or an ``.h5`` (convnet or Keras 2/3). Compiled as it was saved -- loss, metrics, optimizer
    and its state -- when the file holds compile settings and ``compile`` is true, as Keras
    does; ``custom_objects`` maps names in the file to your own classes."""
    from convnet import saving
    return saving.load_model(filepath, custom_objects=custom_objects, compile=compile)
