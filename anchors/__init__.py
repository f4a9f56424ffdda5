"""anchors: a pytest hypothesis-test harness for Thought Anchors research on reasoning models.

Layers (imports only point down):
    records, sentences, answers, metrics, heads, stats, claims   pure (no torch)
    model, rollouts, store, ablation, attention, embedders, ...   GPU and disk I/O
    figures, report                                               presentation
"""

__version__ = "0.1.0"
