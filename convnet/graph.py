"""Models as graphs of layers: symbolic tensors, ``keras.Input``, and the forward and backward
passes over a graph.

Calling a layer on a :class:`SymbolicTensor` (what :func:`Input` returns) computes nothing: it
builds the layer for that shape and records a :class:`Node` -- this layer, applied to these
tensors, made this tensor. ``Model(inputs, outputs)`` collects the nodes between them. Training
then runs the nodes in topological order (every node after the nodes that make its inputs) and
backpropagates in the reverse order::

    forward:   value[node.output] = node.layer.forward(value[node.inputs])
    backward:  g = grad[node.output];  dx = node.layer.backward(g)
               grad[input] += dx      for each of the node's inputs

The ``+=`` is the chain rule's sum over paths: where a tensor feeds two layers (the shortcut of a
residual block feeds the block and the ``Add``), its gradient is the sum of what both send back.
A :class:`~convnet.models.Sequential` model is the special case of a chain.

A model is a layer too (``y = inner(x)``, or a model in a Sequential): its node's forward runs
its own graph's forward, and its backward its own graph's backward (:func:`backward_of`), so a
pretrained model inside a new one is one node here, whose inside is another such walk.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from convnet.layers.base import Layer

_IDS = itertools.count()


@dataclass(eq=False)
class SymbolicTensor:
    """A placeholder for the arrays that will flow along one edge of the graph: its batch shape
    (``None`` for the batch axis), dtype, and the node that makes it (None for an Input)."""

    shape: tuple
    dtype: str
    node: Node | None = None
    name: str = ""
    id: int = field(default_factory=lambda: next(_IDS))

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={self.shape} dtype={self.dtype} name={self.name!r}>"


@dataclass(eq=False)
class Node:
    """One call of ``layer`` on symbolic ``inputs`` that made ``output``."""

    layer: Layer                     # (or a model used as a layer: it follows the protocol)
    inputs: list[SymbolicTensor]
    output: SymbolicTensor


def is_symbolic(value: Any) -> bool:
    """Whether ``value`` is a symbolic tensor or a non-empty list/tuple of them."""
    if isinstance(value, SymbolicTensor):
        return True
    return (isinstance(value, (list, tuple)) and len(value) > 0
            and all(isinstance(v, SymbolicTensor) for v in value))


def Input(shape: Sequence | None = None, batch_size: int | None = None, name: str | None = None,
          dtype: str | None = None, batch_shape: Sequence | None = None,
          **kwargs) -> SymbolicTensor:
    """``keras.Input``: the symbolic input of a model, for per-sample ``shape`` (or the full
    ``batch_shape``). ``Input(shape=(28, 28, 1))`` has shape ``(None, 28, 28, 1)``."""
    from convnet.layers.input_layer import InputLayer

    layer = InputLayer(shape=shape, batch_size=batch_size, name=name, dtype=dtype,
                       batch_shape=batch_shape, **kwargs)
    return layer.output


def call_symbolic(layer: Layer, inputs: SymbolicTensor | Sequence[SymbolicTensor]
                  ) -> SymbolicTensor:
    """Record ``layer(inputs)`` as a node: build the layer for the inputs' shapes (the first
    time) and return the symbolic output."""
    tensors = [inputs] if isinstance(inputs, SymbolicTensor) else list(inputs)
    shapes = [tuple(t.shape[1:]) for t in tensors]
    shape_arg = shapes[0] if isinstance(inputs, SymbolicTensor) else shapes
    if not layer.built:
        layer.build(shape_arg)  # type: ignore[arg-type]
    elif not fits(layer.built_shapes()[0], shape_arg):        # a shared layer called again
        raise ValueError(f"{layer.describe()} was built for input shape "
                         f"{layer.built_shapes()[0]}, but is called on {shape_arg}")
    # (a merge layer's shape argument is a list of shapes)
    out_shape = layer.compute_output_shape(shape_arg)  # type: ignore[arg-type]
    output = SymbolicTensor((None,) + tuple(out_shape), layer.compute_dtype(),
                            name=f"{layer.name}/output")
    node = Node(layer, tensors, output)
    output.node = node
    layer.record_node(node)
    return output


def fits(expected, got) -> bool:
    """Whether per-sample shape(s) ``got`` match ``expected`` (None matches any size)."""
    if expected and isinstance(expected[0], tuple):                   # a list of shapes
        return (isinstance(got, list) and len(got) == len(expected)
                and all(fits(e, g) for e, g in zip(expected, got)))
    return (not isinstance(got, list) and len(got) == len(expected)
            and all(e is None or g is None or e == g for e, g in zip(expected, got)))


def nodes_between(inputs: Sequence[SymbolicTensor],
                  outputs: Sequence[SymbolicTensor]) -> list[Node]:
    """The nodes that make ``outputs`` from ``inputs``, in topological order. Raises a clear
    error when an output needs a tensor that is not computed from the inputs."""
    known = {t.id for t in inputs}
    order: list[Node] = []
    done: set[int] = set()

    def visit(tensor: SymbolicTensor, path: tuple) -> None:
        if tensor.id in known or tensor.id in done:
            return
        node = tensor.node
        if node is None or type(node.layer).__name__ == "InputLayer":
            raise ValueError(f"Model: the outputs need {tensor!r}, which is not computed from "
                             f"the model's inputs; pass it in inputs=[...]")
        for t in node.inputs:
            visit(t, path + (node.layer.name,))
        done.add(tensor.id)
        order.append(node)

    for out in outputs:
        visit(out, ())
    return order


def forward(nodes: Sequence[Node], inputs: Sequence[SymbolicTensor], arrays: Sequence[np.ndarray],
            training: bool, seconds: dict[int, float] | None = None) -> dict[int, np.ndarray]:
    """Run ``nodes`` on ``arrays`` (one per input tensor); return every tensor's value, by
    tensor id (the outputs' among them; :func:`backward` reads the rest for shared layers).
    With ``seconds`` (the profiler's), each layer's time is added under ``id(layer)``."""
    values: dict[int, np.ndarray] = {t.id: a for t, a in zip(inputs, arrays)}
    for node in nodes:
        started = time.perf_counter()
        values[node.output.id] = node.layer.forward(_arguments(node, values), training=training)
        if seconds is not None:
            key = id(node.layer)
            seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - started
    return values


def _arguments(node: Node, values: dict[int, np.ndarray]) -> Any:
    args = [values[t.id] for t in node.inputs]
    return args if node.layer.takes_list else args[0]


def backward(nodes: Sequence[Node], inputs: Sequence[SymbolicTensor],
             outputs: Sequence[SymbolicTensor], output_grads: Sequence[np.ndarray], *,
             preactivation: bool = False, input_gradient: bool = False,
             values: dict[int, np.ndarray] | None = None,
             seconds: dict[int, float] | None = None) -> list[np.ndarray | None]:
    """Backpropagate ``output_grads`` (one per output) through ``nodes`` after a training
    forward pass; fills every layer's ``grads`` and returns dL/d(input) per model input
    (None unless ``input_gradient``).

    With ``preactivation`` the first output's gradient is dL/dz of its layer (the fused softmax
    + cross-entropy gradient). A layer called at several nodes (shared) has its gradients summed
    over them; it runs its forward pass again on each node's inputs (from ``values``, what
    :func:`forward` returned) before that node's backward, since a layer keeps the values of
    one forward pass only. With ``seconds`` each layer's backward time is added under
    ``id(layer)`` (as :func:`forward`)."""
    grads: dict[int, np.ndarray] = {}
    for t, seed in zip(outputs, output_grads):
        grads[t.id] = seed
    wanted = wanted_gradients(nodes, inputs, input_gradient)
    counts: dict[int, int] = {}
    for node in nodes:
        counts[id(node.layer)] = counts.get(id(node.layer), 0) + 1
    sums: dict[int, dict[str, np.ndarray]] = {}
    first_output = outputs[0].id if outputs else None
    for node in reversed(nodes):
        if node.output.id not in grads or node.output.id not in wanted:
            continue           # nothing depends on this node's output, or nothing learns below
        layer = node.layer
        started = time.perf_counter()
        shared = counts[id(layer)] > 1
        if shared and values is not None:
            layer.forward(_arguments(node, values), training=True)
        need = any(t.id in wanted for t in node.inputs)
        if preactivation and node.output.id == first_output:
            dx = layer.backward_preactivation(  # type: ignore[attr-defined]
                grads.pop(node.output.id), input_gradient=need)
        else:
            dx = backward_of(layer, grads.pop(node.output.id), need)
        if shared:
            total = sums.setdefault(id(layer), {})
            for key, value in layer.grads.items():
                total[key] = total[key] + value if key in total else value.copy()
        if seconds is not None:
            seconds[id(layer)] = seconds.get(id(layer), 0.0) + time.perf_counter() - started
        if dx is None:
            continue
        parts = dx if isinstance(dx, list) else [dx]
        for t, d in zip(node.inputs, parts):
            if t.id in wanted:
                grads[t.id] = grads[t.id] + d if t.id in grads else d   # paths add up
    for node in nodes:                     # shared layers: the sum over their nodes
        for key, value in sums.get(id(node.layer), {}).items():
            node.layer.grads[key][...] = value
    return [grads.get(t.id) for t in inputs]


def learns(layer: Layer) -> bool:
    """Whether training updates some weight of ``layer`` (not frozen, not weightless)."""
    return bool(layer.trainable_weights)


def lowest_learner(layers: Sequence[Layer]) -> int:
    """The index of the first of a chain of ``layers`` that :func:`learns` (0 if none does):
    training's backward pass stops there (:func:`wanted_gradients`, for a chain)."""
    return next((i for i, layer in enumerate(layers) if learns(layer)), 0)


def wanted_gradients(nodes: Sequence[Node], inputs: Sequence[SymbolicTensor],
                     input_gradient: bool) -> set[int]:
    """The ids of the tensors whose gradient :func:`backward` computes: the model's inputs with
    ``input_gradient``, and the output of every node that :func:`learns` or takes a tensor in
    this set. The rest lead to no weight: a frozen base or the augmentation layers at the
    bottom of a model get no backward pass, and the layer above them computes no dL/dx (as
    autodiff frameworks skip what no trainable variable depends on)."""
    wanted = {t.id for t in inputs} if input_gradient else set()
    for node in nodes:                            # in forward order
        if learns(node.layer) or any(t.id in wanted for t in node.inputs):
            wanted.add(node.output.id)
    return wanted


def backward_of(layer: Layer, dy: np.ndarray, input_gradient: bool) -> Any:
    """A node's backward step: ``layer.backward(dy)``, dL/dx from dL/dy. A model used as a layer
    (``y = inner(x)``) backpropagates through its own graph (``backward_as_layer``); its
    ``backward`` is the one that starts from targets and a loss."""
    step = getattr(layer, "backward_as_layer", layer.backward)
    return step(dy, input_gradient=input_gradient)
