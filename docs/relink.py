"""Keep the docs' line links on the code they name.

A line link names a symbol in backticks and points at that symbol's lines::

    [`Conv2D._backward_linear`](../convnet/layers/conv.py#L208-L233)

The range is the symbol's ``def``/``class`` as :mod:`ast` sees it: from its first decorator (or
the ``def``/``class`` line) to its last line. ``Class.method`` is a method inside a class (any
depth: ``A.b.c``); a bare ``name`` is a top-level def or class (a test function too). A name may
start with the file's own module name, ``reference.im2col`` in ``kernels/reference.py``, to tell
twins apart. A property with a setter spans both defs. Links to a whole file (no ``#L``) are left
alone.

    python docs/relink.py           # rewrite the ranges in place
    python docs/relink.py --check   # list stale links, write nothing; exit 1 if any

Either way, a line link whose label names no symbol, or names one its file does not define,
is reported and makes the exit status 1.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "docs" / "backprop.md", ROOT / "README.md", ROOT / "benchmarks" / "README.md"]

# [label](relative/path.py#L10-L20) -- not web links, not in-page anchors
LINE_LINK = re.compile(r"\[(?P<label>[^\]]*)\]\((?P<target>(?!https?:|#)[^)#\s]+)"
                       r"#L(?P<first>\d+)(?:-L(?P<last>\d+))?\)")
# the whole label: one dotted name in backticks
SYMBOL_LABEL = re.compile(r"`(?P<name>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)`")

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _span(nodes: list) -> tuple[int, int]:
    first = min(min([n.lineno] + [d.lineno for d in n.decorator_list]) for n in nodes)
    return first, max(n.end_lineno for n in nodes)


def _find(body: list, parts: list[str]) -> tuple[int, int] | None:
    nodes = [n for n in body if isinstance(n, _DEFS) and n.name == parts[0]]
    if not nodes:
        return None
    if len(parts) == 1:
        return _span(nodes)         # several defs of one name: a property and its setter
    for node in nodes:
        found = _find(node.body, parts[1:])
        if found is not None:
            return found
    return None


def symbol_range(path: Path, name: str) -> tuple[int, int]:
    """``(first, last)`` line of the def or class ``name`` (dotted) in the Python file ``path``.

    Raises LookupError when the file defines no such symbol."""
    tree = ast.parse(Path(path).read_text(), filename=str(path))
    parts = name.split(".")
    found = _find(tree.body, parts)
    if found is None and len(parts) > 1 and parts[0] == Path(path).stem:
        found = _find(tree.body, parts[1:])           # reference.im2col in reference.py
    if found is None:
        shown = Path(path).resolve()
        if shown.is_relative_to(ROOT):
            shown = shown.relative_to(ROOT)
        raise LookupError(f"{shown} defines no def or class `{name}`")
    return found


def fragment(first: int, last: int) -> str:
    """``#L10-L20`` (or ``#L10`` for one line)."""
    return f"#L{first}" if first == last else f"#L{first}-L{last}"


def relink_text(text: str, base: Path) -> tuple[str, list[str], list[str]]:
    """Fix every line link of ``text`` (a doc in the folder ``base``).

    Returns the new text, the stale links found (each as ``line N: [label](target#old) ->
    #new``) and the errors (links that cannot be resolved; left unchanged)."""
    stale: list[str] = []
    errors: list[str] = []

    def fix(m: re.Match) -> str:
        line = text.count("\n", 0, m.start()) + 1
        old = fragment(int(m["first"]), int(m["last"] or m["first"]))
        where = f"line {line}: [{m['label']}]({m['target']}{old})"
        label = SYMBOL_LABEL.fullmatch(m["label"])
        if label is None:
            errors.append(f"{where}: the label must name the symbol in backticks, "
                          "e.g. [`Conv2D._forward`]")
            return m[0]
        path = base / m["target"]
        if path.suffix != ".py" or not path.is_file():
            errors.append(f"{where}: not a Python file")
            return m[0]
        try:
            new = fragment(*symbol_range(path, label["name"]))
        except (LookupError, SyntaxError) as e:
            errors.append(f"{where}: {e}")
            return m[0]
        if new == old:
            return m[0]
        stale.append(f"{where} -> {new}")
        return f"[{m['label']}]({m['target']}{new})"

    return LINE_LINK.sub(fix, text), stale, errors


def main(argv: list[str]) -> int:
    check = "--check" in argv
    unknown = [a for a in argv if a != "--check"]
    if unknown:
        print(f"usage: python docs/relink.py [--check]  (unknown: {' '.join(unknown)})",
              file=sys.stderr)
        return 2
    failed = False
    for doc in DOCS:
        if not doc.exists():
            continue
        text = doc.read_text()
        new, stale, errors = relink_text(text, doc.parent)
        name = doc.relative_to(ROOT)
        for message in errors:
            print(f"{name}: {message}", file=sys.stderr)
        failed |= bool(errors)
        if check:
            for message in stale:
                print(f"{name}: stale {message}")
            failed |= bool(stale)
        elif new != text:
            doc.write_text(new)
            print(f"{name}: relinked {len(stale)} of {len(LINE_LINK.findall(text))} line links")
    if check and failed:
        print("run `python docs/relink.py` to fix stale ranges", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
