"""`convnet serve`'s page in a real browser: what it shows is what the API answers, and it adds up.

Headless Chromium from the distribution (``apt-get install chromium chromium-driver``), driven
by Selenium through the distribution's chromedriver, named explicitly so that Selenium Manager
never runs and nothing is downloaded. Without either, every test here skips and says why. The
browser helpers (launch, drawing with pointer events, clicking a map cell, waiting for the page
to be idle) live in docs/make_serve_screenshots.py, which writes the README's pictures with them.

The server is the real one: ``python -m convnet serve MODEL WEIGHTS --port 0 --no-browser`` in a
subprocess, on the tutorial model trained for one quick epoch here (about 90% accurate, enough
to read a clear 7). The page computes nothing, so every check compares its numbers with the
API's for the same image, or adds up the terms it shows.
"""

import importlib.util
import json
import math
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import error_bounds

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_serve_screenshots",
                                               ROOT / "docs" / "make_serve_screenshots.py")
assert _spec is not None and _spec.loader is not None
shots = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shots)

MISSING = shots.missing()
pytestmark = [
    pytest.mark.skipif(MISSING is not None, reason=f"no browser for the page's tests: {MISSING}"),
    pytest.mark.slow,
    pytest.mark.needs_jit,      # trains the tutorial model; the server runs it on every click
]
COMPACT = (",", ":")            # JSON.stringify's spacing


# ----- the server, the model, the browser -------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The quick tutorial model, trained with a LiveView (its snapshots are the training
    panel's), saved as model.json + model.h5."""
    from convnet.serve.live import LiveView

    live = LiveView(every_n_batches=20, panel=16)
    model = shots.quick_model(callbacks=[live])
    folder = tmp_path_factory.mktemp("serve")
    (folder / "model.json").write_text(model.to_json())
    model.save_weights(folder / "model.h5")
    yield folder, live
    live.close()


@pytest.fixture(scope="module")
def server(trained):
    """``convnet serve`` in a subprocess; its URL is the first line it prints."""
    folder, _ = trained
    log = open(folder / "serve.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "convnet", "serve", str(folder / "model.json"),
         str(folder / "model.h5"), "--port", "0", "--no-browser"],
        stdout=subprocess.PIPE, stderr=log, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(120)
    try:
        assert first and first[0].startswith("http://127.0.0.1:"), \
            f"convnet serve printed {first!r}; its log:\n{(folder / 'serve.log').read_text()}"
        yield first[0].strip().rstrip("/")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


@pytest.fixture(scope="module")
def page(server):
    with shots.browser() as driver:
        shots.open_page(driver, server + "/")
        yield driver


@pytest.fixture(scope="module")
def seven(page):
    """A 7 drawn on the canvas with real pointer events; the image the page sent."""
    shots.draw(page)
    return page.execute_script("return window.convnetServe.image")


def post(url: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)


def get(url: str, path: str) -> dict:
    with urllib.request.urlopen(url + path, timeout=120) as response:
        return json.load(response)


def data(page, selector: str, name: str) -> str:
    """An element's data attribute (``name`` in camelCase, as in ``dataset``)."""
    return page.execute_script(f"return document.querySelector(arguments[0]).dataset.{name}",
                               selector)


def weights(url: str, layers: list[str] | None = None) -> dict:
    """The served model's weights by layer, to compare bit for bit: GET /api/weights_digest (a
    SHA-256 of every array's bytes) where the server has it; otherwise every weight as numbers from
    /api/filters (float32 -> JSON -> float32 is exact; the Dense kernel takes seconds)."""
    try:
        digest = get(url, "/api/weights_digest")
        by_layer: dict[str, list] = {}
        for entry in digest["weights"]:
            by_layer.setdefault(entry["layer"], []).append(entry["sha256"])
        return {name: hashes for name, hashes in by_layer.items()
                if layers is None or name in layers}
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise
    model = get(url, "/api/model")
    names = [layer["name"] for layer in model["layers"]
             if any(w["name"] == "kernel" for w in layer["weights"])]
    return {name: post(url, "/api/filters", {"layer": name})
            for name in names if layers is None or name in layers}


