"""Thin runners that both the CLI and the pytest fixtures call: fill the store, find heads, importance."""
