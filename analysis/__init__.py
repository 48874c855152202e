"""Metrics, export, plots and paper reproductions."""
