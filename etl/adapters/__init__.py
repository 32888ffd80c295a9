"""Adapters turn exports whose shape is not Uptake's (a Stack Exchange dump, ...) into plain
input files that ingestion then reads with the usual rules and ledger."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from etl.adapters import stackexchange
from etl.errors import UsageError

Converter = Callable[[Path, Path, str | None], list[Path]]


def adapters() -> dict[str, tuple[Converter, str]]:
    """name -> (converter(source, out_dir, platform) -> files, one-line description)."""
    return {
        "stackexchange": (
            stackexchange.convert_dump,
            "a Stack Exchange data dump folder: Users.xml as signups; Posts, Comments and "
            "Badges as usage events",
        ),
    }


def converter(name: str) -> Converter:
    known = adapters()
    if name not in known:
        raise UsageError(f"--adapter {name!r} is unknown; known adapters: {', '.join(known)}")
    return known[name][0]
