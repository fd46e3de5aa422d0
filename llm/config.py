"""The gateway's settings, read from django.conf.settings at call time so tests can override them."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import openai
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from llm.retry import RetryPolicy

DEFAULT_BASE_URL = "https://api.openai.com/v1"
STRUCTURED_MODES = ("auto", "json_schema", "json_object_schema", "json_object")
EMBEDDING_MODES = ("remote", "offline")

# Every request caps its output: without max_tokens a small model writes to the end of its context, and a
# local server goes on generating after the client has given up. Sized per purpose from what its schema
# needs, with room to spare; other purposes get WISER_LLM_MAX_TOKENS.
PURPOSE_MAX_TOKENS = {
    "articulation.turn": 400,
    "articulation.draft": 800,
    "dedup.judge": 600,  # up to three candidates (cards.dedup.JUDGE_CANDIDATES) judged in one call
    "stories.propose": 3000,
    "contexts.suggest": 800,
    "guidance_route": 100,
    "guidance_try_with": 500,
    "guidance_try_without": 500,
    "translate": 3000,
}


@dataclass(frozen=True)
class RemoteConfig:
    """Where the OpenAI-compatible server is and which models to ask."""

    api_key: str
    base_url: str
    chat_model: str
    embedding_model: str
    timeout: float
    structured_mode: str
    policy: RetryPolicy
    embeddings: str = "remote"
    max_tokens: int = 1024
    web_timeout: float = 10.0
    call_timeout: float = 120.0

    def deadline(self, timeout: float | None) -> float | None:
        """The time.monotonic() by which a call must end: `timeout` from now, else WISER_LLM_CALL_TIMEOUT
        (0 or less: no limit beyond WISER_LLM_TIMEOUT per request)."""
        limit = timeout if timeout else self.call_timeout
        return time.monotonic() + limit if limit and limit > 0 else None

    def max_tokens_for(self, purpose: str) -> int:
        """The output cap of a purpose."""
        return PURPOSE_MAX_TOKENS.get(purpose, self.max_tokens)


def api_key_set() -> bool:
    """True when an OpenAI-compatible server is configured (OPENAI_API_KEY non-empty)."""
    return bool(getattr(settings, "OPENAI_API_KEY", ""))


def remote_config() -> RemoteConfig:
    """The current remote settings."""
    return RemoteConfig(
        api_key=settings.OPENAI_API_KEY,
        base_url=(getattr(settings, "OPENAI_BASE_URL", "") or DEFAULT_BASE_URL).rstrip("/"),
        chat_model=getattr(settings, "WISER_CHAT_MODEL", "gpt-4o-mini"),
        embedding_model=getattr(settings, "WISER_EMBEDDING_MODEL", "text-embedding-3-small"),
        timeout=float(getattr(settings, "WISER_LLM_TIMEOUT", 60.0)),
        structured_mode=_choice("WISER_LLM_STRUCTURED_MODE", STRUCTURED_MODES),
        policy=RetryPolicy(
            max_retries=int(getattr(settings, "WISER_LLM_MAX_RETRIES", 3)),
            backoff_base=float(getattr(settings, "WISER_LLM_BACKOFF_BASE", 0.5)),
            backoff_max=float(getattr(settings, "WISER_LLM_BACKOFF_MAX", 8.0)),
        ),
        embeddings=_choice("WISER_EMBEDDINGS", EMBEDDING_MODES),
        max_tokens=max(1, int(getattr(settings, "WISER_LLM_MAX_TOKENS", 1024))),
        web_timeout=float(getattr(settings, "WISER_LLM_WEB_TIMEOUT", 10.0)),
        call_timeout=float(getattr(settings, "WISER_LLM_CALL_TIMEOUT", 120.0)),
    )


def remote_embeddings_enabled() -> bool:
    """True unless WISER_EMBEDDINGS=offline keeps embeddings on the bundled model while chat uses the server."""
    return _choice("WISER_EMBEDDINGS", EMBEDDING_MODES) == "remote"


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    value = str(getattr(settings, name, allowed[0]) or allowed[0]).strip().lower()
    if value not in allowed:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(allowed)}, not {value!r}.")
    return value


_clients: dict[tuple[str, str, float], openai.OpenAI] = {}
_clients_lock = threading.Lock()
_MAX_CLIENTS = 4


def client_for(config: RemoteConfig) -> openai.OpenAI:
    """A shared client per (key, base URL, timeout); the client never retries, the gateway does."""
    key = (config.api_key, config.base_url, config.timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            while len(_clients) >= _MAX_CLIENTS:
                _clients.pop(next(iter(_clients))).close()
            client = openai.OpenAI(
                api_key=config.api_key, base_url=config.base_url, timeout=config.timeout, max_retries=0
            )
            _clients[key] = client
        return client
