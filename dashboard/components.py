"""Small layout pieces shared by the pages: chart cards, tables, stat tiles, empty state."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dash import Dash, Input, Output, dcc, html

from dashboard.charts import ChartInputs, ViewOptions
from dashboard.context import NO_DATA, AppContext
from dashboard.controls import CONTROL_IDS, view_options


def chart(name: str, height: int | None = None) -> html.Div:
    """A card holding the graph of chart `name` (id `chart-<name>`), filled by a callback."""
    style = {"height": f"{height}px"} if height else None
    return html.Div(
        dcc.Loading(
            dcc.Graph(
                id=f"chart-{name}",
                config={"displaylogo": False, "toImageButtonOptions": {"filename": name}},
                style=style,
            ),
            type="dot",
            delay_show=300,
        ),
        className="card",
    )


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> html.Table:
    """A plain styled table of `rows`; columns are (key, header)."""
    head = html.Thead(html.Tr([html.Th(header) for _, header in columns]))
    body = html.Tbody(
        [html.Tr([html.Td(_cell(row.get(key))) for key, _ in columns]) for row in rows]
    )
    return html.Table([head, body], className="data-table")


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def stat(label: str, value: str, note: str | None = None) -> html.Div:
    children = [html.Div(label, className="stat-label"), html.Div(value, className="stat-value")]
    if note:
        children.append(html.Div(note, className="stat-note"))
    return html.Div(children, className="stat")


def empty_state(message: str = NO_DATA) -> html.Div:
    return html.Div(
        [
            html.H2("Nothing to show yet"),
            html.P(message),
            html.P(
                "The dashboard reads the serving snapshot that `uptake run` publishes; "
                "this page updates by itself when one appears.",
                className="muted",
            ),
        ],
        className="empty-state",
        id="empty-state",
    )


def section(title: str, *children: Any, note: str | None = None) -> html.Div:
    parts: list[Any] = [html.H2(title)]
    if note:
        parts.append(html.P(note, className="muted"))
    return html.Div([*parts, *children], className="section")


def chart_with_table(name: str, title: str, table_id: str, note: str) -> html.Div:
    """A page of one chart and, below it, a titled table filled by a view callback."""
    return html.Div([chart(name), section(title, html.Div(id=table_id), note=note)])


def register_view_table(
    app: Dash,
    context: AppContext,
    table_id: str,
    render: Callable[[ChartInputs, ViewOptions], Any],
) -> None:
    """Fill `table_id` with `render(inputs, options)` whenever the snapshot or a control
    changes (nothing while no snapshot is published)."""

    @app.callback(
        Output(table_id, "children"),
        Input("snapshot-id", "data"),
        *[Input(c, "value") for c in CONTROL_IDS],
    )
    def fill(_: Any, *values: Any) -> Any:
        inputs = context.inputs()
        return None if inputs is None else render(inputs, view_options(*values))
