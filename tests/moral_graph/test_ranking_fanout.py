"""The ranking fan-out (one part task per context, the last part publishes) and the leading-edge debounce."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from deliberation.models import Job, Round
from moral_graph import services, tasks
from moral_graph.models import RankingPart, RankingRun, RankingSnapshot
from operations.tasks import sweep_pending_work
from tests.factories import voting_round
from tests.reliability.invariants import assert_current_ranking_is_up_to_date, cast_votes

pytestmark = pytest.mark.django_db


@pytest.fixture
def fanout(settings):
    settings.WISER_RANKING_FANOUT = "always"
    return settings


def _sent_parts(callbacks) -> list:
    """The on-commit sends captured from a fan-out (one per part)."""
    return list(callbacks)


def _snapshots(run: RankingRun) -> dict[int, dict]:
    return {s.context_id: s.results for s in RankingSnapshot.objects.filter(run=run)}


def test_parts_combine_to_the_result_of_one_task(fanout, django_capture_on_commit_callbacks):
    round_, people = voting_round("fan-same", people=6)
    cast_votes(people)
    with django_capture_on_commit_callbacks(execute=True) as sent:
        assert services.ranking_compute(round_id=round_.pk) is None, "the coordinator publishes nothing itself"
    assert len(sent) == 2, "one part task per context"
    run = assert_current_ranking_is_up_to_date(round_)
    assert not RankingPart.objects.exists(), "each part's inputs go once its snapshot is written"
    single = services.ranking_results(
        round_=round_,
        watermark=run.watermark,
        assignment_watermark=run.parameters["assignmentWatermark"],
        method=run.method,
    )
    assert _snapshots(run) == {r["context_id"]: r["result"] for r in single}
    assert Job.objects.get(round=round_, kind="ranking").status == Job.Status.DONE


@pytest.mark.parametrize("fanned_out", [False, True])
def test_ranking_with_another_method_and_back_returns_to_the_first_run(
    fanned_out, settings, django_capture_on_commit_callbacks
):
    # Found on MAI's data: rank_round, rank_round --method mai_pagerank, rank_round again at the same watermark
    # failed on the one-run-per-watermark constraint. The first run (superseded meanwhile) comes back instead.
    settings.WISER_RANKING_FANOUT = "always" if fanned_out else "never"
    round_, people = voting_round(f"fan-back-{fanned_out}", people=6)
    cast_votes(people)
    runs = []
    for method in ("bt", "mai_pagerank", "bt"):
        with django_capture_on_commit_callbacks(execute=True):
            services.ranking_compute(round_id=round_.pk, method=method)
        runs.append(Round.objects.get(pk=round_.pk).current_ranking)
    first, other, again = runs
    assert (first.method, other.method) == ("bt", "mai_pagerank") and other.pk != first.pk
    assert again.pk == first.pk and again.watermark == other.watermark
    assert RankingRun.objects.get(pk=first.pk).status == RankingRun.Status.PUBLISHED
    assert RankingRun.objects.get(pk=other.pk).status == RankingRun.Status.SUPERSEDED
    assert RankingRun.objects.filter(round=round_).count() == 2 and not RankingPart.objects.exists()
    assert_current_ranking_is_up_to_date(round_)


def test_a_lost_part_is_retried_and_the_run_publishes_once(fanout, django_capture_on_commit_callbacks):
    round_, people = voting_round("fan-lost", people=6)
    cast_votes(people)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        services.ranking_compute(round_id=round_.pk)
    first, lost = _sent_parts(sent)
    first()  # one part is written; the other's worker dies before it starts
    computing = RankingRun.objects.get(round=round_)
    assert computing.status == RankingRun.Status.COMPUTING
    round_.refresh_from_db()
    assert round_.current_ranking_id is None, "readers never see a half-written run"
    # The job's heartbeat goes silent (nobody computes); the sweeper takes it back and the round is fanned out again.
    Job.objects.filter(round=round_, kind="ranking").update(updated_at=timezone.now() - timedelta(seconds=60))
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_pending_work()["lost_rankings"] == 1
    run = assert_current_ranking_is_up_to_date(round_)
    assert run.pk != computing.pk and not RankingRun.objects.filter(pk=computing.pk).exists()
    lost()  # the lost message is delivered after all (a late redelivery): it has nothing left to do
    assert list(RankingRun.objects.filter(round=round_)) == [run], "published exactly once"
    assert len(_snapshots(run)) == 2


def test_a_part_delivered_twice_writes_its_snapshot_once(fanout, django_capture_on_commit_callbacks):
    round_, people = voting_round("fan-twice", people=4)
    cast_votes(people)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        services.ranking_compute(round_id=round_.pk)
    part_ids = list(RankingPart.objects.order_by("pk").values_list("pk", flat=True))
    assert len(sent) == len(part_ids) == 2
    assert tasks.rank_part(part_ids[0]) is None
    assert tasks.rank_part(part_ids[0]) is None, "the second delivery finds its part written"
    published = tasks.rank_part(part_ids[1])
    assert published == assert_current_ranking_is_up_to_date(round_).pk
    assert RankingSnapshot.objects.filter(run_id=published).count() == 2


def test_a_stale_part_cannot_publish(fanout, django_capture_on_commit_callbacks, monkeypatch):
    round_, people = voting_round("fan-stale", people=4)
    cast_votes(people)
    with django_capture_on_commit_callbacks(execute=False):
        services.ranking_compute(round_id=round_.pk)
    first, last = RankingPart.objects.order_by("pk").values_list("pk", flat=True)
    assert tasks.rank_part(first) is None
    real = services.ranking.rank_context

    def overtaken(**kwargs):
        result = real(**kwargs)
        # While the last part computed, the job was taken back (its claim raised) by the sweeper.
        Job.objects.filter(round=round_, kind="ranking").update(status=Job.Status.FAILED, claim=999)
        return result

    monkeypatch.setattr(services.ranking, "rank_context", overtaken)
    assert tasks.rank_part(last) is None
    round_.refresh_from_db()
    assert round_.current_ranking_id is None, "the stale part published nothing"
    assert RankingRun.objects.get(round=round_).status == RankingRun.Status.COMPUTING
    assert RankingSnapshot.objects.count() == 1
    job = Job.objects.get(round=round_, kind="ranking")
    assert (job.status, job.claim) == (Job.Status.FAILED, 999), "the stale part leaves the job alone"


def test_a_part_of_an_older_claim_does_not_even_start(fanout, django_capture_on_commit_callbacks):
    round_, people = voting_round("fan-old", people=4)
    cast_votes(people)
    with django_capture_on_commit_callbacks(execute=False):
        services.ranking_compute(round_id=round_.pk)
    Job.objects.filter(round=round_, kind="ranking").update(claim=999)
    for part_id in RankingPart.objects.values_list("pk", flat=True):
        assert tasks.rank_part(part_id) is None
    assert not RankingSnapshot.objects.exists()


def test_a_new_ranking_uses_the_previous_runs_scores_and_still_reproduces(django_capture_on_commit_callbacks):
    round_, people = voting_round("fan-warm", people=6)
    cast_votes(people[:3])
    first = services.ranking_compute(round_id=round_.pk)
    assert "warmStart" not in first.parameters
    cast_votes(people[3:])
    second = services.ranking_compute(round_id=round_.pk)
    assert second.parameters["warmStart"] == first.pk
    again = services.ranking_results(
        round_=round_,
        watermark=second.watermark,
        assignment_watermark=second.parameters["assignmentWatermark"],
        method=second.method,
        warm_from=first.pk,
    )
    assert _snapshots(second) == {r["context_id"]: r["result"] for r in again}


# The leading-edge debounce


@pytest.fixture
def sends(monkeypatch, settings):
    """rank_round's messages as (round id, countdown), not run."""
    settings.WISER_RANK_DEBOUNCE_SECONDS = 1.0
    cache.clear()
    sent = []
    monkeypatch.setattr(
        tasks.rank_round, "apply_async", lambda args, countdown=None, **kw: sent.append((args[0], countdown))
    )
    return sent


