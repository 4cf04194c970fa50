"""The shape of the code, as the docs promise it: no module reads another object's private
attributes, the fast paths are functions of arrays, and the Layer protocol file holds the
protocol only."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for folder in ("convnet", "benchmarks", "examples", "docs")
                 for p in (ROOT / folder).rglob("*.py"))


def _private_reads(path: Path) -> list[str]:
    """``obj._name`` where ``obj`` is not ``self``/``cls``/``super()``, and ``from m import _x``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                and not node.attr.startswith("__"):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if isinstance(owner, ast.Call) and getattr(owner.func, "id", None) == "super":
                continue
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
        if isinstance(node, ast.ImportFrom):
            found += [f"{path.relative_to(ROOT)}:{node.lineno}: from {node.module} import "
                      f"{alias.name}" for alias in node.names
                      if alias.name.startswith("_") and not alias.name.startswith("__")]
    return found


def test_no_module_reads_another_objects_private_attributes():
    found = [line for path in SOURCES for line in _private_reads(path)]
    assert not found, "private attributes read from outside:\n" + "\n".join(found)


def test_the_checker_finds_a_private_read(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f(layer):\n    return layer._y, self._ok\nfrom m import _helper\n")
    sample = sample.rename(ROOT / "tests" / "_architecture_sample.py")
    try:
        found = _private_reads(sample)
    finally:
        sample.unlink()
    assert sorted(line.split(": ", 1)[1] for line in found) == ["from m import _helper",
                                                                 "layer._y"]


def test_the_fast_paths_never_take_a_layer():
    """``convnet/fast`` (but its per-core inference driver, which calls the public
    ``Layer.infer_chunk`` hook) works on arrays: no function takes a ``layer`` argument or
    imports the layers."""
    for path in sorted((ROOT / "convnet" / "fast").glob("*.py")):
        if path.name == "inference.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names = [a.arg for a in node.args.args + node.args.kwonlyargs]
                assert not {"layer", "layers"} & set(names), \
                    f"{path.name}: {node.name} takes a layer"
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("convnet.layers"), \
                    f"{path.name} imports {node.module}"


def test_the_protocol_file_holds_the_protocol():
    """No threads, scratch buffers or kernels in layers/base.py."""
    text = (ROOT / "convnet" / "layers" / "base.py").read_text()
    for word in ("threading", "kernels", "_buffer", "numba", "Scratch"):
        assert word not in text, word
