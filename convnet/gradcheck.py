"""Numerical gradient checks: compare a layer's hand-written backward pass with central
differences of its forward pass.

For a scalar ``L(theta)``, the central difference ``(L(theta + h) - L(theta - h)) / 2h``
approximates ``dL/dtheta`` with error ``O(h^2)``. The checker builds ``L = sum(y * R)`` for a
fixed random ``R`` (so ``dL/dy = R``), runs ``backward(R)`` once, and compares every analytic
gradient (input and each parameter) with the numeric one, element by element, by relative error
``|a - n| / max(|a|, |n|, floor)``. Everything runs in float64; the dropout mask is frozen by
re-seeding before every forward; inputs are distinct values spaced far apart so no max-pool
window has a tie that a perturbation could flip.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

from convnet import backend, utils
from convnet.layers.base import Layer


@dataclass
class GradientCheck:
    """One compared array: the worst element's relative error and where it is."""

    layer: str
    param: str
    max_rel_error: float
    worst_index: tuple
    analytic: float
    numeric: float
    checked: int

    def passed(self, tolerance: float) -> bool:
        return bool(self.max_rel_error <= tolerance)


@dataclass
class GradCheckResult:
    """All compared arrays; ``passed`` is True when every one is within ``tolerance``."""

    checks: list[GradientCheck] = field(default_factory=list)
    tolerance: float = 1e-6

    @property
    def passed(self) -> bool:
        return all(c.passed(self.tolerance) for c in self.checks)

    @property
    def worst(self) -> GradientCheck:
        return max(self.checks, key=lambda c: c.max_rel_error)

    def failures(self) -> list[GradientCheck]:
        return [c for c in self.checks if not c.passed(self.tolerance)]

    def table(self) -> str:
        """A readable table: layer, array, max relative error, worst element, ok/FAIL."""
        head = f"{'layer':<18}{'array':<10}{'max rel err':>13}  {'worst at':<18}{'analytic':>12}" \
               f"{'numeric':>12}  status"
        lines = [head, "-" * len(head)]
        for c in self.checks:
            status = "ok" if c.passed(self.tolerance) else "FAIL"
            lines.append(f"{c.layer:<18}{c.param:<10}{c.max_rel_error:>13.2e}  "
                         f"{str(c.worst_index):<18}{c.analytic:>12.4e}{c.numeric:>12.4e}  {status}")
        lines.append(f"tolerance {self.tolerance:.0e}: "
                     f"{'PASSED' if self.passed else 'FAILED'}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


@contextlib.contextmanager
def float64():
    """Temporarily make float64 the default float type (``backend.set_floatx``)."""
    previous = backend.floatx()
    backend.set_floatx("float64")
    try:
        yield
    finally:
        backend.set_floatx(previous)


def distinct_values(shape: tuple, rng: np.random.Generator, low=-1.0, high=1.0) -> np.ndarray:
    """Random distinct values spread evenly over [low, high): no two are closer than the step."""
    size = int(np.prod(shape))
    return (low + (high - low) * (rng.permutation(size) + 0.5) / size).reshape(shape)


def _to_float64(layer: Layer) -> None:
    if layer.built and layer.dtype != "float64":
        for key in layer.params:
            layer.params[key] = layer.params[key].astype(np.float64)
            if key in layer.grads:
                layer.grads[key] = np.zeros_like(layer.params[key])
        layer.dtype = "float64"


def _leaf_layers(layers):
    """The layers, with every model among them (a model used as a layer) replaced by its own."""
    for layer in layers:
        inner = getattr(layer, "layers", None)
        if inner is None:
            yield layer
        else:
            yield from _leaf_layers(inner)


class FrozenRandomness:
    """Replay the same randomness before every forward pass (so dropout draws the same mask
    each time): ``reset()`` puts convnet's generator (:func:`convnet.utils.set_rng_state`) and
    every layer's own generator (``rng_state``, Dropout with ``seed=``) into the state ``seed``
    gives. As a context manager it restores convnet's generator afterwards."""

    def __init__(self, layers: list[Layer], seed: int):
        self.layers = list(_leaf_layers(layers))      # a nested model's own layers too
        self.state = dict(np.random.default_rng(seed).bit_generator.state)

    def reset(self) -> None:
        utils.set_rng_state(self.state)
        for layer in self.layers:
            if getattr(layer, "rng_state", None) is not None:
                layer.rng_state = self.state          # type: ignore[attr-defined]

    def __enter__(self) -> FrozenRandomness:
        self._saved = utils.get_rng_state()
        return self

    def __exit__(self, *exc) -> None:
        utils.set_rng_state(self._saved)


def _compare(layer_name: str, param: str, analytic: np.ndarray, numeric_at, indices,
             floor: float) -> GradientCheck:
    worst: tuple[float, tuple[int, ...], float, float] = (-1.0, (), 0.0, 0.0)
    for idx in indices:
        a = float(analytic[idx])
        n = numeric_at(idx)
        rel = abs(a - n) / max(abs(a), abs(n), floor)
        if rel > worst[0]:
            worst = (rel, tuple(int(i) for i in idx), a, n)
    return GradientCheck(layer_name, param, worst[0], worst[1], worst[2], worst[3], len(indices))


def _sample_indices(shape: tuple, max_elements: int | None, rng) -> list[tuple]:
    all_idx = list(np.ndindex(*shape))
    if max_elements is not None and len(all_idx) > max_elements:
        pick = rng.choice(len(all_idx), size=max_elements, replace=False)
        all_idx = [all_idx[i] for i in sorted(pick)]
    return all_idx


def check_layer(layer: Layer, input_shape: tuple, batch_size: int = 2, *, h: float = 1e-5,
                tolerance: float = 1e-6, floor: float = 1e-6, max_elements: int | None = 300,
                training: bool = True, seed: int = 0, verbose: bool = False) -> GradCheckResult:
    """Check ``layer.backward`` against central differences, in float64.

    ``input_shape`` is per sample (as Keras's ``input_shape``); a batch of ``batch_size`` samples
    with distinct values is drawn. Checks dL/dx and every parameter (at most ``max_elements``
    sampled elements per array). Returns a :class:`GradCheckResult`; prints its table when
    ``verbose``.
    """
    rng = np.random.default_rng(seed)
    with float64(), FrozenRandomness([layer], seed) as frozen:
        _to_float64(layer)
        x = distinct_values((batch_size,) + tuple(input_shape), rng)
        frozen.reset()
        y = layer.forward(x, training=training)
        r = rng.standard_normal(y.shape)

        def loss() -> float:            # sum(y * r), plus the layer's penalties (regularizers)
            frozen.reset()
            value = float(np.sum(layer.forward(x, training=training) * r))
            return value + float(sum(layer.losses))

        frozen.reset()
        layer.forward(x, training=training)
        dx = layer.backward(r)
        assert dx is not None             # input_gradient=True: every layer returns dL/dx
        layer.add_regularization_gradients()
        grads = {k: v.copy() for k, v in layer.grads.items()}

        def numeric(array: np.ndarray):
            def at(idx):
                old = array[idx]
                array[idx] = old + h
                plus = loss()
                array[idx] = old - h
                minus = loss()
                array[idx] = old
                return (plus - minus) / (2 * h)
            return at

        result = GradCheckResult(tolerance=tolerance)
        result.checks.append(_compare(layer.name, "input", dx, numeric(x),
                                      _sample_indices(x.shape, max_elements, rng), floor))
        for key, value in layer.params.items():
            if key not in grads:                      # a non-trainable weight: no gradient
                continue
            result.checks.append(_compare(layer.name, key, grads[key], numeric(value),
                                          _sample_indices(value.shape, max_elements, rng), floor))
    if verbose:
        print(result.table())
    return result


def check_model(model, x, y, *, h: float = 1e-5, tolerance: float = 1e-6,
                floor: float = 1e-6, max_elements: int | None = 100, seed: int = 0,
                verbose: bool = False) -> GradCheckResult:
    """Check a compiled model's backpropagation (loss -> every parameter and the input).

    The model must have been built under float64 (``with gradcheck.float64(): ...``) or is
    converted. Uses the model's own loss, and the fused softmax gradient when it applies, exactly
    as ``fit`` does; no optimizer step is taken. A model with several inputs takes ``x`` as a
    list of arrays (each input's gradient is checked); with several outputs ``y`` is a list and
    the loss is the compiled weighted sum over the outputs (``model.batch_loss``).
    """
    from convnet import losses

    if model.optimizer is None:
        raise RuntimeError("check_model: the model is not compiled; call model.compile(loss=..., "
                           "optimizer=...) first (its loss is what is checked)")
    several_in = isinstance(x, (list, tuple))
    several_out = isinstance(y, (list, tuple))
    loss_fn = None if several_out else losses.get(model.loss)[1]
    rng = np.random.default_rng(seed)
    with float64(), FrozenRandomness(model.layers, seed) as frozen:
        xs = [np.array(a, dtype=np.float64) for a in (x if several_in else [x])]
        if not model.built:
            model.build((None,) + xs[0].shape[1:])
        for layer in _leaf_layers(model.layers):   # a nested model's own layers
            _to_float64(layer)
        ys = [np.asarray(t) for t in (y if several_out else [y])]
        ys = [t.astype(np.float64) if t.dtype.kind == "f" else t for t in ys]
        model_x = xs if several_in else xs[0]
        model_y = ys if several_out else ys[0]

        def forward():
            frozen.reset()
            return model.forward(model_x, training=True)

        def loss() -> float:
            if loss_fn is None:
                return model.batch_loss(model_y, forward()) + model.regularization_loss()
            return float(np.mean(loss_fn(model_y, forward()))) + model.regularization_loss()

        # as in training (the fused softmax gradient, fused layer pairs), plus dL/dx
        grad = model.backward(model_y, forward(), input_gradient=True)
        model.add_regularization_gradients()
        grads = list(grad) if several_in else [grad]

        def numeric(array: np.ndarray):
            def at(idx):
                old = array[idx]
                array[idx] = old + h
                plus = loss()
                array[idx] = old - h
                minus = loss()
                array[idx] = old
                return (plus - minus) / (2 * h)
            return at

        result = GradCheckResult(tolerance=tolerance)
        for i, (xi, gi) in enumerate(zip(xs, grads)):
            result.checks.append(_compare("model", f"input {i}" if several_in else "input", gi,
                                          numeric(xi),
                                          _sample_indices(xi.shape, max_elements, rng), floor))
        for layer in model.layers:
            for key, value in layer.params.items():
                if key not in layer.grads:            # a non-trainable weight: no gradient
                    continue
                result.checks.append(_compare(layer.name, key, layer.grads[key].copy(),
                                              numeric(value),
                                              _sample_indices(value.shape, max_elements, rng),
                                              floor))
    if verbose:
        print(result.table())
    return result
