"""Where the time and the arithmetic go, layer by layer.

``profile(model)`` (or ``model.summary(profile=True)``) prints, per layer: output shape,
parameters, forward and backward FLOPs per sample, measured forward/backward milliseconds for a
batch, and the bytes of the im2col buffer a convolution builds; then totals. The first call of a
model pays for numba compilation (or for loading the compiled code from the cache); that time
is measured and shown apart.

FLOPs count multiply-adds of the matrix products as 2 each (the usual convention); bias adds,
activations, pooling and dropout are memory-bound and counted as 0. Backward is two products per
layer (dL/dW and dL/dx), except the model's first layer, whose dL/dx is never computed.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import numpy as np

from convnet import graph, losses
from convnet.layers.conv import Conv2D
from convnet.layers.core import Dense


@dataclass
class LayerProfile:
    name: str
    kind: str
    output_shape: tuple
    params: int
    forward_flops: int      # per sample
    backward_flops: int     # per sample
    forward_ms: float       # per batch
    backward_ms: float      # per batch
    buffer_bytes: int       # im2col buffer (one block of at most Conv2D.BLOCK samples)


@dataclass
class Profile:
    batch_size: int
    layers: list[LayerProfile] = field(default_factory=list)
    first_call_s: float = 0.0
    step_ms: float = 0.0

    @property
    def training_flops(self) -> int:
        """FLOPs of one training sample (forward + backward)."""
        return sum(p.forward_flops + p.backward_flops for p in self.layers)

    def share(self, name: str) -> float:
        """Fraction of the training FLOPs spent in layer ``name``."""
        p = next(p for p in self.layers if p.name == name)
        return (p.forward_flops + p.backward_flops) / max(self.training_flops, 1)

    def table(self) -> str:
        head = (f"{'layer':<32}{'output shape':<20}{'params':>10}{'fwd MFLOP':>11}"
                f"{'bwd MFLOP':>11}{'fwd ms':>9}{'bwd ms':>9}{'im2col MB':>11}")
        lines = [f"profile: batch {self.batch_size}, FLOPs per sample, ms per batch", head,
                 "-" * len(head)]
        for p in self.layers:
            lines.append(f"{p.name + ' (' + p.kind + ')':<32}{str(p.output_shape):<20}"
                         f"{p.params:>10,}{p.forward_flops / 1e6:>11.3f}"
                         f"{p.backward_flops / 1e6:>11.3f}{p.forward_ms:>9.2f}"
                         f"{p.backward_ms:>9.2f}{p.buffer_bytes / 2**20:>11.1f}")
        fwd = sum(p.forward_flops for p in self.layers) / 1e6
        bwd = sum(p.backward_flops for p in self.layers) / 1e6
        lines.append("-" * len(head))
        lines.append(f"{'total':<52}{sum(p.params for p in self.layers):>10,}{fwd:>11.3f}"
                     f"{bwd:>11.3f}{sum(p.forward_ms for p in self.layers):>9.2f}"
                     f"{sum(p.backward_ms for p in self.layers):>9.2f}"
                     f"{sum(p.buffer_bytes for p in self.layers) / 2**20:>11.1f}")
        lines.append(f"training: {self.training_flops / 1e6:.1f} MFLOP per sample; one full "
                     f"step (with the optimizer) {self.step_ms:.1f} ms per batch")
        lines.append(f"first call (numba compile or cache load): {self.first_call_s:.2f} s, "
                     "not included above")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def layer_flops(layer, first: bool) -> tuple[int, int, int]:
    """(forward FLOPs, backward FLOPs, im2col bytes) for one sample / one batch buffer unit; a
    model used as a layer counts its own layers."""
    inner = getattr(layer, "layers", None)
    if inner is not None:
        parts = [layer_flops(part, first and i == 0) for i, part in enumerate(inner)]
        return (sum(p[0] for p in parts), sum(p[1] for p in parts),
                max((p[2] for p in parts), default=0))
    out = layer.output_shape
    if isinstance(layer, Conv2D):
        kh, kw = layer.kernel_size
        c = layer.params["kernel"].shape[2]
        if layer.data_format == "channels_first":
            f, oh, ow = out
        else:
            oh, ow, f = out
        macs = oh * ow * kh * kw * c * f
        wh, ww = layer.window            # a dilated kernel's span: what im2col unfolds
        cols = oh * ow * wh * ww * c * np.dtype(layer.dtype).itemsize
        return 2 * macs, (2 if not first else 1) * 2 * macs, cols
    if isinstance(layer, Dense):
        rows = int(np.prod(out[:-1])) if len(out) > 1 else 1
        macs = rows * layer.params["kernel"].size
        return 2 * macs, (2 if not first else 1) * 2 * macs, 0
    return 0, 0, 0


def profile(model, x=None, y=None, batch_size: int = 128, repeats: int = 5,
            verbose: bool = True) -> Profile:
    """Measure every layer of ``model`` on a batch (random data of the model's input shape when
    ``x`` is not given) and count its FLOPs. Prints the table when ``verbose``."""
    from convnet.models import Sequential

    if not isinstance(model, Sequential):
        return _profile_graph(model, x, y, batch_size, repeats, verbose)
    if not model.built:
        if x is None:
            raise ValueError("profile: the model is not built; pass x or give the first layer "
                             "an input_shape")
        model.build((None,) + tuple(np.asarray(x).shape[1:]))
    rng = np.random.default_rng(0)
    input_shape = model.layers[0].built_shapes()[0]
    if x is None:
        x = rng.uniform(0, 1, (batch_size,) + tuple(input_shape)).astype("float32")
    x = np.asarray(x)[:batch_size]
    out_shape = tuple(model.layers[-1].built_shapes()[1])
    if y is None:
        y = np.eye(out_shape[-1], dtype="float32")[rng.integers(0, out_shape[-1], len(x))]
    y = np.asarray(y)[:len(x)]

    def step() -> list[list[float]]:
        times = []
        out = x
        for layer in model.layers:
            t = time.perf_counter()
            out = layer.forward(out, training=True)
            times.append([time.perf_counter() - t, 0.0])
        if model.optimizer is not None:        # the backward calls train_on_batch makes
            grad = model.output_gradient(y, out)
            steps = model.backward_steps()
        else:                                  # uncompiled: cross-entropy, layer by layer
            grad = losses.categorical_crossentropy_gradient(y, out)
            steps = (((layer,), functools.partial(layer.backward, input_gradient=i > 0))
                     for i, layer in reversed(list(enumerate(model.layers))))
        index = {id(layer): i for i, layer in enumerate(model.layers)}
        for covered, call in steps:
            t = time.perf_counter()
            grad = call(grad)
            times[index[id(covered[0])]][1] = time.perf_counter() - t   # a fused pair: the
        return times                                                     # lower layer's line

    t = time.perf_counter()
    step()
    first = time.perf_counter() - t
    runs = np.array([step() for _ in range(repeats)])          # (repeats, layers, 2)
    med = np.median(runs, axis=0) * 1000
    first_call = max(first - float(runs[0].sum()), 0.0)
    step_ms = _step_ms(model, x, y) if model.optimizer is not None else float(med.sum())
    result = Profile(batch_size=len(x), first_call_s=first_call, step_ms=step_ms)
    lowest = graph.lowest_learner(model.layers)       # training's backward stops there
    for i, layer in enumerate(model.layers):
        fwd, bwd, cols = layer_flops(layer, first=i == lowest)
        bwd = bwd if i >= lowest else 0
        result.layers.append(LayerProfile(
            layer.name, layer.keras_class_name,
            (None,) + tuple(layer.built_shapes()[1]),
            layer.count_params(), fwd, bwd, float(med[i, 0]), float(med[i, 1]),
            cols * min(len(x), getattr(layer, "BLOCK", len(x)))))
    if verbose:
        print(result.table())
    return result


def _step_ms(model, x, y) -> float:
    """The time of one ``train_on_batch``, after which the weights and the optimizer's state
    are put back: profiling must not train the model."""
    opt = model.optimizer
    state = {k: {n: a.copy() for n, a in v.items()} for k, v in opt.state.items()}
    iterations, weights = opt.iterations, model.get_weights()
    t = time.perf_counter()
    model.train_on_batch(x, y)
    step_ms = (time.perf_counter() - t) * 1000
    model.set_weights(weights)
    opt.state, opt.iterations = state, iterations
    return step_ms


def _profile_graph(model, x, y, batch_size: int, repeats: int, verbose: bool) -> Profile:
    """:func:`profile` for a graph model (``Model(inputs, outputs)``, several inputs and outputs
    too): the forward and backward time of each layer's calls, summed over its nodes (a shared
    layer's row covers all its calls, and its FLOPs count every call). ``x`` and ``y`` are lists
    for several inputs / outputs; random data when not given."""
    if not model.built:
        if x is None:
            raise ValueError("profile: the model is not built; pass x or call model.build")
        model.build((None,) + tuple(np.asarray(x).shape[1:]))
    rng = np.random.default_rng(0)
    inputs, outputs, nodes = model.inputs, model.outputs, model.nodes
    if x is None:
        x = [rng.uniform(0, 1, (batch_size,) + tuple(t.shape[1:])).astype("float32")
             for t in inputs]
    xs = [np.asarray(a)[:batch_size] for a in (x if isinstance(x, (list, tuple)) else [x])]
    n = len(xs[0])
    if y is None:                  # one-hot rows for (None, k) outputs, else uniform values
        y = [np.eye(t.shape[-1], dtype="float32")[rng.integers(0, t.shape[-1], n)]
             if len(t.shape) == 2 else
             rng.uniform(0, 1, (n,) + tuple(t.shape[1:])).astype("float32") for t in outputs]
    ys = [np.asarray(t)[:n] for t in (y if isinstance(y, (list, tuple)) else [y])]
    several_in, several_out = len(inputs) > 1, len(outputs) > 1
    model_x = xs if several_in else xs[0]
    model_y = ys if several_out else ys[0]

    def step() -> tuple[dict[int, float], dict[int, float]]:
        fwd: dict[int, float] = {}
        bwd: dict[int, float] = {}
        values = graph.forward(nodes, inputs, xs, training=True, seconds=fwd)
        outs = [values[t.id] for t in outputs]
        if model.optimizer is not None:        # the backward train_on_batch runs
            seeds, preactivation = model.output_gradients(
                model_y, outs if several_out else outs[0])
        else:                                  # uncompiled: cross-entropy at every output
            seeds = [losses.categorical_crossentropy_gradient(t, o) for t, o in zip(ys, outs)]
            preactivation = False
        graph.backward(nodes, inputs, outputs, seeds, preactivation=preactivation,
                       values=values, seconds=bwd)
        return fwd, bwd

    layers = [layer for layer in model.layers if any(node.layer is layer for node in nodes)]
    t = time.perf_counter()
    step()
    first = time.perf_counter() - t
    runs = []
    for _ in range(repeats):
        fwd, bwd = step()
        runs.append([[fwd.get(id(layer), 0.0), bwd.get(id(layer), 0.0)] for layer in layers])
    med = np.median(np.array(runs), axis=0) * 1000                  # (layers, 2)
    first_call = max(first - float(np.sum(runs[0])), 0.0)
    step_ms = _step_ms(model, model_x, model_y) if model.optimizer is not None \
        else float(med.sum())
    result = Profile(batch_size=n, first_call_s=first_call, step_ms=step_ms)
    wanted = graph.wanted_gradients(nodes, inputs, input_gradient=False)
    for i, layer in enumerate(layers):
        calls = [node for node in nodes if node.layer is layer]
        runs_backward = any(node.output.id in wanted for node in calls)
        first_layer = not any(t.id in wanted for node in calls for t in node.inputs)
        fwd_flops, bwd_flops, cols = layer_flops(layer, first=first_layer)
        bwd_flops = bwd_flops if runs_backward else 0
        result.layers.append(LayerProfile(
            layer.name, layer.keras_class_name,
            (None,) + tuple(layer.built_shapes()[1]),
            layer.count_params(), fwd_flops * len(calls), bwd_flops * len(calls),
            float(med[i, 0]), float(med[i, 1]), cols * min(n, getattr(layer, "BLOCK", n))))
    if verbose:
        print(result.table())
    return result
