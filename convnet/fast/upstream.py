"""The gradient that arrives at a Conv2D from above, as backward tasks read it, chunk by chunk."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convnet import kernels
from convnet.fast.scratch import Scratch


@dataclass
class Upstream:
    """One of three forms, all ``(N*OH*OW, F)`` rows in im2col's order unless said:

    * ``dz``: dL/dz itself;
    * ``dy`` and ``y``: dL/dy and the output of a layer with bias and ReLU: each chunk becomes
      ``dz = dy * (y > 0)`` in a thread's scratch, its rows summed into dL/db;
    * ``pool_dy``, ``argmax`` (N, PH, PW, F) and ``y``: the max-pooling layer above's dL/dy and
      winners: each winner gets its dL/dy, then the ReLU mask as above. The pool's dL/dx
      (mostly zeros) is never formed.
    """

    dz: np.ndarray | None = None
    dy: np.ndarray | None = None
    y: np.ndarray | None = None
    pool_dy: np.ndarray | None = None
    argmax: np.ndarray | None = None

    @property
    def sums_bias(self) -> bool:
        """Whether the chunks sum dL/db themselves (the ReLU forms)."""
        return self.dz is None

    def chunk(self, first: int, stop: int, out_hw: tuple[int, int], scratch: Scratch,
              db_share: np.ndarray) -> np.ndarray:
        """dL/dz of samples ``first:stop`` as ``(rows, F)``; for the ReLU forms its rows' sum
        is added into ``db_share``."""
        rows = out_hw[0] * out_hw[1]
        r = slice(first * rows, stop * rows)
        if self.dz is not None:
            return self.dz[r]
        assert self.y is not None
        filters = self.y.shape[-1]
        dz = scratch.mine("dz", ((stop - first) * rows, filters), self.y.dtype)
        if self.pool_dy is None:
            assert self.dy is not None
            kernels.relu_bias_backward_serial(self.dy[r], self.y[r], dz, db_share)
        else:
            assert self.argmax is not None
            shape = (stop - first, *out_hw, filters)
            kernels.unpool_relu_bias_backward_serial(self.pool_dy[first:stop],
                                                     self.argmax[first:stop],
                                                     self.y[r].reshape(shape),
                                                     dz.reshape(shape), db_share)
        return dz
