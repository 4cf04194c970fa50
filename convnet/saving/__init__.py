"""Keras JSON, HDF5 and ``.keras`` formats and ONNX export: the only part of convnet that knows
these file layouts.

    json_format, functional_config   model descriptions (Sequential, functional)
    hdf5_format                      weights (Keras 2 and Keras 3 layouts), whole-model .h5
    keras_zip                        Keras 3's .keras archive
    training_config, optimizer_state compile settings and optimizer state inside those files
    model_files                      save / load_model / load_weights: which format to use
    onnx_export                      model.export("m.onnx", format="onnx") (optional 'onnx')
    checkpoint                       convnet's resumable training checkpoints
"""

from convnet.saving.checkpoint import load_checkpoint, save_checkpoint
from convnet.saving.errors import (
    CorruptFileError,
    FormatError,
    UnknownLayerError,
    WeightsMismatchError,
)
from convnet.saving.hdf5_format import save_weights
from convnet.saving.json_format import model_from_config, model_from_json, to_json
from convnet.saving.model_files import load as load_model
from convnet.saving.model_files import load_weights
from convnet.saving.model_files import save as save_model
from convnet.saving.registry import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    register_keras_serializable,
)

__all__ = ["to_json", "model_from_json", "model_from_config", "save_weights", "load_weights",
           "save_model", "load_model", "save_checkpoint", "load_checkpoint", "FormatError",
           "UnknownLayerError", "WeightsMismatchError", "CorruptFileError",
           "register_keras_serializable", "custom_object_scope", "CustomObjectScope",
           "get_custom_objects"]
