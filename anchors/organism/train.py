"""Train the organism: tokenizer + a small Llama-architecture model on generated CoTs (see tasks.py).

    python -m anchors.organism.train --out DIR [--device cuda] [--minutes N] [--seed 0] [--size small|toy]

Reproducible: data, initialisation and batch order come from --seed, and the run length is a fixed step count
(--steps); --minutes is only a safety cap, and the log says if it stopped the run early. Writes to DIR:
model.safetensors + config.json + generation_config.json, tokenizer.json + tokenizer_config.json,
train_log.jsonl (one JSON object per logged step) and train_summary.json (settings, time, device, quick eval).

Imports only torch, transformers, tokenizers and this package's pure task code, so it runs where pydantic
is absent (the GPU machine).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import time
from pathlib import Path

log = logging.getLogger("anchors.organism.train")

SIZES = {
    # 4 layers x 8 query heads (4 KV heads, GQA) x d_head 32: about 3M parameters, ~1 s per 64 CoTs on CPU.
    "small": dict(hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=8,
                  num_key_value_heads=4),
    # Same width, twice the heads at half the width (d_head 16): 4 x 16 = 64 query heads, so k = 2 receiver heads
    # are 3% of them (the note ablates 20 of 1,024-1,920, 1-2%). Measured on one CPU thread: 1.35x the time per
    # rollout of "small" (6 x 16 heads: 2.1x, 4 x 32 heads: 2.5x), which keeps the main job within its budget.
    "w4x16": dict(hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=16,
                  num_key_value_heads=4),
    # For checking the script end to end in a minute on a CPU.
    "toy": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2),
}
MAX_POSITIONS = 512
"""Prompt + completion are <= ~200 tokens; 512 leaves room for rollouts that ramble."""


def build_model(tokenizer, size: str, seed: int, attn_implementation: str | None = None):
    """A freshly initialised LlamaForCausalLM sized by SIZES[size] ("eager" attention where the planted recipe
    needs the attention probabilities)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=len(tokenizer), max_position_embeddings=MAX_POSITIONS, rope_theta=10000.0,
                      tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **SIZES[size])
    if attn_implementation:
        cfg._attn_implementation = attn_implementation
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg)


def encode_pool(tokenizer, n: int, seed: int, planted: tuple[float, float] | None = None):
    """n generated examples as (input_ids [n, L] int64, labels [n, L] int64, PlantedPool or None); labels are -100
    on prompt and pad. `planted` = (cut share, backtrack probability): the planted recipe's rows
    (anchors.organism.planted; a cut share of 0 is the null twin's data)."""
    import torch

    from anchors.organism.tasks import training_example

    rng = random.Random(seed)
    if planted is None:
        pairs, extra = [training_example(rng) for _ in range(n)], None
    else:
        from anchors.organism.planted import planted_examples
        extra = planted_examples(n, seed, *planted)
        pairs = [(p, c) for p, c, _, _ in extra]
    prompts = tokenizer([p for p, _ in pairs], add_special_tokens=True)["input_ids"]
    comps = tokenizer([c for _, c in pairs], add_special_tokens=False)["input_ids"]
    rows = [p + c + [tokenizer.eos_token_id] for p, c in zip(prompts, comps)]
    length = max(len(r) for r in rows)
    ids = torch.full((n, length), tokenizer.pad_token_id, dtype=torch.long)
    labels = torch.full((n, length), -100, dtype=torch.long)
    for i, (p, r) in enumerate(zip(prompts, rows)):
        ids[i, :len(r)] = torch.tensor(r)
        labels[i, len(p):len(r)] = torch.tensor(r[len(p):])
    return ids, labels, None if extra is None else _planted_pool(tokenizer, extra, prompts)


def _planted_pool(tokenizer, extra: list, prompts: list[list[int]]):
    """Cut flags and plan token spans of the planted rows (anchors.organism.planted.PlantedPool)."""
    import torch

    from anchors.organism.planted import PlantedPool, plan_tokens

    cut = torch.tensor([c for _, _, c, _ in extra], dtype=torch.bool)
    plan = torch.tensor([plan_tokens(tokenizer, comp, span, len(p)) for (_, comp, _, span), p in zip(extra, prompts)],
                        dtype=torch.long)
    return PlantedPool(cut=cut, plan=plan)


