"""``plot_model``: a picture of a model's graph (``keras.utils.plot_model``), drawn with
matplotlib instead of graphviz: one box per layer, an arrow along every edge of the graph
(a ``Sequential`` is a chain; a functional model's skip connections are curved arrows).

Layers are placed in rows by their depth (the longest path from an input), top to bottom
(``rankdir='TB'``) or left to right (``'LR'``). The file is written completely or not at all
(a temporary file in the same folder, renamed).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from convnet.models import Model, Sequential

CHAR_WIDTH, LINE_HEIGHT, FONT_SIZE = 0.075, 0.2, 9     # inches, inches, points
SKIP_ROOM = 0.6                                        # inches right of the boxes


@dataclass
class _Box:
    """One layer: its label lines, its depth, and where it is drawn (inches)."""

    lines: list[str]
    level: int = 0
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0
    parents: list[int] = field(default_factory=list)


def _shape_text(shapes) -> str:
    shapes = list(shapes)
    text = [str(tuple(s)) for s in shapes]
    return text[0] if len(text) == 1 else "[" + ", ".join(text) + "]"


def _nested_lines(model, indent: str = "  └ ") -> list[str]:
    """``expand_nested``: the layers of a model used as a layer, listed inside its box."""
    lines = []
    for layer in model.layers:
        lines.append(f"{indent}{layer.name} ({layer.keras_class_name})")
        if isinstance(layer, Model):
            lines += _nested_lines(layer, "  " + indent)
    return lines


def _describe(layer, inputs, output, dtype, options: dict) -> list[str]:
    kind = layer.keras_class_name
    lines = [f"{layer.name} ({kind})" if options["show_layer_names"] else kind]
    if options["expand_nested"] and isinstance(layer, Model):
        lines += _nested_lines(layer)
    if options["show_layer_activations"]:
        activation = layer.get_config().get("activation") if hasattr(layer, "get_config") \
            else None
        if isinstance(activation, str):
            lines.append(f"activation: {activation}")
    if options["show_shapes"]:
        lines.append(f"input: {_shape_text(inputs)}")
        lines.append(f"output: {_shape_text([output])}")
    if options["show_dtype"]:
        lines.append(f"dtype: {dtype}")
    if options["show_trainable"]:
        lines.append(f"trainable: {'yes' if getattr(layer, 'trainable', True) else 'no'}")
    return lines


def _graph(model, options: dict) -> list[_Box]:
    """The boxes of ``model``, each naming its parents (indices of earlier boxes)."""
    if isinstance(model, Sequential):
        if not model.built or model.input_shape is None:
            raise ValueError("plot_model: the Sequential model is not built yet; give the first "
                             "layer an input_shape, start with keras.Input(shape), or call "
                             "model.build((None, ...)) first")
        start = (None,) + tuple(model.input_shape[1:])
        chain: list[_Box] = [_Box(["InputLayer"] if not options["show_layer_names"] else
                      ["input_layer (InputLayer)"])]
        if options["show_shapes"]:
            chain[0].lines += [f"input: {start}", f"output: {start}"]
        for i, layer in enumerate(model.layers):
            shape_in, shape_out = layer.built_shapes()
            chain.append(_Box(_describe(layer, [(None,) + tuple(shape_in)],
                                        (None,) + tuple(shape_out), layer.dtype, options),
                              parents=[i]))
        return chain
    if not isinstance(model, Model):
        raise TypeError(f"plot_model expects a convnet model, got {type(model).__name__}")
    if not model.built:
        raise ValueError("plot_model: the model has not been called yet (a subclassed model "
                         "is traced on its first batch); call it or fit it first")
    boxes: list[_Box] = []
    index: dict[int, int] = {}            # id(layer) -> box

    def key(tensor) -> int:
        return id(tensor.node.layer) if tensor.node is not None else id(tensor)

    for t in model.inputs:
        name = t.node.layer.name if t.node is not None else t.name
        lines = [f"{name} (InputLayer)" if options["show_layer_names"] else "InputLayer"]
        if options["show_shapes"]:
            lines += [f"input: {tuple(t.shape)}", f"output: {tuple(t.shape)}"]
        if options["show_dtype"]:
            lines.append(f"dtype: {t.dtype}")
        index[key(t)] = len(boxes)
        boxes.append(_Box(lines))
    for node in model.nodes:
        parents = [index[key(t)] for t in node.inputs if key(t) in index]
        k = id(node.layer)
        if k in index:                                  # a shared layer: one box, more edges
            box = boxes[index[k]]
            box.parents += [p for p in parents if p not in box.parents]
            continue
        index[k] = len(boxes)
        boxes.append(_Box(_describe(node.layer, [t.shape for t in node.inputs],
                                    node.output.shape, node.output.dtype, options),
                          parents=list(dict.fromkeys(parents))))
    return boxes


def _layout(boxes: list[_Box], rankdir: str) -> tuple[float, float]:
    """Depths, sizes and positions (inches); returns the picture's (width, height)."""
    for i, box in enumerate(boxes):          # parents come first (topological order)
        box.level = max((boxes[p].level + 1 for p in box.parents if p < i), default=0)
        box.width = max(len(line) for line in box.lines) * CHAR_WIDTH + 0.3
        box.height = len(box.lines) * LINE_HEIGHT + 0.2
    levels: dict[int, list[_Box]] = {}
    for box in boxes:
        levels.setdefault(box.level, []).append(box)
    margin, gap = 0.25, 0.45
    vertical = rankdir == "TB"
    # along the flow: the deepest box of each level sets the pitch; across: boxes side by side
    depth = [max((b.height if vertical else b.width) for b in levels[k]) for k in sorted(levels)]
    across = [sum((b.width if vertical else b.height) + gap for b in levels[k]) - gap
              for k in sorted(levels)]
    span = max(across)
    total = sum(depth) + gap * (len(depth) - 1)
    position = margin
    for k, size in zip(sorted(levels), depth):
        row = levels[k]
        extent = sum((b.width if vertical else b.height) for b in row) + gap * (len(row) - 1)
        cursor = margin + (span - extent) / 2
        for b in row:
            along = position + size / 2
            side = b.width if vertical else b.height
            centre = cursor + side / 2
            cursor += side + gap
            if vertical:
                b.x, b.y = centre, margin + total - (along - margin)
            else:
                b.x, b.y = along, margin + span - (centre - margin)
        position += size + gap
    width, height = (span, total) if vertical else (total, span)
    return width + 2 * margin, height + 2 * margin


