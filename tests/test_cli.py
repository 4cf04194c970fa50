"""The `convnet` command, run as a user runs it: in a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convnet.datasets import fashion_mnist

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "convnet", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = run("train", "--epochs", "1", "--limit", "300", "--batch-size", "32", "--seed", "1",
                 "--out", out)
    assert result.returncode == 0, result.stderr
    return out, result


@pytest.mark.slow
@pytest.mark.needs_jit
def test_train_writes_keras_files_curves_and_metrics(trained):
    out, result = trained
    assert "Epoch 1/1" in result.stdout and "Test accuracy:" in result.stdout
    for name in ("model.json", "model.h5", "curves.png", "metrics.json"):
        assert (out / name).stat().st_size > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train_images"] == 300 and metrics["epochs"] == 1
    assert 0.1 < metrics["test_accuracy"] <= 1.0
    assert json.loads((out / "model.json").read_text())["module"] == "keras"


@pytest.mark.slow
@pytest.mark.needs_jit
def test_evaluate_json_and_weights_and_whole_model(trained, tmp_path):
    out, _ = trained
    result = run("evaluate", out / "model.json", out / "model.h5", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "mnist test set (10000 images): loss" in result.stdout
    assert (tmp_path / "confusion_matrix.png").stat().st_size > 5000
    from convnet.models import model_from_json
    model = model_from_json((out / "model.json").read_text())
    model.load_weights(out / "model.h5")
    model.save(tmp_path / "whole.h5")
    again = run("evaluate", tmp_path / "whole.h5", "--out", tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] == result.stdout.splitlines()[0]


@pytest.mark.slow
@pytest.mark.needs_jit
def test_predict_prints_top3_and_shows_what_the_network_saw(trained, tmp_path):
    out, _ = trained
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    img = np.ones((60, 45))
    img[10:50, 20:27] = 0.1                      # a dark '1' on white
    plt.imsave(tmp_path / "one.png", img, cmap="gray")
    seven = tmp_path / "digit_7.png"             # a copy: --show writes next to each image
    seven.write_bytes((ROOT / "examples" / "handwritten" / "digit_7.png").read_bytes())
    result = run("predict", out / "model.json", out / "model.h5", tmp_path / "one.png", seven,
                 "--show")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.endswith("%)")]
    assert len(lines) == 2 and all(line.count("%") == 3 for line in lines)
    assert (tmp_path / "one.prepared.png").stat().st_size > 1000
    assert (tmp_path / "digit_7.prepared.png").exists()


def test_summary_of_a_keras3_file():
    result = run("summary", ROOT / "tests" / "fixtures" / "keras" / "seed_k3" / "model.json")
    assert result.returncode == 0, result.stderr
    assert "conv2d_1 (Conv2D)" in result.stdout and "Total params: 1,199,882" in result.stdout


@pytest.mark.parametrize("args,message", [
    (["summary", "missing.json"], "file not found: missing.json"),
    (["evaluate", "missing.json", "w.h5"], "file not found: missing.json"),
    (["predict", "{json}", "{json}", "x.png"], "is not a readable HDF5 file"),
    (["evaluate", "{json}"], "holds only the architecture; also give its weights file"),
    (["summary", "{bad}"], "not valid JSON"),
])
def test_errors_are_one_line_with_status_1(tmp_path, args, message):
    good = ROOT / "tests" / "fixtures" / "keras" / "seed_k2" / "model.json"
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    args = [a.format(json=good, bad=bad) for a in args]
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [["train", "--epochs", "0", "--out", "x"], ["train"],
                                  ["frobnicate"], ["train", "--dataset", "cifar", "--out", "x"]])
def test_bad_flags_exit_2(args):
    result = run(*args)
    assert result.returncode == 2 and "usage:" in result.stderr


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "summary"])
def test_help_with_an_example(command):
    result = run(command, "--help")
    assert result.returncode == 0 and "example:" in result.stdout and f"convnet {command}" in \
        result.stdout


@pytest.mark.slow
@pytest.mark.needs_jit
@pytest.mark.skipif(not fashion_mnist._folder_with_files(fashion_mnist.DEBIAN_DIR),
                    reason="the Debian package dataset-fashion-mnist is not installed")
def test_train_on_fashion_mnist(tmp_path):
    result = run("train", "--dataset", "fashion_mnist", "--epochs", "1", "--limit", "300",
                 "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "metrics.json").read_text())["dataset"] == "fashion_mnist"
