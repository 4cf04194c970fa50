"""Dilated ("atrous") windows as ordinary ones: the kernel with zeros between its taps.

A kernel of ``k`` taps at dilation rate ``d`` reads inputs ``d`` apart, so it spans
``d * (k - 1) + 1`` cells. It computes exactly what an ordinary kernel of that span computes
when its taps sit at every ``d``-th cell and zeros fill the cells between::

    K = [a, b, c], d = 2   ->   K_eff = [a, 0, b, 0, c]

So a dilated Conv2D runs the undilated convolution (im2col + matmul on the NumPy engine, any
fast path) on ``K_eff``. Backward gives dL/dK_eff; the real taps are its every ``d``-th cell,
``dK = dK_eff[::dh, ::dw]`` (the zeros are constants, their gradient goes nowhere). Output
sizes and 'same' padding are those of a ``K_eff``-sized window, as in Keras and TensorFlow.
(Yu & Koltun, "Multi-Scale Context Aggregation by Dilated Convolutions", 2016.)
"""

from __future__ import annotations

import numpy as np


def effective_size(k: int, rate: int) -> int:
    """The cells a ``k``-tap window at dilation ``rate`` spans: ``rate * (k - 1) + 1``."""
    return rate * (k - 1) + 1


def dilate_kernel(kernel: np.ndarray, rate: tuple[int, int]) -> np.ndarray:
    """``(KH, KW, C, F)`` -> ``(dh*(KH-1)+1, dw*(KW-1)+1, C, F)`` with the taps every
    ``(dh, dw)`` cells and zeros between; the kernel itself (not a copy) when ``rate`` is
    ``(1, 1)``."""
    dh, dw = rate
    if (dh, dw) == (1, 1):
        return kernel
    kh, kw, c, f = kernel.shape
    out = np.zeros((effective_size(kh, dh), effective_size(kw, dw), c, f), dtype=kernel.dtype)
    out[::dh, ::dw] = kernel
    return out


def undilate_gradient(grad: np.ndarray, rate: tuple[int, int]) -> np.ndarray:
    """dL/dK from dL/dK_eff: the cells where the taps sit (``grad[::dh, ::dw]``)."""
    dh, dw = rate
    return grad if (dh, dw) == (1, 1) else grad[::dh, ::dw]
