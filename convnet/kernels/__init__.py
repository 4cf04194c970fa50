"""Hot loops: :mod:`.reference` defines them in plain NumPy, :mod:`.jit` runs them fast.

The names here are the fast (numba) twins, for :mod:`convnet.fast`; :func:`for_engine` gives the
module of the current engine (:func:`convnet.backend.set_engine`), so a layer's code calls the
NumPy definition on the NumPy engine and its numba twin on the fast one (same signatures). The
``*_serial`` kernels run the same loops on the calling thread only, for per-core workers.

Winograd's F(4x4, 3x3) convolution has its own pair: :mod:`.winograd` (NumPy definitions) and
:mod:`.winograd_jit` (serial numba transforms), used by :mod:`convnet.fast.conv_winograd`.
"""

from types import ModuleType

from convnet import backend
from convnet.kernels import jit, reference
from convnet.kernels.jit import (
    adadelta_update,
    avgpool_backward,
    avgpool_forward,
    avgpool_forward_serial,
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_stats,
    bias_relu,
    bias_relu_serial,
    col2im,
    col2im_serial,
    conv2d_direct,
    conv2d_direct_serial,
    conv2d_kernel_grad,
    conv2d_relu_grads,
    dropout_backward,
    dropout_forward,
    im2col,
    im2col_serial,
    maxpool_backward,
    maxpool_forward,
    maxpool_forward_serial,
    relu_bias_backward,
    relu_bias_backward_serial,
    unpool_relu_bias_backward_serial,
)
from convnet.kernels.reference import conv_output_size


def for_engine() -> ModuleType:
    """:mod:`.reference` on the NumPy engine, :mod:`.jit` on the fast one."""
    return reference if backend.get_engine() == "numpy" else jit


def activation_twin(name: str) -> tuple | None:
    """On the fast engine, the numba twin ``(forward, backward)`` of the activation ``name``
    where there is one (ReLU: one vectorised pass on the per-core threads instead of NumPy's
    passes on the calling thread); else None, and the layer runs :mod:`convnet.activations`'
    own pair."""
    return None if backend.get_engine() == "numpy" else jit.ACTIVATIONS.get(name)


__all__ = ["for_engine", "activation_twin", "batchnorm_stats", "batchnorm_forward",
           "batchnorm_backward",
           "adadelta_update", "im2col", "col2im", "conv2d_direct",
           "conv2d_kernel_grad", "conv2d_relu_grads",
           "dropout_forward", "dropout_backward",
           "maxpool_forward", "maxpool_backward",
           "avgpool_forward", "avgpool_backward", "bias_relu", "relu_bias_backward",
           "conv_output_size", "im2col_serial", "bias_relu_serial", "conv2d_direct_serial",
           "maxpool_forward_serial", "avgpool_forward_serial", "col2im_serial",
           "relu_bias_backward_serial", "unpool_relu_bias_backward_serial"]
