"""kill -9 of a real worker in the middle of a ranking or of a model call: the work completes exactly once.

The workers are real `celery worker` processes on a private Redis and the test's PostgreSQL database. The
sweeper is run by the test (it is what Celery beat runs every minute) with no grace period.
"""

import time

import pytest

from cards.models import CardMerge, ValuesCard
from cards.services import card_submit
from deliberation.models import Job
from moral_graph import services
from moral_graph.models import RankingRun
from operations.tasks import sweep_pending_work
from tests.factories import FAMILIES, join, make_round, voting_round
from tests.fake_openai import FakeOpenAI, slow
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


@pytest.mark.parametrize("what", ["whole worker", "pool process"])
def test_kill9_during_a_ranking_then_the_sweeper_completes_it_once(
    what, private_redis, start_worker, sweeper_now
):
    round_, people = voting_round("kill-rank")
    expected = cast_votes(people[:4])
    first = services.ranking_compute(round_id=round_.pk)  # published in-process; the dirty flag is now clear
    with broker(private_redis.url):
        slow_worker = start_worker("slow", WISER_TEST_RANK_DELAY="30")
        expected |= cast_votes(people[4:])  # the dirty flag flips once: one rank_round goes to the worker
        wait_for(
            lambda: ranking_job_running(round_.pk),
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
        # The killed computation's advisory lock died with its connection, so a redelivered message may already
        # have taken the round over; otherwise its Job row still says "running" and the sweeper recovers it.
        if ranking_job_running(round_.pk) and RankingRun.objects.filter(round=round_).count() == 1:
            swept = sweep_pending_work()
            assert swept["lost_rankings"] + swept["rounds"] >= 1
        wait_for(
            lambda: (
                RankingRun.objects.filter(round=round_).count() == 2 and not ranking_job_running(round_.pk)
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
