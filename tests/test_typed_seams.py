"""`Any` stays rare in anchors/ (issue 21 item 5): under 10 per 1,000 lines, counted as `Any` tokens in annotations
(parameters, returns, annotated names and fields, string annotations too). inspect_ai, TransformerLens and nnsight
run at about 8-10; anchors/ was at 23 before the seams got their types (LoadedModel, Condition, SamplingSettings,
RunSpec, transformers' PreTrainedModel and tokenizer, JsonObject for the report's JSON). Pure AST, well under 1 s."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "anchors"
MAX_PER_1000 = 10.0
"""The ceiling, in `Any` annotation tokens per 1,000 lines of anchors/ (issue 21: "under 10")."""


def _any_tokens(annotation: ast.expr | None) -> int:
    """`Any` (or `typing.Any`) tokens in one annotation, inside string annotations too."""
    if annotation is None:
        return 0
    n = 0
    for node in ast.walk(annotation):
        if (isinstance(node, ast.Name) and node.id == "Any") or (isinstance(node, ast.Attribute)
                                                                   and node.attr == "Any"):
            n += 1
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "Any" in node.value:
            try:
                n += _any_tokens(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                pass
    return n


def count_any(source: str) -> int:
    """`Any` tokens in the annotations of one module."""
    n = 0
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            params = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            n += sum(_any_tokens(a.annotation) for a in params if a is not None) + _any_tokens(node.returns)
        elif isinstance(node, ast.AnnAssign):
            n += _any_tokens(node.annotation)
    return n


def test_any_is_under_10_per_1000_lines():
    texts = [p.read_text(encoding="utf-8") for p in sorted(ROOT.rglob("*.py"))]
    tokens = sum(count_any(t) for t in texts)
    lines = sum(len(t.splitlines()) for t in texts)
    density = 1000 * tokens / lines
    assert density < MAX_PER_1000, f"{tokens} Any in {lines} lines of anchors/: {density:.1f} per 1,000"


def test_the_count_sees_every_form():
    code = ("from typing import Any\nimport typing\n"
            "def f(a: Any, *b: Any, c: dict[str, Any] = None, **d: 'list[Any]') -> typing.Any:\n    x: Any = 1\n"
            "class R:\n    y: tuple[Any, int]\n")
    assert count_any(code) == 7
