"""Two copies of one layer with equal weights, one run on the fast engine and one on the NumPy
engine: what the tests comparing the engines share."""

from __future__ import annotations

import numpy as np

from convnet import backend, utils


def twin_layers(make, shape, seed=0):
    """Two copies of a layer with equal weights (random biases too), and the generator that
    drew them, for the test's inputs."""
    rng = np.random.default_rng(seed)
    fast, plain = make(), make()
    for layer in (fast, plain):
        layer.build(shape)
    for key, value in fast.params.items():
        value[...] = rng.standard_normal(value.shape) * 0.5
        plain.params[key][...] = value
    return fast, plain, rng


def run_on(layer, x, dy, engine, input_gradient=True):
    """``(y, dx, grads)`` of one training forward and backward pass on ``engine``."""
    with backend.engine(engine):
        utils.set_random_seed(7)                      # dropout: the same stream in both
        y = layer.forward(x, training=True).copy()
        dx = layer.backward(dy, input_gradient=input_gradient)
    return y, dx, {k: v.copy() for k, v in layer.grads.items()}
