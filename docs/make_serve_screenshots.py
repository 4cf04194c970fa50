"""Screenshots of the ``convnet serve`` page, for the README: one command writes docs/serve/*.png.

    python docs/make_serve_screenshots.py

It trains the tutorial model briefly with a :class:`~convnet.callbacks.LiveView` (so the training
panel has curves, filters and test digits to show), opens the page that LiveView serves in the
distribution's headless Chromium, draws a 7 with real pointer events, clicks a feature map, runs
the backward pass, a gradient check and a Step, and saves each panel as a picture.

The browser is driven with Selenium through the distribution's ``chromedriver`` (``apt-get
install chromium chromium-driver``), named explicitly, so Selenium Manager never runs and
nothing is downloaded. The helpers here (:func:`browser`, :func:`draw`, :func:`wait_idle`, ...)
are the ones tests/test_serve_browser.py uses.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "serve"
CHROMIUM = os.environ.get("CONVNET_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CONVNET_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1")

# A 7 as one stroke, in input pixels (x = column, y = row): the bar, then the diagonal down-left,
# inside the 20x20 middle where MNIST's digits are.
SEVEN = [[(8.0, 8.0), (20.0, 8.0), (16.0, 15.0), (12.5, 23.0)]]


def missing() -> str | None:
    """Why the browser cannot run here (None when it can)."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} not found (apt-get install {package})"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@contextlib.contextmanager
def browser(width: int = 1360, height: int = 1000) -> Iterator:
    """Headless Chromium driven by Selenium, with a fresh profile that is removed afterwards."""
    os.environ.setdefault("SE_OFFLINE", "true")        # Selenium Manager must never download
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="convnet-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.set_script_timeout(60)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_idle(driver, timeout: float = 60) -> None:
    """Wait until the page has no request pending or scheduled."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: d.execute_script(
        "return !!(window.convnetServe && window.convnetServe.model && "
        "window.convnetServe.idle())"))


def wait_for(driver, script: str, timeout: float = 60):
    """Wait until ``script`` (a JavaScript expression) is truthy; returns its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: d.execute_script(f"return {script}"))


def scroll_to(driver, element, block: str = "center") -> None:
    """Scroll ``element`` into view at once (the page scrolls smoothly, which would move it
    under a click)."""
    driver.execute_script(
        "arguments[0].scrollIntoView({block: arguments[1], behavior: 'instant'})", element, block)


def open_page(driver, url: str) -> None:
    driver.get(url)
    wait_idle(driver)
    wait_for(driver, "document.querySelectorAll('#layers .layer-card').length > 0")


def draw(driver, strokes=SEVEN, steps_per_segment: int = 8) -> None:
    """Draw ``strokes`` (lists of (x, y) in input pixels) on #canvas with real pointer events:
    press, moves, release, as a mouse does."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    canvas = driver.find_element(By.ID, "canvas")
    size = canvas.size
    scale = size["width"] / 28

    def offset(point):          # Selenium's offsets are from the element's centre
        return (round(point[0] * scale - size["width"] / 2),
                round(point[1] * scale - size["height"] / 2))

    for stroke in strokes:
        actions = ActionChains(driver, duration=5)
        here = offset(stroke[0])
        actions.move_to_element_with_offset(canvas, *here).click_and_hold()
        for a, b in zip(stroke, stroke[1:]):
            for k in range(1, steps_per_segment + 1):
                t = k / steps_per_segment
                there = offset((a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])))
                actions.move_by_offset(there[0] - here[0], there[1] - here[1])
                here = there
        actions.release().perform()
    wait_idle(driver)


def click_cell(driver, layer: str, index: list[int]) -> None:
    """Click cell ``index`` ([row, col, channel]) of feature map ``layer`` at its centre."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    canvas = driver.find_element(
        By.CSS_SELECTOR, f'#layers canvas.fmap[data-layer="{layer}"][data-channel="{index[2]}"]')
    rows, cols = canvas.get_property("height"), canvas.get_property("width")
    size = canvas.size
    x = (index[1] + 0.5) * size["width"] / cols - size["width"] / 2
    y = (index[0] + 0.5) * size["height"] / rows - size["height"] / 2
    scroll_to(driver, canvas)
    ActionChains(driver, duration=5).move_to_element_with_offset(canvas, round(x), round(y)) \
        .click().perform()
    wait_idle(driver)


def click(driver, selector: str) -> None:
    from selenium.webdriver.common.by import By

    element = driver.find_element(By.CSS_SELECTOR, selector)
    scroll_to(driver, element)
    element.click()
    wait_idle(driver)


