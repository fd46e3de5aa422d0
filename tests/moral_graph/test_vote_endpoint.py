"""The vote endpoint's hot path: the token's claims stand in for the participant row, one read checks the rest."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from cards.models import CanonicalValue
from deliberation.auth import participant_token
from deliberation.models import Participant, Stage
from moral_graph.apis import VoteOut, vote_out
from moral_graph.models import StoryAssignment, TransitionStory, WiserVote
from operations.privacy import participant_delete
from tests.factories import join, make_round

pytestmark = pytest.mark.django_db


def _story(round_, title: str, **fields) -> TransitionStory:
    question = round_.questions.first()
    a, b = (
        CanonicalValue.objects.create(
            round=round_, question=question, title=f"{title} {n}", description="D.", policies=["THINGS a"]
        )
        for n in (1, 2)
    )
    return TransitionStory.objects.create(
        round=round_,
        context=question.contexts.first(),
        from_value=a,
        to_value=b,
        text="Story.",
        origin="organizer",
        **fields,
    )


def _client(participant: Participant) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Participant {participant_token(participant)}")
    return client


def _vote(client: APIClient, story: TransitionStory, answer: str = "wiser"):
    return client.post(f"/api/v1/stories/{story.pk}/vote/", {"answer": answer}, format="json")


def test_a_vote_reads_no_participant_row_and_checks_everything_in_one_query():
    round_ = make_round(slug="hot-path", stage=Stage.VOTING)
    story = _story(round_, "Hot")
    person = join(round_)
    StoryAssignment.objects.create(participant=person, story=story)
    client = _client(person)
    with CaptureQueriesContext(connection) as queries:
        response = _vote(client, story)
    assert response.status_code == 201, response.content
    statements = [q["sql"].lstrip() for q in queries.captured_queries]
    reads = [sql for sql in statements if sql.upper().startswith(("SELECT", "WITH"))]
    assert len(reads) == 1, statements
    assert "deliberation_participant" in reads[0]
    if connection.vendor == "postgresql":
        assert len(statements) == 1, statements
    vote = WiserVote.objects.get(participant=person, story=story)
    assert response.json() == VoteOut(vote).data


def test_the_vote_body_is_what_the_vote_serializer_gives():
    round_ = make_round(slug="vote-body", stage=Stage.VOTING)
    story = _story(round_, "Body")
    person = join(round_)
    vote = WiserVote.objects.create(participant=person, story=story, answer="not_sure", reason="Ünïcode.")
    vote.refresh_from_db()
    assert vote_out(vote) == VoteOut(vote).data


def test_a_deleted_participants_token_cannot_vote():
    round_ = make_round(slug="gone", stage=Stage.VOTING)
    story = _story(round_, "Gone")
    person = join(round_)
    StoryAssignment.objects.create(participant=person, story=story)
    client = _client(person)
    anonymous = participant_delete(participant=person)
    response = _vote(client, story)
    # 401 with the participant scheme, as `me/` answers the same token (issue 15).
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Participant"
    assert response.json()["error"]["code"] == "authentication_failed"
    assert not WiserVote.objects.exists()
    assert StoryAssignment.objects.filter(participant=anonymous, story=story).exists()


def test_each_refusal_keeps_its_status():
    round_ = make_round(slug="refusals", stage=Stage.VOTING)
    other_round = make_round(slug="refusals-other", stage=Stage.VOTING)
    story, hidden = _story(round_, "Open"), _story(round_, "Hidden", is_hidden=True)
    elsewhere = _story(other_round, "Elsewhere")
    person = join(round_)
    for s in (story, hidden):
        StoryAssignment.objects.create(participant=person, story=s)
    client = _client(person)
    assert _vote(client, elsewhere).status_code == 403
    assert (
        _vote(client, elsewhere).json()["error"]["message"]
        == "Your participant token belongs to another round."
    )
    assert _vote(client, hidden).status_code == 404
    assert _vote(APIClient(), story).status_code == 403
    assert (
        APIClient().post("/api/v1/stories/999999/vote/", {"answer": "wiser"}, format="json").status_code
        == 404
    )
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION="Participant not-a-token")
    assert _vote(forged, story).json()["error"]["code"] == "authentication_failed"
    first = _vote(client, story)
    assert first.status_code == 201
    assert _vote(client, story).json() == first.json()
    assert _vote(client, story, "not_wiser").status_code == 409
    newcomer = join(round_)
    StoryAssignment.objects.create(participant=newcomer, story=story)
    round_.stage = Stage.CLOSED
    round_.save(update_fields=["stage"])
    assert _vote(_client(newcomer), story).status_code == 409
    assert WiserVote.objects.count() == 1
