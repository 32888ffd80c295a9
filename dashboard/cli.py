"""Dashboard commands for `uptake` (serve, export, report, demo), joined to the ETL's parser
through the `uptake.commands` entry point."""

from __future__ import annotations

import argparse
import os
from typing import Any

from dashboard.export_cli import register_export
from etl.config import Settings


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the dashboard over the live snapshot on waitress (a production WSGI server)."""
    from dashboard.server import serve

    token = os.environ.get("UPTAKE_TOKEN") or None
    serve(settings, host=args.host, port=args.port, threads=args.threads, token=token)
    return 0


def register(sub: Any) -> None:
    """Add the dashboard's subcommands to `uptake`'s subparsers."""
    serve = sub.add_parser("serve", help="serve the dashboard (reads the current snapshot)")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1); any other needs UPTAKE_TOKEN, then required "
        "on every request (Authorization: Bearer TOKEN or ?token=TOKEN)",
    )
    serve.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    serve.add_argument("--threads", type=int, default=4, help="worker threads (default 4)")
    serve.set_defaults(handler=cmd_serve)
    register_export(sub)
