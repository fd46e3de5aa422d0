"""Guidance when the remote embedder fails or answers badly: the cached index is found in the space that
answered, a bad server never turns into a 500, and the routing module stays pure."""

import ast
from pathlib import Path

import pytest
from django.test import Client

from llm import gateway
from llm.models import CachedEmbedding, LLMCall
from moral_graph import guidance
from tests.fake_openai import error
from tests.moral_graph.test_guidance import DISTRESS, _ask, _private_cache, _published  # noqa: F401

URLS = "tests.moral_graph.test_guidance"
ROOT = Path(__file__).resolve().parents[2]


def _guidance_embeddings() -> list[tuple[str, str]]:
    return list(
        LLMCall.objects.filter(purpose="guidance", kind="embed")
        .order_by("id")
        .values_list("provider", "outcome")
    )


@pytest.mark.django_db
@pytest.mark.urls(URLS)
def test_with_failing_remote_embeddings_the_offline_index_is_cached_and_found(fake_openai, settings):
    settings.WISER_LLM_MAX_RETRIES = 0
    fake_openai.always(error(500))
    round_ = _published("failing-embeddings")
    first = _ask(Client(), round_.slug)
    assert first.status_code == 200 and first.json()["matched"]
    # The situation (remote fails, then offline), then the profiles straight offline: the space that answered.
    assert _guidance_embeddings() == [("openai", "error"), ("offline", "ok"), ("offline", "ok")]
    LLMCall.objects.all().delete()
    second = _ask(Client(), round_.slug)
    assert (
        second.status_code == 200
        and second.json()["contexts"][0]["name"] == first.json()["contexts"][0]["name"]
    )
    # One failing remote call and the situation offline; the profiles come from the cache.
    assert _guidance_embeddings() == [("openai", "error"), ("offline", "ok")]


@pytest.mark.django_db
@pytest.mark.urls(URLS)
def test_token_level_embeddings_never_make_guidance_fail(fake_openai, settings):
    settings.WISER_LLM_MAX_RETRIES = 0
    fake_openai.token_embeddings = True
    round_ = _published("token-embeddings")
    answers = [_ask(Client(), round_.slug) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert all(a.json()["closest"] is not None for a in answers)
    assert CachedEmbedding.objects.count() == 0
    # Refused once, then the server is left alone: the next requests embed offline straight away.
    assert len(fake_openai.requests_to("/embeddings")) == 1
    assert LLMCall.objects.filter(kind="embed", provider="openai", outcome="ok").count() == 0


@pytest.mark.django_db
@pytest.mark.urls(URLS)
def test_offline_embeddings_with_a_remote_model(fake_openai, settings):
    settings.WISER_EMBEDDINGS = "offline"
    round_ = _published("offline-embeddings")
    body = _ask(Client(), round_.slug).json()
    assert body["method"] == "model"
    assert fake_openai.requests_to("/embeddings") == []
    assert len(fake_openai.requests_to("/chat/completions")) == 1


def test_the_routing_module_is_pure():
    tree = ast.parse((ROOT / "moral_graph" / "guidance.py").read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= {"__future__", "collections", "dataclasses", "typing", "numpy"}, imported


def test_the_offline_space_name_matches_the_gateway(settings):
    settings.OPENAI_API_KEY = ""
    assert gateway.embedding_space() == guidance.OFFLINE_SPACE
    assert (
        guidance.threshold_for(guidance.OFFLINE_SPACE)
        == guidance.CALIBRATED_THRESHOLDS[guidance.OFFLINE_SPACE]
    )
