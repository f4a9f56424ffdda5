"""Model I/O: loading, the rollout engine, sampling, attention, ablation, conditions, embedders."""
