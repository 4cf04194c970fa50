"""Keras names convnet knowingly lacks are refused with their reason (convnet/not_supported.py),
while Python's own attribute protocol keeps working."""

import pytest

import convnet as keras
from convnet import not_supported
from convnet.not_supported import NotSupportedError


@pytest.mark.parametrize("module, name, words", [
    (keras.layers, "LSTM", ["keras.layers.LSTM", "recurrent", "out of scope"]),
    (keras.layers, "Lambda", ["automatic differentiation", "_backward"]),
    (keras, "applications", ["keras.applications", "pretrained"]),
    (keras.backend, "mean", ["tensor operations", "np.mean"]),
    (keras.utils, "get_file", ["download"]),
    (keras.datasets, "cifar10", ["not bundled"]),
    (keras.optimizers, "Ftrl", ["Adam"]),
])
def test_a_known_missing_name_says_what_and_why(module, name, words):
    with pytest.raises(NotSupportedError) as err:
        getattr(module, name)
    assert all(word in str(err.value) for word in words), str(err.value)
    assert isinstance(err.value, NotImplementedError)    # catchable either way


def test_hasattr_and_getattr_defaults_still_work_and_unknown_names_stay_plain():
    assert not hasattr(keras.layers, "LSTM")
    assert getattr(keras.layers, "GRU", None) is None
    with pytest.raises(AttributeError) as err:
        keras.layers.NoSuchLayer                         # noqa: B018
    assert type(err.value) is AttributeError and "NoSuchLayer" in str(err.value)
    with pytest.raises(AttributeError) as err:           # dunder probes are never "features"
        keras.backend.__wrapped__                        # noqa: B018
    assert type(err.value) is AttributeError
    assert "LSTM" in not_supported.known("convnet.layers")


def test_from_import_of_a_missing_layer_names_it():
    with pytest.raises(ImportError, match="LSTM"):
        from convnet.layers import LSTM  # noqa: F401


def test_lazy_modules_and_the_old_paths_are_there():
    assert keras.config.floatx() == keras.backend.floatx()
    assert keras.saving.load_model is keras.models.load_model or callable(keras.saving.load_model)
    assert keras.layers.experimental.preprocessing.Rescaling is keras.layers.Rescaling
    from convnet.optimizers.legacy import Adam
    assert Adam is keras.optimizers.Adam
