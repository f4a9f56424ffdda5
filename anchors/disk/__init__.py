"""Disk I/O: the paper's formats, the rollout store, provenance, problem folders, labels."""