# ----- the tests --------------------------------------------------------------------------------
def test_a_drawn_seven_shows_the_probabilities_the_api_gives(page, server, seven):
    shown = page.execute_script("return window.convnetServe.shown")
    assert shown["image"] == seven, "the bars on screen are for an older drawing"
    image = np.array(seven)
    assert image.shape == (28, 28) and image.min() >= 0 and image.max() <= 1
    # the pointer events drew the strokes: every column of the bar is inked, so is the
    # diagonal's end, and the border that no stroke reached is black
    assert image[7:10, 9:19].max(axis=0).min() > 0.5
    assert image[21:24, 11:15].max() > 0.5
    assert image[:4].max() == 0 and image[26:].max() == 0 and image[:, :4].max() == 0

    api = post(server, "/api/predict", {"image": seven})
    bars = [float(data(page, f'#probabilities [data-digit="{k}"]', "value")) for k in range(10)]
    np.testing.assert_allclose(bars, api["probabilities"], rtol=0, atol=1e-6)
    label = page.find_element("id", "predicted-label").text
    assert int(label) == api["label"] == 7, (label, api)


def test_a_clicked_feature_map_cell_shows_arithmetic_that_adds_up_to_its_value(page, server,
                                                                                seven):
    forward = post(server, "/api/forward", {"image": seven})
    names = [layer["name"] for layer in forward["layers"]]
    conv = [layer for layer in forward["layers"] if layer["class"] == "Conv2D"][-1]
    values = np.array(conv["values"])
    index = [int(i) for i in np.unravel_index(np.argmax(values), values.shape)]
    shots.click_cell(page, conv["name"], index)
    shots.wait_for(page, "document.querySelector('#cell-arithmetic').dataset.index === "
                         f"'{json.dumps(index, separators=COMPACT)}'")

    products = [float(v) for v in page.execute_script(
        "return [...document.querySelectorAll('#cell-arithmetic td.product')]"
        ".map(td => td.dataset.value)")]
    kernel = np.array(post(server, "/api/filters", {"layer": conv["name"]})["kernel"],
                      np.float32)
    n = kernel.shape[0] * kernel.shape[1] * kernel.shape[2]
    assert len(products) == n, f"{len(products)} products shown, the window has {n}"
    bias = float(data(page, "#cell-arithmetic", "bias"))
    pre = float(data(page, "#cell-arithmetic", "preActivation"))
    value = float(data(page, "#cell-arithmetic", "value"))
    # (/api/forward sends float32 values as their shortest float32 spelling)
    assert np.float32(value) == np.float32(values[tuple(index)]), \
        "the cell's value is not the layer's output there"

    magnitude = math.fsum(abs(p) for p in products) + abs(bias)
    exact = math.fsum(products + [bias])
    # the shown pre-activation is the shown products and bias added up (in float64) ...
    error_bounds.check(pre, exact, error_bounds.gamma(n + 1, np.float64) * magnitude,
                       "sum of the products shown + bias vs the pre-activation shown")
    # ... and the layer's own float32 output is relu of it, within the rounding of whichever
    # path the engine took (im2col's sum of n products, or Winograd's transforms)
    previous = np.array(forward["layers"][names.index(conv["name"]) - 1]["values"], np.float32)
    winograd = error_bounds.winograd_conv_bound(previous[None], kernel)[(0, *index)]
    bound = max(error_bounds.gamma(n + 1, np.float32) * magnitude, winograd) \
        + error_bounds.unit_roundoff(np.float32) * abs(value)
    error_bounds.check(value, max(exact, 0.0), bound, "relu(z) vs the value shown")


