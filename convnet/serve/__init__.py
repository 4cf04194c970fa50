"""``convnet serve``: a model in the browser -- draw a digit, see every layer's output and its
arithmetic, the backward pass with its chain rule, a gradient check, one optimizer step and its
undo, and training live.

    url = model.serve()                     # or convnet.serve.start(model).url
    convnet.serve.inline(url)               # in a notebook: the page in an IFrame

The page (``static/``) only shows numbers; every one comes from convnet's own code through the
JSON endpoints of :mod:`convnet.serve.api` (listed in docs/serve.md), served by the standard
library's ``ThreadingHTTPServer`` (:mod:`convnet.serve.server`). :class:`LiveView`
(:mod:`convnet.serve.live`) streams training to the same page.

Imports stay lazy here: ``convnet.callbacks`` re-exports LiveView, and must not pull in the
models module while it is itself being imported.
"""

from __future__ import annotations

from typing import Any

_RUNNING: dict[str, Any] = {}


def start(model, weights=None, port: int = 0, host: str = "127.0.0.1",
          open_browser: bool = False):
    """Serve ``model`` (after loading ``weights``, a weights file, if given) in a background
    thread; returns the running server (``.url``, ``.close()``)."""
    from convnet.serve import server

    if weights is not None:
        model.load_weights(weights)
    running = server.start(model, host=host, port=port)
    _RUNNING[running.url] = running
    if open_browser:
        import webbrowser
        webbrowser.open(running.url)
    return running


def stop(url: str | None = None) -> None:
    """Stop the server at ``url`` (every server started by :func:`start` when None)."""
    for key in [url] if url is not None else list(_RUNNING):
        running = _RUNNING.pop(key, None)
        if running is not None:
            running.close()


def inline(url: str, width: int | str = "100%", height: int = 800):
    """The page at ``url`` in an IFrame, for Jupyter (needs IPython)."""
    try:
        from IPython.display import IFrame
    except ImportError:
        raise ImportError("convnet.serve.inline needs IPython (a Jupyter notebook); open "
                          f"{url} in a browser instead") from None
    return IFrame(url, width=width, height=height)


def __getattr__(name: str):
    if name == "LiveView":
        from convnet.serve.live import LiveView
        return LiveView
    raise AttributeError(f"module 'convnet.serve' has no attribute {name!r}")


__all__ = ["start", "stop", "inline", "LiveView"]
