"""Forward and backward ms of DepthwiseConv2D, SeparableConv2D, Conv2DTranspose and Conv2D on
both engines (and PyTorch's equivalents when torch is importable).

    python benchmarks/bench_depthwise.py [--batches 32 128] [--repeats 10] [--no-torch]

Input: a batch of 28x28x32 float32 images; every layer 3x3 with 32 output channels
(DepthwiseConv2D: depth_multiplier 1, so 32 too), 'valid' padding, Conv2DTranspose stride 2.
Each layer runs ``forward(x, training=True)`` then ``backward(dy)`` (with dL/dx), NumPy engine
and fast engine in alternating rounds; the best of ``--repeats`` rounds counts. PyTorch (eager,
its default threads, NCHW, in this process): ``Conv2d(groups=32)`` for the depthwise layer, that
and a 1x1 ``Conv2d`` for the separable one, ``ConvTranspose2d(stride=2)``, ``Conv2d``;
backward is ``y.backward(dy)`` with the input's gradient too. Machines are shared and noisy:
compare figures from one run only.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

from convnet import backend
from convnet.layers import Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D

SHAPE = (28, 28, 32)
LAYERS = {
    "DepthwiseConv2D(3)": lambda: DepthwiseConv2D(3),
    "SeparableConv2D(32, 3)": lambda: SeparableConv2D(32, 3),
    "Conv2DTranspose(32, 3, strides=2)": lambda: Conv2DTranspose(32, 3, strides=2),
    "Conv2D(32, 3)": lambda: Conv2D(32, 3),
}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def convnet_step(name: str, batch: int):
    """``(forward, backward)`` callables of one built layer on a random batch."""
    rng = np.random.default_rng(0)
    layer = LAYERS[name]()
    layer.build(SHAPE)
    for value in layer.params.values():
        value[...] = rng.standard_normal(value.shape) * 0.1
    x = rng.standard_normal((batch,) + SHAPE).astype("float32")
    dy = rng.standard_normal(layer.forward(x, training=True).shape).astype("float32")
    return (lambda: layer.forward(x, training=True)), (lambda: layer.backward(dy))


def torch_step(name: str, batch: int):
    import torch

    c = SHAPE[2]
    modules = {
        "DepthwiseConv2D(3)": lambda: torch.nn.Conv2d(c, c, 3, groups=c),
        "SeparableConv2D(32, 3)": lambda: torch.nn.Sequential(
            torch.nn.Conv2d(c, c, 3, groups=c, bias=False), torch.nn.Conv2d(c, 32, 1)),
        "Conv2DTranspose(32, 3, strides=2)": lambda: torch.nn.ConvTranspose2d(c, 32, 3, stride=2),
        "Conv2D(32, 3)": lambda: torch.nn.Conv2d(c, 32, 3),
    }
    module = modules[name]()
    x = torch.randn(batch, c, SHAPE[0], SHAPE[1], requires_grad=True)
    dy = torch.randn_like(module(x))
    kept = {}

    def forward():
        kept["y"] = module(x)

    def backward():
        module.zero_grad(set_to_none=True)
        x.grad = None
        kept["y"].backward(dy)

    return forward, backward


def time_pair(forward, backward) -> tuple[float, float]:
    """ms of one forward, then of the backward after it."""
    start = time.perf_counter()
    forward()
    middle = time.perf_counter()
    backward()
    end = time.perf_counter()
    return 1000 * (middle - start), 1000 * (end - middle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args()
    torch_version = None
    if not args.no_torch:
        try:
            import torch
            torch_version = torch.__version__
        except ImportError:
            pass
    print(f"CPU: {cpu_name()}; input (batch, {SHAPE[0]}, {SHAPE[1]}, {SHAPE[2]}) float32; "
          f"forward + backward ms, best of {args.repeats}"
          + (f"; PyTorch {torch_version} eager" if torch_version else ""))
    engines = ["numpy", "fast"] + (["torch"] if torch_version else [])
    header = "| layer | batch | " + " | ".join(
        {"numpy": "NumPy engine", "fast": "fast engine", "torch": "PyTorch"}[e]
        for e in engines) + " | NumPy / fast |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for batch in args.batches:
        for name in LAYERS:
            steps = {}
            for engine in engines:
                if engine == "torch":
                    steps[engine] = torch_step(name, batch)
                else:
                    with backend.engine(engine):
                        steps[engine] = convnet_step(name, batch)
            best = {e: (float("inf"), float("inf"), float("inf")) for e in engines}
            for round_ in range(args.repeats + 1):         # round 0 warms up
                for engine in engines:
                    if engine == "torch":
                        f, b = time_pair(*steps[engine])
                    else:
                        with backend.engine(engine):
                            f, b = time_pair(*steps[engine])
                    if round_ and f + b < best[engine][0]:
                        best[engine] = (f + b, f, b)
            cells = [f"{t:.1f} ({f:.1f} + {b:.1f})" for t, f, b in (best[e] for e in engines)]
            ratio = best["numpy"][0] / best["fast"][0]
            print(f"| {name} | {batch} | " + " | ".join(cells) + f" | {ratio:.1f}x |",
                  flush=True)


if __name__ == "__main__":
    main()
