"""Per-kernel micro-benchmarks: numba kernels against their NumPy reference twins, the GEMMs of
the tutorial's conv2 layer (the floor that im2col + BLAS cannot go under), and the pieces of
Winograd's F(4x4, 3x3), which goes under it; and how far each layer of the tutorial model is
from what the machine can do (its peak float32 FMA throughput, measured here).

    python benchmarks/bench_kernels.py            # everything
    python benchmarks/bench_kernels.py --limit    # only the distance to the limit

Shapes are those of one training batch (128) of the tutorial model. Median of repeated calls.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from convnet.kernels import jit, reference  # noqa: E402


def median_ms(fn, repeats: int = 7) -> float:
    fn()  # warm up (and compile)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def main() -> None:
    rng = np.random.default_rng(0)
    n = 128
    x1 = rng.random((n, 28, 28, 1), dtype=np.float32)          # conv1 input
    x2 = rng.random((n, 26, 26, 32), dtype=np.float32)         # conv2 input
    cols2 = jit.im2col(x2, 3, 3, 1, 1)                          # (73728, 288)
    cols1 = jit.im2col(x1, 3, 3, 1, 1)                          # (86528, 9)
    y2 = rng.random((n, 24, 24, 64), dtype=np.float32)         # conv2 output (pool input)
    _, arg = jit.maxpool_forward(y2, 2, 2, 2, 2, 12, 12, 0, 0)
    dy_pool = rng.random((n, 12, 12, 64), dtype=np.float32)
    w2 = rng.random((288, 64), dtype=np.float32)
    dz2 = rng.random((n * 24 * 24, 64), dtype=np.float32)
    z2, b2 = rng.standard_normal((n * 24 * 24, 64), dtype=np.float32), w2[0]
    p = rng.random(9216 * 128, dtype=np.float32)
    k1, b1 = rng.standard_normal((3, 3, 1, 32), dtype=np.float32), w2[0, :32]
    dz1 = rng.standard_normal((n * 26 * 26, 32), dtype=np.float32)
    y1 = np.maximum(rng.standard_normal(dz1.shape, dtype=np.float32), 0)   # conv1's ReLU output
    pooled = rng.random((n, 12, 12, 64), dtype=np.float32)                  # dropout input
    keep = jit.dropout_forward(pooled, 12345, 2**30, 4 / 3)[1]
    g, a, d = (rng.random(p.shape, dtype=np.float32) for _ in range(3))

    cases = [
        # into a reused buffer, as Conv2D does (a fresh 85 MB array costs its page faults too)
        ("im2col conv1 (128,28,28,1)", lambda m: m.im2col(x1, 3, 3, 1, 1, out=cols1)),
        ("im2col conv2 (128,26,26,32)", lambda m: m.im2col(x2, 3, 3, 1, 1, out=cols2)),
        ("col2im conv2", lambda m: m.col2im(cols2, x2.shape, 3, 3, 1, 1)),
        ("maxpool fwd (128,24,24,64)", lambda m: m.maxpool_forward(y2, 2, 2, 2, 2, 12, 12, 0, 0)),
        ("maxpool bwd", lambda m: m.maxpool_backward(dy_pool, arg, y2.shape)),
        ("avgpool fwd (128,24,24,64)", lambda m: m.avgpool_forward(y2, 2, 2, 2, 2, 12, 12, 0, 0)),
        ("bias+relu conv2 (with a copy)", lambda m: m.bias_relu(z2.copy(), b2)),
        ("relu+bias backward conv2", lambda m: m.relu_bias_backward(dz2, y2.reshape(-1, 64))),
        ("adadelta 1.18M params", lambda m: m.adadelta_update(p, g, a, d, 1.0, 0.95, 1e-7)),
        ("direct conv1 + bias + relu", lambda m: m.conv2d_direct(x1, k1, b1, 1, 1, True)),
        ("direct conv1 dL/dK", lambda m: m.conv2d_kernel_grad(x1, dz1, 3, 3, 1, 1)),
        ("direct conv1 ReLU + dK + db", lambda m: m.conv2d_relu_grads(x1, dz1, y1, 3, 3, 1, 1)),
        ("dropout fwd (128,12,12,64)", lambda m: m.dropout_forward(pooled, 12345, 2**30, 4 / 3)),
        ("dropout bwd", lambda m: m.dropout_backward(pooled, keep, 4 / 3)),
    ]
    # all numba runs first: a NumPy twin's BLAS call leaves OpenBLAS's threads spinning for a
    # moment, which would slow down the numba kernel timed right after it
    fast = [median_ms(lambda call=call: call(jit)) for _, call in cases]
    slow = [median_ms(lambda call=call: call(reference), repeats=3) for _, call in cases]
    print(f"{'kernel':<30}{'numba ms':>10}{'NumPy ref ms':>14}{'speed-up':>10}")
    for (name, _), f, s in zip(cases, fast, slow):
        print(f"{name:<30}{f:>10.2f}{s:>14.2f}{s / f:>9.1f}x")
    flop = 2 * cols2.shape[0] * 288 * 64
    print(f"\nconv2 GEMMs, {flop / 1e9:.2f} GFLOP each:")
    for name, fn in [("forward  cols @ K", lambda: cols2 @ w2),
                     ("kernel   cols.T @ dZ", lambda: cols2.T @ dz2),
                     ("input    dZ @ K.T", lambda: dz2 @ w2.T)]:
        ms = median_ms(fn)
        print(f"  {name:<24}{ms:8.2f} ms  {flop / ms / 1e6:6.0f} GFLOPS")
    # what Conv2D does (Conv2D.BLOCK): unfold 32 samples into a small buffer, multiply while
    # it is still in cache; four blocks per batch
    buf = np.empty((32 * 576, 288), dtype=np.float32)

    def blocked_forward():
        for i in range(0, n, 32):
            jit.im2col(x2[i:i + 32], 3, 3, 1, 1, out=buf)
            buf @ w2

    ms = median_ms(blocked_forward)
    print(f"  {'forward, 4 x (im2col 32 + GEMM)':<24}{ms:8.2f} ms  {flop / ms / 1e6:6.0f} GFLOPS"
          " (im2col included)")
    gemm_scaling(w2)
    winograd_pieces(x2[:8], w2.reshape(3, 3, 32, 64), dz2[:8 * 576].reshape(8, 24, 24, 64))


def winograd_pieces(x: np.ndarray, kernel: np.ndarray, dz: np.ndarray) -> None:
    """One per-core chunk of conv2 (8 images) on one thread: each Winograd transform (numba and
    its NumPy definition), and the 36 products of each pass against im2col's one GEMM."""
    from convnet import threads
    from convnet.kernels import winograd, winograd_jit

    n, c, f = x.shape[0], x.shape[3], kernel.shape[3]
    th, tw = winograd.tile_grid(24, 24)
    dth, dtw = winograd.tile_grid(26, 26)
    v = winograd.input_transform(x, 0, th, tw)
    wz = winograd.gradient_transform(dz, th, tw)
    vd = winograd.input_transform(dz, 2, dth, dtw)
    m = np.empty((36, v.shape[1], f), np.float32)
    md = np.empty((36, vd.shape[1], c), np.float32)
    y, dx = np.empty((n, 24, 24, f), np.float32), np.empty(x.shape, np.float32)
    u = winograd.kernel_transform(kernel)
    u_back = winograd.kernel_transform(winograd.flipped_kernel(kernel))
    bias = np.zeros(f, np.float32)
    transforms = [
        ("input tiles of x", lambda: winograd_jit.input_transform_serial(x, 0, th, tw, v),
         lambda: winograd.input_transform(x, 0, th, tw)),
        ("output + bias + ReLU", lambda: winograd_jit.output_transform_serial(
            m, bias, True, th, tw, y), lambda: winograd.output_transform(m, n, th, tw, 24, 24)),
        ("4x4 tiles of dL/dz", lambda: winograd_jit.gradient_transform_serial(dz, th, tw, wz),
         lambda: winograd.gradient_transform(dz, th, tw)),
        ("padded tiles of dL/dz", lambda: winograd_jit.input_transform_serial(
            dz, 2, dth, dtw, vd), lambda: winograd.input_transform(dz, 2, dth, dtw)),
        ("output into dL/dx", lambda: winograd_jit.output_transform_serial(
            md, bias[:c], False, dth, dtw, dx), lambda: winograd.output_transform(
            md, n, dth, dtw, 26, 26)),
    ]
    cols = jit.im2col(x, 3, 3, 1, 1)
    k2, dz2 = kernel.reshape(-1, f), dz.reshape(-1, f)
    im2col_flop = 2 * cols.shape[0] * cols.shape[1] * f
    products = [
        ("forward", lambda: np.matmul(v, u, out=m), lambda: cols @ k2),
        ("dL/dK", lambda: v.transpose(0, 2, 1) @ wz, lambda: cols.T @ dz2),
        ("dL/dx", lambda: np.matmul(vd, u_back, out=md), lambda: dz2 @ k2.T),
    ]
    with threads.single_threaded_blas() if threads.available() else contextlib.nullcontext():
        fast = [median_ms(numba_fn) for _, numba_fn, _ in transforms]
        gemms = [(median_ms(wino), median_ms(plain)) for _, wino, plain in products]
    slow = [median_ms(numpy_fn, repeats=3) for *_, numpy_fn in transforms]
    print(f"\nWinograd F(4x4, 3x3), conv2, {n} images on one thread:")
    for (name, *_), a, b in zip(transforms, fast, slow):
        print(f"  {name:<28}{a:8.2f} ms numba {b:8.2f} ms NumPy {b / a:6.1f}x")
    for (name, *_), (wino, plain) in zip(products, gemms):
        print(f"  {name + ' products':<28}{wino:8.2f} ms (36 GEMMs) against im2col's GEMM "
              f"{plain:.2f} ms ({im2col_flop / plain / 1e6:.0f} GFLOPS)")


