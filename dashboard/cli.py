"""Dashboard commands for `uptake` (serve, export, report, demo), joined to the ETL's parser
through the `uptake.commands` entry point."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the dashboard's subcommands to `uptake`'s subparsers."""
    _ = sub, argparse  # filled in by the dashboard issue
