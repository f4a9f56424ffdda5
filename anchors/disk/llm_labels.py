"""The paper's LLM labelling procedure (METHOD.md §5.2) against any OpenAI-compatible chat endpoint.

One request per trace, temperature 0, JSON mode; the prompt lists the problem and every sentence as
"Chunk k:" + newline + text + blank line, and asks for a dict keyed by sentence index with `function_tags`
and `depends_on`. A missing key gives "unknown" (as in the paper). The prompt is our paraphrase of the
paper's taxonomy (METHOD §5.1), not its verbatim text.

Configuration (environment): ANCHORS_LLM_BASE_URL (e.g. https://api.openai.com/v1), ANCHORS_LLM_API_KEY,
ANCHORS_LLM_MODEL (e.g. gpt-4o). Standard library only (urllib). Results are cached under
`settings.cache_dir()/labels/` keyed by a hash of everything that changes the output, with provenance.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import urllib.error
import urllib.request

from anchors.disk.jsonio import read_json, write_json_atomic
from anchors.disk.provenance import make_provenance
from anchors.errors import AnchorsError, InputError
from anchors.records import TAGS
from anchors.settings import cache_dir

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
"""Bumped when the prompt or the response parsing changes, so stale cached labels are never reused."""
TIMEOUT_S = 120.0

_DEFINITIONS = {
    "problem_setup": "restating or parsing the problem",
    "plan_generation": "stating or choosing what to do next (meta-reasoning)",
    "fact_retrieval": "recalling facts, formulas or problem details without computing",
    "active_computation": "doing algebra, arithmetic or other manipulation toward the answer",
    "result_consolidation": "aggregating or summarising intermediate results, or preparing the final answer",
    "uncertainty_management": "expressing confusion, re-evaluating, proposing alternatives, backtracking",
    "final_answer_emission": "stating the final (boxed) answer",
    "self_checking": "verifying earlier steps or re-confirming",
}


def build_prompt(sentences: list[str], problem_text: str) -> str:
    """The labelling prompt for one trace (our paraphrase of the paper's DAG prompt)."""
    tags = "\n".join(f"{i + 1}. {tag}: {_DEFINITIONS[tag]}" for i, tag in enumerate(TAGS))
    chunks = "".join(f"Chunk {i}:\n{s}\n\n" for i, s in enumerate(sentences))
    return (
        "You label the steps of a chain-of-thought solution to a math problem.\n"
        f"Categories:\n{tags}\n\n"
        f"Problem:\n{problem_text}\n\nSolution steps:\n{chunks}"
        "Return a JSON object keyed by chunk index (as a string). Each value is an object with "
        '"function_tags" (a list of category names, usually one) and "depends_on" (a list of earlier chunk '
        "indices, as strings, that this chunk uses).")


def _config() -> tuple[str, str, str]:
    values = [os.environ.get(k, "").strip() for k in ("ANCHORS_LLM_BASE_URL", "ANCHORS_LLM_API_KEY",
                                                      "ANCHORS_LLM_MODEL")]
    missing = [k for k, v in zip(("ANCHORS_LLM_BASE_URL", "ANCHORS_LLM_API_KEY", "ANCHORS_LLM_MODEL"), values)
               if not v]
    if missing:
        raise InputError("LLM labeler", f"{', '.join(missing)} not set",
                         "set the OpenAI-compatible endpoint, key and model, or use --labeler offline")
    return values[0].rstrip("/"), values[1], values[2]


def _post(base_url: str, api_key: str, payload: dict) -> dict:
    request = urllib.request.Request(
        f"{base_url}/chat/completions", data=json.dumps(payload).encode("utf-8"), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise AnchorsError(f"LLM labeler: {base_url} answered HTTP {exc.code} ({exc.reason})") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise AnchorsError(f"LLM labeler: cannot reach {base_url} ({exc})") from None
    except json.JSONDecodeError:
        raise AnchorsError(f"LLM labeler: {base_url} returned a non-JSON body") from None


def parse_labels(content: str, n_sentences: int) -> list[str]:
    """One tag per sentence from the model's JSON text; missing or unknown entries give "unknown"."""
    try:
        data = json.loads(content)
    except json.JSONDecodeError:
        raise AnchorsError("LLM labeler: the model's message is not JSON (is JSON mode supported?)") from None
    if not isinstance(data, dict):
        raise AnchorsError("LLM labeler: the model's JSON is not an object keyed by sentence index")
    tags = []
    for i in range(n_sentences):
        entry = data.get(str(i))  # a missing key is the paper's "unknown", not an error
        found = entry.get("function_tags") if isinstance(entry, dict) else None
        tag = found[0] if isinstance(found, list) and found else "unknown"
        tags.append(tag if tag in TAGS else "unknown")
    return tags


def label_with_llm(sentences: list[str], problem_text: str, source: str = "") -> list[str]:
    """Tags for one trace from the configured endpoint, cached by (endpoint, model, prompt, CACHE_VERSION)."""
    base_url, api_key, model = _config()
    prompt = build_prompt(sentences, problem_text)
    key = hashlib.sha256(json.dumps([CACHE_VERSION, base_url, model, prompt]).encode("utf-8")).hexdigest()
    path = cache_dir() / "labels" / f"{key}.json"
    if path.is_file():
        return list(read_json(path, expect=dict)["tags"])
    payload = {"model": model, "temperature": 0, "response_format": {"type": "json_object"},
               "messages": [{"role": "user", "content": prompt}]}
    response = _post(base_url, api_key, payload)
    try:
        content = response["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise AnchorsError(f"LLM labeler: {base_url} response has no choices[0].message.content") from None
    tags = parse_labels(content, len(sentences))
    provenance = make_provenance({"base_url": base_url, "cache_version": CACHE_VERSION, "source": source},
                                 model_id=model)
    write_json_atomic(path, {"tags": tags, "raw": content, "provenance": provenance.model_dump()})
    logger.info("labelled %d sentences with %s (cached %s)", len(tags), model, path.name)
    return tags
