"""Files written by real Keras (2 and 3) load in convnet and reproduce Keras's predictions."""

import json
from pathlib import Path

import numpy as np
import pytest

import error_bounds
from convnet.models import model_from_json

FIXTURES = Path(__file__).parent / "fixtures" / "keras"
NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "fixture.json").exists())


def test_all_fixtures_are_present():
    assert NAMES == ["functional_k2", "functional_k3", "legacy22_list_synth", "seed_k2", "seed_k3",
                     "variants_k2", "variants_k3"]


@pytest.mark.parametrize("name", NAMES)
def test_fixture_reproduces_keras_predictions(name):
    folder = FIXTURES / name
    spec = json.loads((folder / "fixture.json").read_text())
    model = model_from_json((folder / spec["json"]).read_text())
    model.load_weights(folder / spec["weights"])
    x = np.load(folder / spec["input"])
    expected = np.load(folder / spec["expected"])
    got = model.predict(x)
    assert got.shape == expected.shape
    if spec["kind"] == "functional":
        # error_bounds.model_bound walks a chain of layers and knows neither InputLayer nor
        # Add; these small graphs (<= 54 products per sum) use fixture.json's fixed tolerance
        # (the k2 and k3 outputs agree to < 1e-7). More: tests/test_functional_saving.py.
        np.testing.assert_allclose(got, expected, rtol=0, atol=spec["tolerance"])
        return
    # Keras sums the same float32 products in its own order: both results lie within the
    # rounding bound of the exact output, so they differ by at most twice that bound (the
    # probabilistic one: compounded through the tutorial's 9216-input Dense layer and Winograd,
    # the worst case allows more than the probabilities themselves)
    with error_bounds.probabilistic():
        _, bound = error_bounds.model_bound(model, x)
    ratio = error_bounds.check_paths(got, expected, bound, f"{name} against Keras")
    print(f"{name}: largest |convnet - Keras| / bound = {ratio:.3g}")


def test_legacy_2018_names_and_list_config():
    model = model_from_json((FIXTURES / "legacy22_list_synth" / "model.json").read_text())
    assert [layer.name for layer in model.layers] == [
        "conv2d_1", "conv2d_2", "max_pooling2d_1", "dropout_1", "flatten_1", "dense_1",
        "dropout_2", "dense_2"]
    assert model.input_shape == (None, 10, 10, 1)


def test_keras3_json_ignores_compile_config_and_reads_batch_shape():
    text = (FIXTURES / "seed_k3" / "model.json").read_text()
    assert "compile_config" in json.loads(text)
    model = model_from_json(text)
    assert model.input_shape == (None, 28, 28, 1)
    assert model.layers[0].dtype == "float32"
