"""A small OpenAI-compatible HTTP server for tests, scriptable per test, plus the `fake_openai` fixture.

Standard library only. It answers POST /v1/chat/completions (text, JSON mode, json_schema,
streaming as server-sent events) and POST /v1/embeddings (base64 float32 or float lists) with
deterministic replies, unless a test queued behaviours: each request consumes the next queued
behaviour; with the queue empty the sticky default behaviour (if any) applies, else a normal
answer. Every request is recorded.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True)
class Behaviour:
    """What the server does with one request."""

    status: int = 200
    delay: float = 0.0
    content: str | None = None
    raw_body: bytes | None = None
    disconnect: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    message: str | None = None
    finish_reason: str = "stop"


def error(status: int, retry_after: float | None = None, message: str | None = None) -> Behaviour:
    """Answer with an OpenAI-style error body and this HTTP status."""
    headers = (("Retry-After", str(retry_after)),) if retry_after is not None else ()
    return Behaviour(status=status, headers=headers, message=message)


def truncated(text: str) -> Behaviour:
    """A chat completion cut off at max_tokens (finish_reason "length") with this content."""
    return Behaviour(content=text, finish_reason="length")


def slow(seconds: float) -> Behaviour:
    """Wait this long before answering normally (longer than the client's timeout to provoke one)."""
    return Behaviour(delay=seconds)


def malformed() -> Behaviour:
    """A 200 response whose JSON body is cut off."""
    return Behaviour(raw_body=b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [')


def disconnect() -> Behaviour:
    """Close the connection without answering."""
    return Behaviour(disconnect=True)


def json_reply(value: Any) -> Behaviour:
    """A chat completion whose message content is this value as JSON."""
    return Behaviour(content=json.dumps(value))


def text_reply(text: str) -> Behaviour:
    """A chat completion whose message content is this text (which may be invalid JSON on purpose)."""
    return Behaviour(content=text)


@dataclass
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any

    def messages(self) -> list[dict[str, Any]]:
        """The chat messages of a chat completion request."""
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []

    def message_text(self, role: str) -> str:
        """All contents of the messages with this role, joined."""
        return "\n".join(str(m.get("content", "")) for m in self.messages() if m.get("role") == role)


def word_count(text: str) -> int:
    """The fake tokenizer: one token per whitespace-separated word."""
    return len(text.split())


def instance_of(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """A deterministic minimal value that satisfies a (pydantic-generated) JSON schema."""
    root = root if root is not None else schema
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return instance_of(target, root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return instance_of(options[0], root)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {name: instance_of(sub, root) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        return [instance_of(schema.get("items", {}), root) for _ in range(count)]
    if kind == "string":
        return "x" * max(1, int(schema.get("minLength", 1)))
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0.0))
    if kind == "boolean":
        return True
    return None


class FakeOpenAI:
    """The server: start(), enqueue(...) behaviours, inspect `requests`, stop()."""

    # What llama-cpp-python's server answers to response_format json_schema (HTTP 500).
    JSON_SCHEMA_REFUSAL = (
        "1 validation error: {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
        "'msg': \"Input should be 'text' or 'json_object'\"}"
    )

    def __init__(self, embedding_dim: int = 8):
        self.embedding_dim = embedding_dim
        # Behave like llama-cpp-python's server: refuse json_schema, constrain json_object + schema.
        self.like_llama_cpp = False
        # Answer embeddings per token ([[...], ...], floats), as a server without pooling does.
        self.token_embeddings = False
        self.requests: list[RecordedRequest] = []
        self.default: Behaviour | None = None
        # Optional: writes the content of a chat completion from its request body (None: the normal answer).
        self.responder: Any = None
        self._queue: list[Behaviour] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The URL to use as OPENAI_BASE_URL."""
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeOpenAI:
        """Listen on a random port of 127.0.0.1 in a background thread."""
        handler = type("BoundHandler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; sleeping handlers wake up and give up."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def enqueue(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next requests, in order."""
        with self._lock:
            self._queue.extend(behaviours)

    def always(self, behaviour: Behaviour | None) -> None:
        """Apply this behaviour to every request once the queue is empty (None: answer normally)."""
        with self._lock:
            self.default = behaviour

    def requests_to(self, suffix: str) -> list[RecordedRequest]:
        """The recorded requests whose path ends with `suffix` (e.g. "/embeddings")."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith(suffix)]

    def vector(self, text: str) -> list[float]:
        """The (unnormalised, float32-exact) embedding the server returns for a text."""
        values = []
        for i in range(self.embedding_dim):
            digest = hashlib.sha256(f"{i}:{text}".encode()).digest()
            value = int.from_bytes(digest[:4], "little") / 2**32 - 0.5
            values.append(struct.unpack("<f", struct.pack("<f", value))[0])
        return values

    def _next(self, request: RecordedRequest) -> Behaviour | None:
        with self._lock:
            self.requests.append(request)
            if self._queue:
                return self._queue.pop(0)
            return self.default

    def _wait(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True if it is stopping."""
        return self._stopping.wait(seconds)

    def chat_response(self, body: dict[str, Any], behaviour: Behaviour | None) -> tuple[str, dict[str, Any]]:
        """The assistant text and the usage for a chat completion request."""
        if behaviour is not None and behaviour.content is not None:
            content = behaviour.content
        elif self.responder is not None and (written := self.responder(body)) is not None:
            content = written
        else:
            content = self._default_content(body)
        prompt_tokens = sum(word_count(str(m.get("content", ""))) for m in body.get("messages", []))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": max(1, word_count(content)),
            "total_tokens": prompt_tokens + max(1, word_count(content)),
        }
        return content, usage

    def _default_content(self, body: dict[str, Any]) -> str:
        response_format = body.get("response_format") or {}
        if response_format.get("type") == "json_schema":
            return json.dumps(instance_of(response_format["json_schema"]["schema"]))
        if response_format.get("type") == "json_object":
            if isinstance(response_format.get("schema"), dict):
                return json.dumps(instance_of(response_format["schema"]))
            return "{}"
        users = [m for m in body.get("messages", []) if m.get("role") == "user"]
        last = str(users[-1].get("content", "")) if users else ""
        return f"Fake reply to: {last[:80]}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address) -> None:
        # Clients that time out hang up on a sleeping handler; that is expected here.
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeOpenAI

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        request = RecordedRequest("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        behaviour = self.fake._next(request)
        if behaviour is not None and behaviour.delay and self.fake._wait(behaviour.delay):
            self.close_connection = True
            return
        if behaviour is not None and behaviour.disconnect:
            self.close_connection = True
            return
        if behaviour is None and self.fake.like_llama_cpp and isinstance(body, dict):
            if (body.get("response_format") or {}).get("type") == "json_schema":
                behaviour = Behaviour(status=500, message=FakeOpenAI.JSON_SCHEMA_REFUSAL)
        if behaviour is not None and behaviour.status >= 400:
            message = behaviour.message or f"fake error {behaviour.status}"
            self._send_json(
                behaviour.status,
                {"error": {"message": message, "type": "fake_error", "code": None}},
                behaviour.headers,
            )
            return
        if behaviour is not None and behaviour.raw_body is not None:
            self._send_bytes(200, behaviour.raw_body, "application/json", behaviour.headers)
            return
        if not isinstance(body, dict):
            self._send_json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        if self.path.endswith("/chat/completions"):
            self._chat(body, behaviour)
        elif self.path.endswith("/embeddings"):
            self._embeddings(body)
        else:
            self._send_json(
                404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}}
            )

    def _chat(self, body: dict[str, Any], behaviour: Behaviour | None) -> None:
        content, usage = self.fake.chat_response(body, behaviour)
        model = body.get("model", "fake-model")
        created = int(time.time())
        if body.get("stream"):
            self._stream(
                content, usage, model, created, bool((body.get("stream_options") or {}).get("include_usage"))
            )
            return
        finish_reason = behaviour.finish_reason if behaviour is not None else "stop"
        self._send_json(
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": usage,
            },
        )

    def _stream(
        self, content: str, usage: dict[str, int], model: str, created: int, include_usage: bool
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        words = content.split(" ")
        pieces = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]

        def event(choices: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> None:
            payload = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                **(extra or {}),
            }
            self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            self.wfile.flush()

        event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for piece in pieces:
            event([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
        event([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        if include_usage:
            event([], {"usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _embeddings(self, body: dict[str, Any]) -> None:
        inputs = body.get("input", [])
        if isinstance(inputs, str):
            inputs = [inputs]
        encoding = body.get("encoding_format", "float")
        data = []
        for index, text in enumerate(inputs):
            vector = self.fake.vector(text)
            if self.fake.token_embeddings:
                embedding: Any = [self.fake.vector(f"{word}#{i}") for i, word in enumerate(text.split() or [""])]
            elif encoding == "base64":
                embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            else:
                embedding = vector
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(word_count(t) for t in inputs)
        self._send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": body.get("model", "fake-embedding"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    def _send_json(self, status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self._send_bytes(status, json.dumps(payload).encode(), "application/json", headers)

    def _send_bytes(
        self, status: int, data: bytes, content_type: str, headers: tuple[tuple[str, str], ...]
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


FIXTURE_TIMEOUT = 2.0
FIXTURE_MAX_RETRIES = 3
FIXTURE_BACKOFF_BASE = 0.001
FIXTURE_BACKOFF_MAX = 0.01


@pytest.fixture
def fake_openai(settings):
    """A running FakeOpenAI with the gateway's settings pointed at it (short timeout, tiny backoff)."""
    server = FakeOpenAI().start()
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_BASE_URL = server.base_url
    settings.WISER_CHAT_MODEL = "fake-chat"
    settings.WISER_EMBEDDING_MODEL = "fake-embedding"
    settings.WISER_LLM_TIMEOUT = FIXTURE_TIMEOUT
    settings.WISER_LLM_MAX_RETRIES = FIXTURE_MAX_RETRIES
    settings.WISER_LLM_BACKOFF_BASE = FIXTURE_BACKOFF_BASE
    settings.WISER_LLM_BACKOFF_MAX = FIXTURE_BACKOFF_MAX
    try:
        yield server
    finally:
        server.stop()
