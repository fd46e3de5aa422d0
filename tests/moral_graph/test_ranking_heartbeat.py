"""A running ranking's heartbeat, its takeover when the heartbeat goes stale, and the fencing of a late result."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from deliberation.models import Job
from moral_graph import services
from moral_graph.models import RankingRun
from operations.tasks import sweep_pending_work
from tests.factories import voting_round
from tests.reliability.invariants import assert_current_ranking_is_up_to_date, cast_votes


def _running_job(round_, *, heartbeat_age: float) -> Job:
    job, _ = Job.objects.get_or_create(round=round_, kind="ranking", key="round")
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING,
        attempts=1,
        claim=7,
        updated_at=timezone.now() - timedelta(seconds=heartbeat_age),
    )
    return job


@pytest.mark.django_db
def test_the_sweeper_takes_back_a_ranking_whose_heartbeat_went_stale_and_leaves_a_live_one(settings):
    settings.WISER_RANKING_STALE_SECONDS = 20
    lost_round, lost_people = voting_round("hb-lost", people=3)
    live_round, live_people = voting_round("hb-live", people=3)
    cast_votes(lost_people + live_people)
    lost = _running_job(lost_round, heartbeat_age=25)
    live = _running_job(live_round, heartbeat_age=5)
    swept = sweep_pending_work()  # tasks run in-process here: the taken-back round is ranked at once
    assert swept["lost_rankings"] == 1
    assert_current_ranking_is_up_to_date(lost_round)
    lost.refresh_from_db()
    assert lost.status == Job.Status.DONE and lost.claim >= 9, "taken back (claim + 1), claimed again (+ 1)"
    live.refresh_from_db()
    assert live.status == Job.Status.RUNNING and live.claim == 7
    assert not RankingRun.objects.filter(round=live_round).exists(), "a live computation is left alone"


@pytest.mark.django_db
def test_the_next_ranking_takes_over_a_stale_claim_but_not_a_live_one(settings):
    settings.WISER_RANKING_STALE_SECONDS = 20
    round_, people = voting_round("hb-next", people=3)
    cast_votes(people)
    _running_job(round_, heartbeat_age=5)
    assert services._claim_ranking_lock(round_) is None
    _running_job(round_, heartbeat_age=25)
    job, claim = services._claim_ranking_lock(round_)
    assert claim == 8 and Job.objects.get(pk=job.pk).status == Job.Status.RUNNING


@pytest.mark.django_db
def test_a_late_result_of_a_taken_back_attempt_is_not_published(monkeypatch):
    round_, people = voting_round("hb-fence", people=3)
    cast_votes(people[:1])
    first = services.ranking_compute(round_id=round_.pk)
    cast_votes(people[1:])
    real_results = services.ranking_results

    def slow_attempt_overtaken(**kwargs):
        results = real_results(**kwargs)
        # While this attempt computed, its heartbeat went stale and the sweeper took the job back.
        Job.objects.filter(round=round_, kind="ranking").update(status=Job.Status.FAILED, claim=999)
        return results

    monkeypatch.setattr(services, "ranking_results", slow_attempt_overtaken)
    assert services.ranking_compute(round_id=round_.pk) is None
    assert list(RankingRun.objects.filter(round=round_)) == [first], "nothing published by the fenced attempt"
    job = Job.objects.get(round=round_, kind="ranking")
    assert (job.status, job.claim) == (Job.Status.FAILED, 999), "the fenced attempt leaves the job alone"
    round_.refresh_from_db()
    assert round_.ranking_dirty_since is not None, "the round stays due, so it is ranked again"


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_long_ranking_keeps_its_heartbeat_so_the_sweeper_leaves_it_running(settings, monkeypatch):
    settings.WISER_RANKING_HEARTBEAT_SECONDS = 0.2
    settings.WISER_RANKING_STALE_SECONDS = 1
    round_, people = voting_round("hb-beat", people=3)
    cast_votes(people)
    real_results = services.ranking_results
    seen = {}

    def long_ranking(**kwargs):
        started = time.monotonic()
        while time.monotonic() - started < 3:
            time.sleep(0.5)
            seen.setdefault("sweeps", []).append(sweep_pending_work()["lost_rankings"])
        return real_results(**kwargs)

    monkeypatch.setattr(services, "ranking_results", long_ranking)
    run = services.ranking_compute(round_id=round_.pk)
    assert run is not None and run.watermark > 0
    assert seen["sweeps"] and set(seen["sweeps"]) == {0}, "the heartbeat kept the 3 s computation alive"
    assert Job.objects.get(round=round_, kind="ranking").status == Job.Status.DONE
