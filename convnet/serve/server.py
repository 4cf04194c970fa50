"""The HTTP side of ``convnet serve``: routing, limits and safety, on the standard library.

``http.server.ThreadingHTTPServer`` (one thread per connection) is all a local, single-user
teaching page needs, and it adds no dependency: the endpoints are a dozen JSON functions
(:mod:`convnet.serve.api`), the page is static files, live training is one server-sent-event
stream. A framework would bring routing and templating we do not use, and a dependency to keep.

Safety (a local server is still a server):

* binds to 127.0.0.1 unless told otherwise (the command line warns for any other host);
* answers only requests whose ``Host`` is an IP address, ``localhost`` or the host it was
  started for (a DNS-rebinding page has a domain name there), and refuses POSTs whose
  ``Origin`` is another site (a cross-site form or fetch cannot take a Step);
* reads at most ``MAX_BODY`` bytes of JSON and ``MAX_UPLOAD`` of a picture (413 beyond),
  refuses NaN, wrong shapes and values out of range with a 400 naming the problem
  (:mod:`convnet.serve.arrays`); a request answered without reading its body closes the
  connection, so that body is never parsed as a request of its own;
* serves files from its own ``static`` folder only: names of letters, digits, ``-_.``, no
  ``..``, no absolute paths, no encoded tricks (the decoded path must stay inside the folder);
* survives every bad request: errors become a 4xx (or a 500 with the message) and the next
  request is served as usual.
"""

from __future__ import annotations

import ipaddress
import json
import mimetypes
import re
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from convnet.serve import api
from convnet.serve.arrays import RequestError

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY = 1 << 20                  # 1 MB of JSON (a 28x28 image is about 16 kB)
MAX_UPLOAD = 4 << 20                # 4 MB for a picture sent to /api/prepare
DRAIN = 16 << 20                    # an oversized body up to this size is read and dropped
UPLOAD_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/jpg": ".jpg"}
SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
       "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'")

POST_ROUTES: dict[str, Callable[[api.Session, dict], dict]] = {
    "/api/predict": api.Session.predict,
    "/api/forward": api.Session.forward,
    "/api/filters": api.Session.filters,
    "/api/cell": api.Session.cell,
    "/api/backward": api.Session.backward,
    "/api/backward_cell": api.Session.backward_cell,
    "/api/gradcheck": api.Session.gradcheck,
    "/api/step": api.Session.step,
    "/api/undo": api.Session.undo,
    "/api/prepare": api.Session.prepare,             # (a PNG/JPEG body is routed before)
}
GET_API = ("/api/model", "/api/test_image", "/api/weights_digest", "/api/live",
           "/api/live/history")


