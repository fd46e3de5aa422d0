"""Duplicate delivery of the same task to two worker processes at once: one result.

At-least-once delivery means a message can arrive twice (a redelivery after a lost acknowledgement, a sweep
racing the original). The ranking's lock row and the card's row lock make the second delivery a no-op.
"""

import time

import pytest

from cards.models import CardMerge, ValuesCard
from cards.services import card_submit
from cards.tasks import dedup_card
from moral_graph.models import RankingRun
from moral_graph.tasks import rank_round
from tests.factories import FAMILIES, join, make_round, voting_round
from tests.reliability.conftest import broker, wait_for
from tests.reliability.invariants import (
    assert_cards_kept,
    assert_current_ranking_is_up_to_date,
    assert_snapshots_reproduce,
    assert_votes_stored_once,
    cast_votes,
    ranking_job_running,
)

pytestmark = [
    pytest.mark.needs_worker,
    pytest.mark.needs_redis,
    pytest.mark.needs_postgres,
    pytest.mark.django_db(transaction=True),
]


def test_the_same_ranking_delivered_twice_to_two_processes_publishes_one_run(
    private_redis, start_worker, sweeper_now
):
    round_, people = voting_round("twice")
    expected = cast_votes(people)
    with broker(private_redis.url):
        worker = start_worker("pair", concurrency=2, WISER_TEST_RANK_DELAY="2")
        rank_round.apply_async((round_.pk,), task_id="same-ranking")
        rank_round.apply_async((round_.pk,), task_id="same-ranking")
        wait_for(
            lambda: RankingRun.objects.filter(round=round_).exists() and not ranking_job_running(round_.pk),
            timeout=60,
            what="the ranking",
            workers=[worker],
        )
        time.sleep(3)  # time for the duplicate to finish, should it (wrongly) compute too
        assert worker.log().count("Task moral_graph.tasks.rank_round[same-ranking] succeeded") == 2
    assert RankingRun.objects.filter(round=round_).count() == 1
    assert_current_ranking_is_up_to_date(round_)
    assert_votes_stored_once(round_, expected)
    assert_snapshots_reproduce(round_)


def test_the_same_card_delivered_twice_to_two_processes_is_placed_once(private_redis, start_worker):
    round_ = make_round(slug="twice-card")
    people = [join(round_) for _ in range(3)]
    with broker(private_redis.url):
        worker = start_worker("pair", concurrency=2)
        cards = []
        for person, family in zip(people, ["honesty", "honesty", "safety"], strict=True):
            title, description, policies = FAMILIES[family][len(cards) % 2]
            cards.append(
                card_submit(
                    participant=person,
                    context_id=round_.questions.first().contexts.first().pk,
                    title=title,
                    description=description,
                    policies=policies,
                )
            )
        for card in cards:  # each card's message is now in the queue twice more
            dedup_card.apply_async((card.pk,), task_id=f"card-{card.pk}")
            dedup_card.apply_async((card.pk,), task_id=f"card-{card.pk}")
        wait_for(
            lambda: (
                not ValuesCard.objects.filter(
                    pk__in=[c.pk for c in cards], dedup_status=ValuesCard.DedupStatus.PENDING
                ).exists()
            ),
            timeout=60,
            what="the cards to be placed",
            workers=[worker],
        )
        wait_for(
            lambda: worker.log().count("succeeded") >= 9,
            timeout=30,
            what="all nine deliveries",
            workers=[worker],
        )
    assert_cards_kept([c.pk for c in cards])
    assert CardMerge.objects.filter(card__in=cards).count() == 3
