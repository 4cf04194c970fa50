"""`convnet export`: a saved model as ONNX, or a one-line error saying what is missing."""

import importlib.util

import pytest
from test_cli import ROOT, run

FIXTURE = ROOT / "tests" / "fixtures" / "keras" / "seed_k2"
HAS_ONNX = importlib.util.find_spec("onnx") is not None


@pytest.mark.skipif(not HAS_ONNX, reason="the onnx package is not installed (convnet[onnx])")
def test_export_json_and_weights_to_onnx(tmp_path):
    import onnx
    out = tmp_path / "digit.onnx"
    result = run("export", FIXTURE / "model.json", FIXTURE / "weights.h5", out)
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)


@pytest.mark.skipif(HAS_ONNX, reason="checks the message shown without the onnx package")
def test_without_onnx_the_error_names_the_extra(tmp_path):
    result = run("export", FIXTURE / "model.json", FIXTURE / "weights.h5", tmp_path / "d.onnx")
    assert result.returncode == 1 and "convnet[onnx]" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "d.onnx").exists()


@pytest.mark.parametrize("args,message", [
    (["{json}", "{weights}", "digit.h5"], "the output must be an .onnx file"),
    (["{json}", "digit.onnx"], "holds only the architecture; also give its weights file"),
    (["missing.json", "{weights}", "digit.onnx"], "file not found: missing.json"),
])
def test_export_errors_are_one_line(tmp_path, args, message):
    args = [a.format(json=FIXTURE / "model.json", weights=FIXTURE / "weights.h5") for a in args]
    result = run("export", *args, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