def quick_model(images: int = 2000, seed: int = 1, callbacks=()):
    """The tutorial model after one epoch on the first ``images`` MNIST training images
    (85-90% test accuracy: enough to read a clear 7, in a few seconds)."""
    import convnet
    from convnet.datasets import mnist
    from convnet.tutorial import tutorial_model

    convnet.utils.set_random_seed(seed)
    (x, y), _ = mnist.load_data()
    x = x[:images].reshape(-1, 28, 28, 1).astype("float32") / 255
    model = tutorial_model()
    model.fit(x, convnet.utils.to_categorical(y[:images], 10), batch_size=32, epochs=1,
              verbose=0, callbacks=list(callbacks))
    return model


def shoot(driver, section: str, name: str) -> Path:
    """Save panel ``section`` (an element id) as docs/serve/``name``.png."""
    from selenium.webdriver.common.by import By

    element = driver.find_element(By.ID, section)
    scroll_to(driver, element, "start")
    time.sleep(0.2)
    path = OUT / f"{name}.png"
    tmp = path.with_suffix(".tmp.png")
    element.screenshot(str(tmp))
    tmp.replace(path)                       # never a half-written picture
    return path


def shoot_all(driver, url: str) -> list[Path]:
    """Walk through the page at ``url`` as a learner would, saving each panel."""
    written = []
    open_page(driver, url)
    # the header stays at the top of the page instead of covering the panels
    driver.execute_script("document.querySelector('header').style.position = 'static'")
    draw(driver)
    written.append(shoot(driver, "panel-draw", "draw"))
    forward = driver.execute_script("return window.convnetServe.forward.answer.layers")
    conv = [layer for layer in forward if layer["class"] == "Conv2D"][-1]
    click_cell(driver, conv["name"], _brightest(conv["values"]))
    written.append(shoot(driver, "panel-layers", "forward"))
    driver.execute_script("document.querySelector('#target-label').value = '7'")
    click(driver, "#run-backward")
    wait_for(driver, "document.querySelector('#loss').dataset.value !== ''")
    dense = [layer for layer in forward if layer["class"] == "Dense"][0]["name"]
    _click_strip(driver, "#grad-layers", dense)
    written.append(shoot(driver, "panel-backward", "backward"))
    click(driver, "#gradcheck")
    wait_for(driver, "document.querySelector('#gradcheck-result').dataset.relativeError")
    written.append(shoot(driver, "panel-gradcheck", "gradcheck"))
    click(driver, "#step")
    wait_for(driver, "document.querySelector('#step-result').dataset.lossAfter")
    written.append(shoot(driver, "panel-step", "step"))
    click(driver, "#undo")
    written.append(shoot(driver, "panel-live", "training"))
    return written


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="shoot a page already being served here instead "
                                      "(its training panel shows what that server has)")
    args = parser.parse_args(argv)
    reason = missing()
    if reason:
        print(f"cannot take screenshots: {reason}", file=sys.stderr)
        return 1
    sys.path.insert(0, str(ROOT))
    OUT.mkdir(parents=True, exist_ok=True)
    live = None
    url = args.url
    if url is None:
        from convnet.serve.live import LiveView

        live = LiveView(every_n_batches=8, panel=16)
        print("training the tutorial model briefly, with LiveView...", flush=True)
        quick_model(images=3000, callbacks=[live])
        url = live.url
    assert url is not None
    try:
        with browser(1360, 1000) as driver:
            written = shoot_all(driver, url)
    finally:
        if live is not None:
            live.close()
    for path in written:
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


def _brightest(values) -> list[int]:
    """[row, col, channel] of the largest value of an (h, w, c) nested list."""
    best, where = float("-inf"), [0, 0, 0]
    for i, row in enumerate(values):
        for j, cell in enumerate(row):
            for k, v in enumerate(cell):
                if v > best:
                    best, where = v, [i, j, k]
    return where


def _click_strip(driver, container: str, layer: str, fraction: float = 0.3) -> None:
    """Click a bar of a Dense layer's strip, ``fraction`` of the way along."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    canvas = driver.find_element(By.CSS_SELECTOR,
                                 f'{container} canvas.fmap[data-layer="{layer}"]')
    scroll_to(driver, canvas)
    size = canvas.size
    ActionChains(driver, duration=5).move_to_element_with_offset(
        canvas, round((fraction - 0.5) * size["width"]), 0).click().perform()
    wait_idle(driver)


if __name__ == "__main__":
    sys.exit(main())
