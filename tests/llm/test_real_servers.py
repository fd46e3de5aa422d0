"""What real OpenAI-compatible servers do that the happy path does not: structured modes they refuse,
replies cut off at max_tokens, slow answers inside a web request, and embeddings of the wrong shape.

The fake server plays llama-cpp-python's server where needed (`like_llama_cpp`, `token_embeddings`);
tests/llm/test_model_server.py runs the same paths against the real one.
"""

import time

import numpy as np
import pydantic
import pytest

from llm import config as llm_config
from llm import gateway, offline
from llm.models import CachedEmbedding, LLMCall
from llm.retry import is_retryable
from tests.fake_openai import error, json_reply, slow, truncated

pytestmark = pytest.mark.django_db

OFFLINE_SPACE = f"offline:{offline.MODEL_ID}"


class Verdict(pydantic.BaseModel):
    same: bool
    reason: str


def ask(**overrides):
    arguments = {
        "purpose": "test",
        "instructions": "Say whether the two texts name the same value.",
        "data": {"a": "honesty", "b": "truthfulness"},
        "schema": Verdict,
    }
    arguments.update(overrides)
    return gateway.complete_structured(**arguments)


def formats(fake_openai) -> list[dict]:
    return [r.body.get("response_format") for r in fake_openai.requests_to("/chat/completions")]


def test_auto_mode_falls_back_to_json_object_with_schema_once_and_remembers(fake_openai, settings):
    settings.WISER_LLM_STRUCTURED_MODE = "auto"
    fake_openai.like_llama_cpp = True
    assert ask() == Verdict(same=True, reason="x")
    first, second = formats(fake_openai)
    assert first["type"] == "json_schema"
    assert second["type"] == "json_object" and second["schema"]["properties"].keys() == {"same", "reason"}
    call = LLMCall.objects.get()
    assert (call.outcome, call.attempts) == ("ok", 2)
    assert gateway.structured_mode() == "json_object_schema"

    ask(data={"a": "care", "b": "attention"})
    assert [f["type"] for f in formats(fake_openai)] == ["json_schema", "json_object", "json_object"]


def test_auto_mode_keeps_json_schema_where_it_works(fake_openai, settings):
    settings.WISER_LLM_STRUCTURED_MODE = "auto"
    ask()
    ask(data={"a": "care", "b": "attention"})
    assert [f["type"] for f in formats(fake_openai)] == ["json_schema", "json_schema"]
    assert gateway.structured_mode() == "json_schema"


def test_a_refused_json_schema_is_not_retried_as_transient(fake_openai, settings):
    settings.WISER_LLM_STRUCTURED_MODE = "json_schema"
    fake_openai.like_llama_cpp = True
    with pytest.raises(gateway.LLMUnavailable, match="HTTP 500"):
        ask()
    assert len(fake_openai.requests) == 1


def test_a_plain_500_is_still_transient_and_other_modes_are_not_tried(fake_openai, settings):
    settings.WISER_LLM_STRUCTURED_MODE = "auto"
    fake_openai.always(error(500))
    with pytest.raises(gateway.LLMUnavailable):
        ask()
    assert [f["type"] for f in formats(fake_openai)] == ["json_schema"] * (settings.WISER_LLM_MAX_RETRIES + 1)
    assert gateway.structured_mode() is None


@pytest.mark.parametrize(
    "message", ["response_format json_schema is not supported", "Unsupported value: 'response_format.type'"]
)
def test_not_supported_errors_are_not_retryable(fake_openai, settings, message):
    settings.WISER_LLM_STRUCTURED_MODE = "json_schema"
    fake_openai.always(error(500, message=message))
    with pytest.raises(gateway.LLMUnavailable) as raised:
        ask()
    assert len(fake_openai.requests) == 1
    assert not is_retryable(raised.value.__cause__.error)


def test_every_request_sets_max_tokens_by_purpose(fake_openai, monkeypatch):
    monkeypatch.setitem(llm_config.PURPOSE_MAX_TOKENS, "test", 123)
    ask()
    gateway.chat(purpose="test", instructions="Hi.", messages=[{"role": "user", "content": "hello"}])
    list(
        gateway.chat_stream(purpose="other", instructions="Hi.", messages=[{"role": "user", "content": "yo"}])
    )
    ask(max_tokens=77, data={"a": "b", "b": "c"})
    caps = [r.body.get("max_tokens") for r in fake_openai.requests_to("/chat/completions")]
    assert caps == [123, 123, llm_config.remote_config().max_tokens, 77]


def test_a_reply_cut_off_at_max_tokens_gets_no_repair(fake_openai):
    fake_openai.enqueue(truncated('{"same": true, "reason": "because both are about'))
    with pytest.raises(gateway.LLMUnavailable, match="cut off at max_tokens"):
        ask()
    assert len(fake_openai.requests) == 1
    assert LLMCall.objects.get().outcome == "error"


def test_a_cut_off_reply_that_still_parses_is_kept(fake_openai):
    fake_openai.enqueue(truncated('{"same": false, "reason": "r"}'))
    assert ask() == Verdict(same=False, reason="r")


def test_an_invalid_complete_reply_still_gets_one_repair(fake_openai):
    fake_openai.enqueue(json_reply({"same": "perhaps"}), json_reply({"same": False, "reason": "r"}))
    assert ask().reason == "r"
    assert len(fake_openai.requests) == 2


