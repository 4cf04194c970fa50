"""examples/mnist_995.py, the former name of examples/mnist_best.py, still runs it with the same
flags (checked cheaply: its flags are mnist_best's, and it refuses bad ones the same way; the
training itself is tested in test_example_mnist_best.py)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIM = ROOT / "examples" / "mnist_995.py"


def _run(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               MPLBACKEND="Agg")
    return subprocess.run([sys.executable, str(SHIM), *args],
                          capture_output=True, text=True, env=env, timeout=600)


def test_old_name_shows_mnist_best_help():
    result = _run("--help")
    assert result.returncode == 0, result.stderr
    assert "usage: mnist_best.py" in result.stdout   # runpy names the script it runs
    assert "python examples/mnist_best.py --seed 1" in result.stdout   # mnist_best's docstring
    assert "--dataset {mnist,fashion_mnist}" in result.stdout


def test_old_name_refuses_bad_flags_like_mnist_best(tmp_path):
    result = _run("--epochs", "0", "--out", str(tmp_path))
    assert result.returncode == 2 and "--epochs must be a positive integer" in result.stderr
    assert not any(tmp_path.iterdir())
