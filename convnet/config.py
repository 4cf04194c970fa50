"""Keras 3's ``keras.config``: the global settings, under the names Keras 3 gives them.

They are :mod:`convnet.backend`'s settings (tf-keras spells them ``keras.backend.floatx()``
and so on); both spellings read and change the same values.
"""

from convnet import not_supported
from convnet.backend import (
    backend,
    epsilon,
    floatx,
    image_data_format,
    set_epsilon,
    set_floatx,
    set_image_data_format,
)

__all__ = ["backend", "epsilon", "floatx", "image_data_format", "set_epsilon", "set_floatx",
           "set_image_data_format"]

# a Keras name convnet knowingly lacks is refused with its reason (convnet/not_supported.py)
__getattr__ = not_supported.module_getattr(__name__)
