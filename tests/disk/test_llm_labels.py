"""Tests of the LLM labeler's request/response handling against a local stub server (no network)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from anchors.disk.llm_labels import label_with_llm, parse_labels
from anchors.errors import AnchorsError, InputError


class _Stub(BaseHTTPRequestHandler):
    requests: list[dict] = []
    reply: dict | None = None
    status = 200

    def do_POST(self):  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers["Authorization"], "body": body})
        data = json.dumps(type(self).reply).encode("utf-8")
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture()
def stub(monkeypatch, tmp_path):
    server = HTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Stub.requests, _Stub.status = [], 200
    monkeypatch.setenv("ANCHORS_LLM_BASE_URL", f"http://127.0.0.1:{server.server_port}/v1")
    monkeypatch.setenv("ANCHORS_LLM_API_KEY", "test-key")
    monkeypatch.setenv("ANCHORS_LLM_MODEL", "stub-model")
    monkeypatch.setenv("ANCHORS_CACHE", str(tmp_path / "cache"))
    yield _Stub
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _reply(labels: dict) -> dict:
    return {"choices": [{"message": {"content": json.dumps(labels)}}]}


def test_request_and_parse_and_cache(stub, tmp_path):
    stub.reply = _reply({"0": {"function_tags": ["problem_setup"], "depends_on": []},
                         "2": {"function_tags": ["active_computation"], "depends_on": ["0"]}})
    sentences = ["Restate the problem here.", "Think about it first.", "Compute 2 + 2 = 4."]
    assert label_with_llm(sentences, "What is 2+2?") == ["problem_setup", "unknown", "active_computation"]
    (request,) = stub.requests
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer test-key"
    body = request["body"]
    assert body["model"] == "stub-model" and body["temperature"] == 0
    assert body["response_format"] == {"type": "json_object"}
    assert "Chunk 1:\nThink about it first.\n\n" in body["messages"][0]["content"]
    # Second call: served from the cache, no new request; the cache file carries provenance.
    assert label_with_llm(sentences, "What is 2+2?") == ["problem_setup", "unknown", "active_computation"]
    assert len(stub.requests) == 1
    (cached,) = (tmp_path / "cache" / "labels").glob("*.json")
    assert json.loads(cached.read_text("utf-8"))["provenance"]["model_id"] == "stub-model"


def test_http_error_is_one_line(stub):
    stub.status, stub.reply = 500, {"error": "boom"}
    with pytest.raises(AnchorsError, match="HTTP 500"):
        label_with_llm(["A sentence that is long."], "p")


def test_missing_config(monkeypatch):
    monkeypatch.delenv("ANCHORS_LLM_MODEL", raising=False)
    with pytest.raises(InputError, match="ANCHORS_LLM_MODEL not set"):
        label_with_llm(["A sentence that is long."], "p")


def test_parse_labels_rejects_non_json_and_unknown_tags():
    assert parse_labels(json.dumps({"0": {"function_tags": ["made_up"]}}), 1) == ["unknown"]
    with pytest.raises(AnchorsError, match="not JSON"):
        parse_labels("sure! here are the labels", 1)
