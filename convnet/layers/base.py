"""The Layer protocol every convnet layer follows.

A layer is a function with parameters and a hand-written derivative:

* ``build(input_shape)`` -- create parameters for a per-sample input shape (no batch axis) and
  return the per-sample output shape. A layer used on its own builds itself on its first
  ``forward``.
* ``forward(x, training=False)`` -- compute the output for a batch ``x`` and keep what the
  backward pass needs as attributes (each class docstring lists them).
* ``backward(dy)`` -- given dL/dy, return dL/dx and **overwrite** ``grads`` with dL/dparams.
  Calling it twice gives the same gradients (it never accumulates). It needs a ``forward`` first.
* ``params`` / ``grads`` -- dicts from Keras weight names (``"kernel"``, ``"bias"``) to arrays of
  equal shape (``grads`` leaves out the ``non_trainable_names``, weights no optimizer touches).
* ``get_config()`` / ``from_config()`` -- hyperparameters in Keras's names;
  ``get_weights()`` / ``set_weights()`` -- parameter arrays in Keras's order.

Two optional hooks let the fast engine run layers together, without reading their insides:

* ``fuses_backward_of(above)`` / ``backward_fused(above, dy)`` -- one call that does the
  backward pass of ``above`` (the next layer) and of this one (Conv2D under MaxPooling2D);
* ``runs_per_core`` / ``infer_chunk(x)`` -- inference for a few samples on the calling thread,
  keeping nothing, so one thread per core can each run the leading layers on its own samples
  (:mod:`convnet.fast.inference`).

Subclasses implement ``_build``, ``_forward`` and ``_backward``; the public methods here add the
checks (input shape, dtype, forward-before-backward) so every layer reports mistakes the same way.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import numpy as np

from convnet import backend

_NAME_COUNTS: defaultdict[str, int] = defaultdict(int)


def reset_layer_names() -> None:
    """Forget automatic names, so the next Conv2D is called ``conv2d`` again."""
    _NAME_COUNTS.clear()


def snake_case(class_name: str) -> str:
    # Keras's rule: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def unique_name(class_name: str) -> str:
    """Keras-style automatic name: ``dense``, then ``dense_1``, ``dense_2``, ..."""
    base = snake_case(class_name)
    count = _NAME_COUNTS[base]
    _NAME_COUNTS[base] += 1
    return base if count == 0 else f"{base}_{count}"


def format_shape(shape: tuple) -> str:
    """``(None, 28, 28, 1)`` written with ``batch`` for the free batch axis."""
    return "(" + ", ".join("batch" if d is None else str(d) for d in shape) + ")"


class Layer:
    """Base class: a differentiable function of a batch with named parameters.

    Attributes:
        name: unique name (Keras auto-naming when not given).
        built: whether parameters exist.
        input_shape / output_shape: per-sample shapes (no batch axis), known after ``build``.
        params / grads: name -> array, same shapes; grads are overwritten by ``backward``.
        dtype: the float type parameters and computations use (``backend.floatx()`` at build).
    """

    def __init__(self, name: str | None = None, input_shape: tuple | None = None,
                 batch_input_shape: tuple | None = None, trainable: bool = True,
                 dtype: Any = None):
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string, "
                             f"got {name!r}")
        self.name = name or unique_name(type(self).__name__)
        if batch_input_shape is not None and input_shape is None:
            input_shape = tuple(batch_input_shape)[1:]
        self._declared_input_shape = _check_shape_arg(self, input_shape)
        self.trainable = bool(trainable)
        self.dtype = _dtype_name(dtype, self.describe()) if dtype is not None else None
        self.built = False
        self.input_shape: tuple | None = None
        self.output_shape: tuple | None = None
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self._has_forward = False

    # ----- the protocol ---------------------------------------------------------------------
    takes_list = False      # True for layers whose input is a list of arrays (Add, Concatenate)
    _call_takes_training = False   # a Keras-style subclass's call(inputs, training=...)

    def __init_subclass__(cls, **kwargs):
        """A Keras-style subclass (``call``, maybe ``build`` with ``add_weight``; see
        :meth:`_keras_forward`) keeps its ``build`` apart, so that the protocol's :meth:`build`
        still does the bookkeeping and then calls it."""
        super().__init_subclass__(**kwargs)
        if "call" in cls.__dict__:          # read once, not on every forward pass
            import inspect
            cls._call_takes_training = "training" in inspect.signature(cls.call).parameters
        if "call" in cls.__dict__ and "build" in cls.__dict__:
            cls._keras_build = cls.__dict__["build"]
            cls.build = Layer.build           # type: ignore[method-assign]

    def __call__(self, inputs, training: bool = False):
        """``layer(x)``: on arrays, the forward pass (inference unless ``training``); on
        symbolic tensors (``keras.Input`` and what layers made of it), a new node of a model's
        graph (:mod:`convnet.graph`), returning the symbolic output."""
        from convnet import graph

        if graph.is_symbolic(inputs):
            return graph.call_symbolic(self, inputs)
        return self.forward(inputs, training=training)

    def record_node(self, node) -> None:
        """Remember a call on symbolic tensors (``layer.input`` / ``layer.output``)."""
        self.__dict__.setdefault("_nodes", []).append(node)

    def forget_node(self, node) -> None:
        """Forget a recorded call (a Sequential model re-tracing its stack after ``pop``)."""
        nodes = self.__dict__.get("_nodes", [])
        if any(n is node for n in nodes):
            nodes[:] = [n for n in nodes if n is not node]

    def _only_node(self, what: str):
        nodes = self.__dict__.get("_nodes", [])
        if not nodes:
            raise AttributeError(f"{self.describe()} has never been called on a symbolic tensor, "
                                 f"so it has no {what}; call it on keras.Input(...) first")
        if len(nodes) > 1:
            raise AttributeError(f"{self.describe()} has been called {len(nodes)} times, so its "
                                 f"{what} is ambiguous")
        return nodes[0]

    @property
    def input(self):
        """The symbolic input of the layer's one call (a list for several inputs)."""
        node = self._only_node("input")
        return node.inputs[0] if len(node.inputs) == 1 and not self.takes_list else node.inputs

    @property
    def output(self):
        """The symbolic output of the layer's one call: ``Model(model.input,
        model.layers[0].output)`` shows a layer's feature maps."""
        return self._only_node("output").output

    def build(self, input_shape: tuple) -> tuple:
        """Create parameters for per-sample ``input_shape``; return the per-sample output shape."""
        input_shape = _check_build_shape(self, input_shape)
        if self.dtype is None:
            self.dtype = backend.floatx()
        self.output_shape = tuple(self._build(input_shape))
        self.input_shape = input_shape
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()
                      if k not in self.non_trainable_names}
        self.built = True
        return self.output_shape

    def compute_dtype(self) -> str:
        """The dtype the layer computes in: its own, or :func:`backend.floatx` until built."""
        return self.dtype or backend.floatx()

    def built_shapes(self) -> tuple[tuple, tuple]:
        """``(input_shape, output_shape)`` per sample; a clear error if not built yet."""
        if self.input_shape is None or self.output_shape is None:
            raise RuntimeError(f"{self.describe()} is not built yet (no input shape known)")
        return self.input_shape, self.output_shape

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """Per-sample output shape for a per-sample input shape (builds nothing, except a
        Keras-style subclass, whose shape only its ``call`` can tell)."""
        if self._keras_style():
            if not self.built:
                self.build(input_shape)
            return self.built_shapes()[1]
        raise NotImplementedError

    @property
    def declared_input_shape(self) -> tuple | None:
        """The per-sample ``input_shape`` given when the layer was made (None if none)."""
        return self._declared_input_shape

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Compute the layer's output for the batch ``x`` (first axis = batch)."""
        x = self.check_input(x)
        y = self._forward(x, bool(training))
        self._has_forward = True
        self._last_output_shape = tuple(y.shape)
        return y

    def backward(self, dy: np.ndarray, input_gradient: bool = True) -> np.ndarray | None:
        """Given dL/dy, return dL/dx and overwrite ``grads``. Needs a ``forward`` first.

        ``input_gradient=False`` says nobody needs dL/dx (the model's first layer): layers that
        can skip that work (Conv2D, Dense) then return ``None``.
        """
        dy = self.check_output_gradient(dy)
        return self._backward(dy, bool(input_gradient))

    def fuses_backward_of(self, above: Layer) -> bool:
        """Whether this layer can run the backward pass of ``above`` (the next layer in the
        model) together with its own, in one method the model then calls instead of the two
        ``backward`` calls (Conv2D under MaxPooling2D). No, by default."""
        return False

    def backward_fused(self, above: Layer, dy: np.ndarray,
                       input_gradient: bool = True) -> np.ndarray | None:
        """``self.backward(above.backward(dy))`` in one pass, where :meth:`fuses_backward_of`
        says so."""
        raise NotImplementedError(f"{self.describe()} does not fuse the backward pass of "
                                  f"{above.describe()}")

    runs_per_core = False   # True where infer_chunk is implemented

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        """The inference output (``forward(x, training=False)``) for a few samples, computed on
        the calling thread only and keeping nothing on the layer, so that one thread per core can
        each run the layer on its own samples at the same time. ``x`` already has the layer's
        input shape and dtype (the model checks the whole batch once)."""
        raise NotImplementedError(f"{self.describe()} has no per-core inference")

    # ----- serialisation --------------------------------------------------------------------
    def get_config(self) -> dict:
        """Hyperparameters in Keras's names (enough to rebuild the layer with ``from_config``)."""
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable,
                                  "dtype": self.dtype or backend.floatx()}
        if self._declared_input_shape is not None:
            config["batch_input_shape"] = (None,) + tuple(self._declared_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        """Rebuild a layer from :meth:`get_config`'s output."""
        return cls(**config)

    non_trainable_names: tuple[str, ...] = ()
    """Weights the layer updates itself and never trains (BatchNormalization's moving mean and
    variance): in ``params`` (saved, loaded, in ``get_weights``), but with no entry in
    ``grads``, so no optimizer touches them."""

    # ----- regularization hooks (convnet/layers/regularized.py overrides them) ----------------
    @property
    def losses(self) -> list[float]:
        """Keras's ``layer.losses``: the penalties this layer adds to the loss (none here)."""
        return []

    def add_regularization_gradients(self) -> None:
        """Add the weight penalties' gradients to ``grads`` after ``backward`` (none here)."""

    def apply_constraints(self) -> None:
        """Project constrained weights after an optimizer step (none here)."""

    def weight_names(self) -> list[str]:
        """Parameter names in Keras's order (kernel before bias)."""
        return list(self.params)

    @property
    def weights(self) -> list[np.ndarray]:
        """The parameter arrays themselves (not copies), in Keras's order."""
        return [self.params[k] for k in self.weight_names()]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The weights an optimizer updates (none when ``trainable`` is False)."""
        if not self.trainable:
            return []
        return [self.params[k] for k in self.weight_names() if k in self.grads]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        """The rest: ``non_trainable_names`` (moving statistics), or all when frozen."""
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the parameter arrays, in Keras's order."""
        return [self.params[k].copy() for k in self.weight_names()]

    def set_weights(self, weights: list) -> None:
        """Replace the parameters (Keras order); shapes must match exactly."""
        names = self.weight_names()
        if not self.built:
            raise ValueError(f"{type(self).__name__} '{self.name}' is not built yet; build it "
                             "(or add it to a model with a known input shape) before set_weights")
        if len(weights) != len(names):
            raise ValueError(f"{type(self).__name__} '{self.name}' expects {len(names)} weight "
                             f"arrays ({', '.join(names) or 'none'}), got {len(weights)}")
        arrays = []
        for key, w in zip(names, weights):
            w = np.asarray(w)
            if w.shape != self.params[key].shape:
                raise ValueError(f"{type(self).__name__} '{self.name}': weight '{key}' expects "
                                 f"shape {self.params[key].shape}, got {w.shape}")
            if w.dtype.kind not in "fiu":
                raise ValueError(f"{type(self).__name__} '{self.name}': weight '{key}' must be "
                                 f"numeric, got dtype {w.dtype}")
            arrays.append(w)
        for key, w in zip(names, arrays):
            self.params[key][...] = w

    def count_params(self) -> int:
        """Number of scalar parameters."""
        return int(sum(v.size for v in self.params.values()))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} '{self.name}'>"

    # ----- for subclasses -------------------------------------------------------------------
    def _build(self, input_shape: tuple) -> tuple:
        if self._keras_style():
            return self._keras_build_shape(input_shape)
        return self.compute_output_shape(input_shape)

    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        if self._keras_style():
            return self._keras_forward(x, training)
        raise NotImplementedError

    def _backward(self, dy: np.ndarray, input_gradient: bool) -> np.ndarray | None:
        if self._keras_style():
            raise NotImplementedError(
                f"{self.describe()} defines call() but no _backward(): convnet has no automatic "
                "differentiation, so it can run the layer forward (predict, evaluate) but not "
                "train through it. Write _forward(x, training) and _backward(dy, "
                "input_gradient) -- dL/dx, with dL/dweights in self.grads -- as convnet's own "
                "layers do (convnet/layers/base.py; docs/backprop.md)")
        raise NotImplementedError

    # ----- Keras-style subclasses: call() and add_weight ------------------------------------
    def _keras_style(self) -> bool:
        return callable(getattr(type(self), "call", None))

    def add_weight(self, name: str | None = None, shape=(), initializer="glorot_uniform",
                   dtype=None, trainable: bool = True, regularizer=None, constraint=None,
                   **kwargs) -> np.ndarray:
        """Keras's ``add_weight`` for a subclass's ``build``: a new parameter array in
        ``params`` (and ``grads`` if ``trainable``), returned so ``call`` can use it."""
        from convnet import initializers
        if regularizer is not None or constraint is not None:
            raise ValueError(f"{self.describe()}: add_weight's regularizer and constraint are "
                             "not supported")
        name = name or f"weight_{len(self.params)}"
        if name in self.params:
            raise ValueError(f"{self.describe()}: add_weight: a weight named {name!r} exists")
        value = initializers.initialize(initializers.normalize(initializer), tuple(shape),
                                        dtype or self.compute_dtype())
        self.params[name] = value
        if not trainable:
            self.non_trainable_names = tuple(self.non_trainable_names) + (name,)
        return value

    def _keras_build_shape(self, input_shape: tuple) -> tuple:
        """Run the subclass's own ``build`` (given the batch shape, as Keras does), then find the
        output shape: ``compute_output_shape`` if it has one, else ``call`` on one zero sample."""
        keras_build = getattr(type(self), "_keras_build", None)
        if keras_build is not None:
            keras_build(self, (None,) + tuple(input_shape))
        if type(self).compute_output_shape is not Layer.compute_output_shape:
            return tuple(self.compute_output_shape(input_shape))
        probe = self._keras_forward(np.zeros((1,) + tuple(input_shape), self.compute_dtype()),
                                    False)
        return tuple(probe.shape[1:])

    def _keras_forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """A Keras-style subclass's forward pass: its ``call(inputs)`` (with ``training=`` if
        it takes one) on NumPy arrays."""
        call = type(self).call                # type: ignore[attr-defined]
        y = call(self, x, training=training) if self._call_takes_training else call(self, x)
        return np.asarray(y, dtype=self.compute_dtype())

    # ----- checks every layer shares --------------------------------------------------------
    @property
    def keras_class_name(self) -> str:
        """The class name summaries, pictures and files show (a model used as a layer answers
        ``Sequential`` or ``Functional``)."""
        return type(self).__name__

    def describe(self) -> str:
        """``Conv2D 'conv2d_1'``: how error messages name the layer."""
        return f"{type(self).__name__} '{self.name}'"

    def check_input(self, x) -> np.ndarray:
        """Validate a batch (numeric, right rank and shape), build on first use, cast to dtype."""
        if not isinstance(x, np.ndarray):
            x = np.asarray(x)
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{self.describe()} expects a numeric array, got dtype {x.dtype}")
        if not self.built:
            if x.ndim < 1:
                raise ValueError(f"{self.describe()} expects a batch (first axis = samples), "
                                 f"got a scalar")
            declared = self._declared_input_shape
            self.build(declared if declared is not None else x.shape[1:])
        expected = (None,) + tuple(self.built_shapes()[0])
        if x.ndim != len(expected) or any(e is not None and e != d
                                          for e, d in zip(expected[1:], x.shape[1:])):
            raise ValueError(f"{self.describe()} expects input of shape "
                             f"{format_shape(expected)}, got {tuple(x.shape)}")
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        return x

    def check_output_gradient(self, dy) -> np.ndarray:
        """Validate dL/dy against the last forward output (shape, a forward first), cast to
        dtype."""
        if not self._has_forward:
            raise RuntimeError(f"{self.describe()}: backward() called before forward(); run a "
                               "forward pass (with training=True) first")
        dy = np.asarray(dy)
        if dy.shape != self._last_output_shape:
            raise ValueError(f"{self.describe()}: backward expects dL/dy of shape "
                             f"{self._last_output_shape} (the shape of the last forward output), "
                             f"got {tuple(dy.shape)}")
        if dy.dtype != self.dtype:
            dy = dy.astype(self.dtype)
        return dy

    _last_output_shape: tuple = ()


