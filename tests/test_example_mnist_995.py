"""examples/mnist_995.py (the 99.5 % MNIST recipe) runs end to end on a tiny slice and writes
its model files and history plot; its flags are checked. The accuracy itself is measured by a
full run (README), not here."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "mnist_995.py"


def _run(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               MPLBACKEND="Agg")
    return subprocess.run([sys.executable, str(SCRIPT), *args],
                          capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
@pytest.mark.needs_jit
def test_recipe_runs_and_writes_its_files(tmp_path):
    result = _run("--epochs", "1", "--limit", "256", "--test-limit", "500", "--seed", "2",
                  "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Epoch 1/1" in out and "2/2 [==============================]" in out
    loss = float(out.split("Test loss:")[1].split()[0])
    accuracy = float(out.split("Test accuracy:")[1].split()[0])
    assert math.isfinite(loss) and loss > 0
    assert 0.0 <= accuracy <= 1.0
    assert "per epoch of 256 images" in out

    architecture = json.loads((tmp_path / "mnist_995.json").read_text())
    assert architecture["class_name"] == "Sequential"
    names = [layer["class_name"] for layer in architecture["config"]["layers"]]
    for wanted in ("RandomRotation", "RandomTranslation", "RandomZoom", "BatchNormalization"):
        assert wanted in names, names
    assert (tmp_path / "mnist_995.weights.h5").stat().st_size > 1_000_000  # 331 k float32 weights
    assert (tmp_path / "mnist_995_history.png").stat().st_size > 5000


def test_bad_flags_fail_with_a_message(tmp_path):
    for flags, message in ((("--epochs", "0"), "--epochs must be a positive integer"),
                           (("--batch-size", "-1"), "--batch-size must be a positive integer"),
                           (("--limit", "70000"), "--limit must be between 1 and 60000"),
                           (("--test-limit", "0"), "--test-limit must be between 1 and 10000")):
        result = _run(*flags, "--out", str(tmp_path))
        assert result.returncode == 2 and message in result.stderr, (flags, result.stderr)
    assert not any(tmp_path.iterdir())   # nothing written when the flags are refused