def test_backward_shows_the_api_loss_and_a_clicked_weight_passes_the_gradient_check(
        page, server, seven):
    from selenium.webdriver.support.ui import Select

    Select(page.find_element("id", "target-label")).select_by_value("7")
    shots.click(page, "#run-backward")
    shots.wait_for(page, "document.querySelector('#loss').dataset.value !== ''")
    api = post(server, "/api/backward", {"image": seven, "label": 7})
    assert float(data(page, "#loss", "value")) == api["loss"]
    saliency = np.array(api["input_gradient"])
    assert float(data(page, "#saliency", "min")) == saliency.min()
    assert float(data(page, "#saliency", "max")) == saliency.max()

    # the chain rule of a clicked gradient: a unit of the first Dense layer (a strip of bars)
    dense = [layer for layer in api["layers"] if layer["class"] == "Dense"][0]
    strip = page.find_element(
        "css selector", f'#grad-layers .layer-card[data-layer="{dense["name"]}"] canvas.fmap')
    unit = 40
    _click_at(page, strip, (unit + 0.5) / strip.get_property("width"), 0.5)
    shots.wait_for(page, f"document.querySelector('#backward-cell').dataset.index === '[{unit}]'")
    shown = float(data(page, "#backward-cell", "gradient"))
    assert np.float32(shown) == np.float32(dense["output_gradient"][unit])
    terms = page.execute_script("return [...document.querySelectorAll('#backward-cell .term')]"
                                ".map(t => +t.dataset.value)")
    assert terms and len(terms) <= 64
    if int(data(page, "#backward-cell", "termCount")) == len(terms):    # all listed: they add up
        error_bounds.check(float(data(page, "#backward-cell", "sum")), math.fsum(terms),
                           error_bounds.gamma(len(terms), np.float64) *
                           math.fsum(abs(t) for t in terms), "the chain-rule terms shown")

    # click weight [r, c, ci, co] of the second convolution's filters (tiles of kh x kw with
    # 1-pixel gaps: one column per output channel, one row per input channel)
    model = get(server, "/api/model")
    conv = [layer for layer in model["layers"] if layer["class"] == "Conv2D"][-1]
    kh, kw = conv["weights"][0]["shape"][:2]
    weight = [1, 2, 3, 5]
    canvas = page.find_element(
        "css selector", f'#layers .layer-card[data-layer="{conv["name"]}"] canvas.tiles')
    x = 1 + weight[3] * (kw + 1) + weight[1] + 0.5
    y = 1 + weight[2] * (kh + 1) + weight[0] + 0.5
    _click_at(page, canvas, x / canvas.get_property("width"), y / canvas.get_property("height"))
    assert page.find_element("id", "gc-layer").get_property("value") == conv["name"]
    assert page.find_element("id", "gc-weight").get_property("value") == "kernel"
    assert page.find_element("id", "gc-index").get_property("value") == "1,2,3,5"

    shots.click(page, "#gradcheck")
    shots.wait_for(page, "document.querySelector('#gradcheck-result').dataset.relativeError")
    relative = float(data(page, "#gradcheck-result", "relativeError"))
    assert relative < 1e-4
    check = post(server, "/api/gradcheck", {"image": seven, "label": 7, "layer": conv["name"],
                                            "weight": "kernel", "index": weight})
    assert float(data(page, "#gradcheck-result", "analytic")) == check["analytic"]
    assert float(data(page, "#gradcheck-result", "numeric")) == check["numeric"]
    assert relative == check["relative_error"]


def test_step_then_undo_brings_every_weight_back_bit_for_bit(page, server, seven):
    from selenium.webdriver.support.ui import Select

    Select(page.find_element("id", "target-label")).select_by_value("7")
    before = weights(server)
    bars = page.execute_script("return window.convnetServe.shown.probabilities")
    loss = post(server, "/api/backward", {"image": seven, "label": 7})["loss"]

    shots.click(page, "#step")
    shots.wait_for(page, "document.querySelector('#step-result').dataset.lossAfter")
    assert float(data(page, "#step-result", "lossBefore")) == loss
    assert float(data(page, "#step-result", "lossAfter")) < loss
    assert data(page, "#step-depth", "step") == "1"
    convs = [name for name in before if name.startswith("conv")]
    stepped = weights(server, convs)
    assert any(stepped[name] != before[name] for name in convs), "Step changed no weight"
    assert page.execute_script("return window.convnetServe.shown.probabilities") != bars

    shots.click(page, "#undo")
    shots.wait_for(page, "document.querySelector('#step-depth').dataset.step === '0'")
    assert weights(server) == before, "Undo did not restore every weight bit for bit"
    assert page.execute_script("return window.convnetServe.shown.probabilities") == bars


def test_every_panel_links_to_a_section_of_backprop_md(page, server):
    model = get(server, "/api/model")
    links = page.execute_script("return [...document.querySelectorAll('a.doc')].map(a => a.href)")
    assert len(links) >= 7
    for href in links:
        base, _, anchor = href.partition("#")
        assert base == server + model["docs"], href
        assert anchor in model["docs_sections"], f"{href}: no such section in docs/backprop.md"
    with urllib.request.urlopen(server + model["docs"], timeout=60) as response:
        assert response.status == 200


