"""One sample's forward and backward pass, layer by layer, kept for the page to show.

Both passes call convnet's own code and nothing else: each layer's ``forward`` (at inference,
as ``predict`` runs it), the model's loss and :meth:`~convnet.models.Model.output_gradient`,
each layer's ``backward`` (``backward_preactivation`` for a softmax fused with cross-entropy,
as ``fit`` starts). What they add is bookkeeping: every layer's input, output, dL/d(output) and
parameter gradients, which ``fit`` computes and forgets. Dropout is off (inference), so the
gradients are those of the prediction the page shows, and the same on every call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from convnet import graph, losses
from convnet.layers.base import Layer
from convnet.models import Model, Sequential


@dataclass
class LayerPass:
    """One layer call: its input(s) and output, batches of one sample."""

    layer: Layer
    inputs: list[np.ndarray]
    output: np.ndarray


def sample_shape(model: Model) -> tuple:
    """The per-sample input shape (no batch axis), whether ``model.input_shape`` gives it
    with Keras's leading ``None`` or without."""
    shape = tuple(model.input_shape or ())
    return shape[1:] if shape and shape[0] is None else shape


def is_input_layer(layer: Layer) -> bool:
    return type(layer).__name__ == "InputLayer"


def forward(model: Model, x: np.ndarray) -> list[LayerPass]:
    """Every layer call of ``model`` on the batch ``x``, at inference, in order (a layer
    called at several nodes of a graph appears once per call)."""
    if isinstance(model, Sequential):
        passes = []
        a = x
        for layer in model.layers:
            out = layer.forward(a, training=False)
            passes.append(LayerPass(layer, [a], out))
            a = out
        return passes
    first = model.inputs[0].node
    arrays = [first.layer.check_input(x) if first is not None else x]
    values = graph.forward(model.nodes, model.inputs, arrays, training=False)
    return [LayerPass(node.layer, [values[t.id] for t in node.inputs], values[node.output.id])
            for node in model.nodes]


def loss_of(model: Model) -> losses.Loss:
    """The model's compiled loss, as an object with ``call``/``gradient``."""
    return losses.get_loss(model.loss)


def targets(model: Model, label: int, out: np.ndarray) -> np.ndarray:
    """The target batch for one ``label``, in the form the model's loss takes (one-hot, or the
    label itself for sparse losses and one-unit outputs)."""
    if loss_of(model).sparse_labels:
        return np.array([label])
    if out.shape[-1] == 1:
        return np.array([[label]], dtype=out.dtype)
    y = np.zeros_like(out)
    y[0, label] = 1
    return y


def fused_softmax(model: Model) -> bool:
    """Whether backpropagation starts from dL/dz of a softmax layer, ``(p - y) / N``, as ``fit``
    does for softmax + cross-entropy (:meth:`Model.output_gradient`)."""
    last = model.outputs[0].node.layer if not isinstance(model, Sequential) else model.layers[-1]
    return getattr(last, "activation", None) == "softmax" and loss_of(model).fuses_softmax


@dataclass
class Backward:
    """One sample's backward pass.

    ``output_gradients`` and ``preactivation_gradients`` (dL/dz of a fused softmax layer) are
    keyed by layer name, for Sequential models (a graph model's intermediate gradients are not
    kept: empty); ``weight_gradients`` by layer name then weight name; ``input_gradient`` is
    dL/dx, ``(1, *input_shape)``."""

    passes: list[LayerPass]
    loss: float
    probabilities: np.ndarray
    input_gradient: np.ndarray
    output_gradients: dict[str, np.ndarray] = field(default_factory=dict)
    preactivation_gradients: dict[str, np.ndarray] = field(default_factory=dict)
    weight_gradients: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def backward(model: Model, x: np.ndarray, label: int) -> Backward:
    """Forward ``x`` at inference, then backpropagate the loss of ``label`` through every layer;
    leaves every layer's ``grads`` filled (what an optimizer step applies)."""
    passes = forward(model, x)
    loss = loss_of(model)
    if not isinstance(model, Sequential):
        out = model.forward(x, training=False)
        y = targets(model, label, out)
        dx = model.backward(y, out, input_gradient=True)
        assert isinstance(dx, np.ndarray)
        result = Backward(passes, float(np.mean(loss.call(y, out))), out[0], dx)
        result.weight_gradients = {layer.name: {k: g.copy() for k, g in layer.grads.items()}
                                   for layer in model.layers}
        return result
    out = passes[-1].output
    y = targets(model, label, out)
    last = model.layers[-1]
    grads: dict[str, np.ndarray] = {last.name: loss.gradient(y, out)}
    pre: dict[str, np.ndarray] = {}
    if fused_softmax(model):
        pre[last.name] = model.output_gradient(y, out)                 # (p - y) / N
        g = last.backward_preactivation(pre[last.name])  # type: ignore[attr-defined]
    else:
        g = graph.backward_of(last, grads[last.name], True)
    weights = {last.name: {k: v.copy() for k, v in last.grads.items()}}
    for layer in reversed(model.layers[:-1]):
        grads[layer.name] = g
        g = graph.backward_of(layer, g, True)
        weights[layer.name] = {k: v.copy() for k, v in layer.grads.items()}
    assert g is not None                       # input_gradient=True: every layer returns dL/dx
    return Backward(passes, float(np.mean(loss.call(y, out))), out[0], g, grads, pre, weights)
