"""Layers, with Keras's names and arguments. Each follows the protocol in :mod:`.base`."""

from convnet import not_supported
from convnet.graph import Input  # noqa: E402  (keras.layers.Input, as tf-keras spells it)
from convnet.layers import experimental  # tf.keras 2.3-2.5's layers.experimental.preprocessing
from convnet.layers.activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
from convnet.layers.augmentation import (
    RandomContrast,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from convnet.layers.base import Layer
from convnet.layers.conv import Conv2D
from convnet.layers.conv1d import Conv1D, Convolution1D
from convnet.layers.conv_transpose import Conv2DTranspose, Convolution2DTranspose
from convnet.layers.core import Activation, Dense, Dropout, Flatten
from convnet.layers.depthwise import DepthwiseConv2D, SeparableConv2D
from convnet.layers.global_pooling import (
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    GlobalMaxPooling2D,
)
from convnet.layers.input_layer import InputLayer
from convnet.layers.merging import (
    Add,
    Average,
    Concatenate,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    maximum,
    minimum,
    multiply,
    subtract,
)
from convnet.layers.normalization import BatchNormalization
from convnet.layers.pooling import AveragePooling2D, AvgPool2D, MaxPool2D, MaxPooling2D
from convnet.layers.pooling1d import (
    AveragePooling1D,
    AvgPool1D,
    GlobalAveragePooling1D,
    GlobalAvgPool1D,
    GlobalMaxPool1D,
    GlobalMaxPooling1D,
    MaxPool1D,
    MaxPooling1D,
)
from convnet.layers.regularization import (
    ActivityRegularization,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout2D,
)
from convnet.layers.rescaling import Rescaling
from convnet.layers.reshaping import Cropping2D, Permute, Reshape, ZeroPadding2D
from convnet.layers.upsampling import UpSampling2D

Convolution2D = Conv2D
SeparableConvolution2D = SeparableConv2D

__all__ = ["Layer", "Conv2D", "Convolution2D", "Dense", "Flatten", "Dropout", "Activation",
           "MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D", "BatchNormalization",
           "ZeroPadding2D", "Cropping2D", "Reshape", "Permute", "GlobalAveragePooling2D",
           "GlobalAvgPool2D", "GlobalMaxPooling2D", "GlobalMaxPool2D", "Softmax", "ReLU",
           "LeakyReLU", "ELU", "PReLU", "Input", "InputLayer", "Add", "Subtract", "Multiply",
           "Average", "Maximum", "Minimum", "Concatenate", "add", "subtract", "multiply",
           "average", "maximum", "minimum", "concatenate", "UpSampling2D", "SpatialDropout2D",
           "GaussianNoise", "GaussianDropout", "ActivityRegularization", "Rescaling",
           "RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom", "RandomContrast",
           "DepthwiseConv2D", "SeparableConv2D", "SeparableConvolution2D",
           "Conv1D", "Convolution1D", "MaxPooling1D", "MaxPool1D", "AveragePooling1D",
           "AvgPool1D", "GlobalAveragePooling1D", "GlobalAvgPool1D", "GlobalMaxPooling1D",
           "GlobalMaxPool1D", "Conv2DTranspose", "Convolution2DTranspose", "experimental"]


# a Keras name convnet knowingly lacks is refused with its reason (convnet/not_supported.py)
__getattr__ = not_supported.module_getattr(__name__)