def _dtype_name(dtype, owner: str = "layer") -> str:
    if isinstance(dtype, dict):  # Keras 3 DTypePolicy {"config": {"name": "float32"}}
        dtype = dtype.get("config", {}).get("name", "float32")
    if isinstance(dtype, str) and dtype.startswith("mixed_"):
        raise ValueError(f"{owner}: dtype {dtype!r} is a mixed-precision policy, which convnet "
                         "does not support: give one float type (float16, float32 or float64)")
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in ("float16", "float32", "float64"):
        raise ValueError(f"{owner}: dtype must be a float type (float16, float32 or float64), "
                         f"got {dtype!r}")
    return name


def _check_build_shape(layer: Layer, shape) -> tuple:
    """A per-sample shape to build with: every size known and positive (convnet builds eagerly)."""
    try:
        dims = tuple(shape)
        ok = all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0
                 for d in dims)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': cannot build for input shape "
                         f"{shape!r}; every per-sample size (no batch axis) must be a known "
                         "positive integer")
    return tuple(int(d) for d in dims)


def _check_shape_arg(layer: Layer, shape) -> tuple | None:
    if shape is None:
        return None
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        shape = tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):
        raise ValueError(f"{type(layer).__name__} '{layer.name}': input_shape must be a tuple of "
                         f"positive integers (without the batch axis), got {shape!r}") from None
    if any(d is not None and d <= 0 for d in shape):
        raise ValueError(f"{type(layer).__name__} '{layer.name}': input_shape must hold positive "
                         f"sizes, got {shape}")
    return shape


def pair(value, what: str, layer_name: str, allow_zero: bool = False) -> tuple[int, int]:
    """Turn ``3`` or ``(3, 3)`` into ``(3, 3)``, refusing non-positive sizes."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    try:
        out = tuple(int(v) for v in value)
        ok = len(out) == 2 and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                   for v in value)
    except (TypeError, ValueError):
        ok = False
    if not ok or any(v < (0 if allow_zero else 1) for v in out):
        raise ValueError(f"{layer_name}: {what} must be a positive integer or a pair of positive "
                         f"integers, got {value!r}")
    return out  # type: ignore[return-value]
