"""Serving the dashboard on waitress, the production WSGI server."""

from __future__ import annotations

import logging

from dashboard.app import create_app
from etl.config import Settings

log = logging.getLogger("uptake.serve")


def serve(
    settings: Settings, *, host: str = "127.0.0.1", port: int = 8050, threads: int = 4
) -> None:
    """Run the dashboard until interrupted; it follows serving/CURRENT without restarting."""
    from waitress import serve as waitress_serve

    app = create_app(settings)
    current = app_snapshot_note(settings)
    print(f"Uptake dashboard on http://{host}:{port}/ ({current}); Ctrl+C stops it", flush=True)
    waitress_serve(app.server, host=host, port=port, threads=threads, ident="uptake")


def app_snapshot_note(settings: Settings) -> str:
    current = settings.serving / "CURRENT"
    if not current.exists():
        return "no snapshot published yet: run `uptake run`"
    return f"snapshot {current.read_text().strip()}"