def gemm_scaling(w2: np.ndarray) -> None:
    """How well two single-threaded GEMMs share the machine (what Conv2D's per-core tasks rely
    on): sixteen 8-image forward GEMMs on one thread, then on each of two threads at once."""
    from concurrent.futures import ThreadPoolExecutor

    from convnet import threads
    if not threads.available():
        print("\nper-core GEMMs: NumPy's OpenBLAS thread control not found, skipped")
        return
    a = np.random.default_rng(1).random((8 * 576, 288), dtype=np.float32)
    outs = [np.empty((8 * 576, 64), dtype=np.float32) for _ in range(2)]
    flop = 16 * 2 * a.shape[0] * 288 * 64

    def sixteen(i):
        for _ in range(16):
            np.matmul(a, w2, out=outs[i])

    with ThreadPoolExecutor(2) as pool, threads.single_threaded_blas():
        one = median_ms(lambda: sixteen(0))
        two = median_ms(lambda: list(pool.map(sixteen, range(2))))
    print(f"\nper-core GEMMs (8 images, single-threaded BLAS): one thread {flop / one / 1e6:.0f} "
          f"GFLOPS, two threads together {2 * flop / two / 1e6:.0f} GFLOPS "
          f"({2 * one / two:.2f}x)")


# ----- distance to the limit ------------------------------------------------------------------
def peak_gflops() -> tuple[float, float]:
    """The machine's float32 FMA throughput, as the best a large, cache-blocked SGEMM (OpenBLAS,
    tuned per CPU by its authors) reaches: (one core, all cores), in GFLOPS, best of 5. A
    tuned GEMM runs at 85-95 % of the cores' theoretical FMA rate, and is the usual practical
    ceiling; reading the clock and the vector units of a virtual CPU would be a guess."""
    from convnet import threads
    rng = np.random.default_rng(2)
    a, b = (rng.random((1536, 1536), dtype=np.float32) for _ in range(2))
    out = np.empty_like(a)
    flop = 2 * 1536 ** 3

    def best(repeats: int = 5) -> float:
        np.matmul(a, b, out=out)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            np.matmul(a, b, out=out)
            times.append(time.perf_counter() - t)
        return flop / min(times) / 1e9

    one = float("nan")
    if threads.available():
        with threads.single_threaded_blas():
            one = best()
    return one, best()


