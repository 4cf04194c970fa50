"""Does it matter what a script imports before convnet? And how far is PyTorch, in its own process?

    python benchmarks/bench_import_order.py [--rounds 3]

Each measurement is a fresh Python process, as a user's script would be:

* ``convnet-first``: ``import convnet`` is the script's first line;
* ``numpy-first``: the script imports NumPy, matplotlib and pandas (when installed) and does a
  little NumPy work (a matrix product, which starts OpenBLAS's threads) before ``import convnet``;
* ``torch``: PyTorch eager alone (``torch_alone.py``), so it inherits nothing of convnet's.

Rounds alternate the three so a shared machine's drift hits all of them. Each process trains the
tutorial model (batch 128, Adadelta, random MNIST-shaped data) and predicts in batches of 1000,
and prints samples/s (medians of five timings). The table gives the range over rounds and the
ratios of the medians. The last line is machine-readable.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# the children import this checkout's convnet, whatever is installed
ENV = dict(os.environ, PYTHONPATH=str(HERE.parent))

# the child's first lines: what the user's script imported before convnet
PRELUDES = {
    "convnet-first": "import convnet\n",
    "numpy-first": (
        "import numpy as np\n"
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot\n"
        "try:\n    import pandas\nexcept ImportError:\n    pass\n"
        "a = np.ones((512, 512), dtype=np.float32); (a @ a).sum()   # OpenBLAS's threads start\n"
        "import convnet\n"),
}

_MEASURE = """
import json, statistics, sys
sys.path.insert(0, {bench!r})
from bench_train import ConvnetRunner
runner = ConvnetRunner()
train = statistics.median(runner.train(20) for _ in range(5))
infer = statistics.median(runner.infer(3) for _ in range(5))
print(json.dumps({{"train": train, "infer": infer}}))
"""


def run_convnet(variant: str) -> dict:
    code = PRELUDES[variant] + _MEASURE.format(bench=str(HERE))
    return _child([sys.executable, "-c", code])


def _child(command: list) -> dict:
    out = subprocess.run(command, capture_output=True, text=True, env=ENV)
    if out.returncode != 0:
        sys.exit(f"benchmark process failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_torch() -> dict:
    return _child([sys.executable, str(HERE / "torch_alone.py"), "--json"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    args = p.parse_args()
    names = list(PRELUDES) + ([] if args.no_torch else ["torch"])
    results: dict[str, list[dict]] = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names:
            result = run_torch() if name == "torch" else run_convnet(name)
            results[name].append(result)
            print(f"round {r + 1} {name:14s} train {result['train']:7.0f}  "
                  f"inference {result['infer']:7.0f} samples/s", flush=True)
    print("\nsamples/s over rounds (min-max, median):")
    medians = {}
    for name in names:
        tr = [x["train"] for x in results[name]]
        inf = [x["infer"] for x in results[name]]
        medians[name] = (statistics.median(tr), statistics.median(inf))
        print(f"  {name:14s} train {min(tr):6.0f}-{max(tr):6.0f} ({medians[name][0]:6.0f})   "
              f"inference {min(inf):6.0f}-{max(inf):6.0f} ({medians[name][1]:6.0f})")
    first, later = medians["convnet-first"], medians["numpy-first"]
    line = (f"numpy_first_over_convnet_first_train={later[0] / first[0]:.3f} "
            f"numpy_first_over_convnet_first_infer={later[1] / first[1]:.3f}")
    if "torch" in medians:
        t = medians["torch"]
        line += (f" train_ratio_vs_torch={first[0] / t[0]:.2f}/{later[0] / t[0]:.2f}"
                 f" infer_ratio_vs_torch={first[1] / t[1]:.2f}/{later[1] / t[1]:.2f}")
    print(line)


if __name__ == "__main__":
    main()
