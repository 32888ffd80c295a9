"""The Dash app: a header with the pages, the shared controls, and the page content, all fed
from the live serving snapshot. A dcc.Interval polls `serving/CURRENT`, so a newly published
snapshot shows up without a restart. The controls' state lives in the URL query string.
Every chart card has PNG, SVG and CSV buttons that download exactly the current view (the
controls and the graph's zoom) through dashboard.export."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dash import Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate
from flask import has_request_context, request

from dashboard.charts import CHARTS, ChartInputs, ViewOptions
from dashboard.components import empty_state
from dashboard.context import NO_DATA, AppContext
from dashboard.controls import (
    CONTROL_IDS,
    CONTROLS,
    PAGE_GROUPS,
    controls_layout,
    from_query,
    platforms_placeholder,
    to_query,
)
from dashboard.controls import view_options as options_of
from dashboard.data import load_reported_milestones, reference_milestones_path
from dashboard.export import MEDIA_TYPES, StaticRenderer, chart_bytes
from dashboard.pages import PAGES, page_for
from etl.config import Settings, load_settings
from etl.errors import UptakeError
from etl.snapshot import SnapshotReader

ASSETS = Path(__file__).resolve().parent / "assets"
POLL_MS = 5000
DOWNLOAD_FORMATS = ("png", "svg", "csv")
DEFAULT_VALUES = [c.default for c in CONTROLS]
DEFAULT_VIEW = options_of(*DEFAULT_VALUES)  # what a page shows with no query string
PREFILLED = "prefilled"  # className of a graph whose figure came with the page layout


def default_views() -> list[tuple[str, ViewOptions]]:
    """Every chart of every page in its default view, home page first (the prewarm list)."""
    return [(name, DEFAULT_VIEW) for page in PAGES for name in page.CHARTS]


def create_app(
    settings_or_home: Settings | str | Path, *, poll_ms: int = POLL_MS, prewarm: bool = True
) -> Dash:
    """A Dash app over the serving snapshots of `settings.home` (or the given home folder).
    With `prewarm`, every page's default-view figures are built in the background whenever
    a new snapshot is seen, starting now (see dashboard.context)."""
    settings = (
        settings_or_home
        if isinstance(settings_or_home, Settings)
        else load_settings(settings_or_home)
    )
    context = AppContext(
        reader=SnapshotReader(settings.serving),
        colour_overrides={name: p.colour for name, p in settings.platforms.items()},
        reported=load_reported_milestones(reference_milestones_path(settings.home)),
        prewarm_views=default_views() if prewarm else (),
    )
    app = Dash(
        __name__,
        title="Uptake",
        assets_folder=str(ASSETS),
        suppress_callback_exceptions=True,  # page components come and go with the URL
        update_title="",
    )
    app.layout = lambda: shell(context, poll_ms)
    register_callbacks(app, context)
    app.server.extensions["uptake_context"] = context  # for tests and benchmarks
    context.start_prewarm()
    return app


def app_context(app: Dash) -> AppContext:
    """The AppContext behind an app made by create_app."""
    context: AppContext = app.server.extensions["uptake_context"]
    return context


def shell(context: AppContext, poll_ms: int) -> html.Div:
    """The page frame: header and menu, controls, content; built per request (no globals)."""
    reported = context.reported
    reported_names = (
        reported["platform"].unique(maintain_order=True).to_list() if reported.height else []
    )
    inputs = context.inputs()
    names = inputs.snapshot.platform_names if inputs is not None else []
    where = requested_page() if inputs is not None else None
    # The page itself comes with the layout when the browser's address is known (the
    # layout request's Referer), so it draws without waiting for the route callback.
    content, active, shown = render(context, *where) if where else (None, None, None)
    hidden = inputs.hidden_platforms(DEFAULT_VIEW) if inputs is not None else []
    controls = controls_layout(reported_names, names, hidden)
    if shown is not None:
        for group in _find(controls, lambda node: getattr(node, "id", None) in PAGE_GROUPS):
            group.style = shown[list(PAGE_GROUPS).index(group.id)]
    return html.Div(
        [
            dcc.Location(id="url", refresh=False),
            dcc.Store(id="snapshot-id", data=inputs.snapshot.id if inputs else None),
            dcc.Store(id="rendered-page", data=where[0] if where else None),
            dcc.Interval(id="poll", interval=poll_ms),
            html.Header(
                [
                    html.Div(
                        [
                            html.Span("Uptake", className="brand"),
                            html.Span(snapshot_meta(inputs), id="snapshot-meta"),
                        ],
                        className="brand-row",
                    ),
                    html.Nav(
                        [
                            dcc.Link(
                                page.NAME,
                                href=page.PATH,
                                id=f"nav-{page.__name__.split('.')[-1]}",
                                className=active[index] if active else None,
                            )
                            for index, page in enumerate(PAGES)
                        ],
                        className="nav",
                    ),
                ],
                className="header",
            ),
            controls,
            html.Main(content, id="page-content", className="content"),
        ],
        className="app",
    )


def requested_page() -> tuple[str, str] | None:
    """(path, query string) of the page whose layout Dash's renderer is fetching, from the
    request's Referer; None outside a request or when the browser did not send it."""
    if not has_request_context() or not request.referrer:
        return None
    address = urlparse(request.referrer)
    if address.netloc != request.host:
        return None
    return address.path or "/", address.query


