"""The tutorial script runs end to end (small, behind --limit) and writes its outputs."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               MPLBACKEND="Agg")
    return subprocess.run([sys.executable, str(ROOT / "examples" / "mnist.py"), *args],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


@pytest.mark.slow
@pytest.mark.needs_jit
def test_tutorial_script_with_limit(tmp_path):
    result = _run("--epochs", "1", "--limit", "1500", "--seed", "3", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Epoch 1/1" in out and "12/12 [==============================]" in out
    assert "Test loss:" in out and "Test accuracy:" in out
    accuracy = float(out.split("Test accuracy:")[1].split()[0])
    assert accuracy > 0.5   # 1,500 images, one epoch: well above chance (0.1)
    for name in ("digits.png", "curves.png"):
        assert (tmp_path / name).stat().st_size > 5000
    assert "Saved model to disk" in out
    assert "predictions on 1000 test images match" in out
    assert (tmp_path / "model_digit.h5").stat().st_size > 4_000_000   # 1.2 M float32 weights
    assert '"class_name": "Sequential"' in (tmp_path / "model_digit.json").read_text()


def test_bad_flags_fail_with_a_message(tmp_path):
    result = _run("--epochs", "0", "--out", str(tmp_path))
    assert result.returncode == 2 and "--epochs must be a positive integer" in result.stderr
    result = _run("--limit", "70000", "--out", str(tmp_path))
    assert result.returncode == 2 and "--limit must be between 1 and 60000" in result.stderr
