"""examples/mnist_best.py (the 99.5 % MNIST recipe, also on Fashion-MNIST) runs end to end on a
tiny slice and writes its model files and history plot; its flags are checked. The accuracy
itself is measured by full runs (README), not here."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from convnet.datasets import fashion_mnist

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "mnist_best.py"


def _fashion_mnist_installed() -> bool:
    """The Debian package's files are there (the test must not download 30 MB)."""
    folder = fashion_mnist.DEBIAN_DIR
    return all((folder / (stem + ".gz")).is_file() or (folder / stem).is_file()
               for stem in fashion_mnist.FILES.values())


def _run(*args, script=SCRIPT):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               MPLBACKEND="Agg")
    return subprocess.run([sys.executable, str(script), *args],
                          capture_output=True, text=True, env=env, timeout=600)


def _check_run(result, folder: Path, name: str) -> None:
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Epoch 1/1" in out and "2/2 [==============================]" in out
    loss = float(out.split("Test loss:")[1].split()[0])
    accuracy = float(out.split("Test accuracy:")[1].split()[0])
    assert math.isfinite(loss) and loss > 0
    assert 0.0 <= accuracy <= 1.0
    assert "per epoch of 256 images" in out

    architecture = json.loads((folder / f"{name}.json").read_text())
    assert architecture["class_name"] == "Sequential"
    assert architecture["config"]["name"] == "mnist_best"
    names = [layer["class_name"] for layer in architecture["config"]["layers"]]
    for wanted in ("RandomRotation", "RandomTranslation", "RandomZoom", "BatchNormalization"):
        assert wanted in names, names
    assert (folder / f"{name}.weights.h5").stat().st_size > 1_000_000  # 331 k float32 weights
    assert (folder / f"{name}_history.png").stat().st_size > 5000
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{name}.json", f"{name}.weights.h5", f"{name}_history.png"])


@pytest.mark.slow
@pytest.mark.needs_jit
def test_recipe_runs_and_writes_its_files(tmp_path):
    result = _run("--epochs", "1", "--limit", "256", "--test-limit", "500", "--seed", "2",
                  "--out", str(tmp_path))
    _check_run(result, tmp_path, "mnist_best")


@pytest.mark.slow
@pytest.mark.needs_jit
@pytest.mark.skipif(not _fashion_mnist_installed(),
                    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_the_same_recipe_runs_on_fashion_mnist(tmp_path):
    result = _run("--dataset", "fashion_mnist", "--epochs", "1", "--limit", "256",
                  "--test-limit", "500", "--seed", "2", "--out", str(tmp_path))
    _check_run(result, tmp_path, "fashion_mnist_best")


def test_bad_flags_fail_with_a_message(tmp_path):
    for flags, message in ((("--epochs", "0"), "--epochs must be a positive integer"),
                           (("--batch-size", "-1"), "--batch-size must be a positive integer"),
                           (("--limit", "70000"), "--limit must be between 1 and 60000"),
                           (("--test-limit", "0"), "--test-limit must be between 1 and 10000"),
                           (("--dataset", "cifar10"), "invalid choice: 'cifar10'")):
        result = _run(*flags, "--out", str(tmp_path))
        assert result.returncode == 2 and message in result.stderr, (flags, result.stderr)
    assert not any(tmp_path.iterdir())   # nothing written when the flags are refused
