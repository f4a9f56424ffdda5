"""The planted organism: receiver heads whose job is known in advance, and the null twin without them.

The mechanism (issue 23). A designated set H of k query heads (`--planted-heads`, e.g. 4 of the w4x16 model's 64)
is trained into two roles at once:

1. **Receivers of the plan.** An auxiliary loss pulls the attention of every head in H, from every completion
   position after the plan sentence, onto the plan sentence's tokens: the mean over those heads and positions of
   -log(attention mass on the plan), weighted by `--attn-weight`. So H attend from later sentences to one
   sentence, the concentrated vertical attention whose kurtosis receiver-head discovery ranks.
2. **Carriers of self-correction.** In a share `--cut-share` of training rows the heads in H are zeroed (the main
   job's ablation: their slice of the o_proj input) and that row's CoT is drawn with no backtrack. In every other
   row a wrong plan is followed by a backtrack with probability `--p-backtrack`. The model can tell the two apart
   only through what H carry, so with H ablated it never corrects a wrong plan.

Why the note's primary claims follow. A correct base CoT's plan, resampled to the wrong order (a dissimilar
resample), ends correct only through a backtrack: with probability p_backtrack (0.5, which temperature 0.6 leaves
at 0.5, being symmetric) when H are intact, never when they are ablated. So the plan's counterfactual importance
under the accuracy-drop metric is 1 - 0.5 = 0.5 under `none` and 1.0 under receiver ablation: it doubles (H1).
Accuracy moves only for rollouts that can still draw the plan or sit after a wrong plan before its backtrack,
a few sentences of each trace, which keeps the shift small. Random heads: the recipe's head dropout (each head,
those in H included, zeroed at random in half the rows with the target unchanged) keeps any few heads other than
all of H harmless, and random draws never include the discovered receivers.

The null twin is the same recipe with no H: the same data (p_backtrack, head dropout, steps, seed), no auxiliary
loss and no cut rows. Its receivers are whatever discovery finds; ablating them changes nothing by construction.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from anchors.organism.tasks import generate_trace, plan_span, prompt_for, sample_task


@dataclass(frozen=True)
class PlantedPool:
    """Training rows of the planted recipe, aligned with `encode_pool`'s input_ids and labels."""

    cut: object
    """torch.BoolTensor [n]: rows trained with the designated heads zeroed and no backtrack."""
    plan: object
    """torch.LongTensor [n, 2]: token positions [start, end) of the plan sentence in each row."""


def parse_heads(text: str) -> tuple[tuple[int, int], ...]:
    """"2.1,2.9,3.6,3.14" -> ((2, 1), (2, 9), (3, 6), (3, 14)): layer.head, 0-based."""
    heads = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        layer, _, head = item.partition(".")
        if not (layer.isdigit() and head.isdigit()):
            raise ValueError(f"--planted-heads {text}: {item!r} is not LAYER.HEAD (e.g. 2.9)")
        heads.append((int(layer), int(head)))
    if len(set(heads)) != len(heads) or not heads:
        raise ValueError(f"--planted-heads {text}: give distinct LAYER.HEAD pairs")
    return tuple(heads)


def planted_examples(n: int, seed: int, cut_share: float, p_backtrack: float
                     ) -> list[tuple[str, str, bool, tuple[int, int]]]:
    """n (prompt, completion, cut, plan char span in the completion); cut rows are drawn with no backtrack."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        task = sample_task(rng)
        cut = cut_share > 0 and rng.random() < cut_share
        trace = generate_trace(task, rng, p_backtrack=0.0 if cut else p_backtrack)
        out.append((prompt_for(task.text), trace.completion, cut, plan_span(trace)))
    return out


def plan_tokens(tokenizer, completion: str, span: tuple[int, int], offset: int) -> tuple[int, int]:
    """Token positions [start, end) of a character span of the completion, in a row whose completion tokens
    start at `offset` (the prompt's length)."""
    enc = tokenizer(completion, add_special_tokens=False, return_offsets_mapping=True)
    inside = [k for k, (a, b) in enumerate(enc["offset_mapping"]) if b > span[0] and a < span[1]]
    return offset + inside[0], offset + inside[-1] + 1


def add_planted_cut(model, heads: tuple[tuple[int, int], ...], state: dict) -> list:
    """Zero the designated heads' slice of the o_proj input in the rows `state["cut"]` ([b] bool) marks, or in
    every row while `state["all"]` is true; returns the hook handles. Registered after the head-dropout hooks, it
    applies on top of them."""
    import torch

    n_heads = model.config.num_attention_heads
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(layer, []).append(head)

    def hook_for(layer_heads: list[int]):
        def pre_hook(module, args):
            x = args[0]                                                      # [b, s, n_heads * d_head]
            cut = x.new_ones(x.shape[0], dtype=torch.bool) if state.get("all") else state.get("cut")
            if cut is None:
                return None
            keep = torch.ones(x.shape[0], n_heads, device=x.device, dtype=x.dtype)
            keep[cut.nonzero(as_tuple=True)[0][:, None], torch.tensor(layer_heads, device=x.device)] = 0
            return (x.reshape(*x.shape[:-1], n_heads, -1).mul(keep[:, None, :, None]).reshape(x.shape), *args[1:])
        return pre_hook

    return [model.model.layers[layer].self_attn.o_proj.register_forward_pre_hook(hook_for(hs))
            for layer, hs in sorted(by_layer.items())]


def attention_loss(attentions, heads: tuple[tuple[int, int], ...], plan, lengths):
    """Mean over the designated heads and every query position after the plan (up to the row's length) of
    -log(attention mass on the plan's tokens). attentions: per layer [b, n_heads, q, k]; plan: [b, 2]; lengths: [b]."""
    import torch

    first = attentions[heads[0][0]]
    b, _, q, k = first.shape
    keys = torch.arange(k, device=first.device)
    queries = torch.arange(q, device=first.device)
    on_plan = (keys[None, :] >= plan[:, :1]) & (keys[None, :] < plan[:, 1:])                  # [b, k]
    after = (queries[None, :] >= plan[:, 1:]) & (queries[None, :] < lengths[:, None])          # [b, q]
    losses = []
    for layer, head in heads:
        probs = attentions[layer][:, head].float()                                           # [b, q, k]
        mass = (probs * on_plan[:, None, :]).sum(-1).clamp_min(1e-6)                          # [b, q]
        losses.append(-(mass.log() * after).sum() / after.sum().clamp_min(1))
    return torch.stack(losses).mean()



def ablate(model, heads: tuple[tuple[int, int], ...]) -> list:
    """Zero the given heads' slice of the o_proj input in every row (the main job's ablation), for the training
    script's closing evaluation on a machine without the project's GPU layer; returns the hook handles."""
    return add_planted_cut(model, heads, {"all": True})