def plot_model(model, to_file: str | os.PathLike = "model.png", show_shapes: bool = False,
               show_dtype: bool = False, show_layer_names: bool = False, rankdir: str = "TB",
               expand_nested: bool = False, dpi: int = 200,
               show_layer_activations: bool = False, show_trainable: bool = False,
               **kwargs) -> Figure:
    """Draw ``model``'s layers and their connections to ``to_file`` (PNG, or PDF/SVG by its
    extension; defaults as Keras 3's: class names only, 200 dpi). Returns the matplotlib
    Figure (shown inline in a notebook). ``show_shapes`` adds each layer's input and output
    shapes; ``show_layer_names`` the names; ``rankdir`` is ``'TB'`` (top to bottom) or
    ``'LR'``. A model used as a layer is one box; ``expand_nested`` lists its layers in it."""
    unknown = set(kwargs) - {"layer_range"}
    if unknown:
        raise TypeError(f"plot_model got unexpected arguments {sorted(unknown)}")
    if kwargs.get("layer_range") is not None:
        raise ValueError("plot_model: layer_range is not supported; plot the whole model")
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"plot_model: rankdir must be 'TB' or 'LR', got {rankdir!r}")
    options = {"show_shapes": show_shapes, "show_dtype": show_dtype,
               "show_layer_names": show_layer_names,
               "show_layer_activations": show_layer_activations,
               "show_trainable": show_trainable, "expand_nested": expand_nested}
    boxes = _graph(model, options)
    width, height = _layout(boxes, rankdir)
    skips = any(box.level - boxes[p].level > 1 for box in boxes for p in box.parents)
    if skips and rankdir == "TB":
        width += SKIP_ROOM                 # skip connections go round the right of the boxes
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")
    for box in boxes:
        ax.add_patch(FancyBboxPatch((box.x - box.width / 2, box.y - box.height / 2),
                                    box.width, box.height,
                                    boxstyle="round,pad=0,rounding_size=0.06",
                                    facecolor="#eef3fb", edgecolor="#34495e", linewidth=1))
        ax.text(box.x, box.y, "\n".join(box.lines), ha="center", va="center",
                fontsize=FONT_SIZE, linespacing=1.35)
    for box in boxes:
        for p in box.parents:
            parent = boxes[p]
            style = "arc3"
            if rankdir == "TB" and box.level - parent.level > 1:
                # round the right side of every box between them
                between = [b for b in boxes if parent.level <= b.level <= box.level]
                clear = max(b.x + b.width / 2 for b in between) + SKIP_ROOM / 2
                start = (parent.x + parent.width / 2, parent.y)
                end = (box.x + box.width / 2, box.y)
                style = (f"arc,angleA=0,angleB=0,armA={(clear - start[0]) * 72:.1f},"
                         f"armB={(clear - end[0]) * 72:.1f},rad=6")
            elif rankdir == "TB":
                start = (parent.x, parent.y - parent.height / 2)
                end = (box.x, box.y + box.height / 2)
            else:
                start = (parent.x + parent.width / 2, parent.y)
                end = (box.x - box.width / 2, box.y)
                if box.level - parent.level > 1:
                    style = "arc3,rad=0.3"
            ax.annotate("", xy=end, xytext=start,
                        arrowprops={"arrowstyle": "-|>", "color": "#34495e", "lw": 1,
                                    "shrinkA": 0, "shrinkB": 0, "connectionstyle": style})
    _save(fig, os.fspath(to_file), dpi)
    return fig


def _save(fig: Figure, path: str, dpi: int) -> None:
    extension = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"plot_model: no such folder for to_file: {folder}")
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format=extension, dpi=dpi)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


__all__ = ["plot_model"]