class Server(ThreadingHTTPServer):
    """The HTTP server of one :class:`~convnet.serve.api.Session` (and, for training, one
    :class:`~convnet.serve.live.Broadcaster`). ``url`` is where it listens."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, session: api.Session, host: str = "127.0.0.1", port: int = 0,
                 broadcaster=None, quiet: bool = True):
        self.session = session
        self.broadcaster = broadcaster
        self.quiet = quiet
        self.host_name = host
        self.closing = threading.Event()
        if ":" in host:                                  # an IPv6 address such as ::1
            self.address_family = socket.AF_INET6
        super().__init__((host, port), Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = self.host_name
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    def host_allowed(self, header: str | None) -> bool:
        """Whether a ``Host`` (or ``Origin``'s host) names this server without DNS: an IP
        address, ``localhost``, or the host it was started for."""
        if not header:
            return False
        host = header.strip().lower()
        if host.startswith("["):                        # [::1]:8000
            host = host[1:host.find("]")] if "]" in host else host
        elif host.count(":") == 1:
            host = host.rsplit(":", 1)[0]
        if host in ("localhost", self.host_name.lower()):
            return True
        try:
            ipaddress.ip_address(host)
            return True
        except ValueError:
            return False

    def start(self) -> Server:
        """Serve in a daemon thread; returns self."""
        threading.Thread(target=self.serve_forever, name=f"convnet-serve-{self.port}",
                         daemon=True).start()
        return self

    def close(self) -> None:
        """Stop serving and free the port (live streams end)."""
        self.closing.set()
        if self.broadcaster is not None:
            self.broadcaster.wake()
        self.shutdown()
        self.server_close()


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"
    server_version = "convnet-serve"
    sys_version = ""
    timeout = 120                   # seconds a connection may sit idle or half-sent

    # ----- dispatch -------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_OPTIONS(self) -> None:
        self._handle("OPTIONS")

    def _handle(self, method: str) -> None:
        self._consumed = False
        self._allow = None
        try:
            self._route(method)
        except RequestError as exc:
            self._json({"error": str(exc)}, exc.status)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:                       # a bug: say so, keep serving
            traceback.print_exc(file=sys.stderr)
            try:
                self._json({"error": f"internal error: {type(exc).__name__}: {exc}"}, 500)
            except OSError:
                self.close_connection = True

    def _route(self, method: str) -> None:
        if not self.server.host_allowed(self.headers.get("Host")):
            raise RequestError(f"refused: the Host header {self.headers.get('Host')!r} does not "
                               "name this server (use http://127.0.0.1 or localhost)", 403)
        raw = self.path
        if not raw.startswith("/"):
            raise RequestError("the request path must start with /", 400)
        parts = urlsplit(raw)
        path = parts.path
        if path == "/api/prepare" and method == "POST":
            self._check_origin()
            kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if kind in UPLOAD_TYPES:
                data = self._read_body(MAX_UPLOAD)
                self._json(self.server.session.prepare_file(data, UPLOAD_TYPES[kind]))
            else:
                self._json(self.server.session.prepare(self._read_json()))
            return
        if path in POST_ROUTES:
            if method != "POST":
                self._allow = "POST"
                raise RequestError(f"{path} takes POST with a JSON body, not {method}", 405)
            self._check_origin()
            body = self._read_json()
            self._json(POST_ROUTES[path](self.server.session, body))
            return
        if method == "POST" and (path in GET_API or path == "/" or path.startswith("/static/")):
            self._allow = "GET, HEAD"
            raise RequestError(f"{path} takes GET, not POST", 405)
        if path.startswith("/api/") and path not in GET_API:
            raise RequestError(f"no endpoint {path}; see docs/serve.md for the list", 404)
        if method not in ("GET", "HEAD"):
            self._allow = "GET, HEAD, POST"
            raise RequestError(f"method {method} is not supported", 405)
        if path == "/api/model":
            self._json(self.server.session.describe())
        elif path == "/api/test_image":
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            self._json(self.server.session.test_image(query))
        elif path == "/api/weights_digest":
            self._json(self.server.session.weights_digest())
        elif path == "/api/live/history":
            b = self.server.broadcaster
            self._json({"events": [] if b is None else b.history(), "live": b is not None})
        elif path == "/api/live":
            self._stream(parts.query)
        elif path == "/" or path == "/index.html":
            self._file(STATIC / "index.html")
        elif path.startswith("/static/"):
            self._file(self._static(path[len("/static/"):]))
        elif path == api.DOCS:
            self._docs()
        else:
            raise RequestError(f"not found: {path}", 404)

    # ----- requests -------------------------------------------------------------------------
    def _check_origin(self) -> None:
        origin = self.headers.get("Origin")
        if origin is None:
            return                                       # not a browser's cross-site request
        netloc = urlsplit(origin).netloc if origin != "null" else ""
        if not self.server.host_allowed(netloc):
            raise RequestError(f"refused: a page from {origin!r} may not call this server", 403)

    def _read_json(self) -> dict:
        data = self._read_body(MAX_BODY)
        try:
            body = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
        except RequestError:
            raise
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise RequestError(f"malformed JSON body: {exc}"[:300], 400) from None
        if not isinstance(body, dict):
            raise RequestError(f"the JSON body must be an object, got {type(body).__name__}",
                               400)
        return body

    def _read_body(self, limit: int) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            raise RequestError("send the body with a Content-Length (no chunked encoding)", 411)
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            raise RequestError("a POST needs a Content-Length header and a JSON body", 411)
        try:
            length = int(length_text)
        except ValueError:
            raise RequestError(f"bad Content-Length {length_text!r}", 400) from None
        if length < 0:
            raise RequestError(f"bad Content-Length {length}", 400)
        if length > limit:
            self._discard(length)
            raise RequestError(f"request body of {length} bytes is over the limit of "
                               f"{limit} bytes ({limit >> 20} MB)", 413)
        data = self.rfile.read(length)
        self._consumed = True
        if len(data) != length:
            self.close_connection = True
            raise RequestError("the body ended before its Content-Length", 400)
        return data

    def _discard(self, length: int) -> None:
        """Read and drop an oversized body (up to ``DRAIN`` bytes), so the client, still
        sending, gets the 413 rather than a broken connection; beyond that, hang up."""
        if length > DRAIN:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 16))
            if not chunk:
                break
            length -= len(chunk)
        self._consumed = length == 0

    def _static(self, rel: str) -> Path:
        """The file of ``static/`` that ``rel`` names, or a 404 (never anything outside)."""
        rel = unquote(rel)
        names = rel.split("/")
        if not rel or not all(SAFE_NAME.fullmatch(n) for n in names):
            raise RequestError("not found", 404)
        path = (STATIC / rel).resolve()
        if not path.is_relative_to(STATIC) or not path.is_file():
            raise RequestError("not found", 404)
        return path

    # ----- responses ------------------------------------------------------------------------
    _allow: str | None = None
    _consumed = False

    def _unread_body(self) -> bool:
        """Whether the request came with a body this handler did not read: its bytes must not
        be taken for the next request on the connection (a body can hide a whole request, with
        a Host header of its choosing), so the connection is closed after the answer."""
        if self._consumed:
            return False
        return bool(self.headers.get("Transfer-Encoding")) or \
            self.headers.get("Content-Length", "0").strip() not in ("", "0")

    def _headers(self, status: int, content_type: str, length: int,
                 extra: dict[str, str] | None = None) -> None:
        if self._unread_body():
            self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if self._allow is not None:
            self.send_header("Allow", self._allow)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def _json(self, payload: Any, status: int = 200) -> None:
        data = json.dumps(payload, allow_nan=False, separators=(",", ":")).encode("utf-8")
        self._headers(status, "application/json; charset=utf-8", len(data))
        if self.command != "HEAD":
            self.wfile.write(data)

    def _file(self, path: Path) -> None:
        if not path.is_file():
            raise RequestError(f"not found: {path.name} (the page is not installed)", 404)
        data = path.read_bytes()
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/javascript", "image/svg+xml"):
            kind += "; charset=utf-8"
        self._headers(200, kind, len(data), {"Content-Security-Policy": CSP})
        if self.command != "HEAD":
            self.wfile.write(data)

    def _docs(self) -> None:
        from convnet.serve import docs
        path = api.docs_file()
        if path is None:
            raise RequestError("docs/backprop.md is not installed with this copy of convnet",
                               404)
        data = docs.to_html(path.read_text(encoding="utf-8")).encode("utf-8")
        self._headers(200, "text/html; charset=utf-8", len(data),
                      {"Content-Security-Policy": CSP})
        if self.command != "HEAD":
            self.wfile.write(data)

    def _stream(self, query: str) -> None:
        """Server-sent events: every snapshot from ``?from=n`` (or the ``Last-Event-ID`` a
        reconnecting EventSource sends) on, then each new one as it comes."""
        b = self.server.broadcaster
        if b is None:
            raise RequestError("no training is being watched here (start one with "
                               "fit(..., callbacks=[LiveView()]) or convnet train --live)", 404)
        start = {k: v[0] for k, v in parse_qs(query).items()}.get("from")
        last = self.headers.get("Last-Event-ID")
        try:
            after = int(last) + 1 if last is not None else int(start or len(b.history()))
        except ValueError:
            raise RequestError(f"'from' must be an integer, got {start!r}", 400) from None
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.close_connection = True
        if self.command == "HEAD":
            return
        self.wfile.write(b"retry: 2000\n\n")
        self.wfile.flush()
        told_end = False
        while not self.server.closing.is_set():
            events, finished = b.wait(after, timeout=15.0, finished=told_end)
            for event in events:
                data = json.dumps(event, allow_nan=False, separators=(",", ":"))
                self.wfile.write(f"id: {event['seq']}\ndata: {data}\n\n".encode())
                after = event["seq"] + 1
            if finished and not told_end:
                # training ended: say so once, and keep the stream open (closing it would make
                # EventSource reconnect every few seconds); a new fit starts sending again
                self.wfile.write(b"event: end\ndata: {}\n\n")
            elif not events:
                self.wfile.write(b": keep-alive\n\n")
            told_end = finished
            self.wfile.flush()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        if not self.server.quiet:
            super().log_message(format, *args)


def _no_constant(name: str):
    raise RequestError(f"the JSON body holds {name}, which is not a number JSON allows", 400)


def start(model, host: str = "127.0.0.1", port: int = 0, broadcaster=None,
          busy: str | None = None, quiet: bool = True) -> Server:
    """Serve ``model`` in a daemon thread; returns the :class:`Server` (``.url``, ``.close()``)."""
    return Server(api.Session(model, busy=busy), host, port, broadcaster, quiet).start()
