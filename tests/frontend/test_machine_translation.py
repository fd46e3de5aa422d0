"""Machine translation of values and stories for participants reading in another language (issue 18 point 2):
translated once through the gateway and cached, counted in the round's budget, the original one click away, and
the original shown whenever no model can translate."""

import json
import re

import pytest
from django.core.cache import cache
from django.test import Client

from llm.models import CachedTranslation, LLMCall
from llm.selectors import round_llm_usage
from llm.translation import text_hash
from moral_graph.translation import _pending_key
from tests.factories import voting_round
from tests.fake_openai import error

pytestmark = pytest.mark.django_db(transaction=True)

DATA = re.compile(r"<data>\s*(.*?)\s*</data>", re.S)


def spanish(body: dict) -> str | None:
    """The fake model's translation: "[es] " before each text of a translate request."""
    system = body["messages"][0]["content"]
    if "target language" not in system:
        return None
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    data = json.loads(DATA.search(user).group(1))
    return json.dumps({"translations": [{"index": t["index"], "text": f"[es] {t['text']}"} for t in data["texts"]]})


def _reader(round_, participant, language: str) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.get(f"/r/{round_.slug}/resume/{participant.resume_token}/")
    return client


def _translate_requests(fake) -> int:
    return sum("target language" in r.messages()[0]["content"] for r in fake.requests_to("/chat/completions"))


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def test_a_story_is_translated_once_cached_counted_and_its_original_is_one_click_away(fake_openai):
    fake_openai.responder = spanish
    round_, people = voting_round("mt-ok", people=4)
    reader = _reader(round_, people[0], "es")
    page = reader.get("/r/mt-ok/vote/").content.decode()
    story = re.search(r'<blockquote class="story"[^>]*lang="es"[^>]*>(.*?)</blockquote>', page, re.S)
    assert story and story.group(1).startswith("[es] "), page[:3000]
    assert "Traducción automática: ver el original" in page  # the summary of the <details> holding the original
    original = story.group(1).removeprefix("[es] ")
    assert f'<blockquote class="original-text">{original}</blockquote>' in page, re.findall(r"original-text.{0,200}", page)
    calls = _translate_requests(fake_openai)
    assert calls >= 1
    rows = LLMCall.objects.filter(purpose="translate", round_id=round_.pk)
    assert rows.filter(outcome="ok").count() == calls
    spent = sum(r.tokens_in + r.tokens_out for r in rows)
    assert spent > 0 and round_llm_usage(round_id=round_.pk)["tokens_used"] >= spent
    cached = CachedTranslation.objects.filter(language="es").count()
    assert cached > 0
    # The second view makes no call: everything it shows is cached.
    again = reader.get("/r/mt-ok/vote/").content.decode()
    assert story.group(1) in again
    assert _translate_requests(fake_openai) == calls
    # Another Spanish reader never sends a text that is already translated.
    sent_before = len(fake_openai.requests_to("/chat/completions"))
    known = set(CachedTranslation.objects.values_list("text_hash", flat=True))
    _reader(round_, people[1], "es").get("/r/mt-ok/vote/")
    for request in fake_openai.requests_to("/chat/completions")[sent_before:]:
        user = next(m["content"] for m in request.messages() if m["role"] == "user")
        for item in json.loads(DATA.search(user).group(1))["texts"]:
            assert text_hash(item["text"]) not in known


def test_a_reader_in_the_default_language_gets_no_translation_and_no_call(fake_openai):
    fake_openai.responder = spanish
    round_, people = voting_round("mt-en", people=4)
    page = _reader(round_, people[0], "en").get("/r/mt-en/vote/").content.decode()
    assert "[es]" not in page and "show original" not in page
    assert _translate_requests(fake_openai) == 0


def test_a_failed_call_shows_the_original_and_is_not_asked_again_at_once(fake_openai):
    fake_openai.always(error(500, message="down"))
    round_, people = voting_round("mt-fail", people=4)
    reader = _reader(round_, people[0], "es")
    page = reader.get("/r/mt-fail/vote/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "[es]" not in text and "Traducción automática" not in text
    assert re.search(r'<blockquote class="story"[^>]*>[^<\[]', text)
    assert 'id="translation-status"' in text and "hx-get" not in text  # says so, and does not poll
    asked = len(fake_openai.requests_to("/chat/completions"))
    assert asked >= 1 and LLMCall.objects.filter(purpose="translate", outcome="error").exists()
    reader.get("/r/mt-fail/vote/")
    assert len(fake_openai.requests_to("/chat/completions")) == asked
    assert not CachedTranslation.objects.exists()


def test_without_a_model_the_original_is_shown_and_nothing_breaks(settings):
    settings.OPENAI_API_KEY = ""
    round_, people = voting_round("mt-offline", people=4)
    page = _reader(round_, people[0], "es").get("/r/mt-offline/vote/")
    text = page.content.decode()
    assert page.status_code == 200 and "Traducción automática" not in text
    assert 'id="translation-status"' not in text
    assert not LLMCall.objects.filter(purpose="translate").exists()


def test_the_status_polls_while_the_task_runs_and_then_offers_the_translation_without_reloading(fake_openai):
    round_, people = voting_round("mt-status", people=2)
    reader = _reader(round_, people[0], "es")
    key = "0" * 32
    cache.set(_pending_key(key), 1, 60)
    pending = reader.get(f"/r/mt-status/translation/{key}/").content.decode()
    assert 'hx-trigger="every 2s"' in pending
    cache.delete(_pending_key(key))
    ready = reader.get(f"/r/mt-status/translation/{key}/").content.decode()
    assert "hx-get" not in ready and '<a href="">' in ready
    assert reader.get("/r/mt-status/translation/not-a-key/").status_code == 404
    assert Client().get(f"/r/mt-status/translation/{key}/").status_code == 403


def test_a_spent_budget_shows_the_originals_without_a_call(fake_openai):
    fake_openai.responder = spanish
    round_, people = voting_round("mt-budget", people=4)
    used = round_llm_usage(round_id=round_.pk)["tokens_used"]
    type(round_).objects.filter(pk=round_.pk).update(token_budget=max(1, used))
    page = _reader(round_, people[0], "es").get("/r/mt-budget/vote/").content.decode()
    assert "[es]" not in page and "Traducción automática" not in page
    assert _translate_requests(fake_openai) == 0
