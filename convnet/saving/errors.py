"""Errors raised while reading or writing model files."""

from __future__ import annotations


class FormatError(ValueError):
    """A model description or weights file is not in a form convnet can use."""


class UnknownLayerError(FormatError):
    """The file names a layer class convnet does not build (for safety, nothing else is tried)."""


class WeightsMismatchError(FormatError):
    """A weights file does not fit the model: layer count, weight count or a shape differ."""


class CorruptFileError(OSError):
    """A file could not be read at all: missing, empty, truncated, or not HDF5."""
