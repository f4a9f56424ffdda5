"""The organism's tokenizer: a small byte-level BPE trained on generated prompts and completions.

Byte-level BPE (GPT-2 style) so any text, spaces and newlines included, round-trips exactly; the merges learnt
from the generated corpus make every template word and every number the tasks use (<= 3 digits) one token.
A post-processor prepends BOS, as the Local path of METHOD §1.2 does (`tokenizer(prompt)` adds BOS).
"""

from __future__ import annotations

import random

from anchors.organism.tasks import training_example

BOS, EOS, PAD = "<s>", "</s>", "<pad>"
VOCAB_SIZE = 1024
"""Target vocabulary (bytes + merges + 3 specials); ~600 merges cover every word and number of the templates."""


def train_tokenizer(seed: int, n_texts: int = 20000):
    """Train the BPE on n_texts generated prompt+completion strings; returns a PreTrainedTokenizerFast."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    rng = random.Random(seed)
    texts = ["".join(training_example(rng)) for _ in range(n_texts)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=[BOS, EOS, PAD],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, tok.token_to_id(BOS))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   clean_up_tokenization_spaces=False)
    return fast


def check_round_trip(tokenizer, texts: list[str]) -> None:
    """Raise ValueError if any text does not decode back to itself exactly."""
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        back = tokenizer.decode(ids, clean_up_tokenization_spaces=False)
        if back != text:
            raise ValueError(f"tokenizer does not round-trip {text[:80]!r} -> {back[:80]!r}")
