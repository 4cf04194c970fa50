"""Keras JSON and HDF5 formats: the only part of convnet that knows Keras's file layouts."""

from convnet.saving.checkpoint import load_checkpoint, save_checkpoint
from convnet.saving.errors import (
    CorruptFileError,
    FormatError,
    UnknownLayerError,
    WeightsMismatchError,
)
from convnet.saving.hdf5_format import load_model, load_weights, save_model, save_weights
from convnet.saving.json_format import model_from_config, model_from_json, to_json

__all__ = ["to_json", "model_from_json", "model_from_config", "save_weights", "load_weights",
           "save_model", "load_model", "save_checkpoint", "load_checkpoint", "FormatError",
           "UnknownLayerError", "WeightsMismatchError", "CorruptFileError"]
