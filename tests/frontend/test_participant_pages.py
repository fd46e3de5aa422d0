"""What a newcomer hit on the participant pages: invite codes checked at once, the round's own page without a link,
a stale tab's vote, a card grouped with no one, and the waiting page's progress."""

import re

import pytest
from django.test import Client
from django.utils import timezone

from cards.models import CardMerge, MergeConfirmation
from deliberation.models import Invitation, Participant
from deliberation.services import invitations_create
from moral_graph import services as graph_services
from moral_graph.models import WiserVote
from tests.factories import join, make_round, submit, voting_round

pytestmark = pytest.mark.django_db


def _session(client: Client, participant: Participant) -> None:
    assert client.get(f"/r/{participant.round.slug}/resume/{participant.resume_token}/").status_code == 302


def test_a_wrong_or_used_invite_code_is_told_before_the_consent_form():
    round_ = make_round(slug="codes-at-once")
    owner = round_.roles.get().user
    good, used = invitations_create(round_=round_, actor=owner, count=2)
    Invitation.objects.filter(pk=used.pk).update(used_at=timezone.now())
    client = Client()
    wrong = client.get("/r/codes-at-once/invite/NOT-A-CODE/")
    assert wrong.status_code == 404
    text = wrong.content.decode()
    assert "not valid for this round" in text and 'name="consent"' not in text and 'id="id_code"' in text
    spent = client.get(f"/r/codes-at-once/invite/{used.code}/")
    assert spent.status_code == 409 and "already been used" in spent.content.decode()
    assert 'name="consent"' not in spent.content.decode()
    typed = client.post("/r/codes-at-once/invite/", {"code": "nope"})
    assert typed.status_code == 404 and 'value="nope"' in typed.content.decode()
    assert client.post("/r/codes-at-once/invite/", {"code": good.code}).status_code == 302
    page = client.get(f"/r/codes-at-once/invite/{good.code}/")
    assert page.status_code == 200 and 'name="consent"' in page.content.decode()


def test_the_rounds_own_page_explains_the_invitation_instead_of_refusing():
    make_round(slug="own-page")
    page = Client().get("/r/own-page/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "needs an invitation" in text and 'id="id_code"' in text


def test_a_stale_tabs_vote_offers_to_change_the_answer():
    round_, participants = voting_round("stale-tab", people=4)
    person = participants[0]
    story = graph_services.assignments_take(participant=person)[0]
    graph_services.vote_cast(participant=person, story_id=story.pk, answer="wiser")
    client = Client()
    _session(client, person)
    stale = client.post("/r/stale-tab/vote/", {"story": story.pk, "answer": "not_wiser", "reason": ""})
    assert stale.status_code == 409
    text = stale.content.decode()
    vote = WiserVote.objects.get(participant=person, story=story)
    assert f'name="vote" value="{vote.pk}"' in text and "Change my answer" in text
    assert f'name="story" value="{story.pk}"' in text
    changed = client.post(
        "/r/stale-tab/vote/", {"story": story.pk, "vote": vote.pk, "answer": "not_wiser", "reason": ""}
    )
    assert changed.status_code == 302
    vote.refresh_from_db()
    assert vote.answer == "not_wiser"


def test_no_on_a_card_grouped_with_no_one_offers_what_to_do_next():
    round_ = make_round(slug="alone")
    person = join(round_)
    card = submit(person, family="autonomy")
    merge = CardMerge.objects.get(card=card, undone_at__isnull=True)
    assert merge.value.representative_id == card.pk
    client = Client()
    _session(client, person)
    page = client.get(f"/r/alone/confirm/{card.pk}/").content.decode()
    assert f"/r/alone/card/{card.pk}/edit/" in page and "stands as my value" in page
    assert 'value="different"' not in page
    answered = client.post(f"/r/alone/confirm/{card.pk}/", {"answer": "different"}, follow=True)
    text = answered.content.decode()
    assert "nothing to separate" in text and f"/r/alone/card/{card.pk}/edit/" in text
    assert not MergeConfirmation.objects.filter(merge=merge).exists()


def test_the_waiting_page_marks_no_voting_step_current_before_voting():
    round_ = make_round(slug="waiting-step")
    person = join(round_)
    card = submit(person, family="autonomy")
    client = Client()
    _session(client, person)
    client.post(f"/r/waiting-step/confirm/{card.pk}/", {"answer": "same"})
    page = client.get("/r/waiting-step/")
    assert page.status_code == 200 and "Voting on stories opens" in page.content.decode()
    current = re.findall(r'<li class="[^"]*"\s*aria-current="step"[^>]*>.*?</li>', page.content.decode(), re.S)
    assert not any("Wiser votes" in item for item in current)
