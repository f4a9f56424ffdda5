"""The manipulation check's runner: per ablated condition, the next-token KL against none on the base traces.

Teacher-forced: each base CoT is run once without ablation and once per condition; the per-position
KL(none || ablated) over the positions that predict the CoT's sentence tokens goes to
anchors.core.manipulation.manipulation_check (the mean with its CI). On the organism (8 traces of ~130 tokens, 5
conditions) this is 48 forward passes of a 3M-parameter model: well under a second on one CPU thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from anchors.core.manipulation import LEVEL, ManipulationCheck, manipulation_check

if TYPE_CHECKING:
    from anchors.gpu.model import LoadedModel


def _log_probs(loaded: LoadedModel, ids: Any) -> Any:
    import torch

    with torch.inference_mode():
        return torch.log_softmax(loaded.model(ids).logits[0].double(), -1)  # [T, V], fp64: fp32 KLs of 1e-8 go negative


def trace_kls(loaded: LoadedModel, trace: Any, conditions: Sequence[Any]) -> dict[str, np.ndarray]:
    """condition -> KL(none || condition) at each position that predicts a sentence token of one base trace, [n]."""
    import torch

    from anchors.gpu.attention import trace_sentence_spans

    full_cot = trace.base_solution.full_cot
    spans = trace_sentence_spans(loaded.tokenizer, full_cot, list(trace.sentences))
    device = next(loaded.model.parameters()).device
    ids = torch.as_tensor([loaded.tokenizer(full_cot)["input_ids"]], device=device)  # [1, T]
    positions = torch.as_tensor([p - 1 for s, e in spans for p in range(max(s, 1), e)], device=device)  # [n]
    ref = _log_probs(loaded, ids)
    out = {}
    for c in conditions:
        with c.apply(loaded.model):
            abl = _log_probs(loaded, ids)
        kl = (ref.exp() * (ref - abl)).sum(-1)  # [T]: KL at each position
        out[c.name] = kl[positions].double().cpu().numpy()
    return out


def measure_manipulation(loaded: LoadedModel, traces: Sequence[Any], conditions: Sequence[Any], n_boot: int = 2000,
                         level: float = LEVEL) -> dict[str, ManipulationCheck]:
    """condition name -> its manipulation check, for every ablated condition (those with heads)."""
    ablated = [c for c in conditions if c.heads]
    per: dict[str, list[np.ndarray]] = {c.name: [] for c in ablated}
    for trace in traces:
        for name, kl in trace_kls(loaded, trace, ablated).items():
            per[name].append(kl)
    return {name: manipulation_check(name, kls, n_boot=n_boot, level=level) for name, kls in per.items()}
