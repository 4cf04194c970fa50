"""``predict``'s per-core pass: the leading layers run on one worker thread per core, each
worker taking a few samples at a time through *all* of them.

Layer by layer over a whole block, each layer's output (19 MB for the tutorial's conv2 on 128
images, and its 85 MB im2col matrix) goes out to memory and comes back for the next layer, and
the cores meet after every step. A few samples at a time stay in the core's own cache from the
first convolution to the pooling, and the cores never wait for each other. The layers after
(Flatten, Dense: one big matrix product each) run on the whole block as usual. The layers take
part through the public ``runs_per_core`` / ``infer_chunk`` hook of the Layer protocol.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convnet import threads
from convnet.graph import Node, SymbolicTensor
from convnet.layers.base import Layer

CHUNK = 8    # samples per task: 2 pays Python's cost per call, 32 leaves the cache
# A graph model's chunks: its per-core part is longer (the residual CNN: 19 layer calls per
# chunk, each a Python call) on smaller images, so a chunk must be larger to pay for the calls.
# Residual CNN predict, samples/s by chunk (2-core AMD EPYC): 4: 2,700, 8: 3,250-4,200,
# 16: 6,200, 32: 6,600-6,700, 64: 6,500-6,700; layer by layer 4,300.
GRAPH_CHUNK = 32


def _per_core(layer: Layer) -> bool:
    """Whether ``layer`` can run per core: it has ``infer_chunk`` (convolutions, pooling,
    dropout, activation, merges, ...), is built, and computes in float32/float64 (numba's)."""
    return layer.runs_per_core and layer.built and layer.dtype in ("float32", "float64")


def leading_layers(layers: Sequence[Layer]) -> int:
    """How many leading layers can run per core (:func:`_per_core`)."""
    count = 0
    for layer in layers:
        if not _per_core(layer):
            break
        count += 1
    return count


def forward_per_core(x: np.ndarray, layers: Sequence[Layer], chunk: int = CHUNK) -> np.ndarray:
    """The inference output of ``layers`` for ``x`` (already checked and cast by the first
    layer), ``chunk`` samples per task on one worker thread per core."""
    n = len(x)
    last = layers[-1]
    assert last.output_shape is not None
    out = np.empty((n,) + tuple(last.output_shape), dtype=last.dtype)

    def task(t: int) -> None:
        part = x[t * chunk:(t + 1) * chunk]
        for layer in layers:
            if part.dtype != layer.dtype:
                part = part.astype(layer.dtype)
            part = layer.infer_chunk(part)
        out[t * chunk:(t + 1) * chunk] = part

    threads.run_tasks(task, -(-n // chunk))
    return out


def leading_nodes(nodes: Sequence[Node], inputs: Sequence[SymbolicTensor]) -> list[Node]:
    """The nodes of a graph model (in topological order) that can run per core: their layer
    can (:func:`_per_core`), and every tensor they take is a model input or made by such a node.
    In a residual CNN that is every convolution, normalization, ``Add`` and pooling before the
    classifier's Dense."""
    ready = {t.id for t in inputs}
    leading = []
    for node in nodes:
        if _per_core(node.layer) and all(t.id in ready for t in node.inputs):
            leading.append(node)
            ready.add(node.output.id)
    return leading


def graph_forward_per_core(leading: Sequence[Node], inputs: Sequence[SymbolicTensor],
                           arrays: Sequence[np.ndarray], wanted: Sequence[SymbolicTensor],
                           chunk: int = GRAPH_CHUNK) -> list[np.ndarray]:
    """The inference values of the tensors ``wanted`` (made by ``leading``, see
    :func:`leading_nodes`), for the model inputs ``arrays`` (checked and cast): ``chunk`` samples
    per task run through all the leading nodes on one worker thread per core, as
    :func:`forward_per_core` does for a chain."""
    n = len(arrays[0])
    made = {node.output.id: node for node in leading}
    out = [np.empty((n,) + tuple(t.shape[1:]), dtype=made[t.id].layer.dtype) for t in wanted]

    def task(t: int) -> None:
        part = slice(t * chunk, (t + 1) * chunk)
        values = {tensor.id: a[part] for tensor, a in zip(inputs, arrays)}
        for node in leading:
            layer = node.layer
            args = [values[x.id] if values[x.id].dtype == layer.dtype
                    else values[x.id].astype(layer.dtype) for x in node.inputs]
            values[node.output.id] = layer.infer_chunk(
                args if layer.takes_list else args[0])               # type: ignore[arg-type]
        for tensor, full in zip(wanted, out):
            full[part] = values[tensor.id]

    threads.run_tasks(task, -(-n // chunk))
    return out
