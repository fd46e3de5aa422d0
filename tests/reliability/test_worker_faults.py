"""kill -9 of a real worker mid-task, and duplicate delivery: the work completes exactly once.

The workers are real `celery worker` processes on a private Redis and the test's PostgreSQL database. The
sweeper is run by the test (it is what Celery beat runs every minute) with no grace period.
"""

import time

import pytest

from cards.models import CardMerge, ValuesCard
from cards.services import card_submit
from cards.tasks import dedup_card
from deliberation.models import Job
from deliberation.tasks import sweep_pending_work
from moral_graph.models import RankingRun
from moral_graph.tasks import rank_round
from tests.factories import FAMILIES, join, make_round
from tests.fake_openai import FakeOpenAI, slow
from tests.reliability.conftest import broker, wait_for
from tests.reliability.invariants import (
    assert_cards_kept,
    assert_current_ranking_is_up_to_date,
    assert_snapshots_reproduce,
    assert_votes_stored_once,
    cast_votes,
    voting_round,
)

pytestmark = [
    pytest.mark.needs_worker,
    pytest.mark.needs_redis,
    pytest.mark.needs_postgres,
    pytest.mark.django_db(transaction=True),
]


def _ranking_job_running(round_id: int) -> bool:
    return Job.objects.filter(round_id=round_id, kind="ranking", status=Job.Status.RUNNING).exists()


def _up_to_date(round_) -> bool:
    round_.refresh_from_db()
    run = RankingRun.objects.filter(pk=round_.current_ranking_id).first()
    return (
        run is not None
        and run.watermark
        == max(round_.ranking_runs.values_list("watermark", flat=True).order_by("-watermark")[:1] or [0])
        and not _ranking_job_running(round_.pk)
        and round_.ranking_dirty_since is None
    )


@pytest.mark.parametrize("what", ["whole worker", "pool process"])
def test_kill9_during_a_ranking_then_the_sweeper_completes_it_once(
    what, private_redis, start_worker, sweeper_now
):
    round_, people = voting_round("kill-rank")
    expected = cast_votes(people[:4])  # in-process: the first run is published at this watermark
    first = assert_current_ranking_is_up_to_date(round_)
    with broker(private_redis.url):
        slow_worker = start_worker("slow", WISER_TEST_RANK_DELAY="30")
        expected |= cast_votes(people[4:])  # the dirty flag flips once: one rank_round goes to the worker
        wait_for(
            lambda: _ranking_job_running(round_.pk),
            timeout=30,
            what="the ranking to start",
            workers=[slow_worker],
        )
        time.sleep(0.5)
        if what == "whole worker":
            slow_worker.kill9()
            slow_worker = start_worker("fresh")
        else:
            slow_worker.kill9_pool()  # the main process rejects the message; it is redelivered at once
            time.sleep(2)
        assert _ranking_job_running(round_.pk), "the lost computation still holds the round's lock"
        assert RankingRun.objects.filter(round=round_).count() == 1
        swept = sweep_pending_work()
        assert swept["lost_rankings"] == 1 and swept["rounds"] == 1
        wait_for(
            lambda: (
                RankingRun.objects.filter(round=round_).count() == 2 and not _ranking_job_running(round_.pk)
            ),
            timeout=60,
            what="the swept ranking",
            workers=[slow_worker],
        )
    run = assert_current_ranking_is_up_to_date(round_)
    assert run.pk != first.pk
    assert_votes_stored_once(round_, expected)
    assert_snapshots_reproduce(round_)
    job = Job.objects.get(round=round_, kind="ranking")
    assert job.status == Job.Status.DONE and job.attempts == 0


def test_kill9_during_a_model_call_then_the_card_is_placed_once(private_redis, start_worker, sweeper_now):
    fake = FakeOpenAI().start()
    try:
        round_ = make_round(slug="kill-model")
        person = join(round_)
        model = {"WISER_TEST_OPENAI_API_KEY": "test-key", "WISER_TEST_OPENAI_BASE_URL": fake.base_url}
        with broker(private_redis.url):
            stuck = start_worker("stuck", **model)
            fake.always(slow(60))
            title, description, policies = FAMILIES["honesty"][0]
            card = card_submit(
                participant=person,
                context_id=round_.questions.first().contexts.first().pk,
                title=title,
                description=description,
                policies=policies,
            )
            wait_for(
                lambda: fake.requests_to("/embeddings"),
                timeout=30,
                what="the embedding call",
                workers=[stuck],
            )
            stuck.kill9()
            fake.always(None)
            assert ValuesCard.objects.get(pk=card.pk).dedup_status == ValuesCard.DedupStatus.PENDING
            fresh = start_worker("fresh", **model)
            assert sweep_pending_work()["cards"] == 1
            wait_for(
                lambda: ValuesCard.objects.get(pk=card.pk).dedup_status != ValuesCard.DedupStatus.PENDING,
                timeout=60,
                what="the swept card to be placed",
                workers=[fresh],
            )
    finally:
        fake.stop()
    card.refresh_from_db()
    assert card.dedup_status == ValuesCard.DedupStatus.PLACED
    assert card.dedup_attempts == 2
    assert CardMerge.objects.filter(card=card).count() == 1
    assert len(fake.requests_to("/embeddings")) >= 2
    assert_cards_kept([card.pk])


def test_the_same_ranking_delivered_twice_to_two_processes_publishes_one_run(
    private_redis, start_worker, sweeper_now
):
    round_, people = voting_round("twice")
    expected = cast_votes(people)
    RankingRun.objects.filter(round=round_).delete()
    with broker(private_redis.url):
        worker = start_worker("pair", concurrency=2, WISER_TEST_RANK_DELAY="2")
        rank_round.apply_async((round_.pk,), task_id="same-ranking")
        rank_round.apply_async((round_.pk,), task_id="same-ranking")
        wait_for(
            lambda: RankingRun.objects.filter(round=round_).exists() and not _ranking_job_running(round_.pk),
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
