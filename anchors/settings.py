"""Locations and environment settings, read when called (never at import)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def reference_dir() -> Path:
    """Published Thought Anchors data: `ANCHORS_REFERENCE_DIR`, default `../shared/reference` beside the repo."""
    env = os.environ.get("ANCHORS_REFERENCE_DIR")
    return Path(env) if env else (REPO_ROOT.parent / "shared" / "reference")


def demo_dir() -> Path:
    """The thought-anchors-demo tree inside the reference folder."""
    return reference_dir() / "thought-anchors-demo"


def cache_dir() -> Path:
    """Derived-artifact cache (heads, embeddings, labels): `ANCHORS_CACHE`, default `~/.cache/anchors`."""
    env = os.environ.get("ANCHORS_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "anchors"
