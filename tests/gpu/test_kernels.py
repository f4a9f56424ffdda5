"""The engine's Triton kernels, run on CPU through Triton's interpreter, against plain torch and the model's modules.

Without a GPU the kernels run under TRITON_INTERPRET=1 (set here before any kernel module is imported); on a GPU
machine they compile for the device. The interpreter checks kernel logic (indexing, masking, splits, merges,
hashing), not speed or GPU float behaviour; those are the benchmark's GPU checks.
"""

from __future__ import annotations

import os

import pytest
import torch

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cpu":     # before triton is first imported: its own library functions are decorated at import
    os.environ.setdefault("TRITON_INTERPRET", "1")
triton = pytest.importorskip("triton", reason="triton has no wheel for this platform (Linux x86-64 only)")
if DEVICE == "cpu":
    from triton.runtime.interpreter import InterpretedFunction

    assert isinstance(triton.language.standard.cdiv, InterpretedFunction), \
        "triton was imported before this module set TRITON_INTERPRET=1: run it in its own pytest process"

from anchors.core.prompts import SamplingSettings  # noqa: E402
from anchors.gpu import kernels  # noqa: E402
from anchors.gpu.generate import RolloutRequest, generate_rollouts, reference_logits  # noqa: E402
from anchors.gpu.kernels.selftest import _dense_reference  # noqa: E402
from anchors.gpu.runner import teacher_forced_logits  # noqa: E402
from anchors.gpu.sampling import hashed_uniform, sample_tokens_torch, top_p_mask  # noqa: E402

pytestmark = pytest.mark.tiny


@pytest.fixture(scope="module", autouse=True)
def interpreter_scalars():
    """Triton 3.6's interpreter turns a loop bound into a Python int with int(<1-element array>), which numpy
    >= 2.4 refuses; give it the array's single element instead (a test-only shim, removed after the module)."""
    if DEVICE == "cuda":
        yield
        return
    import triton.runtime.interpreter as interpreter

    original = interpreter._patch_lang_tensor

    def patched(tensor, scope):
        original(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.reshape(-1)[0]))

    interpreter._patch_lang_tensor = patched
    yield
    interpreter._patch_lang_tensor = original


def _layout(group: int, gen: torch.Generator):
    """2 slots x 3 places, 5 rows: ragged lengths over 16-token pages, partial last pages, an idle row (no
    suffix), a slot with an empty prompt, rows in shuffled places."""
    from anchors.gpu.kernels.paged_attention import PagedItems

    G, R, B, n_kv, d, page, n_pages = 2, 3, 5, 2, 16, 16, 40
    pool = [torch.randn(n_pages, n_kv, page, d, generator=gen) for _ in range(2)]
    q = torch.randn(B, n_kv * group, d, generator=gen)
    perm = (torch.randperm(n_pages - 1, generator=gen) + 1).int()
    p_len, s_len = torch.tensor([70, 0], dtype=torch.int32), torch.tensor([1, 16, 17, 63, 0], dtype=torch.int32)
    place_row = torch.tensor([3, 0, 4, 1, 2, 2])
    row_place = torch.tensor([1, 3, 4, 0, 2])
    prefix = PagedItems(perm[:10].view(G, 5), p_len, place_row.view(G, R), torch.argsort(p_len, descending=True))
    suffix = PagedItems(perm[10:30].view(B, 4), s_len, torch.arange(B)[:, None],
                        torch.argsort(s_len, descending=True))
    return q, pool, prefix, suffix, row_place, R


@pytest.mark.parametrize("group", [2, 5])
@pytest.mark.parametrize("splits", [(1, 1), (4, 2), (3, 5)])
def test_paged_attention_equals_dense_attention(group, splits, monkeypatch):
    from anchors.gpu.kernels import paged_attention as pa

    monkeypatch.setattr(pa, "PREFIX_SPLITS", splits[0])
    monkeypatch.setattr(pa, "SUFFIX_SPLITS", splits[1])
    q, (k_pool, v_pool), prefix, suffix, row_place, R = _layout(group, torch.Generator().manual_seed(group))
    got = pa.paged_attention(q, k_pool, v_pool, prefix, suffix, row_place, 0.3)
    want = _dense_reference(q, k_pool, v_pool, prefix, suffix, row_place, R, 0.3)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.fixture
def small_chunks(monkeypatch):
    """Sampler chunks of 256 tokens in blocks of 64: a 700-token row is 3 chunks (the GPU's 152k-token rows are 19
    chunks of 8192), so the cross-chunk reductions run, at a size the interpreter runs in seconds."""
    from anchors.gpu.kernels import sampler

    monkeypatch.setattr(sampler, "CHUNK", 256)
    monkeypatch.setattr(sampler, "BLOCK", 64)
    monkeypatch.setattr(sampler, "SEARCH_BLOCK", 64)


