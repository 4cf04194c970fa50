"""The links in the docs point at files and lines that exist (line links go stale silently)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "docs" / "backprop.md", ROOT / "README.md", ROOT / "benchmarks" / "README.md"]
LINK = re.compile(r"\[([^\]]*)\]\((?!https?:|#)([^)#\s]+)(?:#L(\d+)(?:-L(\d+))?)?\)")


def _links():
    for doc in DOCS:
        for m in LINK.finditer(doc.read_text()):
            yield pytest.param(doc, m, id=f"{doc.name}:{m.group(2)}#L{m.group(3)}")


@pytest.mark.parametrize("doc, match", list(_links()))
def test_link_target_exists(doc, match):
    label, target, first, last = match.groups()
    path = (doc.parent / target).resolve()
    assert path.exists(), f"{doc.name}: link to missing {target}"
    if first is None:
        return
    first, last = int(first), int(last or first)
    lines = path.read_text().splitlines()
    assert 1 <= first <= last <= len(lines), f"{doc.name}: {target}#L{first}-L{last} too far"
    shown = re.search(r"L(\d+)(?:-L(\d+))?$", label.strip("` "))
    if shown:      # a label such as "L105-L125" must say the same lines as the link
        assert (int(shown.group(1)), int(shown.group(2) or shown.group(1))) == (first, last), \
            f"{doc.name}: label {label!r} but link #L{first}-L{last}"


def test_the_docs_have_line_links():
    assert len(list(_links())) > 40