def test_a_picked_test_image_shows_its_label_and_the_api_probabilities(page, server):
    page.find_element("id", "test-index").clear()
    page.find_element("id", "test-index").send_keys("3")
    shots.click(page, "#pick-test")
    shots.wait_for(page, "window.convnetServe.imageSource === 'test image 3'")
    test = get(server, "/api/test_image?index=3")
    shown = page.execute_script("return window.convnetServe.shown")
    assert shown["image"] == test["image"]
    assert f"true label is {test['label']}" in page.find_element("id", "test-label").text
    assert page.find_element("id", "target-label").get_property("value") == str(test["label"])
    api = post(server, "/api/predict", {"image": test["image"]})
    assert shown["probabilities"] == api["probabilities"]
    assert page.find_element("id", "predicted-label").text == str(api["label"])


def test_a_drawing_and_an_uploaded_picture_are_prepared_by_the_server(page, server, seven,
                                                                      tmp_path):
    from matplotlib import image as mpimg

    # "Centre like MNIST": the drawing, cropped and centred by convnet.preprocessing
    drawn = page.execute_script("return window.convnetServe.image")
    shots.click(page, "#prepare")
    shots.wait_for(page, "window.convnetServe.imageSource === 'centred drawing'")
    prepared = post(server, "/api/prepare", {"pixels": drawn})["image"]
    assert page.execute_script("return window.convnetServe.shown.image") == prepared

    # an uploaded picture: dark ink on white paper, 4x the size, sent as the PNG file itself
    digit = np.array(get(server, "/api/test_image?index=0")["image"])
    picture = tmp_path / "digit.png"
    mpimg.imsave(picture, 1 - np.kron(digit, np.ones((4, 4))), cmap="gray", vmin=0, vmax=1)
    page.find_element("id", "upload").send_keys(str(picture))
    shots.wait_for(page, "window.convnetServe.imageSource === 'upload digit.png'")
    shots.wait_idle(page)
    request = urllib.request.Request(server + "/api/prepare", data=picture.read_bytes(),
                                     headers={"Content-Type": "image/png"})
    with urllib.request.urlopen(request, timeout=60) as response:
        expected = json.load(response)["image"]
    shown = page.execute_script("return window.convnetServe.shown")
    assert shown["image"] == expected
    assert shown["probabilities"] == post(server, "/api/predict", {"image": expected})[
        "probabilities"]


def test_the_training_panel_shows_the_snapshots_and_scrubs_back(page, trained):
    _, live = trained
    events = get(live.url.rstrip("/"), "/api/live/history")["events"]
    assert len(events) >= 2
    page.get(live.url)
    shots.wait_for(page, f"document.querySelector('#live-scrub').max === '{len(events) - 1}' "
                         "&& document.querySelectorAll('#live-panel .digit-tile').length === "
                         f"{len(events[-1]['panel'])}")

    def tiles():
        return page.execute_script("return [...document.querySelectorAll('#live-panel "
                                   ".digit-tile')].map(t => +t.dataset.predicted)")

    assert tiles() == [p["predicted"] for p in events[-1]["panel"]]
    page.execute_script("const s = document.querySelector('#live-scrub'); s.value = '0'; "
                        "s.dispatchEvent(new Event('input'))")
    assert page.find_element("id", "live-scrub-label").text.startswith(f"1 / {len(events)}")
    shots.wait_for(page, "document.querySelectorAll('#live-panel .digit-tile').length > 0")
    assert tiles() == [p["predicted"] for p in events[0]["panel"]]
    assert page.execute_script("return document.querySelectorAll('#live-filters canvas').length")


def _click_at(page, element, fx: float, fy: float) -> None:
    """Click ``element`` at fractions (fx, fy) of its width and height."""
    from selenium.webdriver.common.action_chains import ActionChains

    shots.scroll_to(page, element)
    size = element.size
    ActionChains(page, duration=5).move_to_element_with_offset(
        element, round((fx - 0.5) * size["width"]), round((fy - 0.5) * size["height"])) \
        .click().perform()
    shots.wait_idle(page)
