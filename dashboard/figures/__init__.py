"""Pure figure builders: data and options in, plotly Figure out (no I/O, clock or Dash)."""
