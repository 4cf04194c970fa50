"""The suite's way to ask real Keras about convnet's files (Keras is never a dependency).

``CONVNET_KERAS_PYTHONS`` names interpreters that have tf-keras or Keras 3 (``os.pathsep``
separated; see README, "Files convnet reads and writes"); tests that need one are skipped
without it. :func:`check_convnet_files` has convnet write a folder of files with a writer
script from ``tests/keras_interop/`` and has real Keras load them and compare its predictions
with convnet's (``check_with_keras.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

KERAS_PYTHONS = [p for p in os.environ.get("CONVNET_KERAS_PYTHONS", "").split(os.pathsep) if p]
INTEROP = Path(__file__).parent / "keras_interop"

needs_keras = pytest.mark.skipif(not KERAS_PYTHONS,
                                 reason="set CONVNET_KERAS_PYTHONS to interpreters with Keras "
                                        "(see test_keras_interop.py)")


def check_convnet_files(python: str, writer: str, folder: Path, reports: int) -> None:
    """convnet runs ``keras_interop/<writer>`` into ``folder``; Keras (``python``) loads every
    file there and must report ``reports`` comparisons, none of them failing."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    subprocess.run([sys.executable, str(INTEROP / writer), str(folder)], check=True, env=env,
                   capture_output=True)
    env.setdefault("KERAS_BACKEND", "torch")
    env.pop("PYTHONPATH")
    result = subprocess.run([python, str(INTEROP / "check_with_keras.py"), str(folder)],
                            capture_output=True, text=True, env=env, timeout=600)
    report = [line for line in result.stdout.splitlines() if "max |diff|" in line]
    assert result.returncode == 0 and len(report) == reports, result.stdout + result.stderr
    assert not any("FAIL" in line for line in report)
