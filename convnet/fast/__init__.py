"""The fast engine: how layers run when ``backend.get_engine() == "fast"`` (the default).

Everything here is a function of arrays (input, kernel, saved outputs, dL/dy in; arrays out) or
a small object a layer owns (its scratch memory, its chosen way of running). Nothing here takes
a layer or reads one's attributes: the layers in :mod:`convnet.layers` hold the math as plain
NumPy (the NumPy engine runs exactly that code) and hand their arrays to these functions on the
fast engine. The tests hold the two engines to the same numbers.

* :mod:`.scratch` -- reused scratch arrays, per key and per worker thread.
* :mod:`.tasks` -- how a batch is cut into per-core tasks (see :mod:`convnet.threads`).
* :mod:`.conv_im2col` -- im2col + GEMM as per-core tasks, or in whole-batch blocks.
* :mod:`.conv_winograd` -- Winograd's F(4x4, 3x3) as per-core tasks.
* :mod:`.conv_paths` -- the one place Conv2D's way of running is chosen.
* :mod:`.inference` -- ``predict``'s per-core pass through the leading layers.
"""
