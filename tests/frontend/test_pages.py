"""The pages of the journey through Django's test client: join, card, confirm, vote, done, report."""

import re

import pytest
from django.test import Client

from cards.models import ValuesCard
from deliberation.models import Participant, Round, Stage
from moral_graph import services as graph_services
from moral_graph.models import WiserVote
from tests.factories import FAMILIES, UserFactory, join, make_round, submit

pytestmark = pytest.mark.django_db(transaction=True)


def _csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


def _token(response) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode())
    assert match, "the form carries a CSRF token"
    return match.group(1)


def test_home_answers():
    assert Client().get("/").status_code == 200


def test_a_participant_joins_writes_a_card_confirms_and_votes_through_the_pages():
    round_ = make_round(slug="pages", stories_per_participant=3, min_votes_per_story=1)
    # Others have written cards, so there are values to compare and stories to vote on.
    for family in ("safety", "honesty", "community"):
        submit(join(round_), family=family)
    client = _csrf_client()
    join_url = f"/r/pages/join/{round_.join_token}/"
    page = client.get(join_url)
    assert page.status_code == 200 and round_.consent_text in page.content.decode()
    refused = client.post(join_url, {"csrfmiddlewaretoken": _token(page)})
    assert refused.status_code == 400 and Participant.objects.count() == 3
    joined = client.post(
        join_url, {"csrfmiddlewaretoken": _token(page), "consent": "yes", "attr_party": "Left"}
    )
    assert joined.status_code == 302
    participant = Participant.objects.latest("id")
    assert participant.attributes == {"party": "Left"}

    form = client.get("/r/pages/card/")
    assert form.status_code == 200
    title, description, policies = FAMILIES["autonomy"][0]
    context_id = round_.questions.first().contexts.first().pk
    bad = client.post(
        "/r/pages/card/",
        {
            "csrfmiddlewaretoken": _token(form),
            "context": context_id,
            "title": "",
            "description": description,
            "policy_0": policies[0],
        },
    )
    assert bad.status_code == 400 and ValuesCard.objects.filter(author=participant).count() == 0
    assert policies[0] in bad.content.decode(), "what was typed is kept"
    data = {
        "csrfmiddlewaretoken": _token(form),
        "context": context_id,
        "title": title,
        "description": description,
    }
    data.update({f"policy_{i}": p for i, p in enumerate(policies)})
    assert client.post("/r/pages/card/", data).status_code == 302
    card = ValuesCard.objects.get(author=participant)
    assert card.dedup_status != ValuesCard.DedupStatus.PENDING

    home = client.get("/r/pages/", follow=True)
    assert home.status_code == 200
    assert "Is this your value?" in home.content.decode()
    confirm_url = home.redirect_chain[-1][0]
    assert (
        client.post(confirm_url, {"csrfmiddlewaretoken": _token(home), "answer": "same"}).status_code == 302
    )

    Round.objects.filter(pk=round_.pk).update(stage=Stage.VOTING)
    graph_services.stories_generate(round_id=round_.pk)
    assigned = len(graph_services.assignments_take(participant=participant))
    assert assigned >= 1
    for _ in range(assigned):
        page = client.get("/r/pages/vote/")
        assert page.status_code == 200
        story_id = re.search(r'name="story" value="(\d+)"', page.content.decode()).group(1)
        assert (
            client.post(
                "/r/pages/vote/", {"csrfmiddlewaretoken": _token(page), "story": story_id, "answer": "wiser"}
            ).status_code
            == 302
        )
    assert WiserVote.objects.filter(participant=participant).count() == assigned
    done = client.get("/r/pages/vote/", follow=True)
    assert "Thank you" in done.content.decode()
    finished = client.post(
        "/r/pages/done/", {"csrfmiddlewaretoken": _token(done), "represented": "4", "fair": "5"}
    )
    assert finished.status_code == 302
    participant.refresh_from_db()
    assert (participant.eval_represented, participant.eval_fair) == (4, 5)
    assert participant.finished_at is not None

    # A resume link restores the session in another browser.
    other = Client()
    assert other.get(f"/r/pages/resume/{participant.resume_token}/").status_code == 302
    assert other.get("/r/pages/done/").status_code == 200


def test_posts_without_csrf_are_refused_for_anonymous_participants():
    round_ = make_round(slug="csrf")
    response = _csrf_client().post(f"/r/csrf/join/{round_.join_token}/", {"consent": "yes"})
    assert response.status_code == 403
    assert Participant.objects.count() == 0


def test_pages_without_a_participant_ask_for_the_link():
    make_round(slug="nolink")
    assert Client().get("/r/nolink/card/").status_code == 403
    assert Client().get("/r/unknown-round/").status_code == 404
    assert Client().get("/r/nolink/resume/not-a-token/").status_code == 404


def test_report_page_follows_visibility_and_shows_ranked_values():
    round_ = make_round(slug="report-page", stories_per_participant=4, min_votes_per_story=1)
    people = [join(round_) for _ in range(4)]
    for person, family in zip(people, ["autonomy", "safety", "honesty", "community"], strict=True):
        submit(person, family=family)
    Round.objects.filter(pk=round_.pk).update(stage=Stage.VOTING)
    round_.refresh_from_db()  # the participants hold this instance
    graph_services.stories_generate(round_id=round_.pk)
    for person in people:
        for story in graph_services.assignments_take(participant=person):
            graph_services.vote_cast(participant=person, story_id=story.pk, answer="wiser")
    assert WiserVote.objects.filter(story__round=round_).exists()
    graph_services.ranking_compute(round_id=round_.pk)
    assert Client().get("/r/report-page/report/").status_code == 403
    organizer = Client()
    organizer.force_login(round_.roles.get().user)
    page = organizer.get("/r/report-page/report/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "When the user is in distress" in text and "95% interval" in text
    Round.objects.filter(pk=round_.pk).update(stage=Stage.PUBLISHED, report_visibility="public")
    assert Client().get("/r/report-page/report/").status_code == 200
    stranger = Client()
    stranger.force_login(UserFactory(username="stranger"))
    assert stranger.get("/console/report-page/").status_code == 403
