"""The one gateway to language and embedding models: structured completions, chat, embeddings.

Callers never learn which provider answered: with no OPENAI_API_KEY (or the round's token budget
spent) embeddings come from the offline model and completions raise LLMUnavailable, so the
caller uses its deterministic fallback. Every call is recorded as an LLMCall.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any, TypeVar

import numpy as np
import pydantic

from llm import offline, prompts
from llm.config import RemoteConfig, api_key_set, client_for, remote_config
from llm.models import CachedEmbedding, Outcome
from llm.prompts import (
    REPAIR_REQUEST,
    chat_messages,
    chat_system_prompt,
    data_block,
    input_hash,
    sha256_hex,
    structured_system_prompt,
)
from llm.records import budget_spent, cached_response, record_call
from llm.retry import RetriesExhausted, call_with_retries
from llm.schemas import response_format, schema_text

logger = logging.getLogger(__name__)

PROVIDER_OPENAI = "openai"
PROVIDER_OFFLINE = "offline"
NO_MODEL = "no_model"
BUDGET_EXCEEDED = "budget_exceeded"
CALL_FAILED = "call_failed"
EMBED_BATCH = 256
CACHE_LOOKUP_CHUNK = 500

M = TypeVar("M", bound=pydantic.BaseModel)


class LLMUnavailable(Exception):
    """No model can answer: none configured, the round's budget is spent, or the call failed after retries."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def model_available(round_id: int | None = None) -> bool:
    """True when a remote model is configured and the round's token budget is not spent."""
    return api_key_set() and not budget_spent(round_id)


def provider_name(round_id: int | None = None) -> str:
    """ "openai" (any OpenAI-compatible server) when a model is available, else "offline"."""
    return PROVIDER_OPENAI if model_available(round_id) else PROVIDER_OFFLINE


def embedding_space(round_id: int | None = None) -> str:
    """The identity of the vectors `embed` would return now; vectors from different spaces must not be compared."""
    if model_available(round_id):
        config = remote_config()
        return f"{PROVIDER_OPENAI}:{config.base_url}#{config.embedding_model}"
    return f"{PROVIDER_OFFLINE}:{offline.MODEL_ID}"


def embed(texts: list[str], *, purpose: str, round_id: int | None = None) -> np.ndarray:
    """Embed texts: float32 (n, d), rows L2-normalised; the offline model when no remote model is available."""
    return embed_tagged(texts, purpose=purpose, round_id=round_id)[0]


def embed_tagged(texts: list[str], *, purpose: str, round_id: int | None = None) -> tuple[np.ndarray, str]:
    """Like `embed`, also returning the embedding space that answered (see `embedding_space`)."""
    texts = list(texts)
    if model_available(round_id):
        config = remote_config()
        try:
            vectors = _embed_remote(texts, config, purpose=purpose, round_id=round_id)
            return vectors, f"{PROVIDER_OPENAI}:{config.base_url}#{config.embedding_model}"
        except LLMUnavailable as failure:
            logger.warning("remote embedding failed (%s); using the offline model", failure)
    return _embed_offline(texts, purpose=purpose, round_id=round_id), f"{PROVIDER_OFFLINE}:{offline.MODEL_ID}"


