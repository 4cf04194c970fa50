"""InputLayer: the start of a model's graph (``keras.Input`` makes one and returns its output)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convnet import graph
from convnet.layers.base import Layer


class InputLayer(Layer):
    """Holds a model's input shape; passes its input through unchanged.

    ``InputLayer(shape=(28, 28, 1))`` (Keras 3), ``InputLayer(input_shape=(28, 28, 1))`` and
    ``batch_shape=(None, 28, 28, 1)`` / ``batch_input_shape=`` (tf-keras) all mean the same. Its
    symbolic output, ``layer.output``, is what ``keras.Input`` returns.
    """

    def __init__(self, shape: Sequence | None = None, batch_size: int | None = None,
                 dtype=None, batch_shape: Sequence | None = None, name: str | None = None,
                 input_shape: Sequence | None = None, batch_input_shape: Sequence | None = None,
                 sparse: bool | None = None, ragged: bool | None = None, **kwargs):
        what = f"InputLayer '{name}'" if name else "Input"
        if sparse or ragged:
            raise ValueError(f"{what}: sparse and ragged inputs are not supported")
        given = [s for s in (shape, input_shape) if s is not None]
        batch = batch_shape if batch_shape is not None else batch_input_shape
        if batch is not None:
            batch = tuple(batch)
            if not batch:
                raise ValueError(f"{what}: batch_shape needs a batch axis, got {batch!r}")
            given.append(batch[1:])
        if not given:
            raise ValueError(f"{what}: give the per-sample shape, e.g. Input(shape=(28, 28, 1))")
        try:
            per_sample = tuple(None if d is None else int(d) for d in given[0])
        except (TypeError, ValueError):
            raise ValueError(f"{what}: shape must be a tuple of sizes, got {given[0]!r}") from None
        if any(d is not None and d < 1 for d in per_sample):
            raise ValueError(f"{what}: sizes must be positive, got {per_sample}")
        super().__init__(name=name, input_shape=per_sample, dtype=dtype, **kwargs)
        self.batch_size = batch_size
        self.build(per_sample)
        self._output = graph.SymbolicTensor((batch_size,) + per_sample, self.compute_dtype(),
                                            name=self.name)
        self._output.node = graph.Node(self, [], self._output)

    @property
    def output(self) -> graph.SymbolicTensor:
        """The symbolic tensor this layer starts (``keras.Input``'s result)."""
        return self._output

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        return x

    def _backward(self, dy: np.ndarray, input_gradient: bool) -> np.ndarray | None:
        return dy

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        return x

    def get_config(self) -> dict:
        shape = self.built_shapes()[0]
        return {"name": self.name, "dtype": self.compute_dtype(),
                "batch_shape": [self.batch_size, *shape], "sparse": False, "ragged": False}