def test_the_call_timeout_bounds_retries_for_a_web_caller(fake_openai, settings):
    settings.WISER_LLM_TIMEOUT = 5.0
    settings.WISER_LLM_WEB_TIMEOUT = 0.8
    fake_openai.always(slow(3))
    started = time.monotonic()
    with pytest.raises(gateway.LLMUnavailable, match="timeout"):
        ask(timeout=gateway.web_timeout())
    assert time.monotonic() - started < 2.0
    assert len(fake_openai.requests) == 1


def test_the_call_timeout_leaves_room_for_quick_retries(fake_openai):
    fake_openai.enqueue(error(503), error(503))
    assert ask(timeout=5.0).reason == "x"
    assert len(fake_openai.requests) == 3


def test_offline_embeddings_while_chat_uses_the_server(fake_openai, settings):
    settings.WISER_EMBEDDINGS = "offline"
    vectors, space = gateway.embed_tagged(["a kind answer"], purpose="dedup")
    assert space == OFFLINE_SPACE == gateway.embedding_space()
    assert vectors.shape == (1, offline.DIMENSIONS)
    assert gateway.model_available() and ask().reason == "x"
    assert fake_openai.requests_to("/embeddings") == []


def test_an_unknown_embeddings_setting_is_refused(fake_openai, settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.WISER_EMBEDDINGS = "sometimes"
    with pytest.raises(ImproperlyConfigured, match="WISER_EMBEDDINGS"):
        gateway.embedding_space()


def test_token_level_embeddings_are_refused_not_cached_and_the_server_left_alone(fake_openai):
    fake_openai.token_embeddings = True
    vectors, space = gateway.embed_tagged(["one two three", "four"], purpose="guidance")
    assert space == OFFLINE_SPACE and vectors.shape == (2, offline.DIMENSIONS)
    assert CachedEmbedding.objects.count() == 0
    remote = LLMCall.objects.get(provider="openai")
    assert remote.outcome == "error" and "flat list" in remote.error
    assert gateway.embedding_space() == OFFLINE_SPACE
    gateway.embed_tagged(["five"], purpose="guidance")
    assert len(fake_openai.requests_to("/embeddings")) == 1


def test_a_vector_of_another_dimension_than_the_cached_ones_is_refused(fake_openai):
    first = gateway.embed(["kept"], purpose="dedup")
    assert first.shape == (1, 8)
    fake_openai.embedding_dim = 5
    vectors, space = gateway.embed_tagged(["new"], purpose="dedup")
    assert space == OFFLINE_SPACE and vectors.shape == (1, offline.DIMENSIONS)
    assert (
        "5 dimensions where this model's vectors have 8"
        in LLMCall.objects.filter(outcome="error").get().error
    )
    assert CachedEmbedding.objects.count() == 1


def test_broken_cached_vectors_are_dropped_and_asked_again(fake_openai):
    gateway.embed(["good"], purpose="dedup")
    config = llm_config.remote_config()
    CachedEmbedding.objects.create(
        provider_model=f"{config.base_url}#{config.embedding_model}",
        text_hash=gateway.sha256_hex("bad"),
        dimensions=3,  # a token count, with 3 x 8 floats behind it
        vector=np.ones(24, dtype="<f4").tobytes(),
    )
    vectors, space = gateway.embed_tagged(["bad", "good"], purpose="dedup")
    assert space.startswith("openai:") and vectors.shape == (2, 8)
    assert set(CachedEmbedding.objects.values_list("dimensions", flat=True)) == {8}
    assert fake_openai.requests_to("/embeddings")[-1].body["input"] == ["bad"]


@pytest.mark.parametrize(
    "raw, problem",
    [
        ([[0.1, 0.2], [0.3, 0.4]], "flat list"),
        ([0.1, float("nan")], "NaN"),
        ([0.0, 0.0], "no length"),
        ([True, 0.5], "flat list"),
        ([], "list of numbers"),
        ("AAAA", "list of numbers"),
        ([0.1, 0.2, 0.3], "3 dimensions"),
    ],
)
def test_vector_checks(raw, problem):
    with pytest.raises(gateway.InvalidEmbedding, match=problem):
        gateway._checked_vector(raw, 2)


def test_a_sound_vector_is_normalised():
    vector = gateway._checked_vector([3, 4], 2)
    assert vector.dtype == np.float32
    np.testing.assert_allclose(vector, [0.6, 0.8])


def test_callers_without_a_timeout_get_the_call_timeout(fake_openai, settings):
    settings.WISER_LLM_TIMEOUT = 5.0
    settings.WISER_LLM_CALL_TIMEOUT = 0.8
    fake_openai.always(slow(3))
    started = time.monotonic()
    with pytest.raises(gateway.LLMUnavailable, match="timeout"):
        gateway.chat(purpose="test", instructions="Hi.", messages=[{"role": "user", "content": "hello"}])
    assert time.monotonic() - started < 2.0
    assert len(fake_openai.requests) == 1


def test_a_remembered_mode_the_server_now_refuses_is_found_again(fake_openai, settings):
    settings.WISER_LLM_STRUCTURED_MODE = "auto"
    ask()
    assert gateway.structured_mode() == "json_schema"
    fake_openai.like_llama_cpp = True  # another server behind the same URL
    with pytest.raises(gateway.LLMUnavailable):
        ask(data={"a": "care", "b": "attention"})
    assert gateway.structured_mode() is None
    assert ask(data={"a": "care", "b": "attention"}).reason == "x"
    assert gateway.structured_mode() == "json_object_schema"
