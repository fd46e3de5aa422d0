"""Similar values while writing a card: the selector, the participant's own choice, the htmx panel and the no-JS step."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from cards import selectors, services
from cards.models import CanonicalValue, CardMerge, MergeConfirmation, ValuesCard
from frontend import session as page_session
from tests.factories import FAMILIES, join, make_round, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def round_with_values():
    round_ = make_round(slug="similar")
    for family in ("autonomy", "safety", "honesty", "community"):
        submit(join(round_), family=family)
    return round_


def _value_of(round_, family):
    return CanonicalValue.objects.get(round=round_, title=FAMILIES[family][0][0])


def test_values_close_to_what_is_typed_come_first_and_at_most_three(round_with_values):
    title, description, policies = FAMILIES["autonomy"][1]
    found = selectors.values_similar(
        round_id=round_with_values.pk, title=title, description=description, policies=policies
    )
    assert 1 <= len(found) <= 3
    assert found[0].id == _value_of(round_with_values, "autonomy").pk
    assert found == sorted(found, key=lambda v: -v.score)
    assert [v.id for v in found] == [found[0].id], "values of other families stay below the floor"
    one_policy = selectors.values_similar(
        round_id=round_with_values.pk, title=title, description=description, policies=policies[:1]
    )
    assert one_policy and one_policy[0].id == found[0].id, "works from the first policy on"
    assert selectors.values_similar(round_id=round_with_values.pk, title=title, description=description) == []
    assert selectors.values_similar(round_id=round_with_values.pk, title="Hello") == []
    excluded = selectors.values_similar(
        round_id=round_with_values.pk, title=title, description=description, policies=policies,
        exclude_ids=[found[0].id],
    )
    assert found[0].id not in {v.id for v in excluded}


def test_choosing_a_value_while_writing_submits_it_with_the_authors_confirmation(round_with_values):
    person = join(round_with_values)
    value = _value_of(round_with_values, "safety")
    card = services.card_choose_value(participant=person, value_id=value.pk, context_id="")
    assert card.title == value.title and card.dedup_status == ValuesCard.DedupStatus.PLACED
    merge = CardMerge.objects.get(card=card, undone_at__isnull=True)
    assert merge.value_id == value.pk and merge.origin == "chosen"
    assert merge.confirmation.answer == MergeConfirmation.Answer.SAME
    assert services.dedup_place_card(card_id=card.pk) is None, "deduplication has nothing left to do"
    with pytest.raises(ValidationError):
        services.card_choose_value(participant=person, value_id=999999)


def test_after_submitting_a_card_joins_the_chosen_value_and_its_own_empty_value_retires(round_with_values):
    person = join(round_with_values)
    card = submit(person, family="honesty", variant=2)
    own = CardMerge.objects.get(card=card, undone_at__isnull=True).value
    target = _value_of(round_with_values, "honesty")
    if own.pk == target.pk:
        target = _value_of(round_with_values, "autonomy")
    services.card_choose_value(participant=person, card=card, value_id=target.pk)
    card.refresh_from_db()
    merge = CardMerge.objects.get(card=card, undone_at__isnull=True)
    assert merge.value_id == target.pk and merge.confirmation.answer == "same"
    assert card.title == FAMILIES["honesty"][2][0], "the card keeps its own words"
    own.refresh_from_db()
    assert own.is_active == CardMerge.objects.filter(value=own, undone_at__isnull=True).exists()


def _client(participant):
    client = Client()
    store = client.session
    store[page_session.KEY] = {str(participant.round_id): participant.pk}
    store.save()
    return client


def _csrf(response):
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode()).group(1)


def _form(round_, family, variant, csrf, **extra):
    title, description, policies = FAMILIES[family][variant]
    context = round_.questions.first().contexts.order_by("order").first()
    return {
        "csrfmiddlewaretoken": csrf,
        "context": context.pk,
        "title": title,
        "description": description,
        **{f"policy_{i}": p for i, p in enumerate(policies)},
        **extra,
    }


def test_the_panel_shows_close_values_and_use_it_submits_that_value(round_with_values):
    person = join(round_with_values)
    client = _client(person)
    page = client.get("/r/similar/card/")
    html = page.content.decode()
    assert 'hx-post="/r/similar/card/similar/"' in html and 'id="similar-values"' in html
    form = _form(round_with_values, "autonomy", 1, _csrf(page))
    panel = client.post("/r/similar/card/similar/", form).content.decode()
    autonomy = _value_of(round_with_values, "autonomy")
    assert "This is mine: use it" in panel and f'value="{autonomy.pk}"' in panel and autonomy.title in panel
    dismissed = client.post("/r/similar/card/similar/", {**form, "dismiss": autonomy.pk}).content.decode()
    assert f'name="same_as" value="{autonomy.pk}"' not in dismissed
    assert f'name="dismissed" value="{autonomy.pk}"' in dismissed

    chosen = client.post("/r/similar/card/", {**form, "title": "", "same_as": autonomy.pk})
    assert chosen.status_code == 302 and chosen["Location"] == "/r/similar/"
    card = ValuesCard.objects.get(author=person)
    assert card.title == autonomy.title
    assert CardMerge.objects.get(card=card, undone_at__isnull=True).confirmation.answer == "same"


def test_without_javascript_the_suggestions_are_a_step_after_submitting(round_with_values):
    person = join(round_with_values)
    client = _client(person)
    page = client.get("/r/similar/card/")
    sent = client.post("/r/similar/card/", _form(round_with_values, "safety", 2, _csrf(page)))
    card = ValuesCard.objects.get(author=person)
    assert sent.status_code == 302 and sent["Location"] == f"/r/similar/card/{card.pk}/similar/"
    step = client.get(sent["Location"])
    html = step.content.decode()
    assert step.status_code == 200 and "Is one of these values yours?" in html and "Mine is different" in html
    different = client.post(sent["Location"], {"csrfmiddlewaretoken": _csrf(step), "action": "different"})
    assert different.status_code == 302 and not MergeConfirmation.objects.filter(merge__card=card).exists()

    safety = _value_of(round_with_values, "safety")
    step = client.get(sent["Location"])
    if f'value="{safety.pk}"' in step.content.decode():
        mine = client.post(
            sent["Location"], {"csrfmiddlewaretoken": _csrf(step), "action": "mine", "value": safety.pk}
        )
        assert mine.status_code == 302
        merge = CardMerge.objects.get(card=card, undone_at__isnull=True)
        assert merge.value_id == safety.pk and merge.confirmation.answer == "same"
    else:
        assert CardMerge.objects.get(card=card, undone_at__isnull=True).value_id == safety.pk, (
            "a card placed in the value it resembles is not offered that value again"
        )
    seen = client.post(
        "/r/similar/card/", _form(round_with_values, "honesty", 1, _csrf(page), similar_seen="1")
    )
    assert seen["Location"] == "/r/similar/", "suggestions already seen while typing are not asked again"


def test_in_the_chat_a_similar_value_can_be_chosen_as_the_card(round_with_values, settings):
    settings.OPENAI_API_KEY = ""
    person = join(round_with_values)
    client = _client(person)
    page = client.get("/r/similar/chat/")
    html = page.content.decode()
    assert 'hx-include="#chat-card-form"' in html and 'id="similar-values"' in html
    form = _form(round_with_values, "autonomy", 1, _csrf(page), form_id="chat-card-form")
    panel = client.post("/r/similar/card/similar/", form).content.decode()
    autonomy = _value_of(round_with_values, "autonomy")
    assert f'form="chat-card-form" name="same_as" value="{autonomy.pk}"' in panel
    client.post("/r/similar/chat/", {"csrfmiddlewaretoken": _csrf(page), "action": "send", "message": "A choice."})
    chosen = client.post("/r/similar/chat/", {**form, "same_as": autonomy.pk})
    assert chosen.status_code == 302 and chosen["Location"] == "/r/similar/"
    card = ValuesCard.objects.get(author=person)
    assert card.source == "chat" and card.transcript[1]["content"] == "A choice."
    assert CardMerge.objects.get(card=card, undone_at__isnull=True).confirmation.answer == "same"
    assert person.articulation_sessions.get().status == "submitted"
