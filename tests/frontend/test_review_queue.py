"""The organizers' review queue: borderline cards are merged into a value or kept apart from the console."""
import pytest
from django.test import Client

from cards.models import CardMerge, ValuesCard
from deliberation.models import AuditEvent
from tests.factories import UserFactory, grant, join, make_round, submit

pytestmark = pytest.mark.django_db


def _borderline(round_, family="autonomy", variant=0):
    card = submit(join(round_), family=family, variant=variant)
    ValuesCard.objects.filter(pk=card.pk).update(dedup_status=ValuesCard.DedupStatus.REVIEW)
    return card


def test_moderators_merge_or_keep_borderline_cards_and_viewers_cannot():
    round_ = make_round(slug="review-queue")
    other = submit(join(round_), family="safety")
    target = CardMerge.objects.get(card=other, undone_at__isnull=True).value
    keep, merge = _borderline(round_, "honesty"), _borderline(round_, "community")
    moderator, viewer = UserFactory(username="mod"), UserFactory(username="view")
    grant(round_, moderator, "moderator")
    grant(round_, viewer, "viewer")
    url = "/console/review-queue/moderation/"

    as_viewer = Client()
    as_viewer.force_login(viewer)
    page = as_viewer.get(url + "?tab=cards")
    assert page.status_code == 200 and "2 cards wait for review" in page.content.decode()
    as_viewer.post(url, {"tab": "cards", "action": "card_review_keep", "card": keep.pk})
    assert ValuesCard.objects.get(pk=keep.pk).dedup_status == ValuesCard.DedupStatus.REVIEW

    client = Client()
    client.force_login(moderator)
    listed = client.get(url + "?tab=cards&review=1").content.decode()
    assert f'id="card-{keep.pk}"' in listed and f'id="card-{merge.pk}"' in listed
    assert f'id="card-{other.pk}"' not in listed
    assert client.post(url, {"tab": "cards", "action": "card_review_keep", "card": keep.pk}).status_code == 302
    assert ValuesCard.objects.get(pk=keep.pk).dedup_status == ValuesCard.DedupStatus.PLACED
    assert client.post(
        url, {"tab": "cards", "action": "card_reassign", "card": merge.pk, "target": target.pk}
    ).status_code == 302
    assert CardMerge.objects.get(card=merge, undone_at__isnull=True).value_id == target.pk
    assert ValuesCard.objects.get(pk=merge.pk).dedup_status == ValuesCard.DedupStatus.PLACED
    assert AuditEvent.objects.filter(action="card.review_keep", actor=moderator).count() == 1
    assert "0 cards wait for review" in client.get(url + "?tab=cards").content.decode()
