"""Issue 14: what a Keras user types either works or is refused by an error naming the feature.

Runs every snippet of the catalogue in ``tests/keras_spellings.py`` (nearly 500 tf.keras and
Keras 3 spellings, a few seconds in all). A "works" snippet must run and pass its own checks; a
"refused" one must raise a plain error (not AttributeError, IndexError, KeyError, ... or a numba
error) whose message names the feature. Entries that fail unclearly today are strict xfails with
the reason, so fixing one turns it into an XPASS that asks for its mark to be removed. The
survey's figures print at the end of the module (``python tests/keras_spellings.py`` prints
them, with every unclear outcome, on its own).
"""

import pytest
from keras_spellings import ENTRIES, describe, is_clear_refusal, outcome, run, summary_line

_COUNTS = {"works": 0, "refused": 0, "unclear": 0}


def _param(entry):
    marks = [pytest.mark.xfail(reason=entry.xfail, strict=True)] if entry.xfail else []
    return pytest.param(entry, id=entry.id, marks=marks)


@pytest.fixture(scope="module", autouse=True)
def _survey_summary(request):
    yield
    if sum(_COUNTS.values()) != len(ENTRIES):      # only part of the catalogue ran (-k)
        return
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("\nkeras spellings survey: " + summary_line(_COUNTS))


@pytest.mark.parametrize("entry", [_param(e) for e in ENTRIES])
def test_keras_spelling(entry, tmp_path):
    exc = run(entry, str(tmp_path))
    kind = outcome(entry, exc)
    _COUNTS[kind] += 1
    assert kind == entry.expect, f"{entry.id}:\n{entry.src}\n-> {describe(entry, exc)}"


def test_catalogue_is_sound():
    """Every entry says what it expects, refusals name their feature, and the classifier can
    tell a clear refusal from a crash (so no entry passes whatever happens)."""
    assert len(ENTRIES) >= 300
    assert all(e.expect in ("works", "refused") for e in ENTRIES)
    assert all(e.names for e in ENTRIES if e.expect == "refused")
    assert is_clear_refusal(ValueError("LSTM is not supported"), ("LSTM",))
    assert not is_clear_refusal(ValueError("not supported"), ("LSTM",))
    assert not is_clear_refusal(AttributeError("no attribute 'LSTM'"), ("LSTM",))
    assert not is_clear_refusal(IndexError("LSTM"), ("LSTM",))
