"""register_keras_serializable and custom_object_scope: a program's own layer classes load by
name, and only those it registered (convnet/saving/registry.py)."""

import numpy as np
import pytest

import convnet as keras
from convnet import layers, saving
from convnet.saving import registry


def test_a_registered_class_loads_by_name_and_an_unregistered_one_is_refused(tmp_path):
    @keras.utils.register_keras_serializable(package="Tests")
    class RegisteredDense(layers.Dense):
        pass

    class LocalDense(layers.Dense):
        pass

    try:
        x = np.ones((2, 4), "float32")
        model = keras.Sequential([keras.Input((4,)), RegisteredDense(3, name="r")])
        model.save(tmp_path / "r.keras")
        loaded = keras.models.load_model(tmp_path / "r.keras")
        assert type(loaded.layers[0]) is RegisteredDense
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
        assert "Tests>RegisteredDense" in keras.saving.get_custom_objects()

        keras.Sequential([keras.Input((4,)), LocalDense(3)]).save(tmp_path / "l.h5")
        with pytest.raises(saving.UnknownLayerError, match="'LocalDense'"):
            keras.models.load_model(tmp_path / "l.h5")
        with keras.utils.custom_object_scope({"LocalDense": LocalDense}):
            assert type(keras.models.load_model(tmp_path / "l.h5").layers[0]) is LocalDense
        with pytest.raises(saving.UnknownLayerError):        # the scope has closed
            keras.models.load_model(tmp_path / "l.h5")
    finally:
        registry.get_custom_objects().pop("Tests>RegisteredDense", None)


def test_bad_registrations_are_refused():
    with pytest.raises(ValueError, match="package"):
        registry.register_keras_serializable(package="a>b")
    with pytest.raises(TypeError, match="dicts"):
        with registry.custom_object_scope(["LocalDense"]):     # type: ignore[arg-type]
            pass