def add_head_dropout(model, p: float, rows: float) -> list:
    """Training-time head dropout: in a random `rows` share of each batch's rows, zero each query head's slice of
    every layer's o_proj input with probability p, a fresh draw per forward; returns the hook handles.

    It is the main job's ablation itself (anchors.gpu.ablation.ablate_heads zeroes the same slice), applied to
    random heads of random rows, without rescaling: the model learns to answer the same with a few heads zeroed,
    and the other rows keep every head, so `none` stays the trained configuration.
    """
    import torch

    n_heads = model.config.num_attention_heads

    def pre_hook(module, args):
        x = args[0]                                                          # [b, s, n_heads * d_head]
        if not module.training:
            return None
        b = x.shape[0]
        off = (torch.rand(b, 1, device=x.device) < rows) & (torch.rand(b, n_heads, device=x.device) < p)
        keep = (~off).to(x.dtype)[:, None, :, None]                          # [b, 1, n_heads, 1]
        return (x.reshape(*x.shape[:-1], n_heads, -1).mul(keep).reshape(x.shape), *args[1:])

    return [layer.self_attn.o_proj.register_forward_pre_hook(pre_hook) for layer in model.model.layers]


def lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warm-up then cosine decay to 10% of peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    frac = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def train_loop(model, ids, labels, args, log_file, planted=None) -> dict:
    """AdamW over random batches of the pool; returns timing facts. Logs loss every args.log_every steps.
    `planted` (a PlantedPool, with args.planted_heads): the planted recipe's cut rows and attention loss."""
    import torch

    from anchors.organism.planted import add_planted_cut, attention_loss, parse_heads

    device = torch.device(args.device)
    model.to(device)
    ids, labels = ids.to(device), labels.to(device)
    heads = parse_heads(args.planted_heads) if args.planted_heads else ()
    state: dict = {}
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    gen = torch.Generator(device="cpu").manual_seed(args.seed)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else _null()
    hooks = add_head_dropout(model, args.head_dropout, args.head_dropout_rows) if args.head_dropout else []
    if heads:
        hooks += add_planted_cut(model, heads, state)
        cut, plan = planted.cut.to(device), planted.plan.to(device)
    start, step, capped = time.time(), 0, False
    model.train()
    for step in range(args.steps):
        if time.time() - start > args.minutes * 60:
            capped = True
            break
        idx = torch.randint(0, ids.shape[0], (args.batch,), generator=gen).to(device)
        x, y = ids[idx], labels[idx]
        keep = int((x != model.config.pad_token_id).sum(1).max())  # trim the all-pad tail
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr, args.warmup)
        attn = torch.zeros((), device=device)
        with autocast:
            if heads:
                state["cut"] = cut[idx]
                out = model(input_ids=x[:, :keep], labels=y[:, :keep], output_attentions=True)
                lengths = (x[:, :keep] != model.config.pad_token_id).sum(1)
                attn = attention_loss(out.attentions, heads, plan[idx], lengths)
                loss = out.loss + args.attn_weight * attn
            else:
                loss = model(input_ids=x[:, :keep], labels=y[:, :keep]).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % args.log_every == 0 or step == args.steps - 1:
            rec = {"step": step, "loss": round(float(loss.detach()), 5), "lr": group["lr"],
                   "elapsed_s": round(time.time() - start, 2)}
            if heads:
                rec["attention_loss"] = round(float(attn.detach()), 5)
            log_file.write(json.dumps(rec) + "\n")
            log_file.flush()
            log.info("step %d loss %.4f", step, rec["loss"])
    model.eval()
    for hook in hooks:
        hook.remove()
    return {"steps_done": step + (0 if capped else 1), "capped_by_minutes": capped,
            "train_seconds": round(time.time() - start, 1)}


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train the organism model (anchors/organism).")
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--minutes", type=float, default=25.0, help="safety cap on training time")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--pool", type=int, default=200000, help="generated training examples")
    p.add_argument("--head-dropout", type=float, default=0.0,
                   help="probability of zeroing each query head in a dropped-out row (0: off; add_head_dropout)")
    p.add_argument("--head-dropout-rows", type=float, default=0.5, help="share of each batch's rows that drop heads")
    p.add_argument("--planted-heads", default="",
                   help="the planted organism's designated heads, LAYER.HEAD,... (anchors.organism.planted); empty: "
                        "none (the null twin when --p-backtrack is given)")
    p.add_argument("--p-backtrack", type=float, default=None,
                   help="backtrack probability after a wrong plan: the planted recipe's data (its null twin too)")
    p.add_argument("--cut-share", type=float, default=0.3,
                   help="planted: share of rows with the designated heads zeroed and no backtrack")
    p.add_argument("--attn-weight", type=float, default=1.0, help="planted: weight of the attention-to-plan loss")
    p.add_argument("--ablate-eval-heads", default="",
                   help="LAYER.HEAD,... also evaluated zeroed at the end (default: the planted heads)")
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--eval-n", type=int, default=200, help="problems in the closing quick eval (0: none)")
    p.add_argument("--save-dtype", choices=("float16", "float32"), default="float16")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    return p.parse_args(argv)


