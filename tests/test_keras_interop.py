"""Optional: real Keras loads convnet's files and predicts the same (skips without Keras).

CI does not install Keras. To run these, point CONVNET_KERAS_PYTHONS at interpreters that have
Keras (os.pathsep-separated), e.g. a tf-keras venv and a Keras 3 venv::

    CONVNET_KERAS_PYTHONS=/venvs/tf/bin/python:/venvs/k3/bin/python python -m pytest \
        tests/test_keras_interop.py

(a Keras 3 interpreter runs with KERAS_BACKEND=torch unless KERAS_BACKEND is already set).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "keras_interop"
ROOT = Path(__file__).resolve().parents[1]
PYTHONS = [p for p in os.environ.get("CONVNET_KERAS_PYTHONS", "").split(os.pathsep) if p]


@pytest.fixture(scope="module", params=["tutorial", "variants", "residual", "shared", "layers"])
def convnet_files(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, str(HERE / "write_convnet_files.py"), str(folder),
                    "--model", request.param], check=True, env=env, capture_output=True)
    return folder


@pytest.mark.skipif(not PYTHONS, reason="set CONVNET_KERAS_PYTHONS to interpreters with Keras")
@pytest.mark.parametrize("python", PYTHONS)
def test_real_keras_loads_convnet_files(python, convnet_files):
    env = dict(os.environ)
    env.setdefault("KERAS_BACKEND", "torch")
    env.pop("PYTHONPATH", None)
    result = subprocess.run([python, str(HERE / "check_with_keras.py"), str(convnet_files)],
                            capture_output=True, text=True, env=env, timeout=600)
    report = [line for line in result.stdout.splitlines() if "max |diff|" in line]
    assert result.returncode == 0 and report, result.stdout + result.stderr
    assert all(line.split("OK")[0] for line in report) and not any("FAIL" in r for r in report)


@pytest.fixture(scope="module", params=["tutorial", "variants", "residual", "shared", "layers",
                                        "merges", "every_layer"])
def convnet_whole_model_files(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"whole_{request.param}")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, str(HERE / "write_convnet_keras_files.py"), str(folder),
                    "--model", request.param], check=True, env=env, capture_output=True)
    return folder


@pytest.mark.skipif(not PYTHONS, reason="set CONVNET_KERAS_PYTHONS to interpreters with Keras")
@pytest.mark.parametrize("python", PYTHONS)
def test_real_keras_loads_convnet_keras_and_h5_compiled(python, convnet_whole_model_files):
    """Keras's ``load_model`` on convnet's ``model.keras`` and ``compiled.h5`` returns a compiled
    model: the same predictions, ``evaluate`` gives convnet's loss and metrics under the names
    convnet logged, and Keras 3 restores the optimizer state of the ``.keras`` file exactly."""
    env = dict(os.environ)
    env.setdefault("KERAS_BACKEND", "torch")
    env.pop("PYTHONPATH", None)
    result = subprocess.run([python, str(HERE / "check_with_keras.py"),
                             str(convnet_whole_model_files)],
                            capture_output=True, text=True, env=env, timeout=600)
    report = [line for line in result.stdout.splitlines() if "max |diff|" in line]
    assert result.returncode == 0 and report, result.stdout + result.stderr
    assert any("load_model(model.keras)" in line for line in report), report
    assert not any("FAIL" in line for line in report), report
    if not convnet_whole_model_files.name.startswith("whole_shared"):
        assert all("compiled=True" in line and "evaluate" in line for line in report), report
        if "keras 3" in report[0]:
            assert "optimizer state restored" in report[0], report
