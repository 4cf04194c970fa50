"""The "compiling kernels (first run only)..." notice: printed once, only for long compiles."""

import io

import numba
import numpy as np
import pytest
from numba.core import event

from convnet.kernels import compile_notice
from convnet.kernels.compile_notice import MESSAGE, CompileNotice

needs_jit = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing compiles without the JIT")


def _fresh_kernel():
    """A new dispatcher each call (this module's name is the listener's prefix below)."""
    def add_rows(a):
        total = 0.0
        for i in range(a.shape[0]):
            total += a[i, 0] * 2.0 + np.sqrt(abs(a[i, 1]))
        return total
    return numba.njit(add_rows)


def _compile_with(notice, kernel, x):
    event.register("numba:compile", notice)
    try:
        return kernel(x)
    finally:
        event.unregister("numba:compile", notice)


@needs_jit
def test_a_compile_longer_than_the_threshold_prints_the_notice_once():
    out = io.StringIO()
    notice = CompileNotice(after=0.0, stream=out, module_prefix=__name__)
    x = np.ones((3, 2))
    _compile_with(notice, _fresh_kernel(), x)
    _compile_with(notice, _fresh_kernel(), x)                # a second compile: still once
    assert out.getvalue() == MESSAGE + "\n"
    assert notice.printed and notice.spent > 0


@needs_jit
def test_short_compiles_and_other_modules_print_nothing():
    out = io.StringIO()
    quick = CompileNotice(after=60.0, stream=out, module_prefix=__name__)
    _compile_with(quick, _fresh_kernel(), np.ones((3, 2)))
    other = CompileNotice(after=0.0, stream=out, module_prefix="someone_else.")
    _compile_with(other, _fresh_kernel(), np.ones((3, 2)))
    assert out.getvalue() == "" and not quick.printed and not other.printed
    assert quick.spent > 0 and other.spent == 0


@needs_jit
def test_a_kernel_already_compiled_raises_no_event():
    out = io.StringIO()
    kernel = _fresh_kernel()
    kernel(np.ones((3, 2)))
    notice = CompileNotice(after=0.0, stream=out, module_prefix=__name__)
    _compile_with(notice, kernel, np.ones((4, 2)))          # same types: no compile
    assert out.getvalue() == "" and notice.spent == 0


def test_a_closed_stream_never_breaks_the_run():
    out = io.StringIO()
    out.close()
    notice = CompileNotice(after=0.0, stream=out, module_prefix=__name__)
    notice._depth = 1                                       # as inside a compile
    notice._print()                                         # must not raise
    assert notice.printed


def test_convnet_installs_its_listener_once(monkeypatch):
    calls = []
    monkeypatch.setattr(compile_notice, "_installed", False)
    monkeypatch.setattr(compile_notice.event, "register", lambda kind, l: calls.append(kind))
    compile_notice.install()
    compile_notice.install()
    assert calls == ["numba:compile"]
    monkeypatch.setattr(compile_notice, "_installed", False)
    monkeypatch.setenv("CONVNET_COMPILE_NOTICE", "0")
    compile_notice.install()
    assert calls == ["numba:compile"]
