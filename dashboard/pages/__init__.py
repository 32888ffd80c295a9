"""The dashboard's pages, in menu order. Each page module has PATH, NAME, CHARTS (the
charts it shows, filled by the app's chart callbacks), layout() and register(app, context)
for its own tables."""

from __future__ import annotations

from types import ModuleType

from dashboard.pages import (
    engagement,
    forecasts,
    health,
    launch_race,
    migration,
    milestones,
    retention,
    velocity,
)

PAGES: tuple[ModuleType, ...] = (
    launch_race,
    milestones,
    velocity,
    engagement,
    retention,
    forecasts,
    migration,
    health,
)


def page_for(path: str | None) -> ModuleType:
    """The page at `path`; unknown paths show the home page."""
    clean = "/" + (path or "/").strip("/")
    return next((p for p in PAGES if clean == p.PATH), launch_race)
