"""Datasets in Keras's layout: ``(x_train, y_train), (x_test, y_test)`` as uint8 arrays."""

from convnet.datasets import mnist

__all__ = ["mnist"]
