"""Bad input gets a clear 400/403/404/409 and writes nothing."""
import pytest
from rest_framework.test import APIClient

from cards.models import ValuesCard
from deliberation.auth import participant_token
from deliberation.models import Participant, Round, Stage
from moral_graph.models import StoryAssignment, TransitionStory, WiserVote, WiserVoteRevision
from tests.factories import FAMILIES, UserFactory, join, make_round

pytestmark = pytest.mark.django_db

GOOD_TITLE, GOOD_DESCRIPTION, GOOD_POLICIES = FAMILIES["autonomy"][0]
BAD_TEXTS = {
    "empty": "",
    "huge": "x" * 100_000,
    "nul": "Her own\x00 decision",
    "html": "<b>Her own</b> decision",
    "script": "<script>alert(1)</script> choice",
    "js-link": "javascript:alert(1) her choice",
    "rtl-override": "Her own \u202edecision",
}


def _client_for(participant: Participant) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Participant {participant_token(participant)}")
    return client


@pytest.fixture
def round_():
    return make_round(slug="bad-input")


@pytest.fixture
def participant(round_):
    return join(round_)


def _card(round_: Round, **overrides) -> dict:
    body = {
        "context": round_.questions.first().contexts.first().pk,
        "title": GOOD_TITLE,
        "description": GOOD_DESCRIPTION,
        "policies": GOOD_POLICIES,
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize("field", ["title", "description"])
@pytest.mark.parametrize("kind", sorted(BAD_TEXTS))
def test_bad_card_text_is_refused_with_a_field_message(round_, participant, field, kind):
    response = _client_for(participant).post(
        "/api/v1/rounds/bad-input/cards/", _card(round_, **{field: BAD_TEXTS[kind]}), format="json"
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"], error
    assert ValuesCard.objects.count() == 0


@pytest.mark.parametrize("kind", sorted(BAD_TEXTS))
def test_bad_policy_text_is_refused(round_, participant, kind):
    policies = [*GOOD_POLICIES[:2], BAD_TEXTS[kind], "SIGNS that she feels heard"]
    if kind == "empty":
        policies = GOOD_POLICIES[:2] + [""]
    response = _client_for(participant).post("/api/v1/rounds/bad-input/cards/", _card(round_, policies=policies),
                                             format="json")
    assert response.status_code == 400
    assert "policies" in response.json()["error"]["fields"]
    assert ValuesCard.objects.count() == 0


@pytest.mark.parametrize(
    "policies",
    [[], ["ONE thing"], GOOD_POLICIES * 3, "not a list", [1, 2, 3], [GOOD_POLICIES[0]] * 3],
)
def test_policy_count_and_shape(round_, participant, policies):
    response = _client_for(participant).post("/api/v1/rounds/bad-input/cards/", _card(round_, policies=policies),
                                             format="json")
    assert response.status_code == 400
    assert ValuesCard.objects.count() == 0


def test_title_word_count_and_filler_words(round_, participant):
    client = _client_for(participant)
    too_long = client.post("/api/v1/rounds/bad-input/cards/", _card(round_, title="one two three four five six"),
                           format="json")
    assert too_long.status_code == 400 and "title" in too_long.json()["error"]["fields"]
    filler = client.post(
        "/api/v1/rounds/bad-input/cards/",
        _card(round_, policies=[*GOOD_POLICIES[:2], "MOMENTS that feel meaningful to her"]),
        format="json",
    )
    assert filler.status_code == 400
    assert "meaningful" in filler.json()["error"]["fields"]["policies"][0]


def test_unknown_ids_are_404_or_400(round_, participant):
    client = _client_for(participant)
    assert client.post("/api/v1/rounds/no-such-round/cards/", _card(round_), format="json").status_code == 404
    assert client.post("/api/v1/stories/999999/vote/", {"answer": "wiser"}, format="json").status_code == 404
    assert client.patch("/api/v1/votes/999999/", {"answer": "wiser"}, format="json").status_code == 404
    assert client.post("/api/v1/cards/999999/confirm/", {"answer": "same"}, format="json").status_code == 404
    unknown_context = client.post("/api/v1/rounds/bad-input/cards/", _card(round_, context=999999), format="json")
    assert unknown_context.status_code == 400
    assert "context" in unknown_context.json()["error"]["fields"]
    assert ValuesCard.objects.count() == 0


def test_a_card_for_another_rounds_context_is_refused(round_, participant):
    other = make_round(slug="other-round")
    other_context = other.questions.first().contexts.first().pk
    response = _client_for(participant).post(
        "/api/v1/rounds/bad-input/cards/", _card(round_, context=other_context), format="json"
    )
    assert response.status_code == 400
    assert ValuesCard.objects.count() == 0


def test_tokens_of_another_round_and_forged_tokens(round_, participant):
    other = make_round(slug="other-round")
    response = _client_for(participant).post(
        "/api/v1/rounds/other-round/cards/", _card(other), format="json"
    )
    assert response.status_code == 403
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION="Participant not-a-real-token")
    assert forged.post("/api/v1/rounds/bad-input/cards/", _card(round_), format="json").status_code in (401, 403)
    assert APIClient().post("/api/v1/rounds/bad-input/cards/", _card(round_), format="json").status_code == 403
    assert ValuesCard.objects.count() == 0


def test_joining_needs_consent_and_a_valid_link(round_):
    client = APIClient()
    no_consent = client.post("/api/v1/rounds/bad-input/join/", {"token": round_.join_token, "consent": False},
                             format="json")
    assert no_consent.status_code == 400 and "consent" in no_consent.json()["error"]["fields"]
    wrong_link = client.post("/api/v1/rounds/bad-input/join/", {"token": "wrong", "consent": True}, format="json")
    assert wrong_link.status_code == 403
    bad_attribute = client.post(
        "/api/v1/rounds/bad-input/join/",
        {"token": round_.join_token, "consent": True, "attributes": {"party": "<script>"}},
        format="json",
    )
    assert bad_attribute.status_code == 400
    unknown_attribute = client.post(
        "/api/v1/rounds/bad-input/join/",
        {"token": round_.join_token, "consent": True, "attributes": {"ssn": "123"}},
        format="json",
    )
    assert unknown_attribute.status_code == 400
    Round.objects.filter(pk=round_.pk).update(stage=Stage.CLOSED)
    closed = client.post("/api/v1/rounds/bad-input/join/", {"token": round_.join_token, "consent": True}, format="json")
    assert closed.status_code == 409
    assert Participant.objects.count() == 0


def _voting_round_with_story(slug: str):
    from cards.models import CanonicalValue

    round_ = make_round(slug=slug, stage=Stage.VOTING)
    question = round_.questions.first()
    context = question.contexts.first()
    a = CanonicalValue.objects.create(round=round_, question=question, title="A value", description="A.",
                                      policies=["THINGS a"])
    b = CanonicalValue.objects.create(round=round_, question=question, title="B value", description="B.",
                                      policies=["THINGS b"])
    story = TransitionStory.objects.create(round=round_, context=context, from_value=a, to_value=b, text="Story.",
                                           origin="organizer")
    return round_, story


def test_vote_rules():
    round_, story = _voting_round_with_story("votes")
    other_round, other_story = _voting_round_with_story("votes-other")
    participant = join(round_)
    client = _client_for(participant)

    # Not assigned yet: refused.
    assert client.post(f"/api/v1/stories/{story.pk}/vote/", {"answer": "wiser"}, format="json").status_code == 403
    StoryAssignment.objects.create(participant=participant, story=story)
    # Another round's story: refused (the token belongs to this round).
    assert client.post(f"/api/v1/stories/{other_story.pk}/vote/", {"answer": "wiser"},
                       format="json").status_code == 403
    # Bad answers and reasons.
    assert client.post(f"/api/v1/stories/{story.pk}/vote/", {"answer": "maybe"}, format="json").status_code == 400
    long_reason = client.post(f"/api/v1/stories/{story.pk}/vote/", {"answer": "wiser", "reason": "x" * 501},
                              format="json")
    assert long_reason.status_code == 400 and "reason" in long_reason.json()["error"]["fields"]
    assert WiserVote.objects.count() == 0

    first = client.post(f"/api/v1/stories/{story.pk}/vote/", {"answer": "wiser", "reason": "Kinder."}, format="json")
    assert first.status_code == 201
    retry = client.post(f"/api/v1/stories/{story.pk}/vote/", {"answer": "wiser", "reason": "Kinder."}, format="json")
    assert retry.status_code == 200 and retry.json() == first.json()
    second = client.post(f"/api/v1/stories/{story.pk}/vote/", {"answer": "not_wiser"}, format="json")
    assert second.status_code == 409
    assert WiserVote.objects.count() == 1

    vote_id = first.json()["id"]
    changed = client.patch(f"/api/v1/votes/{vote_id}/", {"answer": "not_sure"}, format="json")
    assert changed.status_code == 200 and changed.json()["answer"] == "not_sure"
    assert WiserVote.objects.count() == 1
    assert list(WiserVoteRevision.objects.order_by("id").values_list("answer", flat=True)) == ["wiser", "not_sure"]

    # Someone else's vote cannot be changed.
    intruder = join(round_)
    assert _client_for(intruder).patch(f"/api/v1/votes/{vote_id}/", {"answer": "wiser"},
                                       format="json").status_code == 404

    # After the round closes: no new vote and no change.
    Round.objects.filter(pk=round_.pk).update(stage=Stage.CLOSED)
    assert client.patch(f"/api/v1/votes/{vote_id}/", {"answer": "wiser"}, format="json").status_code == 409
    StoryAssignment.objects.create(participant=intruder, story=story)
    late = _client_for(intruder).post(f"/api/v1/stories/{story.pk}/vote/", {"answer": "wiser"}, format="json")
    assert late.status_code == 409
    assert WiserVote.objects.count() == 1
    assert other_round.pk != round_.pk


def test_round_creation_validates_every_field():
    client = APIClient()
    client.force_authenticate(UserFactory(username="maker"))
    response = client.post(
        "/api/v1/rounds/",
        {"title": "", "question": "<script>x</script>", "contexts": [], "stories_per_participant": 0},
        format="json",
    )
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert {"title", "question", "contexts", "stories_per_participant"} <= set(fields)
    assert Round.objects.count() == 0
    anonymous = APIClient().post("/api/v1/rounds/", {"title": "x"}, format="json")
    assert anonymous.status_code in (401, 403)


def test_stage_changes_need_the_owner():
    round_ = make_round(slug="stages", stage=Stage.DRAFT)
    stranger = APIClient()
    stranger.force_authenticate(UserFactory(username="stranger"))
    assert stranger.post("/api/v1/rounds/stages/stage/", {"stage": "articulation"}, format="json").status_code == 403
    owner = APIClient()
    owner.force_authenticate(round_.roles.get().user)
    assert owner.post("/api/v1/rounds/stages/stage/", {"stage": "bogus"}, format="json").status_code == 400
    assert owner.post("/api/v1/rounds/stages/stage/", {"stage": "published"}, format="json").status_code == 409
    assert owner.post("/api/v1/rounds/stages/stage/", {"stage": "articulation"}, format="json").status_code == 200
    round_.refresh_from_db()
    assert round_.stage == Stage.ARTICULATION
