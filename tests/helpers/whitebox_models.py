"""Tiny seeded Llama / Qwen2 / Qwen3 models for the white-box tests (2 layers, 4 query heads, 2 KV heads, hidden 64).

ARCHS lists the two the older tests sweep; "qwen3" (q/k norms) is tested in tests/gpu/test_qwen3.py."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config, Qwen3Config

ARCHS = ("llama", "qwen2")


def tiny_config(arch: str, attn: str = "sdpa", **over):
    cls = {"llama": LlamaConfig, "qwen2": Qwen2Config, "qwen3": Qwen3Config}[arch]
    # head_dim explicit: Qwen3Config's default is 128, not hidden_size // heads.
    kw = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, head_dim=16, vocab_size=256, max_position_embeddings=512,
              attn_implementation=attn)
    kw.update(over)
    return cls(**kw)


def tiny_model(arch: str, seed: int = 0, attn: str = "sdpa", **over) -> torch.nn.Module:
    """A seeded random tiny model in fp32, eval mode."""
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(arch, attn, **over))
    return model.eval()


def twin(model: torch.nn.Module, arch: str, attn: str = "eager", **over) -> torch.nn.Module:
    """The same weights under another attention implementation."""
    other = AutoModelForCausalLM.from_config(tiny_config(arch, attn, **over)).eval()
    other.load_state_dict(model.state_dict())
    return other
