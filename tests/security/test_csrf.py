"""CSRF holds for anonymous participants: page forms need the token, and the API ignores the session cookie
for participants (it takes only the participant token header, which another site cannot make a browser send)."""

import pytest
from django.test import Client

from cards.models import ValuesCard
from deliberation.models import Participant, Round
from frontend import session
from moral_graph.models import WiserVote
from tests.security.conftest import build_world

pytestmark = pytest.mark.django_db


def _csrf_client(participant: Participant | None = None) -> Client:
    client = Client(enforce_csrf_checks=True)
    if participant is not None:
        store = client.session
        store[session.KEY] = {str(participant.round_id): participant.pk}
        store.save()
    return client


@pytest.fixture
def world():
    return build_world(slug="csrf", ranked=False)


def test_every_participant_form_post_without_a_token_is_refused(world):
    person = world.participants[0]
    card = ValuesCard.objects.filter(author=person).first()
    story = WiserVote.objects.filter(participant=person).first().story
    before = (ValuesCard.objects.count(), WiserVote.objects.count(), Participant.objects.count())
    slug = world.round.slug
    posts = {
        f"/r/{slug}/join/{world.round.join_token}/": {"consent": "yes"},
        f"/r/{slug}/card/": {"title": "A new value", "description": "One sentence.", "context": "1"},
        f"/r/{slug}/confirm/{card.pk}/": {"answer": "different"},
        f"/r/{slug}/vote/": {"story": str(story.pk), "answer": "not_wiser"},
        f"/r/{slug}/done/": {"represented": "1", "fair": "1"},
        f"/r/{slug}/privacy/delete/": {"confirm": "yes"},
        f"/r/{slug}/invite/": {"code": "x"},
        f"/r/{slug}/chat/": {"action": "send", "message": "hello"},
    }
    for url, data in posts.items():
        # The join form is for newcomers; every other form is posted by a remembered participant.
        client = _csrf_client(None if "/join/" in url else person)
        assert client.post(url, data).status_code == 403, url
    person.refresh_from_db()
    assert person.finished_at is None and person.attributes == {"party": "Left"}
    assert (ValuesCard.objects.count(), WiserVote.objects.count(), Participant.objects.count()) == before


def test_the_same_forms_pass_with_the_token(world):
    person = world.participants[0]
    client = _csrf_client(person)
    page = client.get(f"/r/{world.round.slug}/done/")
    token = page.context["csrf_token"]
    response = client.post(
        f"/r/{world.round.slug}/done/", {"csrfmiddlewaretoken": str(token), "represented": "4", "fair": "4"}
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.eval_fair == 4


def test_a_session_cookie_alone_cannot_act_as_a_participant_through_the_api(world):
    person = world.participants[0]
    client = _csrf_client(person)
    story = WiserVote.objects.filter(participant=person).first().story
    context_id = world.round.questions.first().contexts.first().pk
    attempts = [
        ("get", f"/api/v1/rounds/{world.round.slug}/me/", None),
        ("get", f"/api/v1/rounds/{world.round.slug}/me/data/", None),
        ("delete", f"/api/v1/rounds/{world.round.slug}/me/", None),
        ("post", f"/api/v1/rounds/{world.round.slug}/me/finish/", {"fair": 1}),
        (
            "post",
            f"/api/v1/rounds/{world.round.slug}/cards/",
            {
                "context": context_id,
                "title": "Riding the cookie",
                "description": "Posted by another site.",
                "policies": ["ONE thing", "TWO things", "THREE things"],
            },
        ),
        ("post", f"/api/v1/stories/{story.pk}/vote/", {"answer": "not_wiser"}),
        ("get", f"/api/v1/rounds/{world.round.slug}/stories/assigned/", None),
        ("post", f"/api/v1/rounds/{world.round.slug}/stories/assigned/", None),
    ]
    for method, url, body in attempts:
        kwargs = {"content_type": "application/json"} if body is not None else {}
        response = (
            getattr(client, method)(url, body, **kwargs) if body is not None else getattr(client, method)(url)
        )
        assert response.status_code in (401, 403), (method, url, response.status_code)
    assert Participant.objects.filter(pk=person.pk).exists()
    assert not ValuesCard.objects.filter(title="Riding the cookie").exists()
    assert WiserVote.objects.get(participant=person, story=story).answer == "wiser"


def test_an_organizer_session_needs_the_csrf_token_for_api_writes(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["owner"])
    refused = client.post(
        f"/api/v1/rounds/{world.round.slug}/stage/", {"stage": "closed"}, content_type="application/json"
    )
    assert refused.status_code == 403
    assert "CSRF" in refused.content.decode()
    world.round.refresh_from_db()
    assert world.round.stage == "voting"
    page = client.post(f"/console/{world.round.slug}/", {"action": "stage", "stage": "closed"})
    assert page.status_code == 403
    assert Round.objects.get(pk=world.round.pk).stage == "voting"
