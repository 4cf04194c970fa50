"""`convnet serve` and `convnet train --live` as a user runs them: in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from test_serve_api import small_model

ROOT = Path(__file__).resolve().parents[1]


def _default_sigint() -> None:
    # a test run started in the background (`cmd &` in a script) ignores SIGINT, and a child
    # inherits that: Ctrl-C would never reach the server. Give the child the default back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*args) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    return subprocess.Popen([sys.executable, "-m", "convnet", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)


def stop(process: subprocess.Popen) -> tuple[int, str, str]:
    """Ctrl-C, as a user stops it; returns (status, rest of stdout, stderr)."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    model = small_model()
    (folder / "model.json").write_text(model.to_json())
    model.save_weights(folder / "model.h5")
    return folder, model


def test_serve_prints_the_url_first_and_answers_predict(saved):
    folder, model = saved
    process = start("serve", folder / "model.json", folder / "model.h5", "--port", "0",
                    "--no-browser")
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/"), url
        image = np.linspace(0, 1, 784).reshape(28, 28)
        body = post(url + "api/predict", {"image": image.tolist()})
        expected = model.predict(image.reshape(1, 28, 28, 1).astype("float32"))[0]
        np.testing.assert_allclose(body["probabilities"], expected, rtol=0, atol=1e-6)
        assert body["label"] == int(np.argmax(expected))
    finally:
        status, _, err = stop(process)
    assert status == 0, err
    assert "warning" not in err


def test_another_host_needs_the_flag_and_prints_a_warning(saved):
    folder, _ = saved
    process = start("serve", folder / "model.json", folder / "model.h5", "--port", "0",
                    "--no-browser", "--host", "0.0.0.0")
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        with urllib.request.urlopen(url + "api/model", timeout=60) as response:
            assert json.loads(response.read())["classes"] == 10
    finally:
        _, _, err = stop(process)
    assert "warning: listening on 0.0.0.0" in err


@pytest.mark.parametrize("args, message", [
    (["serve", "missing.json", "missing.h5"], "file not found: missing.json"),
    (["serve", "{json}"], "holds only the architecture"),
])
def test_serve_errors_are_one_line_with_status_1(saved, args, message):
    folder, _ = saved
    args = [str(folder / "model.json") if a == "{json}" else a for a in args]
    process = start(*args, "--no-browser")
    out, err = process.communicate(timeout=60)
    status = process.returncode
    assert status == 1 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


def test_bad_port_exits_2():
    process = start("serve", "x.json", "--port", "70000")
    assert process.wait(timeout=60) == 2
    assert "port" in process.stderr.read()


@pytest.mark.slow
@pytest.mark.needs_jit
def test_train_live_streams_epochs_to_the_page(tmp_path):
    process = start("train", "--epochs", "1", "--limit", "96", "--batch-size", "32", "--seed",
                    "1", "--live", "--live-every", "1", "--no-browser", "--out", tmp_path)
    try:
        first = process.stdout.readline().strip()
        assert first.startswith("Live view: http://127.0.0.1:"), first
        url = first.split(": ", 1)[1]
        deadline = time.time() + 300
        events: list = []
        while time.time() < deadline:
            with urllib.request.urlopen(url + "api/live/history", timeout=60) as response:
                events = json.loads(response.read())["events"]
            if any(e["kind"] == "epoch" for e in events) and (tmp_path / "metrics.json").exists():
                break
            time.sleep(0.5)
        assert [e["kind"] for e in events] == ["batch"] * 3 + ["epoch"]
        assert len(events[-1]["panel"]) == 16 and "val_loss" in events[-1]["logs"]
        body = post(url + "api/predict", {"image": [[0.0] * 28] * 28})   # the trained model
        assert len(body["probabilities"]) == 10
    finally:
        status, _, err = stop(process)
    assert status == 0, err
