"""Regularized: what Dense and Conv2D share for ``kernel_regularizer``, ``bias_regularizer``,
``activity_regularizer``, ``kernel_constraint`` and ``bias_constraint`` (Keras's arguments).

The penalties join training exactly as in Keras (``Trainer.compute_loss`` adds ``model.losses``
to the compiled loss, in ``fit`` and in ``evaluate`` alike)::

    loss  = mean over the batch of loss(y, y_pred)  +  sum of every layer's ``losses``
    layer.losses = [kernel_regularizer(kernel), bias_regularizer(bias),
                    activity_regularizer(y) / batch]       (those that are set)

* a weight penalty is a function of the weight alone, so its gradient is simply added to the
  weight's gradient once backpropagation is done (:meth:`add_regularization_gradients`, called
  by the model's training step; counted once even for a layer used at several nodes). Frozen
  layers (``trainable=False``) add nothing, as in Keras 3;
* the activity penalty is a function of the layer's output ``y``: its gradient
  ``activity_regularizer.gradient(y) / batch`` joins dL/dy before the layer's own backward pass
  (so it reaches the layers below too);
* constraints project the weights after every optimizer step (:meth:`apply_constraints`).

``losses`` is what the model sums into the loss it reports; the activity part is the one of the
last forward pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from convnet import constraints, regularizers


class Regularized:
    """Mixin for layers with kernel/bias regularizers and constraints (and, where the layer
    supports it, an activity regularizer); see the module docstring.

    Kept by ``forward`` (with an activity regularizer): ``_activity_penalty`` (a float) and
    ``_activity_y`` (the output, whose penalty gradient backward adds)."""

    kernel_regularizer: regularizers.Regularizer | None = None
    bias_regularizer: regularizers.Regularizer | None = None
    activity_regularizer: regularizers.Regularizer | None = None
    kernel_constraint: constraints.Constraint | None = None
    bias_constraint: constraints.Constraint | None = None
    _activity_penalty = 0.0
    _activity_y: np.ndarray | None = None

    if TYPE_CHECKING:                                     # provided by Layer
        params: dict[str, np.ndarray]
        grads: dict[str, np.ndarray]
        trainable: bool

        def describe(self) -> str: ...

    def _set_regularizers(self, kernel_regularizer=None, bias_regularizer=None,
                          activity_regularizer=None, kernel_constraint=None,
                          bias_constraint=None) -> None:
        """Resolve the five arguments (names, objects or Keras dicts), each error naming the
        layer and the argument."""
        def resolve(getter, arg, value):
            try:
                return getter(value)
            except ValueError as exc:
                raise ValueError(f"{self.describe()}: {arg}: {exc}") from None

        self.kernel_regularizer = resolve(regularizers.get, "kernel_regularizer",
                                          kernel_regularizer)
        self.bias_regularizer = resolve(regularizers.get, "bias_regularizer", bias_regularizer)
        self.activity_regularizer = resolve(regularizers.get, "activity_regularizer",
                                            activity_regularizer)
        self.kernel_constraint = resolve(constraints.get, "kernel_constraint", kernel_constraint)
        self.bias_constraint = resolve(constraints.get, "bias_constraint", bias_constraint)

    def regularizer_config(self) -> dict[str, Any]:
        """The five entries of ``get_config`` in Keras's form (None where not set)."""
        return {"kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}

    def _penalised(self) -> list[tuple[str, regularizers.Regularizer]]:
        """(weight name, regularizer) for the trainable weights that have one."""
        if not self.trainable:
            return []
        pairs = (("kernel", self.kernel_regularizer), ("bias", self.bias_regularizer))
        return [(key, reg) for key, reg in pairs
                if reg is not None and key in self.params and key in self.grads]

    @property
    def losses(self) -> list[float]:
        """Keras's ``layer.losses``: each weight penalty at the current weights, then the
        activity penalty of the last forward pass (only those that are set)."""
        found = [reg(self.params[key]) for key, reg in self._penalised()]
        if self.activity_regularizer is not None and self._activity_y is not None:
            found.append(self._activity_penalty)
        return found

    def add_regularization_gradients(self) -> None:
        """Add each weight penalty's gradient to ``grads`` (after ``backward``, which
        overwrote them; call once per backward pass)."""
        for key, reg in self._penalised():
            self.grads[key] += reg.gradient(self.params[key])

    def apply_constraints(self) -> None:
        """Project the constrained weights in place (after an optimizer step)."""
        for key, constraint in (("kernel", self.kernel_constraint),
                                ("bias", self.bias_constraint)):
            if constraint is not None and key in self.params:
                self.params[key][...] = constraint(self.params[key])

    # ----- the activity penalty ---------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        y = super().forward(x, training=training)                # type: ignore[misc]
        reg = self.activity_regularizer
        if reg is not None:
            self._activity_penalty = reg(y) / max(len(y), 1)
            self._activity_y = y
        return y

    def backward(self, dy: np.ndarray, input_gradient: bool = True) -> np.ndarray | None:
        return super().backward(self._with_activity(dy),                 # type: ignore[misc]
                                input_gradient=input_gradient)

    def backward_preactivation(self, dz: np.ndarray,
                               input_gradient: bool = True) -> np.ndarray | None:
        """From dL/dz (softmax + cross-entropy fused): the activity gradient, given w.r.t. y,
        goes through the activation's derivative first."""
        g = self._activity_gradient()
        if g is not None:
            dz = np.asarray(dz) + self._activation_grad(  # type: ignore[attr-defined]
                g.reshape(-1, g.shape[-1])).reshape(np.shape(dz))
        return super().backward_preactivation(dz,                      # type: ignore[misc]
                                              input_gradient=input_gradient)

    def _activity_gradient(self) -> np.ndarray | None:
        """d(activity penalty) / dy at the last forward's output: the regularizer's gradient
        divided by the batch size (None without an activity regularizer)."""
        y, reg = self._activity_y, self.activity_regularizer
        if reg is None or y is None:
            return None
        return reg.gradient(y) / y.dtype.type(max(len(y), 1))

    def _with_activity(self, dy: np.ndarray) -> np.ndarray:
        g = self._activity_gradient()
        if g is None or np.shape(dy) != g.shape:
            return dy      # (a wrong shape is reported by the layer's own check)
        return dy + g
