"""Which format a model file is in: ``save`` goes by the name (as Keras 3), loading by content.

    model.save("m.keras")       Keras 3's zip (:mod:`keras_zip`)
    model.save("m.h5")          whole-model HDF5, Keras 2 layout (:mod:`hdf5_format`); also .hdf5
    load_model(path)            a zip is read as ``.keras``, HDF5 as ``.h5``, whatever the name
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from convnet.saving import hdf5_format, keras_zip
from convnet.saving.errors import CorruptFileError, FormatError

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _is_hdf5(path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) == _HDF5_MAGIC
    except OSError:
        return False


def save(model, path: str | os.PathLike) -> None:
    """``model.save(path)``: ``.keras`` -> Keras 3's zip, ``.h5``/``.hdf5`` -> HDF5."""
    name = str(path)
    if name.endswith(".keras"):
        keras_zip.save_keras(model, path)
    elif name.endswith((".h5", ".hdf5")):
        hdf5_format.save_model(model, path)
    else:
        raise FormatError(f"save: {name!r}: add a '.keras' extension for Keras 3's native "
                          "format (recommended) or '.h5' for the HDF5 format of Keras 2, as "
                          "Keras 3 requires")


def load(path: str | os.PathLike, custom_objects: dict | None = None, compile: bool = True):
    """``load_model(path)`` for a ``.keras`` archive or a whole-model ``.h5``."""
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(f"load_model: custom_objects must be a dict of name -> class or "
                        f"function, got {type(custom_objects).__name__}")
    if not Path(path).exists():
        raise CorruptFileError(f"model file not found: {path}")
    if keras_zip.is_zip(path):
        return keras_zip.load_keras(path, custom_objects, compile)
    if str(path).endswith(".keras") and Path(path).is_file():
        if _is_hdf5(path):
            warnings.warn(f"{path} is an HDF5 file under a '.keras' name (older convnet versions "
                          "wrote these; Keras 3 refuses them): loading it as '.h5'. Save it "
                          "again to get a real .keras file", stacklevel=3)
            return hdf5_format.load_model(path, custom_objects, compile)
        raise CorruptFileError(f"{path} is not a .keras file (a zip archive): it is empty, "
                               "truncated or another format")
    return hdf5_format.load_model(path, custom_objects, compile)


def load_weights(model, path: str | os.PathLike, by_name: bool = False,
                 skip_mismatch: bool = False) -> None:
    """``model.load_weights(path)``: a ``.keras`` archive's weights, or an HDF5 weights file."""
    if not model.built:
        raise FormatError("load_weights: the model is not built yet; give the first layer an "
                          "input_shape or call model.build((None, ...)) first")
    if keras_zip.is_zip(path):
        if by_name:
            raise FormatError(f"{path}: by_name=True applies to Keras 2 '.h5' weight files, not "
                              "to .keras archives (as in Keras 3)")
        keras_zip.load_weights_from_keras(model, path, skip_mismatch)
        return
    hdf5_format.load_weights(model, path, by_name, skip_mismatch)
