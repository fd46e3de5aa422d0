"""A participant downloads their data and deletes it; counts stay, personal data goes; none of it reaches
logs or ranking snapshots."""

import json
import logging
import re

import pytest
from django.db.models import Count
from django.test import Client

from cards.models import ArticulationSession, ValuesCard
from deliberation.auth import participant_token
from deliberation.models import Participant, ParticipantAttribute, Round
from moral_graph import services as graph_services
from moral_graph.exports import export_build
from moral_graph.models import RankingSnapshot, StoryAssignment, WiserVote, WiserVoteRevision
from operations.privacy import participant_delete, participant_export
from tests.security.conftest import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_world(slug="priv", ranked=False)


def _counts(round_: Round) -> dict:
    votes = WiserVote.objects.filter(story__round=round_)
    return {
        "participants": round_.participants.count(),
        "votes": votes.count(),
        "answers": dict(votes.values_list("answer").annotate(n=Count("id")).order_by()),
        "per_story": sorted(votes.values("story_id").annotate(n=Count("id")).values_list("story_id", "n")),
        "revisions": WiserVoteRevision.objects.filter(round=round_).count(),
        "assignments": StoryAssignment.objects.filter(story__round=round_).count(),
        "cards": ValuesCard.objects.filter(round=round_).count(),
    }


def test_the_export_holds_everything_about_the_participant_and_no_credential(world):
    person = world.participants[0]
    ArticulationSession.objects.create(participant=person, messages=[{"role": "user", "content": "my story"}])
    WiserVote.objects.filter(participant=person).update(reason="Because I lived it")
    data = participant_export(participant=person)
    assert data["format"] == "wiser.participant-data"
    assert data["participant"]["pseudonym"] == person.pseudonym
    assert data["participant"]["attributes"] == {"party": "Left"}
    assert [c["title"] for c in data["cards"]] == list(
        ValuesCard.objects.filter(author=person).order_by("id").values_list("title", flat=True)
    )
    assert len(data["votes"]) == WiserVote.objects.filter(participant=person).count() > 0
    assert all(v["reason"] == "Because I lived it" and v["history"] for v in data["votes"])
    assert data["chats"][0]["messages"][0]["content"] == "my story"
    text = json.dumps(data)
    assert person.resume_token not in text and participant_token(person) not in text
    # Nobody else's data is in it.
    for other in world.participants[1:]:
        assert other.pseudonym not in text


def test_the_page_and_the_api_give_the_same_download(world):
    person = world.participants[0]
    client = world.page_client("participant")
    page = client.get(f"/r/{world.round.slug}/privacy/")
    assert page.status_code == 200 and person.pseudonym in page.content.decode()
    download = client.get(f"/r/{world.round.slug}/privacy/data.json")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment;")
    assert download["Cache-Control"] == "no-store"
    api = world.api_client(person).get(f"/api/v1/rounds/{world.round.slug}/me/data/")
    assert api.status_code == 200 and api["Cache-Control"] == "no-store"
    assert (
        json.loads(download.content)
        == api.json()
        == json.loads(json.dumps(participant_export(participant=person)))
    )
    # Someone from another round, or nobody, gets nothing.
    assert (
        world.page_client("other_participant").get(f"/r/{world.round.slug}/privacy/data.json").status_code
        == 403
    )
    assert (
        world.api_client(world.outsider).get(f"/api/v1/rounds/{world.round.slug}/me/data/").status_code == 403
    )
    assert world.api_client().get(f"/api/v1/rounds/{world.round.slug}/me/data/").status_code in (401, 403)


