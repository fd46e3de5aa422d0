"""kill -9 of a real worker in the middle of a ranking or of a model call: the work completes exactly once.

The workers are real `celery worker` processes on a private Redis and the test's PostgreSQL database. A lost
ranking is recovered without the test's help: by redelivery (a pool process killed) or by `celery beat`'s
sweeper taking back a job whose heartbeat went stale (the whole worker killed). The model-call test runs the
sweeper itself, with no grace period (cards have no heartbeat; their lost-after delay is the task time limit).
"""

import time

import pytest

from cards.models import CardMerge, ValuesCard
from cards.services import card_submit
from deliberation.models import Job
from moral_graph import selectors, services
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

KILLED_WORKER_RECOVERY_SECONDS = 60  # issue 15: a ranking whose worker died is published again within a minute

pytestmark = [
    pytest.mark.needs_worker,
    pytest.mark.needs_redis,
    pytest.mark.needs_postgres,
    pytest.mark.django_db(transaction=True),
]


def _published_up_to_date(round_) -> bool:
    watermark = selectors.round_watermark(round_id=round_.pk)
    return (
        RankingRun.objects.filter(round=round_, watermark=watermark).exists()
        and not ranking_job_running(round_.pk)
    )


def test_whole_worker_killed_mid_ranking_is_taken_over_within_a_minute(private_redis, start_worker, start_beat):
    # No sweeper call here: `celery beat` (its own process, as deployed) sends the sweeper every 15 s, and the
    # sweeper takes back a ranking whose heartbeat went stale. The killed message itself stays unacknowledged in
    # Redis until the visibility timeout, far beyond this test.
    round_, people = voting_round("kill-worker")
    expected = cast_votes(people[:4])
    first = services.ranking_compute(round_id=round_.pk)  # published in-process; the dirty flag is now clear
    with broker(private_redis.url):
        beat = start_beat()
        slow_worker = start_worker("slow", WISER_TEST_RANK_DELAY="120")
        expected |= cast_votes(people[4:])  # the dirty flag flips once: one rank_round goes to the worker
        wait_for(
            lambda: ranking_job_running(round_.pk),
            timeout=30,
            what="the ranking to start",
            workers=[slow_worker],
        )
        time.sleep(6)  # at least one heartbeat
        slow_worker.kill9()
        killed_at = time.monotonic()
        fresh = start_worker("fresh")  # the supervisor restarting the worker
        wait_for(
            lambda: _published_up_to_date(round_),
            timeout=KILLED_WORKER_RECOVERY_SECONDS,
            what="the ranking to be taken over and published",
            workers=[fresh, beat],
        )
        recovered_in = time.monotonic() - killed_at
    print(f"\nwhole worker killed mid-ranking: published run {recovered_in:.1f} s after the kill")
    assert recovered_in < KILLED_WORKER_RECOVERY_SECONDS
    run = assert_current_ranking_is_up_to_date(round_)
    assert run.pk != first.pk
    assert_votes_stored_once(round_, expected)
    assert_snapshots_reproduce(round_)
    job = Job.objects.get(round=round_, kind="ranking")
    assert job.status == Job.Status.DONE and job.attempts == 0
    assert job.claim >= 3, "claimed, taken back by the sweeper, claimed again"


def test_pool_process_killed_mid_ranking_its_message_is_redelivered_at_once(private_redis, start_worker):
    # No beat and no sweeper: only acks_late + reject_on_worker_lost bring the message back to the pool.
    round_, people = voting_round("kill-pool")
    expected = cast_votes(people[:4])
    first = services.ranking_compute(round_id=round_.pk)
    with broker(private_redis.url):
        slow_worker = start_worker("slow", WISER_TEST_RANK_DELAY="120")
        expected |= cast_votes(people[4:])
        wait_for(
            lambda: ranking_job_running(round_.pk),
            timeout=30,
            what="the ranking to start",
            workers=[slow_worker],
        )
        time.sleep(0.5)
        slow_worker.kill9_pool()
        killed_at = time.monotonic()
        wait_for(
            lambda: _published_up_to_date(round_),
            timeout=KILLED_WORKER_RECOVERY_SECONDS,
            what="the redelivered ranking",
            workers=[slow_worker],
        )
        print(f"\npool process killed mid-ranking: published run {time.monotonic() - killed_at:.1f} s after the kill")
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
