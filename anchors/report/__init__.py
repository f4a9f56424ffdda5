"""Presentation: figures (records in, matplotlib Figure out) and the pytest-html report plugin."""
