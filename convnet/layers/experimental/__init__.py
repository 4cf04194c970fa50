"""tf.keras 2.3-2.5's ``layers.experimental`` namespace: its ``preprocessing`` layers moved to
``layers`` later; the ones convnet has are the same classes under the old path."""

from convnet.layers.experimental import preprocessing

__all__ = ["preprocessing"]