def complete_structured(
    *,
    purpose: str,
    instructions: str,
    data: Any,
    schema: type[M],
    round_id: int | None = None,
    temperature: float = 0.0,
    prompt_version: str | None = None,
) -> M:
    """Ask the model for a JSON object matching `schema` about `data`; raises LLMUnavailable when it cannot."""
    version = prompts.prompt_version(instructions, prompt_version)
    if not api_key_set():
        raise LLMUnavailable(NO_MODEL, "OPENAI_API_KEY is not set")
    config = remote_config()
    system = structured_system_prompt(instructions)
    if config.structured_mode == "json_object":
        system += "\nThe JSON schema:\n" + schema_text(schema)
        format_param: dict[str, Any] = {"type": "json_object"}
    else:
        format_param = response_format(schema)
    messages: list[dict[str, str]] = [
        {"role": "system", "content": system},
        {"role": "user", "content": data_block(data)},
    ]
    key = input_hash(
        kind="structured",
        provider=PROVIDER_OPENAI,
        base_url=config.base_url,
        model=config.chat_model,
        messages=messages,
        response_format=format_param,
        temperature=temperature,
    )
    base = {
        "purpose": purpose,
        "kind": "structured",
        "provider": PROVIDER_OPENAI,
        "model": config.chat_model,
        "prompt_version": version,
        "input_hash": key,
        "round_id": round_id,
    }
    _check_budget(round_id, base)
    cached = cached_response(key)
    if cached is not None:
        try:
            result = schema.model_validate(cached)
        except pydantic.ValidationError:
            result = None
        if result is not None:
            record_call(**base, outcome=Outcome.CACHED)
            return result

    client = client_for(config)
    started = time.monotonic()
    tokens_in = tokens_out = attempts = 0

    def ask(conversation: list[dict[str, str]]) -> str | None:
        nonlocal tokens_in, tokens_out, attempts
        completion, made = call_with_retries(
            lambda: client.chat.completions.create(
                model=config.chat_model,
                messages=conversation,
                response_format=format_param,
                temperature=temperature,
            ),
            config.policy,
        )
        attempts += made
        text = _completion_text(completion)
        used_in, used_out = _usage(completion, conversation, text)
        tokens_in += used_in
        tokens_out += used_out
        return text

    try:
        reply = ask(messages)
        result, problem = _parse(reply, schema)
        if result is None:
            repair = messages + [
                {"role": "assistant", "content": reply or ""},
                {"role": "user", "content": REPAIR_REQUEST.format(error=problem)},
            ]
            reply = ask(repair)
            result, problem = _parse(reply, schema)
    except RetriesExhausted as failure:
        attempts += failure.attempts
        _record_failure(base, started, tokens_in, tokens_out, attempts, str(failure))
        raise LLMUnavailable(CALL_FAILED, str(failure)) from failure
    if result is None:
        detail = f"invalid structured output after one repair: {problem}"
        _record_failure(base, started, tokens_in, tokens_out, attempts, detail)
        raise LLMUnavailable(CALL_FAILED, detail)
    record_call(
        **base,
        outcome=Outcome.OK,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        latency_ms=_elapsed_ms(started),
        attempts=attempts,
        response=result.model_dump(mode="json"),
    )
    return result


def chat(*, purpose: str, instructions: str, messages: list[dict], round_id: int | None = None) -> str:
    """One assistant turn of a conversation; raises LLMUnavailable when no model can answer."""
    config, conversation, base = _prepare_chat("chat", purpose, instructions, messages, round_id)
    cached = cached_response(base["input_hash"])
    if isinstance(cached, dict) and isinstance(cached.get("text"), str):
        record_call(**base, outcome=Outcome.CACHED)
        return cached["text"]
    client = client_for(config)
    started = time.monotonic()
    try:
        completion, attempts = call_with_retries(
            lambda: client.chat.completions.create(model=config.chat_model, messages=conversation),
            config.policy,
        )
    except RetriesExhausted as failure:
        _record_failure(base, started, 0, 0, failure.attempts, str(failure))
        raise LLMUnavailable(CALL_FAILED, str(failure)) from failure
    text = _completion_text(completion)
    tokens_in, tokens_out = _usage(completion, conversation, text)
    if text is None:
        detail = "the model returned no text"
        _record_failure(base, started, tokens_in, tokens_out, attempts, detail)
        raise LLMUnavailable(CALL_FAILED, detail)
    record_call(
        **base,
        outcome=Outcome.OK,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        latency_ms=_elapsed_ms(started),
        attempts=attempts,
        response={"text": text},
    )
    return text


def chat_stream(
    *, purpose: str, instructions: str, messages: list[dict], round_id: int | None = None
) -> Iterator[str]:
    """Stream one assistant turn as text pieces; LLMUnavailable is raised here, before any piece, when possible."""
    config, conversation, base = _prepare_chat("chat_stream", purpose, instructions, messages, round_id)
    cached = cached_response(base["input_hash"])
    if isinstance(cached, dict) and isinstance(cached.get("text"), str):
        record_call(**base, outcome=Outcome.CACHED)
        return iter([cached["text"]])
    client = client_for(config)
    started = time.monotonic()
    try:
        stream, attempts = call_with_retries(
            lambda: client.chat.completions.create(
                model=config.chat_model,
                messages=conversation,
                stream=True,
                stream_options={"include_usage": True},
            ),
            config.policy,
        )
    except RetriesExhausted as failure:
        _record_failure(base, started, 0, 0, failure.attempts, str(failure))
        raise LLMUnavailable(CALL_FAILED, str(failure)) from failure
    return _relay_stream(stream, conversation, base, started, attempts)


