"""Seeded generator of the organism's arithmetic word problems and their labelled chains of thought.

Pure module: no torch, no pydantic, no disk.

Design (why thought anchors exist here by construction)
--------------------------------------------------------
Every problem has the shape  "start with a; buy b containers of c each; give away d"  whose answer is
a + b*c - d. The CoT is a list of sentences, each carrying its METHOD §5.1 tag:

    problem_setup       "Mia starts with 7 stickers and buys 3 packs."
    plan_generation     the ORDER of operations: correct ("find the stickers in the packs first, then add")
                        or the plausible wrong left-to-right order ("add 7 and 3 first, then multiply").
    fact_retrieval      "Each pack holds 5 stickers."  /  "Mia gives away 2 stickers."
    active_computation  "3 times 5 is 15."  (one operation per sentence, following the plan faithfully)
    uncertainty_management  "Wait, the 7 stickers are not in packs, so I should multiply first." (backtrack,
                        only after a wrong plan) or a harmless "Wait, let me double check that."
    self_checking       "Let me check: 20 plus 2 is 22."
    result_consolidation  "So Mia has 20 stickers left."
    final_answer_emission "The final answer is \\boxed{20}."

The training CoTs pick the wrong plan with probability P_WRONG_PLAN and, after a wrong plan, backtrack with
probability P_BACKTRACK; everything after the plan (or after a backtrack) is a deterministic function of the
problem and that choice. So the answer is decided at the plan sentence (and at a backtrack sentence): resampling
the plan re-draws the order (the answer flips with probability about 2 p (1-p)), while resampling one computation
re-derives the same number from the plan (the answer stays). The training data's accuracy is
(1 - P_WRONG_PLAN) + P_WRONG_PLAN * P_BACKTRACK = 0.45 + 0.55 * 0.35 = 0.64. Sampling at temperature 0.6 sharpens
each binary choice (p -> p^(1/0.6), renormalised): wrong plan 0.55 -> 0.58, backtrack 0.35 -> 0.26, so a model
that learnt the data exactly has base accuracy 0.42 + 0.58 * 0.26 = 0.57 (acceptance: between 0.25 and 0.75).

Every sentence is >= 10 characters, contains no ". " / "? " / "! " inside and no blank line, and sentences are
joined by single spaces (as the rollout prefixes of METHOD §1.5 are), so `anchors.core.sentences.split_sentences`
returns exactly these sentences.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from anchors.vocabulary import TAGS

P_WRONG_PLAN = 0.55
"""Fraction of training CoTs whose plan uses the wrong (left-to-right) order."""
P_BACKTRACK = 0.35
"""After a wrong plan: fraction of CoTs that notice it after the first computation and restart correctly."""
P_FALSE_ALARM = 0.15
"""Fraction of CoTs with a harmless 'Wait, let me double check that.' plus a re-check."""
P_FACT = 0.7
"""Probability of each optional fact-recall sentence."""
P_CHECK = 0.5
"""Probability of the final self-check sentence."""

NUMBER_RANGE = (2, 9)
"""a, b, c are drawn from this inclusive range; d from 1..5 (answers stay positive under either order)."""

PROMPT_HEAD = "Solve this math problem step by step. You MUST put your final answer in \\boxed{}. Problem: "
"""METHOD §1.2 raw completion template, up to the problem text."""
PROMPT_MID = " Solution: \n<think>\n"
"""METHOD §1.2 template between the problem text and the CoT prefix."""

_FRAMES = (
    ("Mia", "stickers", "pack", "packs"),
    ("Tom", "apples", "bag", "bags"),
    ("Ana", "pencils", "box", "boxes"),
    ("Leo", "marbles", "jar", "jars"),
    ("Sam", "cookies", "tray", "trays"),
    ("Eva", "cards", "deck", "decks"),
)


@dataclass(frozen=True)
class Task:
    """One word problem: start with a items, buy b containers of c items, give away d."""

    name: str
    """The person in the problem."""
    item: str
    """What is counted (plural noun)."""
    container: str
    """What holds the items (singular)."""
    containers: str
    """Its plural."""
    a: int
    """Items at the start."""
    b: int
    """Containers bought."""
    c: int
    """Items in each container."""
    d: int
    """Items given away."""

    @property
    def answer(self) -> int:
        """Ground truth a + b*c - d."""
        return self.a + self.b * self.c - self.d

    @property
    def wrong_answer(self) -> int:
        """The left-to-right order's answer (a + b) * c - d."""
        return (self.a + self.b) * self.c - self.d

    @property
    def text(self) -> str:
        """Problem statement."""
        return (f"{self.name} has {self.a} {self.item}. {self.name} buys {self.b} {self.containers} with "
                f"{self.c} {self.item} in each {self.container}. Then {self.name} gives away {self.d} "
                f"{self.item}. How many {self.item} does {self.name} have now?")


