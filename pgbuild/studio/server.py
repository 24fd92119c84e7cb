"""The studio's HTTP server: the standard library's ``ThreadingHTTPServer``
on 127.0.0.1, the security checks every request passes, the page and its
static files, and the JSON API of :mod:`pgbuild.studio.api`.

Every request must

- come to ``127.0.0.1:PORT`` or ``localhost:PORT`` (the Host header): a
  page on another site whose name was rebound to 127.0.0.1 (DNS
  rebinding) sends its own name, and is refused;
- carry the token, as header ``X-Studio-Token`` or query ``token``;
- if it has an Origin, have this studio's, and not be marked cross-site by
  the browser (``Sec-Fetch-Site``; a link followed from another site may
  only open a page); the studio sends no CORS headers, so no other origin
  can read an answer;
- for POST, be ``Content-Type: application/json``, which a cross-site form
  cannot send without a preflight that the studio never answers.

Answers forbid framing and inline script (CSP), send no Referer and are
never cached. The database sessions are read-only unless ``write`` (the
server refuses writes: ``default_transaction_read_only``) and every
statement has a ``statement_timeout``.

>>> studio = start_studio("postgresql://localhost/app")
>>> print(studio.url)                      # http://127.0.0.1:53117/?token=...
>>> studio.close()
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import sys
import threading
import traceback
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgbuild.database import Database
from pgbuild.errors import PgbuildError
from pgbuild.studio.api import ROUTES, Context, Request
from pgbuild.studio.export import content_disposition
from pgbuild.studio.protocol import ApiError, Download

__all__ = ["STATIC", "Studio", "start_studio", "studio_conninfo"]

STATIC = Path(__file__).resolve().parent / "static"
HOST = "127.0.0.1"
MAX_BODY = 16 * 1024 * 1024

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
    ".map": "application/json",
}

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def studio_conninfo(url: str, *, write: bool, timeout: float) -> str:
    """``url`` with the studio's session settings added to its ``options``:
    ``statement_timeout`` (``timeout`` seconds), hex bytea output, and,
    unless ``write``, ``default_transaction_read_only``."""
    settings = [f"-c statement_timeout={max(1, round(timeout * 1000))}", "-c bytea_output=hex"]
    if not write:
        settings.insert(0, "-c default_transaction_read_only=on")
    given = conninfo_to_dict(url)
    options = " ".join([str(given.get("options") or ""), *settings]).strip()
    extra: dict[str, Any] = {"options": options}
    if not given.get("application_name"):
        extra["application_name"] = "pgbuild studio"
    return make_conninfo(url, **extra)


class Studio:
    """A running studio. ``url`` (with the token) is what to open;
    ``close()`` stops the server and closes its connections. Also a
    context manager."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.port: int = server.server_address[1]
        self.token: str = server.token
        self.write: bool = server.ctx.write
        self.url = f"http://{HOST}:{self.port}/?token={self.token}"
        self.base = f"http://{HOST}:{self.port}"

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C stops it)."""
        while self._thread.is_alive():
            self._thread.join(0.5)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
        self._server.ctx.db.close()

    def __enter__(self) -> Studio:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-write" if self.write else "read-only"
        return f"<Studio {self.base} {mode}>"


def start_studio(
    url: str,
    *,
    port: int = 0,
    write: bool = False,
    timeout: float = 30.0,
    project: str | Path | None = None,
    static_dir: str | Path | None = None,
    pool_size: int = 8,
    quiet: bool = True,
) -> Studio:
    """Serve the studio for the database at ``url`` on 127.0.0.1:``port``
    (0: any free port) in a background thread, and return it.

    ``write`` allows edits (and writes from the SQL console); ``timeout`` is
    every statement's ``statement_timeout`` in seconds; ``project`` is where
    the migrations pane looks for ``pyproject.toml`` (default: the current
    directory); ``static_dir`` replaces the packaged page (tests);
    ``quiet=False`` logs each request (without its token) to stderr.

    Raises :class:`~pgbuild.errors.PgbuildError` when the database cannot
    be reached.
    """
    if timeout <= 0:
        raise PgbuildError("the studio needs a statement timeout above 0 seconds")
    db = Database(studio_conninfo(url, write=write, timeout=timeout), min_size=1,
                  max_size=pool_size, prepare_threshold=None)
    try:
        with db.pool.connection(timeout=15) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        db.close()
        from pgbuild.migrate.config import describe_url

        raise PgbuildError(f"the studio cannot connect to {describe_url(url)}: {exc}") from exc
    ctx = Context(db, write, Path(project) if project is not None else None)
    try:
        server = _Server((HOST, port), _Handler)
    except OSError:
        db.close()
        raise
    server.ctx = ctx
    server.token = secrets.token_urlsafe(24)
    server.static_dir = Path(static_dir).resolve() if static_dir is not None else STATIC
    server.quiet = quiet
    bound = server.server_address[1]
    server.hosts = {f"{HOST}:{bound}", f"localhost:{bound}"}
    server.origins = {f"http://{host}" for host in server.hosts}
    thread = threading.Thread(target=server.serve_forever, name=f"pgbuild-studio-{bound}",
                              daemon=True)
    thread.start()
    return Studio(server, thread)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    ctx: Context
    token: str
    static_dir: Path
    quiet: bool
    hosts: set[str]
    origins: set[str]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pgbuild-studio"
    sys_version = ""
    timeout = 300  # an idle keep-alive connection is dropped after this many seconds
    # Headers and body go out as two writes: without TCP_NODELAY the body
    # waits for the client's delayed ACK of the headers (~40 ms a request).
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _not_allowed(self) -> None:
        self._send_json(405, {"error": f"{self.command} is not supported"}, close=True)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _not_allowed

    # ------------------------------------------------------------ dispatch

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        refusal = self._refusal(method, query)
        if refusal is not None:
            self._send_json(403, {"error": refusal}, close=True)
            return
        try:
            body = self._body() if method == "POST" else None
            path = parts.path
            if method == "GET" and path == "/":
                self._page()
            elif method == "GET" and path.startswith("/static/"):
                self._static(path[len("/static/"):])
            else:
                self._api(method, path, Request(query, body))
        except ApiError as exc:
            self._send_json(exc.status, exc.body())
        except (PgbuildError, psycopg.OperationalError) as exc:
            self._send_json(503, {"error": str(exc).strip()})
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            self._send_json(500, {"error": f"internal error: {type(exc).__name__}: {exc}"})

    def _refusal(self, method: str, query: Mapping[str, str]) -> str | None:
        """Why the request is refused (403), or None."""
        if self.headers.get("Host", "") not in self.server.hosts:
            return "wrong Host header: open the studio at the URL it printed"
        origin = self.headers.get("Origin")
        if origin is not None and origin not in self.server.origins:
            return "cross-origin requests are refused"
        if (self.headers.get("Sec-Fetch-Site", "").lower() == "cross-site"
                and not (method == "GET"
                         and self.headers.get("Sec-Fetch-Mode", "").lower() == "navigate")):
            # A link elsewhere may open the page (it holds the token: the
            # user pasted it); nothing else may come from another site.
            return "cross-site requests are refused"
        given = self.headers.get("X-Studio-Token") or query.get("token") or ""
        if not hmac.compare_digest(given.encode(), self.server.token.encode()):
            return "missing or wrong token: open the studio at the URL it printed"
        if method == "POST":
            kind = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if kind != "application/json":
                return "POST requests must be Content-Type: application/json"
        return None

    def _body(self) -> Any:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            raise ApiError(411, "a POST needs a Content-Length")
        size = int(length)
        if size > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, f"the request body is over {MAX_BODY} bytes")
        raw = self.rfile.read(size)
        try:
            return json.loads(raw) if raw else None
        except ValueError as exc:
            raise ApiError(400, f"the request body is not JSON: {exc}") from exc

    def _api(self, method: str, path: str, request: Request) -> None:
        handler = ROUTES.get((method, path))
        if handler is None:
            if any(p == path for _, p in ROUTES):
                raise ApiError(405, f"{method} {path} is not supported")
            raise ApiError(404, f"no such endpoint: {path}")
        result = handler(self.server.ctx, request)
        if isinstance(result, Download):
            self._download(result)
        else:
            self._send_json(200, result)

    # ------------------------------------------------------------ answers

    def _page(self) -> None:
        try:
            html = (self.server.static_dir / "index.html").read_text(encoding="utf-8")
        except OSError as exc:
            raise ApiError(404, "the studio page (static/index.html) is missing") from exc
        self._send(200, CONTENT_TYPES[".html"],
                   html.replace("__TOKEN__", self.server.token).encode())

    def _static(self, name: str) -> None:
        segments = unquote(name).split("/")
        root = self.server.static_dir
        if not all(_SEGMENT.match(s) for s in segments):
            raise ApiError(404, "no such file")
        path = root.joinpath(*segments).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise ApiError(404, "no such file")
        kind = CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
        self._send(200, kind, path.read_bytes())

    def _send_json(self, status: int, body: Any, *, close: bool = False) -> None:
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        self._send(status, "application/json", data, close=close)

    def _send(self, status: int, content_type: str, data: bytes, *,
              close: bool = False) -> None:
        self.send_response(status)
        self._headers(content_type)
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _headers(self, content_type: str) -> None:
        self.send_header("Content-Type", content_type)
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)

    def _download(self, download: Download) -> None:
        self.send_response(200)
        self._headers(download.content_type)
        self.send_header("Content-Disposition", content_disposition(download.filename))
        chunked = download.length is None
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(download.length))
        self.end_headers()
        try:
            for chunk in download.chunks:
                if not chunk:
                    continue
                if chunked:
                    self.wfile.write(f"{len(chunk):X}\r\n".encode() + chunk + b"\r\n")
                else:
                    self.wfile.write(chunk)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except Exception:
            # Headers are gone: all that is left is to end the connection
            # without the last chunk, so the client knows it is incomplete.
            self.close_connection = True
            if not isinstance(sys.exc_info()[1], ConnectionError):
                traceback.print_exc(file=sys.stderr)
        finally:
            close = getattr(download.chunks, "close", None)
            if close is not None:
                close()

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            # The request line holds the token: log the path only.
            line = f"{self.command} {urlsplit(self.path).path}" if self.command else "-"
            sys.stderr.write(f"studio: {line} {args[1] if len(args) > 1 else ''}\n")
