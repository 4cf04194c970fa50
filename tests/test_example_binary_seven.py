"""examples/binary_seven.py ("is it a 7?") trains on a slice and prints figures that agree with
each other; its flags are checked, and a target that does not fit the one sigmoid output is
refused with a clear error. The full run's figures are in the README, not here."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "binary_seven.py"
SEVENS_IN_TEST_SET = 1028   # of MNIST's 10,000 test digits


def _run(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, str(SCRIPT), *args],
                          capture_output=True, text=True, env=env, timeout=600)


def _printed(out: str, label: str) -> float:
    return float(out.split(label)[1].split()[0])


def _example():
    spec = importlib.util.spec_from_file_location("binary_seven", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.needs_jit
def test_small_run_finds_sevens_and_its_figures_agree():
    # 3,000 images (2,700 after validation_split=0.1), batch 32, two epochs: 170 steps, enough
    # to beat the always-"no" baseline
    result = _run("--epochs", "2", "--limit", "3000", "--batch-size", "32", "--seed", "1")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Epoch 2/2" in out and "85/85 [==============================]" in out
    for key in ("binary_accuracy:", "precision:", "recall:", "val_precision:", "val_recall:"):
        assert key in out, key
    accuracy = _printed(out, "Test accuracy:")
    precision = _printed(out, "Test precision:")
    recall = _printed(out, "Test recall:")
    sevens = _printed(out, "Fraction of 7s in the test set:")
    assert sevens == SEVENS_IN_TEST_SET / 10000
    baseline = 1 - sevens
    assert f"scores accuracy {baseline:.4f}" in out
    assert accuracy > baseline + 0.03, out   # it found 7s: better than always answering "no"
    assert precision > 0.5 and recall > 0.5, out
    # the three figures come from one set of counts: the errors are the missed 7s plus the false
    # alarms, errors / N = f (1 - R) + f R (1 / P - 1). Each printed figure is rounded to 4
    # decimals (5e-5); with P > 0.5 that moves the right side by under 1e-4.
    errors = sevens * (1 - recall) + sevens * recall * (1 / precision - 1)
    assert abs((1 - accuracy) - errors) < 3e-4, (accuracy, precision, recall)


def test_the_model_answers_one_probability_per_image():
    example = _example()
    model = example.build_model()
    example.compile_model(model)
    p = model.predict(np.random.default_rng(0).random((5, 28, 28, 1), dtype=np.float32),
                      verbose=0)
    assert p.shape == (5, 1) and np.all((p > 0) & (p < 1))   # sigmoid: P(7) in (0, 1)


def test_one_hot_targets_are_refused_with_a_clear_error():
    """Ten-class one-hot targets do not fit the one sigmoid output: fit says which shapes."""
    example = _example()
    model = example.build_model()
    example.compile_model(model)
    x = np.zeros((8, 28, 28, 1), np.float32)
    one_hot = np.eye(10, dtype=np.float32)[np.arange(8)]
    with pytest.raises(ValueError, match=r"targets y have shape \(8, 10\).*\(batch, 1\)"):
        model.fit(x, one_hot, epochs=1, verbose=0)


def test_bad_flags_fail_with_a_message():
    for flags, message in ((("--epochs", "0"), "--epochs must be a positive integer"),
                           (("--batch-size", "-1"), "--batch-size must be a positive integer"),
                           (("--limit", "70000"), "--limit must be between 1 and 60000")):
        result = _run(*flags)
        assert result.returncode == 2 and message in result.stderr, (flags, result.stderr)
