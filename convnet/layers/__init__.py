"""Layers, with Keras's names and arguments. Each follows the protocol in :mod:`.base`."""

from convnet.layers.base import Layer
from convnet.layers.conv import Conv2D
from convnet.layers.core import Activation, Dense, Dropout, Flatten
from convnet.layers.pooling import AveragePooling2D, AvgPool2D, MaxPool2D, MaxPooling2D

Convolution2D = Conv2D

__all__ = ["Layer", "Conv2D", "Convolution2D", "Dense", "Flatten", "Dropout", "Activation",
           "MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D"]
