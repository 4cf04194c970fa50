"""The links in the docs point at files that exist, and every line link at the exact lines of the
symbol it names (line links go stale silently when code moves: `python docs/relink.py` fixes
them)."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "docs" / "backprop.md", ROOT / "README.md", ROOT / "benchmarks" / "README.md"]
LINK = re.compile(r"\[([^\]]*)\]\((?!https?:|#)([^)#\s]+)(?:#L(\d+)(?:-L(\d+))?)?\)")
SYMBOL = re.compile(r"`([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)`")     # the whole label

_spec = importlib.util.spec_from_file_location("relink", ROOT / "docs" / "relink.py")
assert _spec is not None and _spec.loader is not None
relink = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(relink)


def _links(line_links_only=False):
    for doc in DOCS:
        text = doc.read_text()
        for m in LINK.finditer(text):
            if line_links_only and m.group(3) is None:
                continue
            line = text.count("\n", 0, m.start()) + 1
            yield pytest.param(doc, m, id=f"{doc.name}:{line}:{m.group(1)}")


def line_link_problem(doc: Path, match: re.Match) -> str | None:
    """Why a ``#L`` link is wrong (its label names no symbol, the file defines no such symbol, or
    the range is not the symbol's), or None."""
    label, target, first, last = match.groups()
    shown = f"{doc.name}: [{label}]({target}#L{first}{f'-L{last}' if last else ''})"
    name = SYMBOL.fullmatch(label)
    if name is None:
        return f"{shown}: a line link's label must name its symbol in backticks, e.g. " \
               "[`Conv2D._forward`](../convnet/layers/conv.py#L...)"
    path = (doc.parent / target).resolve()
    try:
        want = relink.symbol_range(path, name.group(1))
    except (LookupError, OSError, SyntaxError) as e:
        return f"{shown}: {e}"
    if (int(first), int(last or first)) != want:
        return (f"{shown} is stale: `{name.group(1)}` is at L{want[0]}-L{want[1]}; "
                "run `python docs/relink.py`")
    return None


@pytest.mark.parametrize("doc, match", list(_links()))
def test_link_target_exists(doc, match):
    target = match.group(2)
    assert (doc.parent / target).resolve().exists(), f"{doc.name}: link to missing {target}"


@pytest.mark.parametrize("doc, match", list(_links(line_links_only=True)))
def test_line_link_is_its_symbols_range(doc, match):
    problem = line_link_problem(doc, match)
    assert problem is None, problem


def test_the_docs_have_line_links():
    assert len(list(_links(line_links_only=True))) > 40


def _problem(text):
    """The problem reported for one link written as if in docs/backprop.md."""
    return line_link_problem(ROOT / "docs" / "backprop.md", LINK.search(text))


def test_a_stale_or_unnamed_line_link_is_reported():
    first, last = relink.symbol_range(ROOT / "convnet" / "layers" / "conv.py", "Conv2D._forward")
    right = f"[`Conv2D._forward`](../convnet/layers/conv.py#L{first}-L{last})"
    assert _problem(right) is None
    stale = f"[`Conv2D._forward`](../convnet/layers/conv.py#L{first + 1}-L{last})"
    problem = _problem(stale)
    assert problem is not None and "stale" in problem and "python docs/relink.py" in problem
    assert "label must name" in _problem(f"[L{first}-L{last}](../convnet/layers/conv.py"
                                         f"#L{first}-L{last})")
    assert "no def or class `Conv2D._nowhere`" in _problem(
        "[`Conv2D._nowhere`](../convnet/layers/conv.py#L1-L2)")
    # the script fixes what the test reports
    fixed, stale_found, errors = relink.relink_text(f"see {stale}.", ROOT / "docs")
    assert fixed == f"see {right}." and len(stale_found) == 1 and not errors


def test_symbol_ranges_cover_decorators_methods_and_setters(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text(
        "import functools\n"                     # 1
        "\n"                                     # 2
        "@functools.lru_cache\n"                 # 3
        "def top(x):\n"                          # 4
        "    return x\n"                         # 5
        "\n"                                     # 6
        "class A:\n"                             # 7
        "    @property\n"                        # 8
        "    def value(self):\n"                 # 9
        "        return 1\n"                     # 10
        "\n"                                     # 11
        "    @value.setter\n"                    # 12
        "    def value(self, v):\n"              # 13
        "        pass\n"                         # 14
        "\n"                                     # 15
        "    def method(self):\n"                # 16
        "        def inner():\n"                 # 17
        "            return 2\n"                 # 18
        "        return inner()\n")              # 19
    assert relink.symbol_range(source, "top") == (3, 5)
    assert relink.symbol_range(source, "mod.top") == (3, 5)      # the module's own name
    assert relink.symbol_range(source, "A") == (7, 19)
    assert relink.symbol_range(source, "A.value") == (8, 14)
    assert relink.symbol_range(source, "A.method") == (16, 19)
    assert relink.symbol_range(source, "A.method.inner") == (17, 18)
    for missing in ("method", "A.top", "B"):
        with pytest.raises(LookupError):
            relink.symbol_range(source, missing)
