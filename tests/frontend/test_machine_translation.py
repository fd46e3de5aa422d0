"""Machine translation of values and stories for participants reading in another language (issue 18 point 2):
translated once through the gateway and cached, counted in the round's budget, the original one click away, and
the original shown whenever no model can translate."""

import json
import re

import pytest
from django.core.cache import cache
from django.test import Client

from cards import selectors as card_selectors
from cards.models import CanonicalValue
from llm.models import CachedTranslation, LLMCall
from llm.selectors import round_llm_usage
from llm.translation import text_hash
from moral_graph.translation import _key, _pending_key
from tests.factories import FAMILIES, join, make_round, submit, voting_round
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


def _similar_form(round_, family: str, variant: int) -> dict:
    title, description, policies = FAMILIES[family][variant]
    return {"title": title, "description": description, **{f"policy_{i}": p for i, p in enumerate(policies)}}


@pytest.fixture
def writing_round(settings):
    """A round in articulation with four values; embeddings stay on the bundled model (the fake server's are
    random), so what is typed finds its family's value."""
    settings.WISER_EMBEDDINGS = "offline"
    round_ = make_round(slug="mt-similar")
    for family in ("autonomy", "safety", "honesty", "community"):
        submit(join(round_), family=family)
    return round_, CanonicalValue.objects.get(round=round_, title=FAMILIES["autonomy"][0][0])


def test_a_spanish_writer_sees_similar_values_translated_with_the_original_one_click_away(fake_openai, writing_round):
    fake_openai.responder = spanish
    round_, autonomy = writing_round
    reader = _reader(round_, join(round_), "es")
    panel = reader.post("/r/mt-similar/card/similar/", _similar_form(round_, "autonomy", 1)).content.decode()
    shown = re.search(r'<li class="card"><div lang="es"><strong>(.*?)</strong>', panel)
    assert shown and shown.group(1) == f"[es] {autonomy.title}", panel
    assert f"<p>[es] {autonomy.description}</p>" in panel
    assert "Traducción automática: ver el original" in panel
    assert f'<div class="original-text"><p><strong>{autonomy.title}</strong></p>' in panel
    assert f'name="same_as" value="{autonomy.pk}"' in panel, "choosing it still chooses the value itself"
    calls = _translate_requests(fake_openai)
    assert calls >= 1 and LLMCall.objects.filter(purpose="translate", round_id=round_.pk, outcome="ok").count() == calls
    # Typing on shows the cached translation at once, without another call.
    again = reader.post("/r/mt-similar/card/similar/", _similar_form(round_, "autonomy", 1)).content.decode()
    assert f"[es] {autonomy.title}" in again and _translate_requests(fake_openai) == calls


def test_an_english_writer_sees_similar_values_as_written_and_no_call_is_made(fake_openai, writing_round):
    fake_openai.responder = spanish
    round_, autonomy = writing_round
    reader = _reader(round_, join(round_), "en")
    panel = reader.post("/r/mt-similar/card/similar/", _similar_form(round_, "autonomy", 1)).content.decode()
    assert f"<strong>{autonomy.title}</strong>" in panel
    assert "[es]" not in panel and "show original" not in panel and 'lang="' not in panel
    assert _translate_requests(fake_openai) == 0


def test_the_panel_waits_for_its_translation_without_comparing_again_then_shows_it(
    fake_openai, writing_round, monkeypatch
):
    fake_openai.responder = spanish
    round_, autonomy = writing_round
    reader = _reader(round_, join(round_), "es")
    form = _similar_form(round_, "autonomy", 1)
    first = reader.post("/r/mt-similar/card/similar/", form).content.decode()
    ids = [int(i) for i in re.findall(r'name="same_as" value="(\d+)"', first)]
    CachedTranslation.objects.all().delete()
    key = _key(round_.pk, "es", sorted(ids), [])
    cache.set(_pending_key(key), 1, 60)  # a worker is translating them
    waiting = reader.post("/r/mt-similar/card/similar/", form).content.decode()
    assert f"<strong>{autonomy.title}</strong>" in waiting, "the originals meanwhile"
    assert f'"translation_key": "{key}"' in waiting and 'hx-trigger="every 2s"' in waiting
    compared = []
    monkeypatch.setattr(card_selectors, "values_similar", lambda **kw: compared.append(kw) or [])
    poll = {"translation_key": key, "shown": ",".join(map(str, ids)), "form_id": "card-form"}
    assert reader.post("/r/mt-similar/card/similar/", poll).status_code == 204  # nothing to swap yet
    cache.delete(_pending_key(key))
    ready = reader.post("/r/mt-similar/card/similar/", poll).content.decode()
    assert f"<strong>[es] {autonomy.title}</strong>" in ready and "every 2s" not in ready
    assert re.findall(r'name="same_as" value="(\d+)"', ready) == [str(i) for i in ids]
    assert compared == [], "the text typed is not compared again"
    dismissed = reader.post("/r/mt-similar/card/similar/", {**poll, "dismissed": str(autonomy.pk)}).content.decode()
    assert f'name="same_as" value="{autonomy.pk}"' not in dismissed
    assert reader.post("/r/mt-similar/card/similar/", {**poll, "translation_key": "x"}).status_code == 400


def test_the_step_after_submitting_shows_similar_values_translated(fake_openai, writing_round):
    fake_openai.responder = spanish
    round_, autonomy = writing_round
    person = join(round_)
    card = submit(person, family="autonomy", variant=2)
    reader = _reader(round_, person, "es")
    step = reader.get(f"/r/mt-similar/card/{card.pk}/similar/")
    assert step.status_code == 200, "the card has a close value to suggest"
    html = step.content.decode()
    assert '<div lang="es"><strong>[es] ' in html and "Traducción automática: ver el original" in html
    assert f"Tu tarjeta «{card.title}»" in html, "the participant's own card is never translated"


def test_without_a_model_or_after_a_failure_the_panel_shows_the_originals(settings, writing_round, fake_openai):
    round_, autonomy = writing_round
    reader = _reader(round_, join(round_), "es")
    fake_openai.always(error(500, message="down"))
    failed = reader.post("/r/mt-similar/card/similar/", _similar_form(round_, "autonomy", 1)).content.decode()
    assert f"<strong>{autonomy.title}</strong>" in failed and "[es]" not in failed and "every 2s" not in failed
    assert "Ahora mismo no hay traducción automática" in failed  # says so, and does not poll
    settings.OPENAI_API_KEY = ""
    cache.clear()
    offline = reader.post("/r/mt-similar/card/similar/", _similar_form(round_, "autonomy", 1)).content.decode()
    assert f"<strong>{autonomy.title}</strong>" in offline and "Traducción automática" not in offline
    assert 'role="status"' not in offline