def _tie_inclusive_tokens(logits, seeds, steps, temperature, top_p):
    """The sampling rule with every token tied at the nucleus boundary kept (the kernel's rule), in torch: the
    boundary is the smallest value the sort-based mask keeps."""
    scaled = logits.float() / temperature
    boundary = torch.where(top_p_mask(scaled, top_p), scaled, float("inf")).min(-1).values
    noise = -torch.log(-torch.log(hashed_uniform(seeds, steps, logits.shape[-1])))
    return torch.where(scaled >= boundary[:, None], scaled + noise, float("-inf")).argmax(-1)


@pytest.mark.parametrize("temperature, top_p", [(0.6, 0.95), (1.0, 1.0), (0.7, 0.5)])
def test_the_sampler_kernel_draws_the_sort_based_samplers_tokens(temperature, top_p, small_chunks):
    """Same noise (bit-identical hash), same nucleus on untied logits: the same token in every row."""
    from anchors.gpu.kernels.sampler import sample

    gen = torch.Generator().manual_seed(3)
    logits = (3 * torch.randn(12, 700, generator=gen)).to(DEVICE)
    seeds = (torch.arange(12) * 7919 + (1 << 40)).to(DEVICE)
    steps = torch.arange(12).to(DEVICE) * 5
    want = sample_tokens_torch(logits, seeds, steps, temperature, top_p)
    assert sample(logits, seeds, steps, temperature, top_p).tolist() == want.tolist()


def test_the_sampler_kernel_keeps_every_token_tied_at_the_nucleus_boundary():
    from anchors.gpu.kernels.sampler import sample

    logits = torch.zeros(2, 300, device=DEVICE)                      # all tied: top_p 0.5 keeps all of them
    seeds, steps = torch.tensor([5, 6], device=DEVICE), torch.tensor([0, 9], device=DEVICE)
    want = hashed_uniform(seeds, steps, 300).argmax(-1)               # Gumbel-max over the whole vocabulary
    assert sample(logits, seeds, steps, 0.6, 0.5).tolist() == want.tolist()


def test_the_search_finds_the_sort_based_nucleus_threshold(small_chunks):
    """The threshold key equals the key of the smallest value the sort-based mask keeps, in float32 (untied) and
    in bf16 logits of the random 14B's spread (std 1.43: many ties), and with one dominant token (only it kept)."""
    from anchors.gpu.kernels.sampler import nucleus_threshold

    gen = torch.Generator().manual_seed(5)
    fp32 = 3 * torch.randn(6, 700, generator=gen)
    bf16 = (1.43 * torch.randn(6, 700, generator=gen)).bfloat16()
    fp32[5, 321] = 60.0
    smallest = {}
    for name, logits in (("fp32", fp32), ("bf16", bf16)):
        scaled = logits.float() / 0.6
        smallest[name] = torch.where(top_p_mask(scaled, 0.95), scaled, float("inf")).min(-1).values     # [B]
        bits = smallest[name].view(torch.int32)
        want = torch.where(bits >= 0, bits, bits ^ 0x7FFFFFFF)
        got, done = nucleus_threshold(logits.to(DEVICE), 0.6, 0.95)
        assert done.all().item() and got.cpu().tolist() == want.tolist(), name
    assert smallest["fp32"][5] == fp32[5, 321] / 0.6                            # the dominant token alone is kept


def test_the_sampler_keeps_every_token_tied_at_the_boundary_in_bf16(small_chunks):
    """Integer logits (hundreds of ties per value) and bf16 logits: the kernel draws the tie-inclusive rule's
    token in every row (the sort-based sampler keeps a tied group only in part, by its sort order)."""
    from anchors.gpu.kernels.sampler import sample

    gen = torch.Generator().manual_seed(6)
    seeds, steps = torch.arange(8) * 104729 + 17, torch.arange(8) % 5
    for logits, top_p in ((torch.randint(-3, 4, (8, 700), generator=gen).float(), 0.7),
                          ((1.43 * torch.randn(8, 700, generator=gen)).bfloat16(), 0.95)):
        want = _tie_inclusive_tokens(logits, seeds, steps, 0.6, top_p)
        assert sample(logits.to(DEVICE), seeds.to(DEVICE), steps.to(DEVICE), 0.6, top_p).tolist() == want.tolist()


def test_the_sampler_draws_from_a_few_token_nucleus(small_chunks):
    """3 tokens per row raised by 12 hold the nucleus, so most 64-token blocks keep no token and the draw skips
    them: the token drawn is the sort-based sampler's, one of the raised ones."""
    from anchors.gpu.kernels.sampler import sample

    gen = torch.Generator().manual_seed(7)
    logits = 2.5 * torch.randn(8, 700, generator=gen)
    raised = torch.randint(0, 700, (8, 3), generator=gen)
    logits.scatter_add_(1, raised, torch.full((8, 3), 12.0))
    seeds, steps = torch.arange(8) * 31 + 5, torch.arange(8)
    want = sample_tokens_torch(logits, seeds, steps, 0.6, 0.95)
    got = sample(logits.to(DEVICE), seeds.to(DEVICE), steps.to(DEVICE), 0.6, 0.95).cpu()
    assert got.tolist() == want.tolist()
    assert all(int(t) in row for t, row in zip(got, raised.tolist()))