def _quiet(round_: Round) -> None:
    Round.objects.filter(pk=round_.pk).update(ranking_dirty_since=None)


def test_the_first_vote_after_a_quiet_period_enqueues_a_ranking_at_once(sends, django_capture_on_commit_callbacks):
    round_, people = voting_round("deb-first", people=4)
    _quiet(round_)
    story = services.assignments_take(participant=people[0])[0]
    with django_capture_on_commit_callbacks(execute=True):
        services.vote_cast(participant=people[0], story_id=story.pk, answer="wiser")
    assert sends == [(round_.pk, 0.0)]


def test_a_burst_of_votes_gives_at_most_one_follow_up_run(sends, django_capture_on_commit_callbacks):
    round_, people = voting_round("deb-burst", people=6)
    cast_votes(people[:1])
    _quiet(round_)
    services.ranking_compute(round_id=round_.pk)  # a ranking starts now (and clears the dirty flag)
    sends.clear()
    with django_capture_on_commit_callbacks(execute=True):
        cast_votes(people[1:])  # 30 votes within the window
    assert len(sends) == 1, sends
    round_id, countdown = sends[0]
    assert round_id == round_.pk and 0 < countdown <= 1.0, "the follow-up waits out the rest of the window"


def test_a_ranking_asked_for_while_parts_run_leaves_them_alone(fanout, django_capture_on_commit_callbacks):
    """On PostgreSQL a ranking holding the round's advisory lock may take over a running job (its one-task
    computation is dead); a fan-out's parts run without that lock, so their job is left to them."""
    round_, people = voting_round("fan-busy", people=6)
    cast_votes(people[:3])
    with django_capture_on_commit_callbacks(execute=False) as sent:
        services.ranking_compute(round_id=round_.pk)
    claim = Job.objects.get(round=round_, kind="ranking").claim
    cast_votes(people[3:])  # votes arrive while the parts run; they mark the round dirty
    Round.objects.filter(pk=round_.pk).update(ranking_dirty_since=timezone.now())
    round_.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=False):
        assert services._ranking_compute_locked(round_, None, exclusive=True) is None
    assert Job.objects.get(round=round_, kind="ranking").claim == claim, "the parts' claim stands"
    computing = RankingRun.objects.get(round=round_, status=RankingRun.Status.COMPUTING)
    with django_capture_on_commit_callbacks(execute=True):
        for part in sent:
            part()
    # The parts' run was published (not abandoned); its last part saw the round dirty and ranked again (eagerly
    # here), so the newer votes are in too.
    computing.refresh_from_db()
    assert computing.status == RankingRun.Status.SUPERSEDED
    newest = assert_current_ranking_is_up_to_date(round_)
    assert newest.watermark > computing.watermark


