"""Shared test setup: every test starts with float32, channels_last and fresh layer names."""

import os

import pytest

from convnet import backend, utils

JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")


@pytest.fixture(autouse=True)
def _clean_backend():
    backend.set_floatx("float32")
    backend.set_image_data_format("channels_last")
    backend.clear_session()
    utils.set_random_seed(1234)  # every test draws the same weights, whatever ran before it
    yield
    backend.set_floatx("float32")
    backend.set_image_data_format("channels_last")


def pytest_collection_modifyitems(config, items):
    if not JIT_DISABLED:
        return
    skip = pytest.mark.skip(reason="needs numba JIT: far too slow as plain Python "
                                   "(NUMBA_DISABLE_JIT=1)")
    for item in items:
        if "needs_jit" in item.keywords:
            item.add_marker(skip)
