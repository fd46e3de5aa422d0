"""Tasks retry on database errors with Celery's own backoff (autoretry_for / retry_backoff)."""

from unittest import mock

import pytest
from celery.utils.time import get_exponential_backoff_interval
from django.db import DatabaseError, OperationalError

from cards.models import ValuesCard
from cards.services import dedup_place_card
from cards.tasks import dedup_card
from core.queue import RETRY_ON_DATABASE_ERROR
from moral_graph.tasks import rank_round
from tests.factories import FAMILIES, join, make_round

pytestmark = pytest.mark.django_db


def test_the_backoff_is_5_10_20_seconds_up_to_five_minutes():
    delays = [
        get_exponential_backoff_interval(
            factor=RETRY_ON_DATABASE_ERROR["retry_backoff"],
            retries=n,
            maximum=RETRY_ON_DATABASE_ERROR["retry_backoff_max"],
            full_jitter=RETRY_ON_DATABASE_ERROR["retry_jitter"],
        )
        for n in range(8)
    ]
    assert delays == [5, 10, 20, 40, 80, 160, 300, 300]
    for task in (dedup_card, rank_round):
        assert task.autoretry_for == (DatabaseError,)
        assert task.max_retries == 5


def test_a_database_error_in_deduplication_is_retried():
    from cards.services import card_submit

    round_ = make_round(slug="retry-dedup")
    person = join(round_)
    context = round_.questions.first().contexts.first()
    title, description, policies = FAMILIES["autonomy"][0]
    card = card_submit(
        participant=person, context_id=context.pk, title=title, description=description, policies=policies
    )
    real = dedup_place_card
    calls = []

    def flaky(*, card_id):
        calls.append(card_id)
        if len(calls) == 1:
            raise OperationalError("database is locked")
        return real(card_id=card_id)

    with mock.patch("cards.tasks.dedup_place_card", side_effect=flaky):
        result = dedup_card.apply(args=[card.pk], throw=False)
    assert result.successful()
    assert calls == [card.pk, card.pk]
    card.refresh_from_db()
    assert card.dedup_status != ValuesCard.DedupStatus.PENDING
    assert card.dedup_attempts == 2
