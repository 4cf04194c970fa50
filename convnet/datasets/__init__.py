"""Datasets in Keras's layout: ``(x_train, y_train), (x_test, y_test)`` as uint8 arrays."""

from convnet import not_supported
from convnet.datasets import fashion_mnist, idx, mnist

__all__ = ["mnist", "fashion_mnist", "idx"]


# a Keras name convnet knowingly lacks is refused with its reason (convnet/not_supported.py)
__getattr__ = not_supported.module_getattr(__name__)