def render(context: AppContext, pathname: str | None, search: str | None) -> tuple[Any, ...]:
    """A page's content, the menu's classes and the control groups' styles. The content
    carries the cached default-view figures when the URL asks for the default view."""
    page = page_for(pathname)
    if context.reader.current_id():
        content = with_downloads(page.layout())
        if from_query(search) == DEFAULT_VALUES:  # a shared view draws through callbacks
            prefill(content, context)
    else:
        content = empty_state()
    active = ["active" if p is page else "" for p in PAGES]
    shown = [{} if page.PATH in paths else {"display": "none"} for paths in PAGE_GROUPS.values()]
    return content, active, shown


def links(search: str | None) -> list[str]:
    """The menu's links, each keeping the view's query string."""
    return [page.PATH + (search or "") for page in PAGES]


def snapshot_meta(inputs: ChartInputs | None) -> str:
    """The header line: data watermark, reporting timezone and snapshot id."""
    if inputs is None:
        return "no snapshot published yet"
    d = inputs.definitions
    watermark = f"{d.watermark:%Y-%m-%d %H:%M} UTC" if d.watermark else "unknown"
    return f"data as of {watermark} · timezone {d.timezone} · snapshot {inputs.snapshot.id}"


def register_callbacks(app: Dash, context: AppContext) -> None:
    controls = [Input(c, "value") for c in CONTROL_IDS]

    # Not on page load: the layout already carries the current id, and an initial call
    # that returns no_update would hold back the callbacks waiting on snapshot-id.
    @app.callback(
        Output("snapshot-id", "data"),
        Input("poll", "n_intervals"),
        State("snapshot-id", "data"),
        prevent_initial_call=True,
    )
    def poll_current(_: Any, known: str | None) -> Any:
        current = context.reader.current_id()
        if current == known:
            return no_update
        context.start_prewarm()  # a newly published snapshot: prewarm it at once
        return current

    # The layout already carries the meta line and the options of the snapshot it was built
    # from; this runs only when the poll finds a new snapshot.
    @app.callback(
        Output("snapshot-meta", "children"),
        Output("platforms", "options"),
        Output("heatmap-platform", "options"),
        Output("platforms", "placeholder"),
        Input("snapshot-id", "data"),
        prevent_initial_call=True,
    )
    def snapshot_changed(_: Any) -> Any:
        inputs = context.inputs()
        names = inputs.snapshot.platform_names if inputs is not None else []
        hidden = inputs.hidden_platforms(DEFAULT_VIEW) if inputs is not None else []
        return snapshot_meta(inputs), names, names, platforms_placeholder(hidden)

    # The layout usually comes with the page already (see shell); then the first call,
    # which dcc.Location triggers on mount, changes nothing. `rendered-page` follows the
    # page shown, so that a later visit to the same path does render.
    @app.callback(
        Output("page-content", "children"),
        Output("rendered-page", "data"),
        *[Output(f"nav-{p.__name__.split('.')[-1]}", "className") for p in PAGES],
        *[Output(group, "style") for group in PAGE_GROUPS],
        Input("url", "pathname"),
        Input("snapshot-id", "data"),
        State("url", "search"),
        State("rendered-page", "data"),
    )
    def route(pathname: str | None, _: Any, search: str | None, rendered: str | None) -> Any:
        if ctx.triggered_id in (None, "url") and rendered is not None and rendered == pathname:
            raise PreventUpdate
        content, active, shown = render(context, pathname, search)
        return content, pathname, *active, *shown

    # One callback keeps the URL, the controls and the menu links in step (one request on
    # load and per change): a URL from outside sets the controls that differ from it; a
    # control change rewrites the URL; the links keep the query so every page shares it.
    @app.callback(
        Output("url", "search"),
        *[Output(c, "value") for c in CONTROL_IDS],
        *[Output(f"nav-{p.__name__.split('.')[-1]}", "href") for p in PAGES],
        Input("url", "search"),
        *controls,
    )
    def sync_url(search: str | None, *values: Any) -> Any:
        if ctx.triggered_id == "url" or ctx.triggered_id is None:
            wanted = from_query(search)  # only changed controls, so charts draw once
            changed = [w if w != v else no_update for w, v in zip(wanted, values, strict=True)]
            return no_update, *changed, *links(search)
        query = to_query(values)
        return query, *[no_update] * len(values), *links(query)

    # The reported platforms are picked only while the overlay is on.
    @app.callback(Output("reported-platforms", "disabled"), Input("reported", "value"))
    def reported_picker(overlay: list[str] | None) -> bool:
        return not overlay

    renderer = StaticRenderer()  # one browser for the app's PNG/SVG downloads, started on use
    for page in PAGES:
        for name in page.CHARTS:
            register_chart(app, context, name)
            register_download(app, context, renderer, name)
        page.register(app, context)


