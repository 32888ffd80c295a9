"""The launch simulator: realistic signup and usage event files for trying Uptake and for
testing it at scale (see simulation.py for the file layout)."""

from etl.simulate.simulation import SimulationOptions, SimulationResult, simulate

__all__ = ["SimulationOptions", "SimulationResult", "simulate"]
