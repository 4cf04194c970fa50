"""``layers.experimental.preprocessing.Rescaling`` and friends (tf.keras 2.3-2.5): the same
classes as ``layers.Rescaling``, ``layers.RandomFlip``...; the others are refused by name."""

from convnet import not_supported
from convnet.layers.augmentation import (
    RandomContrast,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from convnet.layers.rescaling import Rescaling

__all__ = ["Rescaling", "RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom",
           "RandomContrast"]


def __getattr__(name: str):
    # what convnet.layers refuses (Resizing, CenterCrop, Normalization...) is refused here too
    raise not_supported.missing("convnet.layers", name)