@dataclass(frozen=True)
class SyntheticCoT:
    """A generated chain of thought: sentences with their tags, and the answer it reaches."""

    task: Task
    """The problem the chain of thought solves."""
    sentences: tuple[str, ...]
    """The chain of thought, one sentence each."""
    tags: tuple[str, ...]
    """Each sentence's category (the organism's ground-truth labels)."""
    answer: int
    """The final answer it reaches."""
    wrong_plan: bool
    """Whether its plan was the left-to-right order (a + b) * c - d."""
    backtracked: bool
    """Whether it noticed a wrong plan and switched to the right one."""

    @property
    def cot(self) -> str:
        """The CoT text: sentences joined by single spaces."""
        return " ".join(self.sentences)

    @property
    def completion(self) -> str:
        """What the model is trained to write after the prompt: CoT, `</think>`, visible boxed answer."""
        return f"{self.cot}\n</think>\n\nThe answer is \\boxed{{{self.answer}}}."

    @property
    def is_correct(self) -> bool:
        """Whether the trace's answer equals the ground truth."""
        return self.answer == self.task.answer


def prompt_for(problem_text: str, prefix: str = "") -> str:
    """METHOD §1.2 prompt: template + problem + ` Solution: \\n<think>\\n` + prefix (same as prompts.build_prompt)."""
    return PROMPT_HEAD + problem_text + PROMPT_MID + prefix


def sample_task(rng: random.Random) -> Task:
    """Draw one problem."""
    name, item, container, containers = rng.choice(_FRAMES)
    lo, hi = NUMBER_RANGE
    return Task(name, item, container, containers, rng.randint(lo, hi), rng.randint(lo, hi),
                rng.randint(lo, hi), rng.randint(1, 5))


def _computations(t: Task, correct: bool) -> list[tuple[str, str, int]]:
    """(operation sentence, inverse-check sentence, result) for the first two steps of one order."""
    if correct:
        p = t.b * t.c
        s = p + t.a
        return [(f"{t.b} times {t.c} is {p}.", f"{p} divided by {t.c} is {t.b}.", p),
                (f"{p} plus {t.a} is {s}.", f"{s} minus {t.a} is {p}.", s)]
    q = t.a + t.b
    s = q * t.c
    return [(f"{t.a} plus {t.b} is {q}.", f"{q} minus {t.b} is {t.a}.", q),
            (f"{q} times {t.c} is {s}.", f"{s} divided by {t.c} is {q}.", s)]


def _plan(t: Task, correct: bool) -> str:
    if correct:
        return (f"I will first find the {t.item} in the {t.containers}, then add the {t.a} {t.item} "
                f"{t.name} already had, then subtract {t.d}.")
    return f"I will first add {t.a} and {t.b}, then multiply by {t.c}, then subtract {t.d}."


def _two_steps(t: Task, rng: random.Random, correct: bool) -> list[tuple[str, str]]:
    """The two computations of one order, with an optional harmless 'Wait' and re-check between them."""
    (op1, chk1, _), (op2, _, _) = _computations(t, correct)
    out = [(op1, "active_computation")]
    if rng.random() < P_FALSE_ALARM:
        out.append(("Wait, let me double check that.", "uncertainty_management"))
        out.append((f"Yes, {chk1[:-1]}.", "self_checking"))
    out.append((op2, "active_computation"))
    return out


