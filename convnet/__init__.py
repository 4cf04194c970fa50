"""convnet: a from-scratch convolutional neural network library with Keras's API.

Readable NumPy layers, numba kernels for the hot loops, Keras-format files. The classic Keras
MNIST tutorial runs with only its imports changed::

    import convnet as keras
    from convnet.datasets import mnist
    from convnet.models import Sequential
    from convnet.layers import Conv2D, MaxPooling2D, Dropout, Flatten, Dense
    from convnet import backend as k
"""

from convnet import (
    activations,
    backend,
    callbacks,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    utils,
)
from convnet.profiling import profile

__version__ = "0.1.0"

__all__ = ["activations", "backend", "callbacks", "datasets", "initializers", "layers", "losses",
           "metrics", "models", "optimizers", "utils", "profile", "__version__"]
