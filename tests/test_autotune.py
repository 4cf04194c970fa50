"""Conv2D's path forced by name, or chosen by timing the candidates once per machine."""

import json

import numpy as np
import pytest

from convnet import threads
from convnet.fast import autotune, conv_paths
from convnet.layers import Conv2D
from error_bounds import check_paths, layer_bounds

needs_openblas = pytest.mark.skipif(not threads.available(),
                                    reason="OpenBLAS's thread control not found")


@pytest.fixture
def tuning(tmp_path, monkeypatch):
    """Autotuning on, with a fresh choices file; off again afterwards."""
    path = tmp_path / "conv_paths.json"
    monkeypatch.setenv("CONVNET_AUTOTUNE_FILE", str(path))
    autotune.forget()
    autotune.enable()
    yield path
    autotune.enable(False)
    autotune.forget()


def _layer(path=None, channels=8, filters=6, seed=0):
    layer = Conv2D(filters, 3, activation="relu", input_shape=(10, 10, channels))
    layer.build((10, 10, channels))
    rng = np.random.default_rng(seed)
    layer.params["kernel"][...] = rng.standard_normal(layer.params["kernel"].shape)
    layer.params["bias"][...] = rng.standard_normal(filters)
    if path is not None:
        layer.PATH = path
    return layer


@needs_openblas
@pytest.mark.parametrize("name", ["direct", "winograd", "im2col per core", "im2col blocks"])
def test_every_forced_path_gives_the_layers_numbers(name):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 10, 10, 8)).astype("float32")
    dy = rng.standard_normal((5, 8, 8, 6)).astype("float32")
    plain, forced = _layer(), _layer(name)
    assert forced.path.name == name
    bounds = layer_bounds(plain, x, dy)
    ys = [layer.forward(x, training=True) for layer in (plain, forced)]
    dxs = [layer.backward(dy) for layer in (plain, forced)]
    check_paths(ys[1], ys[0], bounds["y"], f"{name} forward")
    check_paths(dxs[1], dxs[0], bounds["dx"], f"{name} dL/dx")
    check_paths(forced.grads["kernel"], plain.grads["kernel"], bounds["kernel"], f"{name} dK")


def test_a_path_that_cannot_run_the_layer_is_refused_by_name():
    layer = Conv2D(4, 5, input_shape=(10, 10, 3))
    layer.build((10, 10, 3))
    layer.PATH = "winograd"                     # 5x5: Winograd F(4x4, 3x3) cannot
    with pytest.raises(ValueError, match=r"Conv2D '.*': PATH 'winograd' cannot run this layer"):
        _ = layer.path
    layer.PATH = "fastest"
    with pytest.raises(ValueError, match="cannot run this layer"):
        _ = layer.path


@needs_openblas
def test_autotuning_times_each_candidate_once_and_keeps_the_fastest(tuning, monkeypatch):
    timed = []
    fake = {"direct": 5.0, "im2col blocks": 4.0}
    for n in conv_paths.CHUNKS:
        fake[f"winograd, chunk {n}"] = 1.0 + abs(n - 4)        # chunk 4 is the fastest
        fake[f"im2col per core, chunk {n}"] = 3.0

    def fake_time(self, name):
        timed.append(name)
        return fake[name]

    monkeypatch.setattr(Conv2D, "_time_path", fake_time)
    layer = _layer(channels=4)                  # 3x3x4 = 36 cells: direct is a candidate too
    assert (layer.path.name, layer.path.tasks.chunk) == ("winograd", 4)
    assert sorted(timed) == sorted(fake)
    again = _layer(channels=4, seed=3)           # same shape: read back, not timed again
    assert (again.path.name, again.path.tasks.chunk) == ("winograd", 4)
    assert len(timed) == len(fake)
    stored = json.loads(tuning.read_text())
    entry = next(iter(next(iter(stored["machines"].values())).values()))
    assert entry == {"chosen": "winograd, chunk 4", "ms": fake}
    autotune.forget()                           # a new process: reads the file
    monkeypatch.setattr(Conv2D, "_time_path", lambda self, name: pytest.fail("timed again"))
    assert _layer(channels=4).path.name == "winograd"
    assert "winograd, chunk 4" in autotune.report() and "1.00 ms" in autotune.report()


def test_chunk_names_round_trip():
    names = conv_paths.with_chunks(["direct", "winograd", "im2col blocks"])
    assert names == ["direct"] + [f"winograd, chunk {n}" for n in conv_paths.CHUNKS] \
        + ["im2col blocks"]
    assert [conv_paths.split_chunk(n) for n in ("direct", "winograd, chunk 2")] == \
        [("direct", None), ("winograd", 2)]


@needs_openblas
@pytest.mark.needs_jit
def test_real_timing_picks_a_candidate_and_its_numbers_hold(tuning):
    layer = _layer(channels=8)
    chosen = layer.path.name
    assert chosen in conv_paths.candidates(layer.params["kernel"].shape, (1, 1), "float32")
    entry = next(iter(json.loads(tuning.read_text())["machines"].values()))
    (times,) = [v["ms"] for v in entry.values()]
    assert conv_paths.split_chunk(min(times, key=times.get))[0] == chosen
    assert all(t > 0 for t in times.values())


def test_a_corrupt_choices_file_warns_and_is_measured_again(tuning, monkeypatch):
    tuning.write_text("{not json")
    monkeypatch.setattr(Conv2D, "_time_path", lambda self, name: 1.0)
    with pytest.warns(RuntimeWarning, match="ignoring .*conv_paths.json"):
        _ = _layer().path
    assert json.loads(tuning.read_text())["version"] == autotune.VERSION


def test_an_unwritable_choices_file_only_warns(tmp_path, monkeypatch, tuning):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("CONVNET_AUTOTUNE_FILE", str(blocker / "conv_paths.json"))
    monkeypatch.setattr(Conv2D, "_time_path", lambda self, name: 1.0)
    with pytest.warns(RuntimeWarning, match="could not write"):
        assert _layer().path is not None


def test_off_by_default_the_rules_choose(monkeypatch):
    monkeypatch.setattr(Conv2D, "_time_path", lambda self, name: pytest.fail("timed"))
    assert not autotune.enabled()
    assert _layer(channels=32).path.name == (
        "winograd" if threads.available() else "im2col blocks")