def test_the_fused_layer_ops_reproduce_the_models_modules():
    from anchors.gpu.kernels.layer_ops import add_rmsnorm, rotary_write, silu_mul
    from anchors.gpu.model import load_model

    model = load_model("tiny-qwen2").model
    layer, gen = model.model.layers[0], torch.Generator().manual_seed(4)
    x, res = torch.randn(3, 64, generator=gen), torch.randn(3, 64, generator=gen)
    normed, summed = add_rmsnorm(x, res, layer.input_layernorm.weight, layer.input_layernorm.variance_epsilon)
    torch.testing.assert_close(summed, x + res, atol=0, rtol=0)
    torch.testing.assert_close(normed, layer.input_layernorm(x + res), atol=1e-6, rtol=1e-6)
    gate, up = torch.randn(3, 1, 128, generator=gen), torch.randn(3, 1, 128, generator=gen)
    torch.testing.assert_close(silu_mul(gate, up), layer.mlp.act_fn(gate) * up, atol=1e-6, rtol=1e-6)

    import sys

    attn = layer.self_attn
    apply_rotary = sys.modules[type(attn).__module__].apply_rotary_pos_emb
    B, H, KV, d = 2, 4, 2, 16
    q, k, v = (torch.randn(B, n * d, generator=gen) for n in (H, KV, KV))
    positions = torch.tensor([3, 21])
    cos, sin = model.model.rotary_emb(q[:, None], (positions + 40)[:, None])            # [B, 1, d]
    pools = [torch.zeros(5, KV, 16, d) for _ in range(2)]
    table = torch.tensor([[2, 1], [4, 3]], dtype=torch.int32)
    got_q = rotary_write(q, k, v, cos[:, 0], sin[:, 0], positions, table, *pools)
    want_q, want_k = apply_rotary(q.view(B, 1, H, d).transpose(1, 2), k.view(B, 1, KV, d).transpose(1, 2), cos, sin)
    torch.testing.assert_close(got_q, want_q[:, :, 0], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(pools[0][2, :, 3], want_k[0, :, 0], atol=1e-6, rtol=1e-6)   # row 0: page 2, offset 3
    torch.testing.assert_close(pools[0][3, :, 5], want_k[1, :, 0], atol=1e-6, rtol=1e-6)   # row 1: page 3, offset 5
    torch.testing.assert_close(pools[1][3, :, 5], v.view(B, KV, d)[1], atol=0, rtol=0)


class _ZeroHeads:
    """A condition zeroing query heads 1 and 2 of layer 0 through an o_proj pre-hook (anchors.gpu.ablation)."""

    def apply(self, model):
        from anchors.gpu.ablation import ablate_heads

        return ablate_heads(model, [(0, 1), (0, 2)])


@pytest.fixture
def triton_engine(monkeypatch):
    """The engine's Triton path on this device (on CPU: interpreted), with one split per item (splits have
    their own test above) to keep the interpreter's work small."""
    from anchors.gpu.kernels import paged_attention as pa

    torch.set_num_threads(1)
    monkeypatch.setattr(kernels, "ALLOW_CPU_INTERPRETER", True)
    monkeypatch.setattr(pa, "PREFIX_SPLITS", 1)
    monkeypatch.setattr(pa, "SUFFIX_SPLITS", 1)


@pytest.mark.parametrize("name", ["tiny-qwen2", "tiny-llama"])
def test_the_fused_triton_path_gives_the_models_logits(name, triton_engine):
    """Fused layers + paged kernels in float32, 18 decode steps (across a 16-token page boundary)."""
    from anchors.gpu.model import load_model

    loaded = load_model(name, device=DEVICE)
    prompt = loaded.tokenizer("a prompt of a few words").input_ids
    cont = [(7 * k + 3) % 500 for k in range(18)]
    got = teacher_forced_logits(loaded.model, [prompt], [[cont]], fused=True)[0, 0]
    torch.testing.assert_close(got, reference_logits(loaded.model, prompt, cont + [0]), atol=1e-4, rtol=1e-4)


def test_the_triton_path_draws_the_reference_tokens_under_head_ablation(triton_engine):
    """Rollouts through the fused Triton path equal the reference engine's, with heads zeroed by an o_proj
    pre-hook: the hook acts at every decode position of the fused path."""
    from anchors.gpu.model import load_model

    loaded = load_model("tiny-llama", device=DEVICE)
    requests = [RolloutRequest("p", 0, k, "Problem: <think>\n" + "so " * 9, seed=k) for k in range(2)]
    sampling = SamplingSettings(max_new_tokens=8)
    runs = [{r.rollout_idx: ro.rollout for r, ro in generate_rollouts(
        loaded, requests, condition, sampling, progress=False, engine_name=engine)}
        for condition, engine in ((_ZeroHeads(), "cascade"), (_ZeroHeads(), "reference"), (None, "cascade"))]
    assert runs[0] == runs[1] and runs[0] != runs[2]
