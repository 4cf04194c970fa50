"""Conv2D's path chosen by measuring it on this machine, once, as cuDNN's benchmark mode does.

:func:`convnet.fast.conv_paths.choose` picks a path by rules whose crossovers were measured on
one kind of machine (``benchmarks/bench_paths.py``). Which path is fastest can depend on the CPU
(vector width, caches, how well its BLAS does thin products). With autotuning on, a Conv2D
times every path that can run it -- forward and backward on a batch of its real per-sample
shape -- the first time it runs, keeps the fastest, and stores the choice in a JSON file per
machine, so later processes read it instead of measuring again.

    convnet.fast.autotune.enable()          # or CONVNET_AUTOTUNE=1 in the environment
    model.fit(...)                          # the first step of each new conv shape measures
    print(model.layers[1].path)             # what was chosen
    print(convnet.fast.autotune.report())   # the times behind every choice on this machine

To force a path instead: ``layer.PATH = "im2col per core"`` on one layer, or ``Conv2D.PATH``
for all (names: :data:`convnet.fast.conv_paths.PATHS`).

The file: ``$CONVNET_AUTOTUNE_FILE``, else ``~/.cache/convnet/conv_paths.json``; written whole
to a temporary file and renamed, so a crash never leaves half a file. A file that cannot be read
(corrupt, another format) is ignored with a warning and measured again; one that cannot be
written only costs a warning. Autotuning is off by default: measuring compiles every candidate
path's kernels, which would lengthen a first run.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np

VERSION = 1                  # of the file's layout
REPEATS = 3                  # timed runs per candidate, after one warm-up (the best counts)

_enabled = os.environ.get("CONVNET_AUTOTUNE", "0") == "1"
_lock = threading.Lock()
_memory: dict[str, dict] | None = None       # the file's choices, once read


def enable(on: bool = True) -> None:
    """Switch autotuning on (or off) for this process."""
    global _enabled
    _enabled = bool(on)


def enabled() -> bool:
    return _enabled


def cache_file() -> Path:
    """Where choices are kept: ``$CONVNET_AUTOTUNE_FILE``, else
    ``~/.cache/convnet/conv_paths.json``."""
    named = os.environ.get("CONVNET_AUTOTUNE_FILE")
    return Path(named) if named else Path.home() / ".cache" / "convnet" / "conv_paths.json"


def machine() -> dict:
    """What a choice depends on besides the layer: the CPU (model name and feature flags), the
    thread count, and the versions of NumPy and numba."""
    model, flags = "", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = value.strip()
    except OSError:                      # not Linux: what the platform module knows
        pass
    model = model or platform.processor() or platform.machine()
    return {"cpu": model,
            "flags": hashlib.sha256(flags.encode()).hexdigest()[:16],
            "threads": numba.get_num_threads(),
            "numpy": np.__version__, "numba": numba.__version__}


def _machine_key() -> str:
    return json.dumps(machine(), sort_keys=True)


def _load() -> dict[str, dict]:
    global _memory
    if _memory is None:
        _memory = {}
        path = cache_file()
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(data, dict) or data.get("version") != VERSION \
                        or not isinstance(data.get("machines"), dict):
                    raise ValueError("not a convnet autotune file")
                _memory = {k: v for k, v in data["machines"].items() if isinstance(v, dict)}
            except (OSError, ValueError) as err:
                warnings.warn(f"convnet autotune: ignoring {path} ({err}); measuring again",
                              RuntimeWarning, stacklevel=3)
    return _memory


def _save(choices: dict[str, dict]) -> None:
    path = cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"version": VERSION, "machines": choices}, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError as err:
        warnings.warn(f"convnet autotune: could not write {path} ({err}); the choice holds "
                      "for this process only", RuntimeWarning, stacklevel=3)


def time_candidate(run: Callable[[], None]) -> float:
    """Best of :data:`REPEATS` timed calls of ``run``, in milliseconds, after a warm-up call."""
    run()
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return 1000 * best


def choose(layer_key: str, candidates: list[str], measure: Callable[[str], float]) -> str:
    """The fastest of ``candidates`` for a layer described by ``layer_key``: read from this
    machine's stored choices, or measured now with ``measure(name) -> milliseconds`` and
    stored. A single candidate is returned without measuring."""
    if len(candidates) == 1:
        return candidates[0]
    with _lock:
        machine_choices = _load().setdefault(_machine_key(), {})
        known = machine_choices.get(layer_key)
        if isinstance(known, dict) and known.get("chosen") in candidates:
            return known["chosen"]
        times = {name: measure(name) for name in candidates}
        chosen = min(times, key=times.__getitem__)
        machine_choices[layer_key] = {"chosen": chosen,
                                      "ms": {k: round(v, 3) for k, v in times.items()}}
        _save(_load())
        return chosen


def report() -> str:
    """Every stored choice for this machine, with the times behind it."""
    choices = _load().get(_machine_key(), {})
    if not choices:
        return f"no autotuned choices for this machine in {cache_file()}"
    lines = [f"autotuned Conv2D paths on {machine()['cpu']} ({cache_file()}):"]
    for key, entry in sorted(choices.items()):
        times = ", ".join(f"{name} {ms:.2f} ms" for name, ms in sorted(entry["ms"].items(),
                                                                       key=lambda kv: kv[1]))
        lines.append(f"  {key}: {entry['chosen']}  ({times})")
    return "\n".join(lines)


def forget() -> None:
    """Drop the choices read into this process (the next choice reads the file again)."""
    global _memory
    with _lock:
        _memory = None
