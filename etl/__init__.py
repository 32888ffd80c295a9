"""Uptake ETL: ingest signup and usage events into DuckDB and compute growth metrics."""

__version__ = "0.1.0"
