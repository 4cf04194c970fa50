"""`convnet serve`'s endpoints against convnet's own functions, and its safety.

One server on port 0 in a thread, for a small model with the tutorial's layer types (Conv2D,
Conv2D, MaxPooling2D, Dropout, Flatten, Dense, Dropout, Dense softmax) so the tests run in
seconds even without numba. Float tolerances are rounding bounds (tests/error_bounds.py): the
page's sums are added in float64, the layers' in float32.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import urllib.parse

import numpy as np
import pytest

from convnet import activations, optimizers, utils, visualize
from convnet.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from convnet.models import Model, Sequential
from convnet.serve import server as serve_server
from error_bounds import gamma, unit_roundoff


def small_model() -> Sequential:
    utils.set_random_seed(7)
    model = Sequential([
        Conv2D(4, 3, activation="relu", input_shape=(28, 28, 1), name="conv_a"),
        Conv2D(6, 3, activation="relu", name="conv_b"),
        MaxPooling2D(2, name="pool"),
        Dropout(0.25, name="drop_a"),
        Flatten(name="flat"),
        Dense(16, activation="relu", name="hidden"),
        Dropout(0.5, name="drop_b"),
        Dense(10, activation="softmax", name="probs"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer=optimizers.Adadelta(),
                  metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def served():
    model = small_model()
    running = serve_server.start(model)
    yield running, model
    running.close()


class Client:
    """Raw HTTP to the test server (http.client sends paths and headers as given)."""

    def __init__(self, running):
        self.port = running.port

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict | None = None, host: str | None = "127.0.0.1") -> tuple:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            if host is not None:
                conn.putheader("Host", f"{host}:{self.port}")
            data = body.encode() if isinstance(body, str) else body
            for k, v in (headers or {}).items():
                conn.putheader(k, v)
            if data is not None and "Content-Length" not in (headers or {}):
                conn.putheader("Content-Length", str(len(data)))
            conn.endheaders()
            if data is not None:
                conn.send(data)
            response = conn.getresponse()
            payload = response.read()
            return response.status, response.getheader("Content-Type") or "", payload
        finally:
            conn.close()

    def post(self, path: str, body) -> tuple[int, dict]:
        status, _, payload = self.request("POST", path, json.dumps(body),
                                          {"Content-Type": "application/json"})
        return status, json.loads(payload)

    def get(self, path: str) -> tuple[int, dict]:
        status, _, payload = self.request("GET", path)
        return status, json.loads(payload)


@pytest.fixture(scope="module")
def client(served):
    return Client(served[0])


@pytest.fixture(scope="module")
def digit(client):
    status, body = client.get("/api/test_image?index=0")
    assert status == 200 and body["label"] == 7
    return body["image"]


def batch(image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32).reshape(1, 28, 28, 1)


# ----- the numbers --------------------------------------------------------------------------------
def test_model_description(client, served):
    status, body = client.get("/api/model")
    _, model = served
    assert status == 200
    assert body["input_shape"] == [28, 28, 1] and body["classes"] == 10
    assert [layer["name"] for layer in body["layers"]] == [layer.name for layer in model.layers]
    assert body["layers"][0]["weights"] == [{"name": "kernel", "shape": [3, 3, 1, 4]},
                                            {"name": "bias", "shape": [4]}]
    assert body["layers"][0]["params"] == model.layers[0].count_params()
    assert body["layers"][0]["activation"] == "relu"
    assert "conv2d" in body["docs_sections"]


def test_predict_equals_model_predict(client, served, digit):
    _, model = served
    status, body = client.post("/api/predict", {"image": digit})
    assert status == 200
    expected = model.predict(batch(digit))[0]
    np.testing.assert_allclose(body["probabilities"], expected, rtol=0, atol=1e-6)
    assert body["label"] == int(np.argmax(expected))


def test_forward_equals_each_layers_output(client, served, digit):
    _, model = served
    status, body = client.post("/api/forward", {"image": digit})
    assert status == 200
    assert [entry["name"] for entry in body["layers"]] == [layer.name for layer in model.layers]
    for entry, layer in zip(body["layers"], model.layers):
        expected = Model(model.input, layer.output).predict(batch(digit))[0]
        got = np.asarray(entry["values"], dtype=np.float32)
        assert entry["shape"] == list(expected.shape)
        np.testing.assert_array_equal(got, expected, err_msg=layer.name)
        assert entry["min"] == pytest.approx(float(expected.min()))
        assert entry["max"] == pytest.approx(float(expected.max()))


@pytest.mark.parametrize("layer, index", [("conv_a", [5, 7, 2]), ("conv_b", [10, 12, 3]),
                                          ("hidden", [3]), ("probs", [7])])
def test_cell_arithmetic_adds_up(client, digit, layer, index):
    status, cell = client.post("/api/cell", {"image": digit, "layer": layer, "index": index})
    assert status == 200, cell
    products = np.asarray(cell["products"], dtype=np.float64)
    np.testing.assert_array_equal(
        products, np.asarray(cell["inputs"], np.float64) * np.asarray(cell["weights"], np.float64))
    n = products.size
    abs_sum = float(np.abs(products).sum() + abs(cell["bias"]))
    # the page's float64 sum of the listed products, plus the bias, is the pre-activation
    assert abs(products.sum() + cell["bias"] - cell["pre_activation"]) <= \
        gamma(n + 1, np.float64) * abs_sum
    # the layer summed the same products in float32; its activation is 1-Lipschitz (relu)
    if cell["activation"] == "relu":
        assert abs(max(cell["pre_activation"], 0.0) - cell["value"]) <= \
            gamma(n + 1, np.float32) * abs_sum
    else:
        assert cell["activation"] == "softmax"
        z = np.asarray(cell["pre_activations"])
        p = activations.softmax(z)
        # each z_j within e of the layer's; softmax moves p_k by at most p_k (e_k + max e) plus
        # a few roundings of its own
        e = gamma(n + 1, np.float32) * abs_sum * 4
        assert abs(p[index[0]] - cell["value"]) <= p[index[0]] * 2 * e + 16 * unit_roundoff(
            np.float32)
    assert str(cell["value"])[:4] in cell["formula"] or "value" in cell["formula"]


def test_cell_of_pooling_and_passthrough_layers(client, served, digit):
    status, cell = client.post("/api/cell", {"image": digit, "layer": "pool", "index": [4, 5, 1]})
    assert status == 200
    assert cell["weights"] is None and cell["products"] is None
    assert cell["value"] == np.max(cell["inputs"])
    assert cell["input_origin"] == [8, 10]
    status, cell = client.post("/api/cell", {"image": digit, "layer": "flat", "index": [100]})
    assert status == 200 and cell["inputs"] == [cell["value"]]


def test_backward_equals_visualize_input_gradients(client, served, digit):
    _, model = served
    status, body = client.post("/api/backward", {"image": digit, "label": 3})
    assert status == 200
    expected = visualize.input_gradients(model, batch(digit)[0], 3)
    np.testing.assert_array_equal(np.asarray(body["input_gradient"], np.float32),
                                  expected[0][1][..., 0])
    # dL/d(input of layer i+1) is dL/d(output of layer i)
    for entry, (_, grad) in zip(body["layers"][:-1], expected[1:]):
        np.testing.assert_array_equal(np.asarray(entry["output_gradient"], np.float32), grad,
                                      err_msg=entry["name"])
    # the weight gradients are what the layers' backward left (the last call: the same input)
    for entry, layer in zip(body["layers"], model.layers):
        assert set(entry["weight_gradients"]) == set(layer.grads)
        for key, g in entry["weight_gradients"].items():
            np.testing.assert_array_equal(np.asarray(g, np.float32), layer.grads[key])
    p = np.asarray(body["probabilities"])
    assert body["loss"] == pytest.approx(-np.log(p[3]), rel=1e-6)


@pytest.mark.parametrize("layer, index", [("conv_a", [5, 7, 2]), ("conv_b", [10, 12, 3]),
                                          ("pool", [4, 5, 1]), ("flat", [100]),
                                          ("hidden", [3]), ("drop_b", [3]), ("probs", [7])])
def test_backward_cell_terms_sum_to_the_gradient(client, digit, layer, index):
    status, cell = client.post("/api/backward_cell",
                               {"image": digit, "label": 3, "layer": layer, "index": index})
    assert status == 200, cell
    # the layer's backward adds the same terms in float32, in its own order
    assert abs(cell["sum"] - cell["gradient"]) <= \
        gamma(cell["term_count"] + 1, np.float32) * cell["abs_sum"] + 1e-30
    assert len(cell["terms"]) == min(cell["term_count"], 64)
    for term in cell["terms"]:
        assert term["product"] == pytest.approx(term["upstream"] * term["local"], rel=1e-6,
                                                abs=1e-30)


@pytest.mark.parametrize("activation", ["tanh", "gelu"])
def test_backward_cell_through_other_activations(activation):
    from convnet.layers import Activation
    if not hasattr(activations, "needs_input") and activation == "gelu":
        pytest.skip("this convnet has no GELU")
    utils.set_random_seed(5)
    model = Sequential([Flatten(input_shape=(28, 28, 1), name="flat"),
                        Dense(8, activation=activation, name="hidden"),
                        Activation(activation, name="act"),
                        Dense(10, activation="softmax", name="probs")])
    running = serve_server.start(model)
    client = Client(running)
    image = np.linspace(0, 1, 784).reshape(28, 28).tolist()
    try:
        for layer, index in [("flat", [300]), ("hidden", [2]), ("act", [5])]:
            status, cell = client.post("/api/backward_cell", {"image": image, "label": 2,
                                                              "layer": layer, "index": index})
            assert status == 200, cell
            assert abs(cell["sum"] - cell["gradient"]) <= \
                gamma(cell["term_count"] + 1, np.float32) * cell["abs_sum"] * 4 + 1e-30, cell
    finally:
        running.close()


@pytest.mark.parametrize("layer, weight, index", [("conv_a", "kernel", [1, 1, 0, 2]),
                                                  ("conv_b", "kernel", [2, 0, 1, 3]),
                                                  ("hidden", "kernel", [40, 3]),
                                                  ("hidden", "bias", [5]),
                                                  ("probs", "kernel", [3, 3]),
                                                  ("probs", "bias", [3])])
def test_gradcheck_agrees_in_float64(client, digit, layer, weight, index):
    status, check = client.post("/api/gradcheck", {"image": digit, "label": 3, "layer": layer,
                                                   "weight": weight, "index": index})
    assert status == 200, check
    assert not check["kink"], check
    assert check["relative_error"] < 1e-4, check
    if abs(check["analytic"]) > 1e-3:      # the float32 model's own gradient is close too
        assert check["analytic_float32"] == pytest.approx(check["analytic"], rel=1e-3)


def test_gradcheck_says_when_the_weight_sits_on_a_kink(client, digit):
    # untrained biases are 0, so conv_b's ReLUs over the blank background get z = 0 exactly:
    # moving that bias by +-h crosses the kink, and the central difference is not a gradient
    status, check = client.post("/api/gradcheck", {"image": digit, "label": 3, "layer": "conv_b",
                                                   "weight": "bias", "index": [3]})
    assert status == 200
    assert check["kink"] and check["slopes"][0] != pytest.approx(check["slopes"][1], rel=1e-3)


def test_step_then_undo_restores_weights_and_optimizer_bit_for_bit(client, served, digit):
    _, model = served
    status, body = client.post("/api/step", {"image": digit, "label": 7})   # a first step
    assert status == 200 and body["step"] >= 1
    weights = model.get_weights()
    opt = model.optimizer
    state = {slot: {k: v.copy() for k, v in per.items()} for slot, per in opt.state.items()}
    iterations = opt.iterations
    status, body = client.post("/api/step", {"image": digit, "label": 7})
    assert status == 200
    assert body["loss_after"] < body["loss_before"]
    changed = [d for d in body["deltas"] if d["max_abs_delta"] > 0]
    assert changed and model.optimizer.iterations == iterations + 1
    for d in body["deltas"]:
        layer = model.get_layer(d["layer"])
        assert d["shape"] == list(layer.params[d["weight"]].shape)
    depth = body["step"]
    status, body = client.post("/api/undo", {})
    assert status == 200 and body == {"step": depth - 1, "restored": True}
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)
        assert before.tobytes() == after.tobytes()
    assert model.optimizer.iterations == iterations
    assert model.optimizer.state.keys() == state.keys()
    for slot, per in state.items():
        for k, v in per.items():
            assert v.tobytes() == model.optimizer.state[slot][k].tobytes()
    while client.post("/api/undo", {})[0] == 200:
        pass
    status, body = client.post("/api/undo", {})
    assert status == 409 and "nothing to undo" in body["error"]


def test_weights_digest_follows_step_and_undo(client, served, digit):
    _, model = served
    status, before = client.get("/api/weights_digest")
    assert status == 200
    total = hashlib.sha256()
    for w in model.get_weights():
        for part in (w.dtype.str.encode(), repr(w.shape).encode(), w.tobytes()):
            total.update(part)
    assert before["sha256"] == total.hexdigest()
    assert [e["shape"] for e in before["weights"]] == [list(w.shape) for w in model.get_weights()]
    assert client.post("/api/step", {"image": digit, "label": 3})[0] == 200
    assert client.get("/api/weights_digest")[1]["sha256"] != before["sha256"]
    assert client.post("/api/undo", {})[0] == 200
    assert client.get("/api/weights_digest")[1] == before


def test_filters_and_test_image(client, served):
    _, model = served
    status, body = client.post("/api/filters", {"layer": "conv_b"})
    assert status == 200
    np.testing.assert_array_equal(np.asarray(body["kernel"], np.float32),
                                  model.get_layer("conv_b").params["kernel"])
    assert len(body["bias"]) == 6
    status, body = client.get("/api/test_image?index=1")
    assert status == 200 and body["label"] == 2
    image = np.asarray(body["image"])
    assert image.shape == (28, 28) and 0 <= image.min() and image.max() <= 1


def test_docs_page_has_the_anchors_the_page_links(client):
    status, kind, payload = client.request("GET", "/docs/backprop.html")
    if status == 404:
        pytest.skip("docs/backprop.md is not in this copy")
    assert status == 200 and kind.startswith("text/html")
    assert b'id="conv2d"' in payload and b'id="maxpooling2d-the-gradient-goes-to-the-winner"' \
        in payload


def test_prepare_a_picture_as_convnet_predict_does(client, tmp_path):
    from pathlib import Path

    from convnet.preprocessing import load_image, prepare_digit
    seven = Path(__file__).resolve().parents[1] / "examples" / "handwritten" / "digit_7.png"
    status, kind, payload = client.request("POST", "/api/prepare", seven.read_bytes(),
                                           {"Content-Type": "image/png"})
    assert status == 200, payload[:300]
    body = json.loads(payload)
    np.testing.assert_array_equal(np.asarray(body["image"], np.float32),
                                  prepare_digit(load_image(seven)))
    pixels = np.zeros((60, 45))
    pixels[10:50, 20:27] = 1.0                                      # a white '1' on black
    status, body = client.post("/api/prepare", {"pixels": pixels.tolist()})
    assert status == 200 and body["original_shape"] == [60, 45]
    np.testing.assert_array_equal(np.asarray(body["image"], np.float32), prepare_digit(pixels))


def test_prepare_refuses_bad_pictures(client, digit):
    import io

    from PIL import Image
    big = io.BytesIO()
    Image.new("L", (2000, 2000)).save(big, format="PNG")            # small file, huge image
    for body, kind, status, words in [
            (b"not a png", "image/png", 400, "not a readable"),
            (big.getvalue(), "image/png", 413, "2000x2000"),
            (b"x" * (5 << 20), "image/png", 413, "limit"),
            (json.dumps({"pixels": [[0.0] * 40] * 40}), "application/json", 400, "no digit"),
            (json.dumps({"pixels": [[0.5] * 2000] * 1200}), "application/json", 413, "limit"),
            (json.dumps({"pixels": "seven"}), "application/json", 400, "pixels")]:
        got, _, payload = client.request("POST", "/api/prepare", body, {"Content-Type": kind})
        assert got == status, payload[:300]
        assert words in json.loads(payload)["error"]
    assert client.post("/api/predict", {"image": digit})[0] == 200


# ----- safety -------------------------------------------------------------------------------------
def image_json(value) -> str:
    return json.dumps({"image": [[value] * 28] * 28})


BAD_REQUESTS = [
    # (method, path, body, extra headers, Host, expected status, words in the error)
    ("POST", "/api/predict", "{not json", {}, "127.0.0.1", 400, "malformed JSON"),
    ("POST", "/api/predict", "[1, 2]", {}, "127.0.0.1", 400, "object"),
    ("POST", "/api/predict", "{}", {}, "127.0.0.1", 400, "'image'"),
    ("POST", "/api/predict", json.dumps({"image": [[0.0] * 28] * 27}), {}, "127.0.0.1", 400,
     "shape"),
    ("POST", "/api/predict", json.dumps({"image": [[0.0] * 27] * 28}), {}, "127.0.0.1", 400,
     "shape"),
    ("POST", "/api/predict", json.dumps({"image": [[0.0] * 28] * 27 + [[0.0] * 27]}), {},
     "127.0.0.1", 400, "rectangular"),
    ("POST", "/api/predict", '{"image": NaN}', {}, "127.0.0.1", 400, "NaN"),
    ("POST", "/api/predict", image_json("NaN").replace('"NaN"', "NaN"), {}, "127.0.0.1", 400,
     "NaN"),
    ("POST", "/api/predict", image_json(1e999).replace("Infinity", "1e999"), {}, "127.0.0.1",
     400, "infinite"),
    ("POST", "/api/predict", image_json(2.0), {}, "127.0.0.1", 400, "[0, 1]"),
    ("POST", "/api/predict", image_json(-0.5), {}, "127.0.0.1", 400, "[0, 1]"),
    ("POST", "/api/predict", image_json("0.5"), {}, "127.0.0.1", 400, "numbers"),
    ("POST", "/api/predict", image_json(None), {}, "127.0.0.1", 400, "numbers"),
    ("POST", "/api/predict", image_json(True), {}, "127.0.0.1", 400, "numbers"),
    ("POST", "/api/predict", json.dumps({"image": "seven"}), {}, "127.0.0.1", 400, "list"),
    ("POST", "/api/predict", "x" * (2 << 20), {}, "127.0.0.1", 413, "limit"),
    ("POST", "/api/predict", None, {}, "127.0.0.1", 411, "Content-Length"),
    ("POST", "/api/predict", image_json(0.0), {}, "evil.com", 403, "Host"),
    ("GET", "/api/model", None, {}, "evil.com", 403, "Host"),
    ("GET", "/", None, {}, "rebind.attacker.example", 403, "Host"),
    ("GET", "/api/model", None, {}, None, 403, "Host"),
    ("POST", "/api/step", json.dumps({"image": [[0.0] * 28] * 28, "label": 1}),
     {"Origin": "http://evil.com"}, "127.0.0.1", 403, "evil.com"),
    ("GET", "/../etc/passwd", None, {}, "127.0.0.1", 404, ""),
    ("GET", "/static/../../etc/passwd", None, {}, "127.0.0.1", 404, ""),
    ("GET", "/static/%2e%2e%2f%2e%2e%2fetc/passwd", None, {}, "127.0.0.1", 404, ""),
    ("GET", "/static/..%2f..%2f..%2fetc%2fpasswd", None, {}, "127.0.0.1", 404, ""),
    ("GET", "/static/%2fetc%2fpasswd", None, {}, "127.0.0.1", 404, ""),
    ("GET", "/static//etc/passwd", None, {}, "127.0.0.1", 404, ""),
    ("GET", "//etc/passwd", None, {}, "127.0.0.1", 404, ""),
    ("GET", "/static/..\\..\\setup.cfg", None, {}, "127.0.0.1", 404, ""),
    ("GET", "/static/.hidden", None, {}, "127.0.0.1", 404, ""),
    ("GET", "/static/../server.py", None, {}, "127.0.0.1", 404, ""),
    ("GET", "/api/nope", None, {}, "127.0.0.1", 404, "no endpoint"),
    ("GET", "/nope.html", None, {}, "127.0.0.1", 404, "not found"),
    ("GET", "/api/predict", None, {}, "127.0.0.1", 405, "POST"),
    ("PUT", "/api/predict", image_json(0.0), {}, "127.0.0.1", 405, "POST"),
    ("POST", "/api/model", "{}", {}, "127.0.0.1", 405, "GET"),
    ("DELETE", "/", None, {}, "127.0.0.1", 405, "DELETE"),
    ("POST", "/api/cell", json.dumps({"image": [[0.0] * 28] * 28, "layer": "nope",
                                      "index": [0, 0, 0]}), {}, "127.0.0.1", 400, "nope"),
    ("POST", "/api/cell", json.dumps({"image": [[0.0] * 28] * 28, "layer": "conv_a",
                                      "index": [26, 0, 0]}), {}, "127.0.0.1", 400, "index"),
    ("POST", "/api/cell", json.dumps({"image": [[0.0] * 28] * 28, "layer": "conv_a",
                                      "index": [1, 2]}), {}, "127.0.0.1", 400, "index"),
    ("POST", "/api/backward", json.dumps({"image": [[0.0] * 28] * 28, "label": 10}), {},
     "127.0.0.1", 400, "label"),
    ("POST", "/api/backward", json.dumps({"image": [[0.0] * 28] * 28, "label": 1.5}), {},
     "127.0.0.1", 400, "label"),
    ("POST", "/api/gradcheck", json.dumps({"image": [[0.0] * 28] * 28, "label": 1,
                                           "layer": "pool", "weight": "kernel",
                                           "index": [0]}), {}, "127.0.0.1", 400, "pool"),
    ("POST", "/api/filters", json.dumps({"layer": "flat"}), {}, "127.0.0.1", 400, "kernel"),
    ("GET", "/api/test_image?index=abc", None, {}, "127.0.0.1", 400, "index"),
    ("GET", "/api/test_image?index=10000", None, {}, "127.0.0.1", 400, "index"),
    ("GET", "/api/live", None, {}, "127.0.0.1", 404, "LiveView"),
]


@pytest.mark.parametrize("method, path, body, headers, host, status, words", BAD_REQUESTS,
                         ids=[f"{r[0]} {r[1][:40]} {r[5]}" for r in BAD_REQUESTS])
def test_bad_requests_get_a_clear_4xx_and_the_server_survives(client, digit, method, path,
                                                              body, headers, host, status,
                                                              words):
    if body is not None:
        headers = {"Content-Type": "application/json", **headers}
    elif method == "POST":
        headers = {"Content-Type": "application/json", **headers}
    got, kind, payload = client.request(method, path, body, headers, host=host)
    assert got == status, payload[:300]
    if kind.startswith("application/json"):
        error = json.loads(payload)["error"]
        assert words in error, error
    assert b"root:" not in payload                     # never a file outside static/
    ok, body = client.post("/api/predict", {"image": digit})
    assert ok == 200 and len(body["probabilities"]) == 10


def test_a_refused_requests_body_is_never_read_as_another_request(client, served):
    import socket
    _, model = served
    iterations = model.optimizer.iterations
    image = json.dumps({"image": [[0.0] * 28] * 28, "label": 1})
    hidden = (f"POST /api/step HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
              f"\r\nContent-Length: {len(image)}\r\n\r\n{image}")
    outer = (f"POST /api/undo HTTP/1.1\r\nHost: evil.com:{client.port}\r\n"
             f"Content-Length: {len(hidden)}\r\n\r\n{hidden}")
    with socket.create_connection(("127.0.0.1", client.port), timeout=30) as sock:
        sock.sendall(outer.encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 403") and received.count(b"HTTP/1.1") == 1
    assert model.optimizer.iterations == iterations          # the hidden Step never ran


def test_allowed_hosts_and_same_origin_posts(client, digit):
    for host in ("localhost", "127.0.0.1", "[::1]"):
        status, _, _ = client.request("GET", "/api/model", host=host)
        assert status == 200, host
    origin = f"http://127.0.0.1:{client.port}"
    status, _, _ = client.request("POST", "/api/predict", json.dumps({"image": digit}),
                                  {"Origin": origin, "Content-Type": "application/json"})
    assert status == 200


def test_static_files_only_from_the_static_folder(client):
    folder = serve_server.STATIC
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        pytest.skip("the page is not in this copy")
    rel = files[0].relative_to(folder).as_posix()
    status, _, payload = client.request("GET", "/static/" + urllib.parse.quote(rel))
    assert status == 200 and payload == files[0].read_bytes()
    if (folder / "index.html").is_file():
        status, kind, payload = client.request("GET", "/")
        assert status == 200 and kind.startswith("text/html")


# ----- LiveView ---------------------------------------------------------------------------------
def read_stream(port: int, start: int = 0, timeout: float = 60) -> list[dict]:
    """The events of /api/live from ``start`` until the stream says training ended."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("GET", f"/api/live?from={start}")
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/event-stream")
    events, name = [], None
    for raw in response:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            if name == "end":
                break
            events.append(json.loads(line[6:]))
    conn.close()
    return events


