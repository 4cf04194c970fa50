"""docs/backprop.md as a plain HTML page, so the served page can link its sections offline.

Only what that file uses: headings (with GitHub's anchors, so ``#conv2d`` works here as on
GitHub), paragraphs, lists, code blocks, inline code, emphasis and links. Relative links to the
source (``../convnet/layers/conv.py#L10-L20``) are shown as their text and path, since the page
serves no source files.
"""

from __future__ import annotations

import html
import re

_CODE = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])")


def slug(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", title).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def sections(markdown: str) -> dict[str, str]:
    """Anchor -> heading text, for every heading outside code blocks."""
    found: dict[str, str] = {}
    for _, title in _headings(markdown):
        found.setdefault(slug(title), title)
    return found


def _headings(markdown: str):
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            hashes, title = line.split(" ", 1)
            yield len(hashes), title.strip()


def _inline(text: str) -> str:
    parts = _CODE.split(text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{html.escape(part)}</code>")
            continue
        part = html.escape(part, quote=False)
        part = _LINK.sub(_link, part)
        part = _BOLD.sub(r"<strong>\1</strong>", part)
        part = _ITALIC.sub(r"<em>\1</em>", part)
        out.append(part)
    return "".join(out)


def _link(match: re.Match) -> str:
    label, target = match.group(1), match.group(2)
    if target.startswith("#"):
        return f'<a href="{html.escape(target)}">{label}</a>'
    if target.startswith(("http://", "https://")):
        return f'<a href="{html.escape(target)}" rel="noreferrer">{label}</a>'
    return f'{label} <span class="path">({html.escape(target)})</span>'


def to_html(markdown: str, title: str = "Backpropagation in convnet") -> str:
    """The whole document as one HTML page."""
    body: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    code: list[str] | None = None
    indented: list[str] = []

    def flush() -> None:
        if paragraph:
            body.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()
        if items:
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()
        if indented:
            body.append(f"<pre>{html.escape(chr(10).join(indented))}</pre>")
            indented.clear()

    for line in markdown.splitlines():
        if code is not None:
            if line.startswith("```"):
                body.append(f"<pre>{html.escape(chr(10).join(code))}</pre>")
                code = None
            else:
                code.append(line)
            continue
        if line.startswith("```"):
            flush()
            code = []
        elif line.startswith("    ") and not paragraph and not items:
            indented.append(line[4:])
        elif heading := re.match(r"(#{1,6}) (.*)", line):
            flush()
            level, text = len(heading.group(1)), heading.group(2).strip()
            body.append(f'<h{level} id="{slug(text)}">{_inline(text)}</h{level}>')
        elif re.match(r"\s*([-*]|\d+\.) ", line):
            if paragraph or indented:
                flush()
            items.append(re.sub(r"^\s*([-*]|\d+\.) ", "", line))
        elif not line.strip():
            flush()
        elif items and line.startswith(" "):
            items[-1] += " " + line.strip()
        else:
            if indented:
                flush()
            paragraph.append(line.strip())
    if code is not None:
        body.append(f"<pre>{html.escape(chr(10).join(code))}</pre>")
    flush()
    style = ("body{font:16px/1.5 system-ui,sans-serif;max-width:52em;margin:2em auto;"
             "padding:0 1em}pre{background:#f4f4f4;padding:.6em;overflow:auto}"
             "code{background:#f4f4f4}.path{color:#777;font-size:.85em}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>")