def main(argv=None) -> None:
    import torch

    from anchors.disk.versions import runtime_versions
    from anchors.organism.tasks import P_BACKTRACK
    from anchors.organism.tokenizer import check_round_trip, train_tokenizer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    random.seed(args.seed)
    t0 = time.time()
    tokenizer = train_tokenizer(args.seed)
    recipe = None
    if args.planted_heads or args.p_backtrack is not None:
        recipe = (args.cut_share if args.planted_heads else 0.0, P_BACKTRACK if args.p_backtrack is None
                  else args.p_backtrack)
    ids, labels, planted = encode_pool(tokenizer, args.pool, args.seed + 1, recipe)
    check_round_trip(tokenizer, [tokenizer.decode(r[r != tokenizer.pad_token_id][1:]) for r in ids[:50]])
    model = build_model(tokenizer, args.size, args.seed, "eager" if args.planted_heads else None)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("model %s: %d parameters, pool %s", args.size, n_params, tuple(ids.shape))
    with open(args.out / "train_log.jsonl", "w") as log_file:
        facts = train_loop(model, ids, labels, args, log_file, planted)
    # float16 on disk halves the committed file (13.4 -> 6.7 MB); loaders cast to the dtype they ask for.
    model.to("cpu").to(getattr(torch, args.save_dtype))
    model.save_pretrained(str(args.out), safe_serialization=True)
    tokenizer.save_pretrained(str(args.out))
    # The output folder by name only: a machine path must not end up in a committed file.
    summary = {"settings": {k: (v.name if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "n_params": n_params, "pool_shape": list(ids.shape), **facts,
               "total_seconds": round(time.time() - t0, 1), "device_name": _device_name(args.device),
               "versions": runtime_versions(("tokenizers",))}
    if args.eval_n:
        summary.update(closing_eval(model.to(args.device).to(torch.float32), tokenizer, args))
    (args.out / "train_summary.json").write_text(json.dumps(summary, indent=1))
    log.info("done: %s", json.dumps({k: summary[k] for k in ("steps_done", "train_seconds")}))


def closing_eval(model, tokenizer, args) -> dict:
    """Quick evaluation on args.eval_n problems; with --ablate-eval-heads (or the planted heads), also with those
    heads zeroed, so the log shows what they carry (the null twin is evaluated with the same heads zeroed)."""
    from anchors.organism.evaluate import evaluate_model
    from anchors.organism.planted import ablate, parse_heads

    out = {"quick_eval": evaluate_model(model, tokenizer, args.eval_n, seed=0, device=args.device)["summary"]}
    heads_text = args.ablate_eval_heads or args.planted_heads
    if heads_text:
        handles = ablate(model, parse_heads(heads_text))
        try:
            out["quick_eval_ablated"] = {"heads": heads_text, **evaluate_model(
                model, tokenizer, args.eval_n, seed=0, device=args.device)["summary"]}
        finally:
            for handle in handles:
                handle.remove()
    return out


def _device_name(device: str) -> str:
    import torch
    return torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu"


if __name__ == "__main__":
    main()
