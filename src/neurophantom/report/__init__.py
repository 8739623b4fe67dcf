"""Figures and the per-run HTML report."""