def generate_trace(t: Task, rng: random.Random, p_backtrack: float = P_BACKTRACK) -> SyntheticCoT:
    """One training CoT for task t (plan, optional backtrack, computations, check, consolidation, answer).

    The optional fact recall comes right after the plan on every path, so no sentence other than the plan and
    the backtrack itself carries information about whether a backtrack follows (an earlier draft put the fact
    after the backtrack only, and the trained model learnt that its absence predicts a backtrack).
    `p_backtrack` is the backtrack probability after a wrong plan (the planted organism draws some traces with 0).
    """
    wrong = rng.random() < P_WRONG_PLAN
    backtrack = wrong and rng.random() < p_backtrack
    pairs = [(f"{t.name} starts with {t.a} {t.item} and buys {t.b} {t.containers}.", "problem_setup"),
             (_plan(t, not wrong), "plan_generation")]
    if rng.random() < P_FACT:
        pairs.append((f"Each {t.container} holds {t.c} {t.item}.", "fact_retrieval"))
    if backtrack:
        pairs.append((_computations(t, False)[0][0], "active_computation"))
        pairs.append((f"Wait, the {t.a} {t.item} are not in {t.containers}, so I should multiply first.",
                      "uncertainty_management"))
    correct_order = (not wrong) or backtrack
    pairs += _two_steps(t, rng, correct_order)
    s = _computations(t, correct_order)[1][2]
    result = s - t.d
    if rng.random() < P_FACT:
        pairs.append((f"{t.name} gives away {t.d} {t.item}.", "fact_retrieval"))
    pairs.append((f"{s} minus {t.d} is {result}.", "active_computation"))
    if rng.random() < P_CHECK:
        pairs.append((f"Let me check: {result} plus {t.d} is {s}.", "self_checking"))
    pairs.append((f"So {t.name} has {result} {t.item} left.", "result_consolidation"))
    pairs.append((f"The final answer is \\boxed{{{result}}}.", "final_answer_emission"))
    sentences, tags = zip(*pairs)
    return SyntheticCoT(t, tuple(sentences), tuple(tags), result, wrong, backtrack)


def training_example(rng: random.Random) -> tuple[str, str]:
    """(prompt, completion) for one freshly drawn task and trace."""
    t = sample_task(rng)
    trace = generate_trace(t, rng)
    return prompt_for(t.text), trace.completion


def plan_span(trace: SyntheticCoT) -> tuple[int, int]:
    """Character span [start, end) of the plan sentence in `trace.completion` (the CoT starts the completion)."""
    i = trace.tags.index("plan_generation")
    start = sum(len(s) + 1 for s in trace.sentences[:i])
    return start, start + len(trace.sentences[i])


def eval_tasks(n: int, seed: int) -> list[Task]:
    """n evaluation tasks drawn from a stream seeded apart from training (seed is offset by 10**6)."""
    rng = random.Random(10**6 + seed)
    return [sample_task(rng) for _ in range(n)]


_LABEL_RULES = (
    (re.compile(r"\\boxed\{"), "final_answer_emission"),
    (re.compile(r"^Wait\b"), "uncertainty_management"),
    (re.compile(r"^(Let me check|Yes,)"), "self_checking"),
    (re.compile(r"^I will\b"), "plan_generation"),
    (re.compile(r"^\w+ starts with\b"), "problem_setup"),
    (re.compile(r"^(Each \w+ holds|\w+ gives away)\b"), "fact_retrieval"),
    (re.compile(r"^-?\d+ (times|plus|minus|divided by) -?\d+ is -?\d+\.$"), "active_computation"),
    (re.compile(r"^So \w+ has\b"), "result_consolidation"),
)


def label_sentence(sentence: str) -> str:
    """The tag of a sentence in the generator's templates (also for model-written ones); 'unknown' otherwise."""
    for pattern, tag in _LABEL_RULES:
        if pattern.search(sentence.strip()):
            return tag
    return "unknown"
