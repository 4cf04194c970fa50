"""ActivationMixin: what layers ending in an activation ``y = f(z)`` share (Conv2D, Dense,
Activation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from convnet import activations, kernels


class ActivationMixin:
    """For layers that end in an activation: ``y = f(z)``.

    Keeps the output ``y`` from the forward pass (most activations' derivatives are functions
    of ``y``). ``backward(dy)`` first turns dL/dy into dL/dz; ``backward_preactivation(dz)``
    starts from dL/dz directly, which the model uses when softmax + cross-entropy fuse into
    ``dL/dz = (p - y) / batch``.

    GELU, SiLU/swish and mish need ``z`` itself (:func:`convnet.activations.needs_input`): for
    them the layer's activation pair keeps a copy of ``z`` during ``forward`` (``_z``) and
    differentiates at it, so every path that calls the pair (the fast Conv2D paths too) works
    unchanged. ``infer_chunk`` (inference on worker threads) keeps nothing.
    """

    _activation: activations.ActivationFunction
    use_bias: bool = True
    _y: np.ndarray | None = None
    _z: np.ndarray | None = None
    _keeping_z = False
    _act_forward: Callable[..., np.ndarray]      # f(z, out=None)
    _act_backward: Callable[..., np.ndarray]     # (dy, y) -> dL/dz

    if TYPE_CHECKING:                                     # provided by Layer
        def check_output_gradient(self, dy) -> np.ndarray: ...

    @property
    def activation(self) -> activations.ActivationFunction:
        """The activation, as Keras's ``layer.activation``: callable (``layer.activation(z)``)
        and equal to its name (``== "relu"``); assigning a name or function replaces it
        (``layer.activation = convnet.activations.linear``, the saliency-map idiom)."""
        return self._activation

    @activation.setter
    def activation(self, value) -> None:
        self._set_activation(value)

    def _set_activation(self, activation) -> None:
        name, forward, backward = activations.lookup(activation)
        self._activation = activations.ActivationFunction(name)
        if activations.needs_input(name):
            self._f_of_z, self._f_backward_at_z = forward, backward
            self._act_forward, self._act_backward = self._forward_keeping_z, self._backward_at_z
        else:
            self._act_forward, self._act_backward = forward, backward

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Layer.forward, with ``z`` kept for an activation that needs it."""
        self._keeping_z = True
        try:
            return super().forward(x, training=training)         # type: ignore[misc]
        finally:
            self._keeping_z = False

    def _forward_keeping_z(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``f(z)``, keeping a copy of ``z`` (``out`` may be z itself) when called from
        ``forward``."""
        if self._keeping_z:
            self._z = z.copy()
        return self._f_of_z(z, out=out)

    def _backward_at_z(self, dy: np.ndarray, y: np.ndarray) -> np.ndarray:
        """dL/dz from dL/dy at the kept ``z`` (``y`` is not enough for these activations)."""
        assert self._z is not None, "forward keeps z (checked before backward)"
        return self._f_backward_at_z(dy, self._z.reshape(dy.shape))

    @property
    def last_output(self) -> np.ndarray | None:
        """The output ``y`` of the last forward pass, as the backward pass uses it (for Conv2D,
        channels-last rows ``(N*OH*OW, F)``); None before any forward."""
        return self._y

    def _activation_pair(self) -> tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]:
        """The ``(f, f')`` training runs: the activation's own pair, or on the fast engine its
        numba twin where there is one (ReLU; :func:`kernels.activation_twin`)."""
        twin = kernels.activation_twin(self.activation)
        return (self._act_forward, self._act_backward) if twin is None else twin

    def _activate(self, z: np.ndarray, overwrite: bool = False) -> np.ndarray:
        """``y = f(z)``; with ``overwrite`` (z is the layer's own scratch array) y reuses z."""
        self._y = self._activation_pair()[0](z, out=z if overwrite else None)
        return self._y

    def _activation_grad(self, dy: np.ndarray) -> np.ndarray:
        return self._activation_pair()[1](dy, self._y)

    def _bias_and_activate(self, z: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        """``y = f(z + b)`` in place on ``z``, the layer's own ``(rows, F)`` array. Bias + ReLU,
        the tutorial's case, is one kernel pass (``bias_relu``: exactly ``z += b; max(z, 0)``,
        as ``kernels/reference.py`` writes it; numba's twin on the fast engine)."""
        if bias is not None and self.activation == "relu":
            self._y = kernels.for_engine().bias_relu(z, bias)
            return self._y
        if bias is not None:
            z += bias
        return self._activate(z, overwrite=True)

    def _activation_and_bias_grad(self, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """dL/dz from dL/dy (both ``(rows, F)``), and dL/db: dL/dz summed over the rows, since the
        bias was added to every row (None without a bias). ReLU + bias is one kernel pass."""
        if self.use_bias and self.activation == "relu":
            assert self._y is not None
            return kernels.for_engine().relu_bias_backward(dy, self._y)
        dz = self._activation_grad(dy)
        return dz, (dz.sum(axis=0) if self.use_bias else None)

    def backward_preactivation(self, dz: np.ndarray,
                               input_gradient: bool = True) -> np.ndarray | None:
        """Backward pass starting from dL/dz (the gradient before the activation)."""
        dz = self.check_output_gradient(dz)
        return self._backward_linear(dz, None, bool(input_gradient))

    def _backward(self, dy: np.ndarray, input_gradient: bool) -> np.ndarray | None:
        return self._backward_linear(self._activation_grad(dy), None, input_gradient)

    def _backward_linear(self, dz: np.ndarray, db: np.ndarray | None,
                         input_gradient: bool) -> np.ndarray | None:
        """Parameter gradients and dL/dx (None without ``input_gradient``) from dL/dz
        (``db``: dL/db when already summed)."""
        raise NotImplementedError