def test_deletion_removes_personal_data_and_keeps_every_count(world):
    person = world.participants[0]
    chat = ArticulationSession.objects.create(participant=person, messages=[{"role": "user", "content": "x"}])
    cards = list(ValuesCard.objects.filter(author=person).values_list("pk", flat=True))
    ValuesCard.objects.filter(pk__in=cards).update(transcript=[{"role": "user", "content": "private"}])
    WiserVote.objects.filter(participant=person).update(reason="Because of my sister")
    vote_ids = sorted(WiserVote.objects.filter(participant=person).values_list("pk", flat=True))
    old_token = participant_token(person)
    before = _counts(world.round)
    Round.objects.filter(pk=world.round.pk).update(ranking_dirty_since=None)
    version = Round.objects.get(pk=world.round.pk).structure_version

    anonymous = participant_delete(participant=person)

    assert not Participant.objects.filter(pk=person.pk).exists()
    assert not Participant.objects.filter(pseudonym=person.pseudonym).exists()
    assert not Participant.objects.filter(resume_token=person.resume_token).exists()
    assert anonymous.attributes == {} and anonymous.user_id is None and anonymous.invitation_id is None
    assert sorted(WiserVote.objects.filter(participant=anonymous).values_list("pk", flat=True)) == vote_ids
    # The revisions' copy of their vote's participant (what the ranking reads) moved with the votes.
    assert set(
        WiserVoteRevision.objects.filter(vote_id__in=vote_ids).values_list("participant_id", flat=True)
    ) == {anonymous.pk}
    assert set(WiserVote.objects.filter(pk__in=vote_ids).values_list("reason", flat=True)) == {""}
    assert set(ValuesCard.objects.filter(pk__in=cards).values_list("author", flat=True)) == {None}
    assert list(ValuesCard.objects.filter(pk__in=cards).values_list("transcript", flat=True)) == [[]] * len(
        cards
    )
    assert not ArticulationSession.objects.filter(pk=chat.pk).exists()
    assert _counts(world.round) == before
    round_ = Round.objects.get(pk=world.round.pk)
    assert round_.ranking_dirty_since is not None and round_.structure_version == version + 1
    # The old credentials are void.
    client = Client()
    assert (
        client.get(
            f"/api/v1/rounds/{world.round.slug}/me/", HTTP_AUTHORIZATION=f"Participant {old_token}"
        ).status_code
        == 401
    )
    assert client.get(f"/r/{world.round.slug}/resume/{person.resume_token}/").status_code == 404
    # The ranking still runs on the same votes.
    run = graph_services.ranking_compute(round_id=world.round.pk)
    assert run is not None
    assert (
        sum(
            s.results.get("nVotes", 0) for s in RankingSnapshot.objects.filter(run=run, context__isnull=False)
        )
        == before["votes"]
    )
    # Every voter of the export is a participant of the round (the anonymous row, not the deleted one).
    data = export_build(round_=Round.objects.get(pk=world.round.pk), run=run)
    assert anonymous.pseudonym in {p["id"] for p in data["participants"]}


def test_deleting_through_the_page_needs_a_confirmation_and_forgets_the_browser(world):
    person = world.participants[1]
    client = Client()
    client.get(f"/r/{world.round.slug}/resume/{person.resume_token}/")
    unconfirmed = client.post(f"/r/{world.round.slug}/privacy/delete/", {})
    assert unconfirmed.status_code == 400 and Participant.objects.filter(pk=person.pk).exists()
    done = client.post(f"/r/{world.round.slug}/privacy/delete/", {"confirm": "yes"})
    assert done.status_code == 200 and "deleted" in done.content.decode()
    assert not Participant.objects.filter(pk=person.pk).exists()
    assert client.get(f"/r/{world.round.slug}/privacy/").status_code == 403
    forgotten = client.get(f"/r/{world.round.slug}/")
    assert forgotten.status_code == 200 and "needs an invitation" in forgotten.content.decode()


def test_deleting_through_the_api(world):
    person = world.participants[2]
    before = _counts(world.round)
    client = world.api_client(person)
    assert client.delete(f"/api/v1/rounds/{world.round.slug}/me/").status_code == 204
    assert client.get(f"/api/v1/rounds/{world.round.slug}/me/").status_code == 401
    assert _counts(world.round) == before
    assert (
        world.api_client(world.outsider).delete(f"/api/v1/rounds/{world.round.slug}/me/").status_code == 403
    )


def test_no_personal_data_in_logs_or_snapshots_after_a_journey(caplog):
    caplog.set_level(logging.DEBUG)
    world = build_world(slug="logs", ranked=False)
    ParticipantAttribute.objects.create(
        round=world.round, key="birthplace", label="Birthplace", choices=["Zanzibar-1987"], is_grouping=False
    )
    client = Client()
    joined = client.post(
        f"/r/logs/join/{world.round.join_token}/",
        {"consent": "yes", "attr_party": "Right", "attr_birthplace": "Zanzibar-1987"},
    )
    assert joined.status_code == 302
    person = Participant.objects.latest("id")
    assert person.attributes == {"party": "Right", "birthplace": "Zanzibar-1987"}
    for story in graph_services.assignments_take(participant=person):
        assert (
            client.post(
                "/r/logs/vote/", {"story": story.pk, "answer": "wiser", "reason": "My private reason"}
            ).status_code
            == 302
        )
    client.get("/r/logs/done/")
    graph_services.ranking_compute(round_id=world.round.pk)
    secrets_ = [
        person.pseudonym,
        person.resume_token,
        participant_token(person),
        "Zanzibar-1987",
        "My private reason",
    ]
    logs = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    snapshots = json.dumps(
        list(RankingSnapshot.objects.filter(round=world.round).values_list("results", flat=True))
    )
    assert caplog.records, "the journey logged something to check"
    for secret in secrets_:
        assert secret not in logs
        assert secret not in snapshots
    assert not re.search(rf'"participant(Id)?":\s*{person.pk}\b', snapshots)
