"""The gateway's settings, read from django.conf.settings at call time so tests can override them."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import openai
from django.conf import settings

from llm.retry import RetryPolicy

DEFAULT_BASE_URL = "https://api.openai.com/v1"


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
        structured_mode=getattr(settings, "WISER_LLM_STRUCTURED_MODE", "json_schema"),
        policy=RetryPolicy(
            max_retries=int(getattr(settings, "WISER_LLM_MAX_RETRIES", 3)),
            backoff_base=float(getattr(settings, "WISER_LLM_BACKOFF_BASE", 0.5)),
            backoff_max=float(getattr(settings, "WISER_LLM_BACKOFF_MAX", 8.0)),
        ),
    )


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
