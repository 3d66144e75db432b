"""Experiments over runs: sweeps, comparisons, tracking callbacks."""