def conv_flop(n: int, oh: int, ow: int, kh: int, kw: int, c: int, f: int) -> int:
    """Multiply-adds x 2 of a direct (or im2col) convolution pass."""
    return 2 * n * oh * ow * kh * kw * c * f


def winograd_flop(n: int, out_h: int, out_w: int, c: int, f: int) -> int:
    """Multiply-adds x 2 Winograd F(4x4, 3x3) really does for an output of out_h x out_w: 36
    products of (C x F) per 4x4 tile (the transforms' additions not counted)."""
    tiles = -(-out_h // 4) * -(-out_w // 4)
    return 2 * n * tiles * 36 * c * f


def distance_to_limit() -> None:
    """Each conv/dense layer's achieved GFLOPS in a training step (batch 128) and in predict,
    against the machine's peak: how far from the hardware each layer is, not only from PyTorch."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_train import layer_profile

    one, both = peak_gflops()
    print(f"\npeak float32 FMA throughput (large SGEMM, OpenBLAS): one core {one:.0f} GFLOPS, "
          f"all cores {both:.0f} GFLOPS")
    n = 128
    timings = [(f, b) for _, f, b in layer_profile()]       # in the model's layer order
    profile = dict(zip(["conv1", "conv2", "pool", "drop1", "flat", "dense1", "drop2", "dense2"],
                       timings))
    # the tutorial model: conv1 3x3x1->32 on 28x28, conv2 3x3x32->64 on 26x26, dense 9216->128,
    # dense 128->10; backward = dL/dK (+ dL/dx where the layer has an input gradient)
    rows = [
        ("conv1", "direct", conv_flop(n, 26, 26, 3, 3, 1, 32), conv_flop(n, 26, 26, 3, 3, 1, 32),
         None),
        ("conv2", "Winograd", conv_flop(n, 24, 24, 3, 3, 32, 64),
         2 * conv_flop(n, 24, 24, 3, 3, 32, 64),
         (winograd_flop(n, 24, 24, 32, 64),
          winograd_flop(n, 24, 24, 32, 64) + winograd_flop(n, 26, 26, 64, 32))),
        ("dense1", "GEMM", 2 * n * 9216 * 128, 4 * n * 9216 * 128, None),
        ("dense2", "GEMM", 2 * n * 128 * 10, 4 * n * 128 * 10, None),
    ]
    print(f"{'layer':<10}{'path':<10}{'pass':<9}{'ms':>7}{'GFLOP':>8}{'GFLOPS':>8}"
          f"{'% of peak':>10}   (Winograd: its real multiplications)")
    for name, path, fwd_flop, bwd_flop, real in rows:
        fwd_ms, bwd_ms = profile[name]
        for pass_, ms, flop, real_flop in (("forward", fwd_ms, fwd_flop, real and real[0]),
                                           ("backward", bwd_ms, bwd_flop, real and real[1])):
            gflops = flop / ms / 1e6
            line = (f"{name:<10}{path:<10}{pass_:<9}{ms:7.2f}{flop / 1e9:8.3f}{gflops:8.0f}"
                    f"{100 * gflops / both:9.0f}%")
            if real_flop:
                real_gflops = real_flop / ms / 1e6
                line += f"   {real_flop / 1e9:.3f} GFLOP real: {real_gflops:.0f} GFLOPS, " \
                        f"{100 * real_gflops / both:.0f}% of peak"
            print(line)
    print("(conv2's backward also carries the max-pooling layer's backward and the ReLU mask;"
          " dense1's includes its ReLU; conv1, the first layer, needs no dL/dx)")


if __name__ == "__main__":
    if "--limit" in sys.argv[1:]:
        distance_to_limit()
    else:
        main()
        distance_to_limit()
