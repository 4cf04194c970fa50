"""Datasets in Keras's layout: ``(x_train, y_train), (x_test, y_test)`` as uint8 arrays."""

from convnet.datasets import fashion_mnist, idx, mnist

__all__ = ["mnist", "fashion_mnist", "idx"]
