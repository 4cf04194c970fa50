"""The allocator tuning that ``import convnet`` applies (see convnet/allocator.py)."""

import sys

import pytest

from convnet import allocator


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_glibc_accepts_the_settings():
    assert allocator.tune_malloc() is True


def test_the_environment_can_turn_it_off(monkeypatch):
    monkeypatch.setenv("CONVNET_MALLOC_TUNING", "0")
    assert allocator.tune_malloc() is False


def test_thresholds_are_within_glibc_limits():
    # glibc refuses an mmap threshold above 32 MB on 64-bit (HEAP_MAX_SIZE / 2)
    assert 0 < allocator.SETTINGS[allocator.M_MMAP_THRESHOLD] <= 32 * 2**20
