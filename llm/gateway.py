"""The one gateway to language and embedding models: structured completions, chat, embeddings.

Callers never learn which provider answered: with no OPENAI_API_KEY (or the round's token budget
spent) embeddings come from the offline model and completions raise LLMUnavailable, so the
caller uses its deterministic fallback. Every call is recorded as an LLMCall.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any, TypeVar

import numpy as np
import pydantic
from django.core.cache import cache

from llm import offline, prompts
from llm.config import RemoteConfig, api_key_set, client_for, remote_config, remote_embeddings_enabled
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
from llm.retry import RetriesExhausted, call_with_retries, is_unsupported
from llm.schemas import response_format, schema_text

logger = logging.getLogger(__name__)

PROVIDER_OPENAI = "openai"
PROVIDER_OFFLINE = "offline"
NO_MODEL = "no_model"
BUDGET_EXCEEDED = "budget_exceeded"
CALL_FAILED = "call_failed"
OFFLINE_SPACE = f"{PROVIDER_OFFLINE}:{offline.MODEL_ID}"
EMBED_BATCH = 256
CACHE_LOOKUP_CHUNK = 500
# What a server accepted as response_format is remembered this long (per base URL and model) in "auto" mode.
STRUCTURED_MODE_SECONDS = 24 * 60 * 60
# A server that answered with vectors of the wrong shape is not asked for embeddings again for this long.
EMBED_PAUSE_SECONDS = 10 * 60

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


def web_timeout() -> float:
    """The whole-call time limit for a caller that holds a web request open (WISER_LLM_WEB_TIMEOUT)."""
    return remote_config().web_timeout


def embedding_space(round_id: int | None = None) -> str:
    """The identity of the vectors `embed` would return now; vectors from different spaces must not be compared."""
    if _remote_embeddings(round_id):
        config = remote_config()
        return f"{PROVIDER_OPENAI}:{config.base_url}#{config.embedding_model}"
    return OFFLINE_SPACE


def embed(
    texts: list[str], *, purpose: str, round_id: int | None = None, timeout: float | None = None
) -> np.ndarray:
    """Embed texts: float32 (n, d), rows L2-normalised; the offline model when no remote model is available."""
    return embed_tagged(texts, purpose=purpose, round_id=round_id, timeout=timeout)[0]


def embed_tagged(
    texts: list[str],
    *,
    purpose: str,
    round_id: int | None = None,
    timeout: float | None = None,
    space: str | None = None,
) -> tuple[np.ndarray, str]:
    """Like `embed`, also returning the embedding space that answered (see `embedding_space`).

    `timeout` limits the remote call as a whole (retries included); the offline model answers after it.
    `space` set to the offline space (vectors to match others already made offline) skips the server.
    """
    texts = list(texts)
    if space != OFFLINE_SPACE and _remote_embeddings(round_id):
        config = remote_config()
        try:
            vectors = _embed_remote(texts, config, purpose=purpose, round_id=round_id, timeout=timeout)
            return vectors, f"{PROVIDER_OPENAI}:{config.base_url}#{config.embedding_model}"
        except LLMUnavailable as failure:
            logger.warning("remote embedding failed (%s); using the offline model", failure)
    return _embed_offline(texts, purpose=purpose, round_id=round_id), OFFLINE_SPACE


def _remote_embeddings(round_id: int | None) -> bool:
    if not (remote_embeddings_enabled() and model_available(round_id)):
        return False
    return cache.get(_embed_pause_key(remote_config())) is None


def _embed_pause_key(config: RemoteConfig) -> str:
    return "llm:embed-paused:" + sha256_hex(f"{config.base_url}#{config.embedding_model}")


def complete_structured(
    *,
    purpose: str,
    instructions: str,
    data: Any,
    schema: type[M],
    round_id: int | None = None,
    temperature: float = 0.0,
    prompt_version: str | None = None,
    max_tokens: int | None = None,
    timeout: float | None = None,
) -> M:
    """Ask the model for a JSON object matching `schema` about `data`; raises LLMUnavailable when it cannot.

    `max_tokens` caps the reply (default: the purpose's, llm.config.PURPOSE_MAX_TOKENS); `timeout` limits the
    whole call in seconds, retries and repair included (default WISER_LLM_CALL_TIMEOUT, for tasks; callers
    inside a web request pass `web_timeout()`). Each request is also capped by WISER_LLM_TIMEOUT.
    """
    version = prompts.prompt_version(instructions, prompt_version)
    if not api_key_set():
        raise LLMUnavailable(NO_MODEL, "OPENAI_API_KEY is not set")
    config = remote_config()
    limit = max_tokens or config.max_tokens_for(purpose)
    deadline = config.deadline(timeout)
    modes = _structured_modes(config)
    client = client_for(config)
    started = time.monotonic()
    tally = {"tokens_in": 0, "tokens_out": 0, "attempts": 0}
    for position, mode in enumerate(modes):
        messages, format_param = _structured_request(mode, instructions, data, schema)
        key = input_hash(
            kind="structured",
            provider=PROVIDER_OPENAI,
            base_url=config.base_url,
            model=config.chat_model,
            messages=messages,
            response_format=format_param,
            temperature=temperature,
            max_tokens=limit,
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
        if position == 0:
            _check_budget(round_id, base)
        cached = _cached_instance(key, schema)
        if cached is not None:
            record_call(**base, outcome=Outcome.CACHED)
            return cached

        def ask(conversation: list[dict[str, str]], format_param=format_param) -> tuple[str | None, str]:
            completion, made = call_with_retries(
                lambda: client.chat.completions.create(
                    model=config.chat_model,
                    messages=conversation,
                    response_format=format_param,
                    temperature=temperature,
                    max_tokens=limit,
                    timeout=_request_timeout(config, deadline),
                ),
                config.policy,
                deadline=deadline,
            )
            tally["attempts"] += made
            text = _completion_text(completion)
            used_in, used_out = _usage(completion, conversation, text)
            tally["tokens_in"] += used_in
            tally["tokens_out"] += used_out
            return text, _finish_reason(completion)

        try:
            reply, finish = ask(messages)
            result, problem = _parse(reply, schema)
            if result is None and finish == "length":
                # A repair would carry the cut-off reply back and overflow the context; it cannot help.
                problem = f"the reply was cut off at max_tokens={limit} ({problem})"
            elif result is None:
                repair = messages + [
                    {"role": "assistant", "content": reply or ""},
                    {"role": "user", "content": REPAIR_REQUEST.format(error=problem)},
                ]
                reply, finish = ask(repair)
                result, problem = _parse(reply, schema)
                if result is None and finish == "length":
                    problem = f"the repaired reply was cut off at max_tokens={limit} ({problem})"
        except RetriesExhausted as failure:
            tally["attempts"] += failure.attempts
            if position + 1 < len(modes) and is_unsupported(failure.error):
                logger.info("structured mode %s not supported by %s: %s", mode, config.base_url, failure)
                continue
            if config.structured_mode == "auto" and is_unsupported(failure.error):
                cache.delete(
                    _structured_mode_key(config)
                )  # the server changed: find its mode again next time
            _record_failure(
                base, started, tally["tokens_in"], tally["tokens_out"], tally["attempts"], str(failure)
            )
            raise LLMUnavailable(CALL_FAILED, str(failure)) from failure
        if config.structured_mode == "auto":
            cache.set(_structured_mode_key(config), mode, STRUCTURED_MODE_SECONDS)
        if result is None:
            detail = (
                problem if finish == "length" else f"invalid structured output after one repair: {problem}"
            )
            _record_failure(base, started, tally["tokens_in"], tally["tokens_out"], tally["attempts"], detail)
            raise LLMUnavailable(CALL_FAILED, detail)
        record_call(
            **base,
            outcome=Outcome.OK,
            tokens_in=tally["tokens_in"],
            tokens_out=tally["tokens_out"],
            latency_ms=_elapsed_ms(started),
            attempts=tally["attempts"],
            response=result.model_dump(mode="json"),
        )
        return result
    raise AssertionError("unreachable: the last structured mode either returns or raises")


def structured_mode(config: RemoteConfig | None = None) -> str | None:
    """The response_format mode in use for the configured server: the setting, or what "auto" found (None: not yet)."""
    config = config or remote_config()
    if config.structured_mode != "auto":
        return config.structured_mode
    return cache.get(_structured_mode_key(config))


def _structured_modes(config: RemoteConfig) -> list[str]:
    """The modes to try in order: the configured one, the remembered one, or all from the strictest down."""
    known = structured_mode(config)
    if known is not None:
        return [known]
    return ["json_schema", "json_object_schema", "json_object"]


def _structured_mode_key(config: RemoteConfig) -> str:
    return "llm:structured-mode:" + sha256_hex(f"{config.base_url}#{config.chat_model}")


def _structured_request(
    mode: str, instructions: str, data: Any, schema: type[pydantic.BaseModel]
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """The messages and response_format of a structured request in one mode.

    json_schema: OpenAI's structured outputs. json_object_schema: {"type": "json_object", "schema": ...}, which
    llama-cpp-python turns into a grammar; the schema is in the prompt too, so the model knows what the fields
    mean. json_object: plain JSON mode, the schema only in the prompt.
    """
    system = structured_system_prompt(instructions)
    if mode == "json_schema":
        format_param: dict[str, Any] = response_format(schema)
    else:
        system += "\nThe JSON schema:\n" + schema_text(schema)
        format_param = {"type": "json_object"}
        if mode == "json_object_schema":
            format_param["schema"] = response_format(schema)["json_schema"]["schema"]
    messages = [{"role": "system", "content": system}, {"role": "user", "content": data_block(data)}]
    return messages, format_param


def _cached_instance(key: str, schema: type[M]) -> M | None:
    cached = cached_response(key)
    if cached is None:
        return None
    try:
        return schema.model_validate(cached)
    except pydantic.ValidationError:
        return None


def _request_timeout(config: RemoteConfig, deadline: float | None) -> float:
    """One request's timeout: WISER_LLM_TIMEOUT, shortened to what is left before the call's deadline."""
    if deadline is None:
        return config.timeout
    return max(0.1, min(config.timeout, deadline - time.monotonic()))


def chat(
    *,
    purpose: str,
    instructions: str,
    messages: list[dict],
    round_id: int | None = None,
    max_tokens: int | None = None,
    timeout: float | None = None,
) -> str:
    """One assistant turn of a conversation; raises LLMUnavailable when no model can answer.

    `max_tokens` and `timeout` as in `complete_structured`; a reply cut off at max_tokens is returned as it is.
    """
    config, conversation, base, limit = _prepare_chat(
        "chat", purpose, instructions, messages, round_id, max_tokens
    )
    deadline = config.deadline(timeout)
    cached = cached_response(base["input_hash"])
    if isinstance(cached, dict) and isinstance(cached.get("text"), str):
        record_call(**base, outcome=Outcome.CACHED)
        return cached["text"]
    client = client_for(config)
    started = time.monotonic()
    try:
        completion, attempts = call_with_retries(
            lambda: client.chat.completions.create(
                model=config.chat_model,
                messages=conversation,
                max_tokens=limit,
                timeout=_request_timeout(config, deadline),
            ),
            config.policy,
            deadline=deadline,
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
    *,
    purpose: str,
    instructions: str,
    messages: list[dict],
    round_id: int | None = None,
    max_tokens: int | None = None,
    timeout: float | None = None,
) -> Iterator[str]:
    """Stream one assistant turn as text pieces; LLMUnavailable is raised here, before any piece, when possible.

    `timeout` limits the wait for the response to start (retries included) and each wait between pieces.
    """
    config, conversation, base, limit = _prepare_chat(
        "chat_stream", purpose, instructions, messages, round_id, max_tokens
    )
    deadline = config.deadline(timeout)
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
                max_tokens=limit,
                timeout=_request_timeout(config, deadline),
            ),
            config.policy,
            deadline=deadline,
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
    kind: str,
    purpose: str,
    instructions: str,
    messages: list[dict],
    round_id: int | None,
    max_tokens: int | None,
) -> tuple[RemoteConfig, list[dict[str, str]], dict[str, Any], int]:
    version = prompts.prompt_version(instructions)
    turns = chat_messages(messages)
    if not api_key_set():
        raise LLMUnavailable(NO_MODEL, "OPENAI_API_KEY is not set")
    config = remote_config()
    limit = max_tokens or config.max_tokens_for(purpose)
    conversation = [{"role": "system", "content": chat_system_prompt(instructions)}, *turns]
    key = input_hash(
        kind="chat",
        provider=PROVIDER_OPENAI,
        base_url=config.base_url,
        model=config.chat_model,
        messages=conversation,
        max_tokens=limit,
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
    return config, conversation, base, limit


class InvalidEmbedding(Exception):
    """The server answered with something that is not one vector per text of a consistent dimension."""


def _embed_remote(
    texts: list[str],
    config: RemoteConfig,
    *,
    purpose: str,
    round_id: int | None,
    timeout: float | None = None,
) -> np.ndarray:
    space = f"{config.base_url}#{config.embedding_model}"
    known_dimensions = _space_dimensions(space)
    if not texts:
        return np.zeros((0, known_dimensions or 0), dtype=np.float32)
    hashes = [sha256_hex(text) for text in texts]
    unique = list(dict.fromkeys(hashes))
    vectors: dict[str, np.ndarray] = {}
    broken: list[str] = []
    for start in range(0, len(unique), CACHE_LOOKUP_CHUNK):
        rows = CachedEmbedding.objects.filter(
            provider_model=space, text_hash__in=unique[start : start + CACHE_LOOKUP_CHUNK]
        ).values_list("text_hash", "dimensions", "vector")
        for text_hash, dimensions, blob in rows:
            vector = np.frombuffer(bytes(blob), dtype="<f4")
            if vector.shape[0] != dimensions or not np.all(np.isfinite(vector)):
                broken.append(text_hash)  # stored by an older version from a bad answer: ask again
            else:
                vectors[text_hash] = vector
    sizes = Counter(v.shape[0] for v in vectors.values())
    if len(sizes) > 1:
        usual = sizes.most_common(1)[0][0]
        broken += [h for h, v in vectors.items() if v.shape[0] != usual]
        vectors = {h: v for h, v in vectors.items() if v.shape[0] == usual}
    if broken:
        CachedEmbedding.objects.filter(provider_model=space, text_hash__in=broken).delete()
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
    deadline = config.deadline(timeout)
    started = time.monotonic()
    tokens_in = attempts = 0
    fresh: list[CachedEmbedding] = []
    expected = next(iter(vectors.values())).shape[0] if vectors else known_dimensions
    try:
        for start in range(0, len(missing), EMBED_BATCH):
            batch = missing[start : start + EMBED_BATCH]
            # OpenAI rejects empty strings; a space embeds the same "nothing".
            inputs = [text_of[h] or " " for h in batch]
            response, made = call_with_retries(
                lambda inputs=inputs: client.embeddings.create(
                    model=config.embedding_model, input=inputs, timeout=_request_timeout(config, deadline)
                ),
                config.policy,
                deadline=deadline,
            )
            attempts += made
            data = sorted(getattr(response, "data", None) or [], key=lambda item: item.index)
            if len(data) != len(batch):
                raise InvalidEmbedding(f"{len(data)} embeddings for {len(batch)} texts")
            usage = getattr(response, "usage", None)
            tokens_in += (
                usage.prompt_tokens
                if usage is not None and usage.prompt_tokens is not None
                else sum(_estimate_tokens(t) for t in inputs)
            )
            for text_hash, item in zip(batch, data, strict=True):
                vector = _checked_vector(item.embedding, expected)
                expected = vector.shape[0]
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
    except InvalidEmbedding as failure:
        # Nothing of this answer is kept; the server is left alone for a while (a wrong shape does not heal).
        detail = f"invalid embedding: {failure}"
        _record_failure(base, started, tokens_in, 0, attempts, detail)
        cache.set(_embed_pause_key(config), detail, EMBED_PAUSE_SECONDS)
        raise LLMUnavailable(CALL_FAILED, detail) from failure
    CachedEmbedding.objects.bulk_create(fresh, ignore_conflicts=True)
    record_call(
        **base, outcome=Outcome.OK, tokens_in=tokens_in, latency_ms=_elapsed_ms(started), attempts=attempts
    )
    return np.stack([vectors[h] for h in hashes]).astype(np.float32)


def _space_dimensions(space: str) -> int | None:
    """The dimension of the vectors cached for a space (the usual one of a few sound rows), None if none are."""
    rows = CachedEmbedding.objects.filter(provider_model=space).values_list("dimensions", "vector")[:20]
    sizes = Counter(dimensions for dimensions, blob in rows if len(bytes(blob)) == 4 * dimensions)
    return sizes.most_common(1)[0][0] if sizes else None


def _checked_vector(raw: Any, dimensions: int | None) -> np.ndarray:
    """A unit float32 vector from one embedding of the server's answer, or InvalidEmbedding.

    It must be a flat list of finite numbers, not all zero, of the dimension of the others in this space (a
    server without pooling answers one vector per token, `[[...], ...]`).
    """
    if not isinstance(raw, (list, tuple)) or not raw:
        raise InvalidEmbedding(f"expected a list of numbers, got {type(raw).__name__}")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in raw):
        kinds = sorted(
            {type(x).__name__ for x in raw if not isinstance(x, (int, float)) or isinstance(x, bool)}
        )
        raise InvalidEmbedding(f"expected a flat list of numbers, found {', '.join(kinds)} inside")
    if not all(math.isfinite(x) for x in raw):
        raise InvalidEmbedding("the vector holds NaN or infinite values")
    vector = np.asarray(raw, dtype=np.float64)
    if dimensions is not None and vector.shape[0] != dimensions:
        raise InvalidEmbedding(f"{vector.shape[0]} dimensions where this model's vectors have {dimensions}")
    norm = float(np.linalg.norm(vector))
    if not math.isfinite(norm) or norm == 0.0:
        raise InvalidEmbedding("the vector has no length")
    unit = (vector / norm).astype(np.float32)
    if not np.all(np.isfinite(unit)):
        raise InvalidEmbedding("the vector does not fit in float32")
    return unit


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


def _finish_reason(completion: Any) -> str:
    choices = getattr(completion, "choices", None)
    return str(getattr(choices[0], "finish_reason", "") or "") if choices else ""


def _usage(completion: Any, conversation: list[dict[str, str]], text: str | None) -> tuple[int, int]:
    return _usage_from(getattr(completion, "usage", None), conversation, text or "")


def _usage_from(usage: Any, conversation: list[dict[str, str]], text: str) -> tuple[int, int]:
    # Servers that report no usage are still charged against the budget, by a rough estimate.
    if usage is not None and getattr(usage, "prompt_tokens", None) is not None:
        return int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0)
    return sum(_estimate_tokens(m["content"]) for m in conversation), _estimate_tokens(text)


def _estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
