"""How a batch is cut into per-core tasks (run by :func:`convnet.threads.run_tasks`).

A task takes ``size`` samples and works through them ``chunk`` at a time, so that each small
im2col matrix or tile set is used while it is still in that core's cache. Tasks are cut the same
way whatever the number of threads, and sums over samples are kept per task and added in task
order at the end: 1 and 2 threads give the same bits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from convnet import threads


@dataclass(frozen=True)
class Tasks:
    """``size`` samples per task, ``chunk`` samples per step inside a task."""

    size: int = 32
    chunk: int = 8

    def count(self, n: int) -> int:
        """Number of tasks for a batch of ``n`` samples."""
        return -(-n // self.size)

    def chunks(self, t: int, n: int) -> Iterator[tuple[int, int]]:
        """Yield ``(first, stop)``: task ``t``'s samples (of ``n``), ``chunk`` at a time."""
        end = min(n, (t + 1) * self.size)
        for first in range(t * self.size, end, self.chunk):
            yield first, min(first + self.chunk, end)

    def run(self, task: Callable[[int], None], n: int) -> None:
        """Call ``task(t)`` for every task of an ``n``-sample batch, one worker per core."""
        threads.run_tasks(task, self.count(n))