def tiny_training_data(n: int = 64):
    from convnet.datasets import mnist
    (x, y), _ = mnist.load_data()
    return (x[:n].reshape(-1, 28, 28, 1).astype("float32") / 255,
            utils.to_categorical(y[:n], 10))


def test_live_view_streams_snapshots_and_keeps_them(served):
    from convnet.callbacks import Callback
    from convnet.serve.live import LiveView

    model = small_model()
    x, y = tiny_training_data()
    live = LiveView(panel=4, every_n_batches=1)
    url = live.start(model)
    port = int(url.rsplit(":", 1)[1].strip("/"))
    client = Client(live.server)
    seen: dict = {}

    class DuringTraining(Callback):          # the model belongs to fit while it runs
        def on_epoch_end(self, epoch, logs=None):
            if not seen:
                seen["predict"] = client.post("/api/predict", {"image": x[0, :, :, 0].tolist()})
                seen["model"] = client.get("/api/model")

    import threading
    streamed: list = []
    reader = threading.Thread(target=lambda: streamed.extend(read_stream(port)))
    reader.start()
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0,
                        callbacks=[live, DuringTraining()])
    reader.join(timeout=60)
    try:
        assert seen["predict"][0] == 409 and "training" in seen["predict"][1]["error"]
        assert seen["model"][0] == 200 and seen["model"][1]["training"] is True
        status, body = client.get("/api/live/history")
        events = body["events"]
        # 2 batches per epoch, a snapshot after each, and one at each epoch end
        assert [(e["kind"], e["epoch"], e["batch"]) for e in events] == [
            ("batch", 1, 1), ("batch", 1, 2), ("epoch", 1, None),
            ("batch", 2, 1), ("batch", 2, 2), ("epoch", 2, None)]
        assert [e["seq"] for e in events] == list(range(6))
        assert streamed == events
        for epoch in (0, 1):
            logs = events[3 * epoch + 2]["logs"]
            assert logs["loss"] == pytest.approx(history.history["loss"][epoch])
        last = events[-1]
        kernel = np.asarray(last["filters"]["conv_a"], np.float32)
        np.testing.assert_array_equal(kernel, model.get_layer("conv_a").params["kernel"])
        status, first = client.get("/api/test_image?index=0")
        panel = last["panel"]
        assert [p["index"] for p in panel] == [0, 1, 2, 3] and panel[0]["label"] == 7
        expected = model.predict(batch(first["image"]))[0]
        np.testing.assert_allclose(panel[0]["probabilities"], expected, atol=1e-6)
        assert panel[0]["predicted"] == int(np.argmax(expected))
        # after fit, the page runs the trained model
        ok, body = client.post("/api/predict", {"image": first["image"]})
        assert ok == 200
        np.testing.assert_allclose(body["probabilities"], expected, atol=1e-6)
    finally:
        live.close()


