"""The exception tree of the dashboard's exports and reports. Each error says what was
received, what was expected and what to do next; `uptake` prints it as one line and exits
with its code (docs/CLI.md, "Exit codes")."""

from __future__ import annotations

from etl.errors import UptakeError

CHROMIUM_INSTALL = "apt-get install -y chromium"


class ExportError(UptakeError):
    """An export or report was asked for wrongly: unknown chart, format or platform,
    or no snapshot published yet (exit code 2)."""

    exit_code = 2


class ChromiumMissingError(ExportError):
    """PNG, SVG and PDF need a headless Chromium, and none was found (exit code 2).

    HTML and CSV exports work without it."""

    exit_code = 2

    def __init__(self, looked_at: str | None = None) -> None:
        where = f" (looked at {looked_at})" if looked_at else ""
        super().__init__(
            f"PNG, SVG and PDF export need Chromium, and none was found{where}. "
            f"Install Debian's: `{CHROMIUM_INSTALL}` (or set BROWSER_PATH to a Chrome or "
            "Chromium binary); HTML and CSV exports work without it."
        )


class ExportTimeoutError(UptakeError):
    """A static export did not finish in time; the browser was stopped (exit code 4)."""

    exit_code = 4


class InvalidExportError(UptakeError):
    """A renderer produced something that is not a valid file of the asked format (a PNG
    taller than Chromium can draw comes back as 3 bytes); nothing was written (exit code 4)."""

    exit_code = 4
