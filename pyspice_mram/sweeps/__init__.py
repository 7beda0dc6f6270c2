"""Sweeps wing: sweep files, variability draws, the parallel runner, checkpoints, tables and provenance.

Hands to the training wing energy-vs-BER lookup tables (per scenario and direction) with their provenance.
"""