def test_a_part_counts_its_own_impressions_and_an_older_part_brings_them():
    # Decision 51: a part packed with the assignment watermark counts its context's impressions itself; one packed
    # before it (impressions inside, no watermark) is read as it was.
    import io

    import numpy as np

    from moral_graph.selectors import ranking_inputs

    shared = ranking_inputs.RoundReads(impressions={}, values_of={7: [1, 2]}, resolution={3: 1})
    spec = ranking_inputs.unpack_part(
        ranking_inputs.pack_part(context_id=7, shared=shared, previous=None, token="t", assignment_watermark=41)
    )
    assert spec.assignment_watermark == 41 and spec.shared.impressions == {}
    # No impressions in it at all: code from before decision 51, which reads them, fails instead of ranking without.
    blob = ranking_inputs.pack_part(context_id=7, shared=shared, previous=None, token="t", assignment_watermark=41)
    with np.load(io.BytesIO(blob)) as f:
        assert "impressions" not in f.files
    older = ranking_inputs.RoundReads(impressions={7: [(1, 2, 5)]}, values_of={7: [1, 2]}, resolution={})
    spec = ranking_inputs.unpack_part(
        ranking_inputs.pack_part(context_id=7, shared=older, previous=(9, "d"), token="t")
    )
    assert spec.assignment_watermark is None and spec.previous == (9, "d")
    assert spec.shared.impressions[7].tolist() == [[1, 2, 5]]
