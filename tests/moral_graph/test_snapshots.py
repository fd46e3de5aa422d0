"""Ranking runs: one at a time, idempotent, reproducible at their watermark, published atomically."""
import pytest
from django.db import connection

from deliberation.models import Job, Round, Stage
from moral_graph import selectors, services
from moral_graph.models import RankingRun, RankingSnapshot, StoryAssignment, TransitionStory
from tests.factories import join, make_round, submit

pytestmark = pytest.mark.django_db


def _voting_round(slug="snap", participants=8):
    round_ = make_round(slug=slug, stories_per_participant=6, min_votes_per_story=2)
    people = []
    for i, family in enumerate(["autonomy", "safety", "honesty", "community"] * 2):
        person = join(round_, party=["Left", "Right"][i % 2])
        submit(person, family=family, variant=i % 3, context_index=0)
        people.append(person)
    Round.objects.filter(pk=round_.pk).update(stage=Stage.VOTING)
    round_.refresh_from_db()
    services.stories_generate(round_id=round_.pk)
    for person in people[:participants]:
        for story in services.assignments_next(participant=person):
            answer = "wiser" if story.to_value_id > story.from_value_id else "not_wiser"
            services.vote_cast(participant=person, story_id=story.pk, answer=answer)
    return round_, people


def test_stories_come_with_their_reverse_and_are_not_duplicated():
    round_, _ = _voting_round()
    pairs = set(TransitionStory.objects.filter(round=round_).values_list("context_id", "from_value_id", "to_value_id"))
    assert pairs
    assert all((c, b, a) in pairs for c, a, b in pairs)
    before = TransitionStory.objects.count()
    assert services.stories_generate(round_id=round_.pk) == 0
    assert TransitionStory.objects.count() == before


def test_assignments_never_repeat_and_fill_the_quota():
    round_, people = _voting_round()
    for person in people:
        stories = services.assignments_next(participant=person)
        assert len(stories) == len({s.pk for s in stories})
        assert len(stories) <= round_.stories_per_participant
        again = services.assignments_next(participant=person)
        assert [s.pk for s in again] == [s.pk for s in stories]
    shown = StoryAssignment.objects.values_list("participant_id", "story_id")
    assert len(shown) == len(set(shown))


def test_every_story_reaches_the_minimum_before_any_gets_twice_that():
    round_, _ = _voting_round()
    counts = [s.assignments.count() for s in TransitionStory.objects.filter(round=round_)]
    minimum = round_.min_votes_per_story
    if max(counts) > 2 * minimum:
        assert min(counts) >= minimum, counts


def test_a_recompute_at_the_same_watermark_is_identical_and_duplicate_runs_leave_one_snapshot():
    round_, _ = _voting_round()
    first = services.ranking_compute(round_id=round_.pk)
    assert first is not None and first.status == RankingRun.Status.PUBLISHED
    again = services.ranking_compute(round_id=round_.pk)
    assert again.pk == first.pk
    assert RankingRun.objects.filter(round=round_).count() == 1
    recomputed = services.ranking_results(
        round_=round_, watermark=first.watermark, assignment_watermark=first.parameters["assignmentWatermark"],
        method=first.method,
    )
    stored = {s.context_id: s.results for s in RankingSnapshot.objects.filter(run=first)}
    assert {r["context_id"]: r["result"] for r in recomputed} == stored


def test_new_votes_make_a_new_run_and_the_old_one_stays_readable():
    round_, people = _voting_round(participants=4)
    first = services.ranking_compute(round_id=round_.pk)
    late = people[5]
    for story in services.assignments_next(participant=late):
        services.vote_cast(participant=late, story_id=story.pk, answer="not_sure")
    second = services.ranking_compute(round_id=round_.pk)
    assert second.pk != first.pk and second.watermark > first.watermark
    first.refresh_from_db()
    assert first.status == RankingRun.Status.SUPERSEDED
    assert RankingSnapshot.objects.filter(run=first).exists()
    round_.refresh_from_db()
    assert round_.current_ranking_id == second.pk


def _hold_advisory_lock(round_id: int):
    """Another session holding the round's ranking lock, as a computation in another worker does."""
    import psycopg

    settings = connection.settings_dict
    other = psycopg.connect(
        host=settings["HOST"], port=settings["PORT"] or 5432, user=settings["USER"], dbname=settings["NAME"],
        autocommit=True,
    )
    other.execute("SELECT pg_advisory_lock(%s, %s)", [services.ADVISORY_LOCK_NAMESPACE, round_id])
    return other


def test_a_running_computation_blocks_a_second_one():
    round_, _ = _voting_round()
    Job.objects.create(round=round_, kind="ranking", key="round", status=Job.Status.RUNNING)
    other = _hold_advisory_lock(round_.pk) if connection.vendor == "postgresql" else None
    try:
        assert services.ranking_compute(round_id=round_.pk) is None
    finally:
        if other is not None:
            other.close()
    assert not RankingRun.objects.exists()


@pytest.mark.needs_postgres
def test_a_job_left_running_by_a_killed_worker_is_taken_over_at_once():
    assert connection.vendor == "postgresql"
    round_, _ = _voting_round()
    Job.objects.create(round=round_, kind="ranking", key="round", status=Job.Status.RUNNING)
    run = services.ranking_compute(round_id=round_.pk)  # nobody holds the advisory lock: the job was lost
    assert run is not None and run.status == RankingRun.Status.PUBLISHED
    assert Job.objects.get(round=round_, kind="ranking").status == Job.Status.DONE


def test_a_failed_computation_is_recorded_and_publishes_nothing(monkeypatch):
    round_, _ = _voting_round()

    def explode(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services.ranking, "rank_context", explode)
    with pytest.raises(RuntimeError):
        services.ranking_compute(round_id=round_.pk)
    job = Job.objects.get(round=round_, kind="ranking")
    assert job.status == Job.Status.FAILED and "boom" in job.error
    assert not RankingRun.objects.exists()
    round_.refresh_from_db()
    assert round_.current_ranking_id is None


def test_votes_at_watermark_use_the_answer_as_it_was():
    round_, people = _voting_round(participants=1)
    person = people[0]
    vote = person.votes.first()
    watermark = selectors.round_watermark(round_id=round_.pk)
    before = selectors.votes_at_watermark(round_id=round_.pk, watermark=watermark)
    new_answer = "not_sure" if vote.answer != "not_sure" else "wiser"
    services.vote_update(participant=person, vote_id=vote.pk, answer=new_answer)
    still = selectors.votes_at_watermark(round_id=round_.pk, watermark=watermark)
    assert {k: v.answer.tolist() for k, v in before.items()} == {k: v.answer.tolist() for k, v in still.items()}
    now = selectors.votes_at_watermark(round_id=round_.pk, watermark=selectors.round_watermark(round_id=round_.pk))
    assert {k: v.answer.tolist() for k, v in now.items()} != {k: v.answer.tolist() for k, v in before.items()}