def _relay_stream(
    stream: Any, conversation: list[dict[str, str]], base: dict[str, Any], started: float, attempts: int
) -> Iterator[str]:
    pieces: list[str] = []
    usage = None
    try:
        for chunk in stream:
            if getattr(chunk, "usage", None) is not None:
                usage = chunk.usage
            for choice in chunk.choices or []:
                piece = choice.delta.content if choice.delta is not None else None
                if piece:
                    pieces.append(piece)
                    yield piece
    except GeneratorExit:
        stream.close()
        tokens_in, tokens_out = _usage_from(usage, conversation, "".join(pieces))
        _record_failure(
            base, started, tokens_in, tokens_out, attempts, "stream closed by the caller before the end"
        )
        raise
    except Exception as error:
        stream.close()
        detail = f"stream broke: {error}"[:500]
        tokens_in, tokens_out = _usage_from(usage, conversation, "".join(pieces))
        _record_failure(base, started, tokens_in, tokens_out, attempts, detail)
        raise LLMUnavailable(CALL_FAILED, detail) from error
    text = "".join(pieces)
    tokens_in, tokens_out = _usage_from(usage, conversation, text)
    record_call(
        **base,
        outcome=Outcome.OK,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        latency_ms=_elapsed_ms(started),
        attempts=attempts,
        response={"text": text},
    )


def _prepare_chat(
    kind: str, purpose: str, instructions: str, messages: list[dict], round_id: int | None
) -> tuple[RemoteConfig, list[dict[str, str]], dict[str, Any]]:
    version = prompts.prompt_version(instructions)
    turns = chat_messages(messages)
    if not api_key_set():
        raise LLMUnavailable(NO_MODEL, "OPENAI_API_KEY is not set")
    config = remote_config()
    conversation = [{"role": "system", "content": chat_system_prompt(instructions)}, *turns]
    key = input_hash(
        kind="chat",
        provider=PROVIDER_OPENAI,
        base_url=config.base_url,
        model=config.chat_model,
        messages=conversation,
    )
    base = {
        "purpose": purpose,
        "kind": kind,
        "provider": PROVIDER_OPENAI,
        "model": config.chat_model,
        "prompt_version": version,
        "input_hash": key,
        "round_id": round_id,
    }
    _check_budget(round_id, base)
    return config, conversation, base


