"""Uptake dashboard: figures, the Dash app, exports and reports. Reads serving snapshots only."""