def prefill(layout: Any, context: AppContext) -> None:
    """Put the cached default-view figure of every chart of `layout` into its graph, so the
    page draws without waiting for the chart callbacks (marked PREFILLED: their first call
    then sends nothing). A chart not in the cache yet is left to its callback."""
    for graph in _graphs(layout):
        figure = context.cached(graph.id.removeprefix("chart-"), DEFAULT_VIEW)
        if figure is not None:
            graph.figure = figure
            graph.className = PREFILLED


def _graphs(node: Any) -> list[Any]:
    """The `chart-<name>` graphs inside `node`."""
    return _find(
        node, lambda n: isinstance(n, dcc.Graph) and str(getattr(n, "id", "")).startswith("chart-")
    )


def _find(node: Any, wanted: Any) -> list[Any]:
    """The components inside `node` (itself included) for which `wanted(component)`."""
    if wanted(node):
        return [node]
    return [found for child in _children(node) for found in _find(child, wanted)]


def register_chart(app: Dash, context: AppContext, name: str) -> None:
    """One callback per chart: control values -> options -> the chart's figure. Its first
    call for a graph that came with its figure (PREFILLED) sends nothing."""
    if name not in CHARTS:
        raise KeyError(f"page lists unknown chart {name!r}")

    @app.callback(
        Output(f"chart-{name}", "figure"),
        Input("snapshot-id", "data"),
        *[Input(c, "value") for c in CONTROL_IDS],
        State(f"chart-{name}", "className"),
    )
    def update(_: Any, *values: Any) -> Any:
        *controls, class_name = values
        if ctx.triggered_id is None and class_name == PREFILLED:
            return no_update  # the page layout already carries this view's figure
        return context.figure(name, options_of(*controls))


def download_bar(name: str) -> html.Div:
    """PNG, SVG and CSV buttons for chart `name`, a line for errors, and the download."""
    buttons = [
        html.Button(
            fmt.upper(),
            id=f"download-{name}-{fmt}",
            className="download-button",
            title=f"Download this view as {fmt.upper()}",
            style={"fontSize": "12px", "padding": "2px 8px", "cursor": "pointer"},
        )
        for fmt in DOWNLOAD_FORMATS
    ]
    return html.Div(
        [
            *buttons,
            html.Span(id=f"download-{name}-status", className="download-status muted"),
            dcc.Download(id=f"download-{name}"),
        ],
        className="download-bar",
        style={"display": "flex", "gap": "6px", "justifyContent": "flex-end"},
    )


def with_downloads(layout: Any) -> Any:
    """The page layout with a download bar in every chart card (class `card` holding the
    graph `chart-<name>`)."""
    for child in _children(layout):
        name = _chart_in(child)
        if name and getattr(child, "className", None) == "card":
            child.children = [*_children(child), download_bar(name)]
        else:
            with_downloads(child)
    return layout


def _children(node: Any) -> list[Any]:
    children = getattr(node, "children", None)
    if children is None or isinstance(children, str | int | float):
        return []
    return list(children) if isinstance(children, list | tuple) else [children]


def _chart_in(node: Any) -> str | None:
    """The chart name of the first `chart-<name>` graph inside `node`, if any."""
    graph_id = str(getattr(node, "id", ""))
    if isinstance(node, dcc.Graph) and graph_id.startswith("chart-"):
        return graph_id.removeprefix("chart-")
    return next((n for n in map(_chart_in, _children(node)) if n), None)


def register_download(app: Dash, context: AppContext, renderer: StaticRenderer, name: str) -> None:
    """The chart's download buttons: the current controls and zoom -> the file."""

    @app.callback(
        Output(f"download-{name}", "data"),
        Output(f"download-{name}-status", "children"),
        *[Input(f"download-{name}-{fmt}", "n_clicks") for fmt in DOWNLOAD_FORMATS],
        *[State(c, "value") for c in CONTROL_IDS],
        State(f"chart-{name}", "relayoutData"),
        prevent_initial_call=True,
    )
    def download(*args: Any) -> Any:
        fmt = str(ctx.triggered_id).rsplit("-", 1)[-1]
        values, relayout = args[len(DOWNLOAD_FORMATS) : -1], args[-1]
        return download_file(
            context, renderer, name, fmt, options=options_of(*values), relayout=relayout
        )


def download_file(
    context: AppContext,
    renderer: StaticRenderer,
    name: str,
    fmt: str,
    *,
    options: ViewOptions,
    relayout: dict[str, Any] | None = None,
) -> tuple[Any, str]:
    """(dcc.Download data, status text) for chart `name` as `fmt` in this view; an export
    error (no Chromium, a timeout) becomes the status line instead of a file."""
    inputs = context.inputs()
    if inputs is None:
        return no_update, NO_DATA
    try:
        payload = chart_bytes(inputs, name, fmt, options, renderer=renderer, relayout=relayout)
    except UptakeError as error:  # no Chromium, a timeout, an unknown platform
        return no_update, str(error)
    content = base64.b64encode(payload).decode()
    data = {"content": content, "filename": f"{name}.{fmt}", "type": MEDIA_TYPES[fmt]}
    return {**data, "base64": True}, ""