def test_live_view_never_stops_training():
    from convnet.serve.live import LiveView

    class Broken(LiveView):
        def snapshot(self, kind, batch, logs):
            raise RuntimeError("boom")

    model = small_model()
    x, y = tiny_training_data(32)
    live = Broken(panel=0, every_n_batches=1)
    try:
        with pytest.warns(RuntimeWarning, match="LiveView stopped.*boom") as caught:
            history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[live])
        assert len(history.history["loss"]) == 2
        assert len([w for w in caught if "LiveView" in str(w.message)]) == 1   # warned once
    finally:
        live.close()


def test_live_view_with_a_panel_of_your_own():
    from convnet.serve.live import LiveView

    model = small_model()
    x, y = tiny_training_data(32)
    live = LiveView(panel_images=x[:3], panel_labels=[5, 0, 4])
    try:
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[live])
        (event,) = live.broadcaster.history()
        assert [p["label"] for p in event["panel"]] == [5, 0, 4]
        np.testing.assert_array_equal(np.asarray(event["panel"][1]["image"], np.float32),
                                      x[1, :, :, 0])
        np.testing.assert_allclose([p["probabilities"] for p in event["panel"]],
                                   model.predict(x[:3]), atol=1e-6)
    finally:
        live.close()


def test_live_view_checks_its_arguments():
    from convnet.serve.live import LiveView
    with pytest.raises(ValueError, match="every_n_batches"):
        LiveView(every_n_batches=0)
    with pytest.raises(ValueError, match="panel"):
        LiveView(panel=-1)


