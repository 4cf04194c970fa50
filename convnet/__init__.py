"""convnet: a from-scratch convolutional neural network library with Keras's API.

Readable NumPy layers, numba kernels for the hot loops, Keras-format files. The classic Keras
MNIST tutorial runs with only its imports changed::

    import convnet as keras
    from convnet.datasets import mnist
    from convnet.models import Sequential
    from convnet.layers import Conv2D, MaxPooling2D, Dropout, Flatten, Dense
    from convnet import backend as k
"""

import os as _os

# Two thread pools share the cores: numba's (OpenMP) runs the kernels, OpenBLAS's runs the matrix
# products, one after the other. By default each keeps spinning for a while after its work and
# steals the cores from the other (what that costs: benchmarks/README.md). They only take effect
# when set before NumPy (OpenBLAS) and
# the OpenMP runtime start, so import convnet first; a value the user set wins.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from convnet.allocator import tune_malloc as _tune_malloc  # noqa: E402

_tune_malloc()   # keep freed batch-sized arrays for the next batch (see convnet/allocator.py)

from convnet import (  # noqa: E402
    activations,
    backend,
    callbacks,
    constraints,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    regularizers,
    utils,
)
from convnet.graph import Input  # noqa: E402
from convnet.models import Model, Sequential  # noqa: E402
from convnet.profiling import profile  # noqa: E402

__version__ = "0.1.0"

# imported on first use (h5py and the image helpers take a while to load)
_LAZY_MODULES = ("config", "preprocessing", "saving")


def __getattr__(name: str):
    """``keras.saving``, ``keras.preprocessing`` and ``keras.config`` load on first use; a Keras
    name convnet knowingly lacks (``keras.applications``) is refused with its reason."""
    if name in _LAZY_MODULES:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    from convnet import not_supported
    raise not_supported.missing(__name__, name)


__all__ = ["activations", "backend", "callbacks", "constraints", "datasets", "initializers",
           "layers", "losses", "metrics", "models", "optimizers", "regularizers", "utils",
           "profile", "Input", "Model", "Sequential", "__version__", "config", "preprocessing",
           "saving"]
