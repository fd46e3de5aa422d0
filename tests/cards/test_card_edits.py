"""Edits propagate or are explained: a representative card's edit reaches its value (and the confirm page, the
values API and the export); after voting opens an edit is refused with the reason (400 on the API and the page)."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from cards.models import CanonicalValue, CardMerge
from cards.services import dedup_place_card
from deliberation.auth import participant_token
from deliberation.models import Round, Stage
from frontend import session
from moral_graph import services as graph_services
from moral_graph.exports import export_build
from tests.factories import join, make_round, submit

EDIT = {
    "title": "Space to say no, kindly",
    "description": "Helping her feel free to turn down what others expect of her, without guilt.",
    "policies": [
        "BOUNDARIES she can state calmly",
        "WORDS that decline without apology",
        "PEOPLE who accept her answer",
    ],
}


def _api(person) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Participant {participant_token(person)}")
    return client


def _page(person) -> Client:
    client = Client()
    client.get("/")  # a session to write into
    store = client.session
    store[session.KEY] = {str(person.round_id): person.pk}
    store.save()
    return client


@pytest.mark.django_db
def test_an_edit_of_the_card_that_founded_a_value_reaches_the_value_everywhere():
    round_ = make_round(slug="edits")
    author = join(round_, party="Left")
    card = submit(author, family="autonomy")
    value = CardMerge.objects.get(card=card, undone_at__isnull=True).value
    assert value.representative_id == card.pk and value.title != EDIT["title"]
    old_title = value.title

    response = _api(author).put(f"/api/v1/cards/{card.pk}/", {**EDIT, "context": card.context_id}, format="json")
    assert response.status_code == 200
    value.refresh_from_db()
    assert (value.title, value.policies) == (EDIT["title"], EDIT["policies"]), "the value shows the edit at once"
    assert value.embedding is None, "and is embedded again"
    dedup_place_card(card_id=card.pk)  # the queued placement, which on_commit would run
    placed = CardMerge.objects.get(card=card, undone_at__isnull=True).value
    placed.refresh_from_db()
    assert placed.title == EDIT["title"] and placed.description == EDIT["description"]

    listed = _api(author).get(f"/api/v1/rounds/{round_.slug}/values/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert EDIT["title"] in [row["title"] for row in rows]
    page = _page(author).get(f"/r/{round_.slug}/confirm/{card.pk}/").content.decode()
    assert EDIT["title"] in page and old_title not in page

    # The export, once the round is ranked, carries the current text too.
    others = [join(round_, party="Right") for _ in range(3)]
    for person, family in zip(others, ("safety", "honesty", "community"), strict=True):
        submit(person, family=family)
    Round.objects.filter(pk=round_.pk).update(stage=Stage.VOTING)
    graph_services.stories_generate(round_id=round_.pk)
    for person in [author, *others]:
        person.refresh_from_db()
        for story in graph_services.assignments_take(participant=person):
            graph_services.vote_cast(participant=person, story_id=story.pk, answer="wiser")
    graph_services.ranking_compute(round_id=round_.pk)
    round_.refresh_from_db()
    exported = {v["id"]: v for v in export_build(round_=round_)["values"]}
    assert exported[placed.pk]["title"] == EDIT["title"] and exported[placed.pk]["policies"] == EDIT["policies"]


@pytest.mark.django_db
def test_editing_a_grouped_values_representative_hands_it_to_the_other_card_until_placed_again():
    round_ = make_round(slug="edits-grouped")
    first, second = join(round_, party="Left"), join(round_, party="Right")
    founder = submit(first, family="autonomy", variant=0)
    joiner = submit(second, family="autonomy", variant=1)
    value = CardMerge.objects.get(card=founder, undone_at__isnull=True).value
    assert CardMerge.objects.get(card=joiner, undone_at__isnull=True).value == value
    representative = CanonicalValue.objects.get(pk=value.pk).representative
    author = first if representative.pk == founder.pk else second
    edited = founder if author is first else joiner
    other = joiner if edited is founder else founder
    assert _api(author).put(f"/api/v1/cards/{edited.pk}/", {**EDIT, "context": edited.context_id},
                            format="json").status_code == 200
    value.refresh_from_db()
    assert value.representative_id == other.pk and value.title == other.title


@pytest.mark.django_db
def test_after_voting_opens_an_edit_is_refused_with_the_reason():
    round_ = make_round(slug="edits-closed")
    author = join(round_, party="Left")
    card = submit(author, family="autonomy")
    Round.objects.filter(pk=round_.pk).update(stage=Stage.VOTING)
    refused = _api(author).put(f"/api/v1/cards/{card.pk}/", {**EDIT, "context": card.context_id}, format="json")
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "card_locked" and "voting has started" in error["message"]
    page = _page(author).post(
        f"/r/{round_.slug}/card/{card.pk}/edit/",
        {"title": EDIT["title"], "description": EDIT["description"], "context": card.context_id,
         **{f"policy_{i}": p for i, p in enumerate(EDIT["policies"])}},
    )
    assert page.status_code == 400 and "voting has started" in page.content.decode()
    card.refresh_from_db()
    assert card.title != EDIT["title"]
