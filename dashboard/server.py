"""Serving the dashboard on waitress, the production WSGI server.

The dashboard has no login of its own. It binds 127.0.0.1 by default; binding any other
address needs a token (UPTAKE_TOKEN), which every request must then carry: a header
`Authorization: Bearer TOKEN`, or `?token=TOKEN` once (it sets an HttpOnly cookie)."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from dash import Dash
from flask import Flask, redirect, request
from waitress import serve as waitress_serve
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Response

from dashboard.app import create_app
from etl.config import Settings
from etl.errors import UsageError

log = logging.getLogger("uptake.serve")
TOKEN_COOKIE = "uptake_token"
MIN_TOKEN_CHARS = 16


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost: it may resolve anywhere


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback bind without a token, and a token too short to be one."""
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise UsageError(
            f"UPTAKE_TOKEN is {len(token)} characters; use at least {MIN_TOKEN_CHARS} "
            "random ones (e.g. `openssl rand -hex 24`)"
        )
    if not token and not is_loopback(host):
        raise UsageError(
            f"--host {host} would expose the dashboard beyond this machine, and it has no "
            "login; set UPTAKE_TOKEN to a secret token (then every request needs it) or bind "
            "127.0.0.1"
        )


def require_token(server: Flask, token: str) -> None:
    """Every request needs the token: header, cookie, or a `?token=` that sets the cookie."""

    def presented() -> str:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header.removeprefix("Bearer ").strip()
        return request.args.get("token") or request.cookies.get(TOKEN_COOKIE) or ""

    @server.before_request
    def check() -> Response | None:
        given = presented()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return Response(
                "401 Unauthorized: this Uptake dashboard needs its token "
                "(Authorization: Bearer TOKEN, or ?token=TOKEN)\n",
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="uptake"'},
                mimetype="text/plain",
            )
        if "token" in request.args:
            # Take the token out of the address bar (and history) once the cookie holds it.
            query = "&".join(f"{k}={v}" for k, v in request.args.items(multi=True) if k != "token")
            response = redirect(request.path + (f"?{query}" if query else ""), code=303)
            response.set_cookie(
                TOKEN_COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure
            )
            return response
        return None


def build_server(settings: Settings, token: str | None) -> Flask:
    """The dashboard's WSGI app, behind the token when there is one."""
    server: Flask = create_app(settings).server
    if token:
        require_token(server, token)
    return server


def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8050,
    threads: int = 4,
    token: str | None = None,
) -> None:
    """Run the dashboard until interrupted; it follows serving/CURRENT without restarting."""
    check_bind(host, token)
    server = build_server(settings, token)
    current = app_snapshot_note(settings)
    guarded = "; token required" if token else ""
    print(
        f"Uptake dashboard on http://{host}:{port}/ ({current}{guarded}); Ctrl+C stops it",
        flush=True,
    )
    waitress_serve(server, host=host, port=port, threads=threads, ident="uptake")


def app_snapshot_note(settings: Settings) -> str:
    current = settings.serving / "CURRENT"
    if not current.exists():
        return "no snapshot published yet: run `uptake run`"
    return f"snapshot {current.read_text().strip()}"


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: object, **kwargs: object) -> None:
        """Dash polls often: one log line per request would drown the output."""


@contextmanager
def serve_in_thread(app: Dash) -> Iterator[str]:
    """Serve `app` on a free loopback port from a background thread (werkzeug, threaded)
    for as long as the block runs, and give its base URL: for the browser tests and the
    dashboard benchmark, which drive the real app in Chromium."""
    server = make_server("127.0.0.1", 0, app.server, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="uptake-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
