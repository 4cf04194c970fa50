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
from convnet.layers.base import Layer

CHUNK = 8    # samples per task: 2 pays Python's cost per call, 32 leaves the cache


def leading_layers(layers: Sequence[Layer]) -> int:
    """How many leading layers can run per core (convolutions, pooling, dropout, activation;
    built, in float32/float64, which numba computes)."""
    count = 0
    for layer in layers:
        if not (layer.runs_per_core and layer.built and layer.dtype in ("float32", "float64")):
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
