"""The sweeper re-enqueues what the database says is pending; poison work stops after its attempts."""
from datetime import timedelta

import pytest
from django.utils import timezone

from cards.models import ValuesCard
from cards.services import card_submit
from cards.tasks import MAX_DEDUP_ATTEMPTS, dedup_card
from deliberation.models import Round
from moral_graph.models import RankingRun
from operations.tasks import sweep_pending_work
from tests.factories import FAMILIES, join, make_round

pytestmark = pytest.mark.django_db


def _pending_card(round_):
    person = join(round_)
    title, description, policies = FAMILIES["honesty"][0]
    card = card_submit(participant=person, context_id=round_.questions.first().contexts.first().pk, title=title,
                       description=description, policies=policies)
    ValuesCard.objects.filter(pk=card.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    return card


def test_the_sweeper_places_cards_whose_message_was_lost():
    round_ = make_round(slug="sweep")
    card = _pending_card(round_)  # in a test transaction the on_commit enqueue never fires: a lost message
    assert ValuesCard.objects.get(pk=card.pk).dedup_status == ValuesCard.DedupStatus.PENDING
    swept = sweep_pending_work()
    assert swept["cards"] == 1
    assert ValuesCard.objects.get(pk=card.pk).dedup_status == ValuesCard.DedupStatus.PLACED


def test_the_sweeper_recomputes_stale_rankings():
    round_ = make_round(slug="sweep-rank")
    Round.objects.filter(pk=round_.pk).update(ranking_dirty_since=timezone.now() - timedelta(minutes=5))
    swept = sweep_pending_work()
    assert swept["rounds"] == 1
    assert RankingRun.objects.filter(round=round_, status="published").exists()
    assert Round.objects.get(pk=round_.pk).ranking_dirty_since is None


def test_a_poison_card_goes_to_review_after_its_attempts(monkeypatch):
    round_ = make_round(slug="poison")
    card = _pending_card(round_)

    def broken(**kwargs):
        raise RuntimeError("model exploded")

    monkeypatch.setattr("cards.tasks.dedup_place_card", broken)
    for _ in range(MAX_DEDUP_ATTEMPTS):
        with pytest.raises(RuntimeError):
            dedup_card.apply(args=(card.pk,)).get()
    assert ValuesCard.objects.get(pk=card.pk).dedup_attempts == MAX_DEDUP_ATTEMPTS
    dedup_card.apply(args=(card.pk,)).get()
    card.refresh_from_db()
    assert card.dedup_status == ValuesCard.DedupStatus.REVIEW
    assert sweep_pending_work()["cards"] == 0