# ----- other ways in ----------------------------------------------------------------------------
def test_model_serve_returns_a_url_that_serves_it():
    from convnet import serve
    model = small_model()
    url = model.serve()
    try:
        assert url.startswith("http://127.0.0.1:")
        client = Client(type("Running", (), {"port": int(url.rsplit(":", 1)[1].strip("/"))}))
        image = np.linspace(0, 1, 784).reshape(28, 28)
        status, body = client.post("/api/predict", {"image": image.tolist()})
        assert status == 200
        np.testing.assert_allclose(body["probabilities"],
                                   model.predict(image.reshape(1, 28, 28, 1))[0], atol=1e-6)
    finally:
        serve.stop(url)


def test_a_functional_model_and_an_uncompiled_one():
    import convnet
    from convnet.layers import Add

    utils.set_random_seed(3)
    inputs = convnet.Input(shape=(28, 28, 1))
    a = Conv2D(3, 3, padding="same", activation="relu", name="c1")(inputs)
    b = Conv2D(3, 3, padding="same", activation="relu", name="c2")(a)
    x = Flatten(name="f")(Add(name="add")([a, b]))
    model = Model(inputs, Dense(10, activation="softmax", name="out")(x))
    assert model.optimizer is None
    running = serve_server.start(model)
    client = Client(running)
    image = np.linspace(0, 1, 784).reshape(28, 28).tolist()
    try:
        status, body = client.get("/api/model")
        assert status == 200 and [entry["name"] for entry in body["layers"]] == \
            ["c1", "c2", "add", "f", "out"]
        assert body["optimizer"] == "Adadelta"            # compiled for step and backward
        status, body = client.post("/api/predict", {"image": image})
        np.testing.assert_allclose(body["probabilities"],
                                   model.predict(batch(image))[0], atol=1e-6)
        status, body = client.post("/api/forward", {"image": image})
        assert status == 200 and [entry["name"] for entry in body["layers"]] == \
            ["c1", "c2", "add", "f", "out"]
        status, body = client.post("/api/backward", {"image": image, "label": 4})
        assert status == 200
        expected = visualize.input_gradients(model, batch(image)[0], 4)[0][1][..., 0]
        np.testing.assert_allclose(body["input_gradient"], expected,
                                   atol=1e-6 * float(np.abs(expected).max()))
        status, cell = client.post("/api/cell", {"image": image, "layer": "c2",
                                                 "index": [0, 5, 1]})
        assert status == 200 and cell["input_origin"] == [-1, 4]      # 'same' padding
        status, check = client.post("/api/gradcheck", {"image": image, "label": 4,
                                                       "layer": "c2", "weight": "kernel",
                                                       "index": [1, 1, 2, 0]})
        assert status == 200 and check["relative_error"] < 1e-4, check
        weights = model.get_weights()
        assert client.post("/api/step", {"image": image, "label": 4})[0] == 200
        assert client.post("/api/undo", {})[0] == 200
        assert all(a.tobytes() == b.tobytes() for a, b in zip(weights, model.get_weights()))
        status, body = client.post("/api/backward_cell", {"image": image, "label": 4,
                                                          "layer": "c1", "index": [0, 0, 0]})
        assert status == 400 and "Sequential" in body["error"]
    finally:
        running.close()