def _embed_remote(
    texts: list[str], config: RemoteConfig, *, purpose: str, round_id: int | None
) -> np.ndarray:
    space = f"{config.base_url}#{config.embedding_model}"
    if not texts:
        known = (
            CachedEmbedding.objects.filter(provider_model=space).values_list("dimensions", flat=True).first()
        )
        return np.zeros((0, known or 0), dtype=np.float32)
    hashes = [sha256_hex(text) for text in texts]
    unique = list(dict.fromkeys(hashes))
    vectors: dict[str, np.ndarray] = {}
    for start in range(0, len(unique), CACHE_LOOKUP_CHUNK):
        rows = CachedEmbedding.objects.filter(
            provider_model=space, text_hash__in=unique[start : start + CACHE_LOOKUP_CHUNK]
        ).values_list("text_hash", "vector")
        for text_hash, blob in rows:
            vectors[text_hash] = np.frombuffer(bytes(blob), dtype="<f4")
    text_of = dict(zip(hashes, texts, strict=True))
    missing = [h for h in unique if h not in vectors]
    base = {
        "purpose": purpose,
        "kind": "embed",
        "provider": PROVIDER_OPENAI,
        "model": config.embedding_model,
        "input_hash": input_hash(kind="embed", space=space, texts=missing or unique),
        "round_id": round_id,
    }
    if not missing:
        record_call(**base, outcome=Outcome.CACHED)
        return np.stack([vectors[h] for h in hashes]).astype(np.float32)

    client = client_for(config)
    started = time.monotonic()
    tokens_in = attempts = 0
    fresh: list[CachedEmbedding] = []
    try:
        for start in range(0, len(missing), EMBED_BATCH):
            batch = missing[start : start + EMBED_BATCH]
            # OpenAI rejects empty strings; a space embeds the same "nothing".
            inputs = [text_of[h] or " " for h in batch]
            response, made = call_with_retries(
                lambda inputs=inputs: client.embeddings.create(model=config.embedding_model, input=inputs),
                config.policy,
            )
            attempts += made
            data = sorted(response.data, key=lambda item: item.index)
            if len(data) != len(batch):
                raise LLMUnavailable(CALL_FAILED, f"{len(data)} embeddings for {len(batch)} texts")
            usage = getattr(response, "usage", None)
            tokens_in += (
                usage.prompt_tokens if usage is not None else sum(_estimate_tokens(t) for t in inputs)
            )
            for text_hash, item in zip(batch, data, strict=True):
                vector = _normalise(np.asarray(item.embedding, dtype=np.float32))
                vectors[text_hash] = vector
                fresh.append(
                    CachedEmbedding(
                        provider_model=space,
                        text_hash=text_hash,
                        dimensions=vector.shape[0],
                        vector=vector.astype("<f4").tobytes(),
                    )
                )
    except RetriesExhausted as failure:
        attempts += failure.attempts
        _record_failure(base, started, tokens_in, 0, attempts, str(failure))
        raise LLMUnavailable(CALL_FAILED, str(failure)) from failure
    except LLMUnavailable as failure:
        _record_failure(base, started, tokens_in, 0, attempts, failure.detail)
        raise
    CachedEmbedding.objects.bulk_create(fresh, ignore_conflicts=True)
    record_call(
        **base, outcome=Outcome.OK, tokens_in=tokens_in, latency_ms=_elapsed_ms(started), attempts=attempts
    )
    dims = {vectors[h].shape[0] for h in unique}
    if len(dims) != 1:
        raise LLMUnavailable(CALL_FAILED, f"embeddings of mixed dimensions {sorted(dims)}")
    return np.stack([vectors[h] for h in hashes]).astype(np.float32)


def _embed_offline(texts: list[str], *, purpose: str, round_id: int | None) -> np.ndarray:
    started = time.monotonic()
    vectors = offline.embed_texts(texts)
    record_call(
        purpose=purpose,
        kind="embed",
        provider=PROVIDER_OFFLINE,
        model=offline.MODEL_ID,
        input_hash=input_hash(kind="embed", space=offline.MODEL_ID, texts=[sha256_hex(t) for t in texts]),
        outcome=Outcome.OK,
        latency_ms=_elapsed_ms(started),
        round_id=round_id,
    )
    return vectors


def _check_budget(round_id: int | None, base: dict[str, Any]) -> None:
    if budget_spent(round_id):
        record_call(**base, outcome=Outcome.BUDGET_EXCEEDED)
        raise LLMUnavailable(BUDGET_EXCEEDED, f"round {round_id} has spent its token budget")


def _record_failure(
    base: dict[str, Any], started: float, tokens_in: int, tokens_out: int, attempts: int, detail: str
) -> None:
    record_call(
        **base,
        outcome=Outcome.ERROR,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        latency_ms=_elapsed_ms(started),
        attempts=attempts,
        error=detail,
    )


def _parse(reply: str | None, schema: type[M]) -> tuple[M | None, str]:
    if reply is None:
        return None, "no content (refusal or empty reply)"
    try:
        return schema.model_validate(json.loads(reply)), ""
    except json.JSONDecodeError as error:
        return None, f"not JSON: {error.msg} at position {error.pos}"
    except pydantic.ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or '(root)'}: {item['msg']}"
            for item in error.errors()[:5]
        )
        return None, f"schema mismatch: {problems}"


def _completion_text(completion: Any) -> str | None:
    choices = getattr(completion, "choices", None)
    if not choices:
        return None
    message = choices[0].message
    return message.content if message is not None else None


def _usage(completion: Any, conversation: list[dict[str, str]], text: str | None) -> tuple[int, int]:
    return _usage_from(getattr(completion, "usage", None), conversation, text or "")


def _usage_from(usage: Any, conversation: list[dict[str, str]], text: str) -> tuple[int, int]:
    # Servers that report no usage are still charged against the budget, by a rough estimate.
    if usage is not None and getattr(usage, "prompt_tokens", None) is not None:
        return int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0)
    return sum(_estimate_tokens(m["content"]) for m in conversation), _estimate_tokens(text)


def _estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def _normalise(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
