"""Merge layers: several inputs of one shape in, one output (a residual block's ``Add``).

Each takes a list of arrays. Forward and backward, elementwise over inputs ``x_1 .. x_n``::

    Add         y = x_1 + ... + x_n            dx_i = dy
    Subtract    y = x_1 - x_2                  dx_1 = dy,  dx_2 = -dy
    Multiply    y = x_1 * ... * x_n            dx_i = dy * (product of the other inputs)
    Average     y = (x_1 + ... + x_n) / n      dx_i = dy / n
    Maximum     y = max_i x_i                  dx_i = dy where x_i won (the first on ties), else 0
    Minimum     y = min_i x_i                  (the same, for the smallest)
    Concatenate y = [x_1, ..., x_n] along axis dx_i = dy's slice of x_i

The backward pass returns a list, one dL/dx per input; in a model graph each goes back along
its own edge (:mod:`convnet.graph`).
"""

from __future__ import annotations

import numpy as np

from convnet.layers.base import Layer


class _Merge(Layer):
    """Shared checks: a list of at least two inputs of one shape (Concatenate: but its axis)."""

    takes_list = True
    _min_inputs: int = 2
    _max_inputs: int | None = None

    def build(self, input_shape) -> tuple:
        shapes = self._shapes(input_shape)
        if self.dtype is None:
            from convnet import backend
            self.dtype = backend.floatx()
        self.output_shape = tuple(self.compute_output_shape(shapes))
        self.input_shape = tuple(shapes)
        self.grads = {}
        self.built = True
        return self.output_shape

    def _shapes(self, input_shape) -> list[tuple]:
        if not isinstance(input_shape, (list, tuple)) or not input_shape or \
                not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(f"{self.describe()} takes a list of inputs, got one of shape "
                             f"{input_shape!r}")
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) < self._min_inputs or (self._max_inputs and len(shapes) > self._max_inputs):
            want = (f"exactly {self._min_inputs}" if self._max_inputs == self._min_inputs
                    else f"at least {self._min_inputs}")
            raise ValueError(f"{self.describe()} takes {want} inputs, got {len(shapes)}")
        return shapes

    def compute_output_shape(self, input_shape) -> tuple:
        shapes = self._shapes(input_shape)
        if any(s != shapes[0] for s in shapes):
            raise ValueError(f"{self.describe()} needs inputs of one shape, got "
                             f"{', '.join(str(s) for s in shapes)}")
        return shapes[0]

    def forward(self, x, training: bool = False) -> np.ndarray:
        if not isinstance(x, (list, tuple)):
            raise ValueError(f"{self.describe()} takes a list of arrays, got {type(x).__name__}")
        xs = [np.asarray(a) for a in x]
        for a in xs:
            if a.dtype.kind not in "fiub":
                raise TypeError(f"{self.describe()} expects numeric arrays, got dtype {a.dtype}")
        if not self.built:
            self.build([a.shape[1:] for a in xs])
        expected = [tuple(s) for s in self.built_shapes()[0]]
        got = [a.shape[1:] for a in xs]
        if len(got) != len(expected) or any(g != e for g, e in zip(got, expected)) or \
                len({a.shape[0] for a in xs}) != 1:
            raise ValueError(f"{self.describe()} expects inputs of shapes "
                             f"{[(None,) + e for e in expected]}, got {[a.shape for a in xs]}")
        xs = [a.astype(self.dtype) if a.dtype != self.dtype else a for a in xs]
        y = self._merge(xs, training)
        self._has_forward = True
        self._last_output_shape = tuple(y.shape)
        return y

    def backward(self, dy: np.ndarray,  # type: ignore[override]
                 input_gradient: bool = True) -> list[np.ndarray] | None:
        """One dL/dx per input (a list: a merge layer has several inputs)."""
        dy = self.check_output_gradient(dy)
        return self._split(dy) if input_gradient else None

    def _merge(self, xs: list[np.ndarray], training: bool) -> np.ndarray:
        """:meth:`_combine`, keeping what :meth:`_split` needs (subclasses add that)."""
        return self._combine(xs)

    def _combine(self, xs: list[np.ndarray]) -> np.ndarray:
        """The merge itself, keeping nothing."""
        raise NotImplementedError

    runs_per_core = True

    def infer_chunk(self, x: list[np.ndarray]) -> np.ndarray:         # type: ignore[override]
        return self._combine(x)

    def _split(self, dy: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError


class Add(_Merge):
    """``y = x_1 + ... + x_n``; each input gets dL/dy unchanged."""

    def _merge(self, xs, training):
        self._count = len(xs)
        return self._combine(xs)

    def _combine(self, xs):
        y = xs[0] + xs[1]               # in order, as np.sum(xs, axis=0), without stacking them
        for x in xs[2:]:
            y += x
        return y

    def _split(self, dy):
        # every input gets its own array (a layer below may work in place on its gradient)
        return [dy] + [dy.copy() for _ in range(self._count - 1)]


class Subtract(_Merge):
    """``y = x_1 - x_2``; dL/dx_1 = dL/dy, dL/dx_2 = -dL/dy."""

    _max_inputs = 2

    def _combine(self, xs):
        return xs[0] - xs[1]

    def _split(self, dy):
        return [dy.copy(), -dy]


class Multiply(_Merge):
    """``y = x_1 * ... * x_n``; dL/dx_i = dL/dy times the product of the other inputs."""

    def _merge(self, xs, training):
        self._xs = xs
        return self._combine(xs)

    def _combine(self, xs):
        return np.prod(xs, axis=0)

    def _split(self, dy):
        return [dy * np.prod([x for j, x in enumerate(self._xs) if j != i], axis=0)
                for i in range(len(self._xs))]


class Average(_Merge):
    """``y = (x_1 + ... + x_n) / n``; dL/dx_i = dL/dy / n."""

    def _merge(self, xs, training):
        self._count = len(xs)
        return self._combine(xs)

    def _combine(self, xs):
        return np.sum(xs, axis=0) / len(xs)

    def _split(self, dy):
        return [dy / self._count for _ in range(self._count)]


class Maximum(_Merge):
    """``y = max_i x_i``; dL/dy goes to the input that won (the first on ties)."""

    _pick = staticmethod(np.argmax)

    def _merge(self, xs, training):
        y, self._winner = self._pick_winners(xs)
        self._count = len(xs)
        return y

    def _pick_winners(self, xs) -> tuple[np.ndarray, np.ndarray]:
        """The merged output and, per cell, the index of the input it came from."""
        stacked = np.stack(xs)
        winner = np.asarray(self._pick(stacked, axis=0))       # type: ignore[arg-type]
        return np.take_along_axis(stacked, winner[None], axis=0)[0], winner

    def _combine(self, xs):
        return self._pick_winners(xs)[0]

    def _split(self, dy):
        return [np.where(self._winner == i, dy, 0).astype(dy.dtype) for i in range(self._count)]


class Minimum(Maximum):
    """``y = min_i x_i``; dL/dy goes to the smallest input (the first on ties)."""

    _pick = staticmethod(np.argmin)


class Concatenate(_Merge):
    """Inputs joined along ``axis`` (default -1, the channels of NHWC images); dL/dx_i is the
    slice of dL/dy that x_i filled."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or axis == 0:
            raise ValueError(f"{self.describe()}: axis must be a non-zero integer (axis 0 is the "
                             f"batch), got {axis!r}")
        self.axis = int(axis)

    def compute_output_shape(self, input_shape) -> tuple:
        shapes = self._shapes(input_shape)
        rank = len(shapes[0])
        axis = self.axis - 1 if self.axis > 0 else rank + self.axis   # per-sample axis
        if any(len(s) != rank for s in shapes) or not 0 <= axis < rank:
            raise ValueError(f"{self.describe()}: cannot join shapes "
                             f"{', '.join(str(s) for s in shapes)} along axis {self.axis}")
        rest = [s[:axis] + s[axis + 1:] for s in shapes]
        if any(r != rest[0] for r in rest):
            raise ValueError(f"{self.describe()}: inputs must match except along axis "
                             f"{self.axis}, got {', '.join(str(s) for s in shapes)}")
        return shapes[0][:axis] + (sum(s[axis] for s in shapes),) + shapes[0][axis + 1:]

    def _merge(self, xs, training):
        self._sizes = [x.shape[self.axis] for x in xs]
        return self._combine(xs)

    def _combine(self, xs):
        return np.concatenate(xs, axis=self.axis)

    def _split(self, dy):
        cuts = np.cumsum(self._sizes)[:-1]
        return list(np.split(dy, cuts, axis=self.axis))

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


def add(inputs, **kwargs):
    """``keras.layers.add([a, b])``: ``Add()([a, b])``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis: int = -1, **kwargs):
    """``keras.layers.concatenate([a, b], axis=-1)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)
