"""Batch-independent, counter-based sampling: temperature, top-p, then Gumbel-max with hashed noise.

Why counter-based: a rollout must be reproducible from its own seed whatever batch it ran in, with which
other rollouts, and after a resume. A `torch.Generator` shared by the batch would make each row's draws
depend on its neighbours. Here the noise for (seed, step, token id) is a pure integer hash, so row r's
token at step t depends only on its own logits, its seed and t.

Exactly what is reproducible:
* the noise is bit-identical on every device and batch composition (integer ops only, then one float map);
* the sampled token is therefore identical whenever the row's logits are identical. On CPU in float32 the
  engine's logits match across batch compositions (tested); on GPU in bf16 they can differ at rounding level
  between batch compositions, so a token can flip only at a near-tie of (logit / T + noise), which is rare
  but possible: GPU rollouts are reproducible in distribution, and bit-exact only for the same batch layout.

The draw is Gumbel-max: argmax(logit / T + G) with G = -log(-log U) samples softmax(logit / T) exactly,
restricted here to the top-p nucleus (tokens outside get -inf before the argmax).

Two implementations of one rule. The nucleus keeps a token iff the probability mass of the tokens ranked above
it is < top_p (HF's TopPLogitsWarper rule):
* CPU (and CUDA without Triton): a full sort and cumulative sum (`top_p_mask`); tied logits at the boundary are
  ranked by the sort's order;
* CUDA: Triton kernels over row chunks (anchors.gpu.kernels.sampler) that find the same threshold by a search
  over the float's order-preserving bits, with no sort; they keep every token tied with the boundary token, sum
  the masses in another order (a token whose mass-above is within float rounding of top_p can fall on the other
  side), and their log is the GPU's. The noise uniforms are bit-identical. Rows stay independent of each other, so a
  rollout still depends only on its seed and its logits.
"""

from __future__ import annotations

import torch

_MASK32 = 0xFFFFFFFF


def _fmix32(h: torch.Tensor) -> torch.Tensor:
    """MurmurHash3's 32-bit finaliser on int64 tensors holding values in [0, 2^32).

    int64 products may wrap past 2^63; the low 32 bits stay exact under wrap-around, and we mask to them.
    """
    h = h ^ (h >> 16)
    h = (h * 0x85EBCA6B) & _MASK32
    h = h ^ (h >> 13)
    h = (h * 0xC2B2AE35) & _MASK32
    return h ^ (h >> 16)


def hashed_uniform(seeds: torch.Tensor, step: torch.Tensor | int, vocab: int) -> torch.Tensor:
    """U(0,1) noise, one per (row, token), a pure function of (seed, step, token id).

    seeds: [batch] int64; step: int or [batch] int64 (the row's own decode step). Returns [batch, vocab] float32.
    """
    device = seeds.device
    seeds = seeds.to(torch.int64)
    step_t = torch.as_tensor(step, dtype=torch.int64, device=device).expand(seeds.shape[0])
    row = _fmix32((seeds & _MASK32) ^ _fmix32((seeds >> 32) & _MASK32))
    row = _fmix32((row + (step_t & _MASK32) * 0x9E3779B1) & _MASK32)          # [batch]
    tokens = torch.arange(vocab, dtype=torch.int64, device=device)             # [vocab]
    h = _fmix32(((row[:, None] ^ _fmix32((tokens * 0x27D4EB2F) & _MASK32)[None, :]) + 0x165667B1) & _MASK32)
    # 24 high bits map exactly onto float32's mantissa; +0.5 keeps U strictly inside (0, 1).
    return ((h >> 8).to(torch.float32) + 0.5) / float(1 << 24)


def top_p_mask(scaled: torch.Tensor, top_p: float) -> torch.Tensor:
    """Boolean [batch, vocab]: True for tokens inside the nucleus of softmax(scaled).

    Keeps the smallest set of most probable tokens whose mass reaches top_p (the token that crosses the
    threshold is kept, as in HF's TopPLogitsWarper); the top token is always kept.
    """
    if top_p >= 1.0:
        return torch.ones_like(scaled, dtype=torch.bool)
    sorted_logits, order = torch.sort(scaled, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs                          # mass of strictly better tokens
    keep_sorted = mass_before < top_p
    keep_sorted[:, 0] = True
    return torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)


def sample_tokens(logits: torch.Tensor, seeds: torch.Tensor, step: torch.Tensor | int,
                  temperature: float, top_p: float) -> torch.Tensor:
    """Next token per row. logits: [batch, vocab] (any float dtype); seeds: [batch] int64; step: int or [batch]
    int64. Returns [batch] int64. The Triton kernel on CUDA, else `sample_tokens_torch` (see the module doc).

    temperature 0 is greedy decoding (argmax, no noise).
    """
    if temperature > 0 and logits.is_cuda:
        from anchors.gpu.kernels import triton_usable

        if triton_usable(logits.device):
            from anchors.gpu.kernels.sampler import sample

            steps = torch.as_tensor(step, dtype=torch.int64, device=logits.device).expand(logits.shape[0])
            return sample(logits, seeds.to(torch.int64), steps.contiguous(), temperature, top_p)
    return sample_tokens_torch(logits, seeds, step, temperature, top_p)


def sample_tokens_torch(logits: torch.Tensor, seeds: torch.Tensor, step: torch.Tensor | int,
                        temperature: float, top_p: float) -> torch.Tensor:
    """`sample_tokens` in plain torch ops, with a full sort for the nucleus (the CPU path)."""
    logits = logits.float()
    if temperature <= 0:
        return logits.argmax(dim=-1)
    scaled = logits / temperature
    keep = top_p_mask(scaled, top_p)
    noise = -torch.log(-torch.log(hashed_uniform(seeds, step, logits.shape[-1])))
    return torch.where(keep, scaled + noise, torch.full_like(scaled, float("-inf"))).argmax(dim=-1)
