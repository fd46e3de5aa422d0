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


def test_the_review_list_offers_only_other_values_of_the_same_context_and_refuses_its_own():
    round_ = make_round(slug="review-targets")
    same = submit(join(round_), family="safety", context_index=0)
    elsewhere = submit(join(round_), family="honesty", context_index=1)
    waiting = _borderline(round_, "community", 0)
    same_value = CardMerge.objects.get(card=same, undone_at__isnull=True).value
    other_value = CardMerge.objects.get(card=elsewhere, undone_at__isnull=True).value
    own_value = CardMerge.objects.get(card=waiting, undone_at__isnull=True).value
    owner = round_.roles.get().user
    client = Client()
    client.force_login(owner)
    url = "/console/review-targets/moderation/"
    page = client.get(url + "?tab=cards&review=1").content.decode()
    select = page[page.index(f'id="review-{waiting.pk}"') :]
    select = select[: select.index("</select>")]
    assert f'value="{same_value.pk}"' in select
    assert f'value="{other_value.pk}"' not in select and f'value="{own_value.pk}"' not in select
    assert 'option value="" ' not in select and '<option value="">' in select
    refused = client.post(url, {"tab": "cards", "action": "card_reassign", "card": waiting.pk, "target": own_value.pk})
    assert refused.status_code == 400 and "already in that value" in refused.content.decode()
    assert CardMerge.objects.get(card=waiting, undone_at__isnull=True).value_id == own_value.pk
    empty = client.post(url, {"tab": "cards", "action": "card_reassign", "card": waiting.pk, "target": ""})
    assert empty.status_code == 400
    moved = client.post(url, {"tab": "cards", "action": "card_reassign", "card": waiting.pk, "target": same_value.pk})
    assert moved.status_code == 302
    assert CardMerge.objects.get(card=waiting, undone_at__isnull=True).value_id == same_value.pk
