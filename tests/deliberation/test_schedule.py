"""Stage dates move rounds by themselves: forward only, never to publication, and a move by hand wins."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from core.errors import WrongStage
from deliberation.models import AuditEvent, Round, Stage
from deliberation.services import (
    round_apply_schedule,
    round_set_stage,
    rounds_apply_schedules,
    scheduled_stage,
)
from deliberation.tasks import apply_stage_schedules
from tests.factories import join, make_round, submit, voting_round

pytestmark = pytest.mark.django_db


def _dated(round_: Round, **dates) -> Round:
    Round.objects.filter(pk=round_.pk).update(**dates)
    round_.refresh_from_db()
    return round_


def test_the_latest_passed_date_decides_and_only_forward():
    now = timezone.now()
    round_ = _dated(
        make_round(slug="sched-order", stage=Stage.DRAFT),
        articulation_opens_at=now - timedelta(days=2),
        voting_opens_at=now - timedelta(hours=1),
        closes_at=now + timedelta(days=1),
    )
    assert scheduled_stage(round_, now=now) == Stage.VOTING
    assert scheduled_stage(round_, now=now - timedelta(days=1)) == Stage.ARTICULATION
    assert scheduled_stage(round_, now=now - timedelta(days=3)) is None
    assert scheduled_stage(round_, now=now + timedelta(days=2)) == Stage.CLOSED
    Round.objects.filter(pk=round_.pk).update(stage=Stage.CLOSED)
    round_.refresh_from_db()
    assert scheduled_stage(round_, now=now) is None  # a date never moves a round back


def test_applying_moves_the_round_starts_voting_and_is_audited_as_the_schedule():
    round_ = _dated(make_round(slug="sched-apply"), voting_opens_at=timezone.now() - timedelta(minutes=1))
    moved = round_apply_schedule(round_=round_)
    assert moved.stage == Stage.VOTING
    assert Round.objects.get(pk=round_.pk).stage == Stage.VOTING
    event = AuditEvent.objects.get(round=round_, action="round.stage.scheduled")
    assert event.actor is None and event.data == {"from": Stage.ARTICULATION, "to": Stage.VOTING}
    # Idempotent: applied again, nothing moves and nothing more is recorded.
    assert round_apply_schedule(round_=Round.objects.get(pk=round_.pk)).stage == Stage.VOTING
    assert AuditEvent.objects.filter(round=round_, action="round.stage.scheduled").count() == 1


def test_a_move_by_hand_after_the_date_wins_over_it():
    owner_round = make_round(slug="sched-manual", stage=Stage.VOTING)
    round_ = _dated(owner_round, voting_opens_at=timezone.now() - timedelta(hours=1))
    owner = round_.roles.get().user
    round_set_stage(round_=round_, actor=owner, stage=Stage.ARTICULATION)  # the organizer corrects a mistake
    back = Round.objects.get(pk=round_.pk)
    assert back.stage == Stage.ARTICULATION
    assert scheduled_stage(back) is None
    assert round_apply_schedule(round_=back).stage == Stage.ARTICULATION


def test_publication_is_never_scheduled():
    round_ = _dated(
        make_round(slug="sched-pub", stage=Stage.PUBLISHED), closes_at=timezone.now() - timedelta(days=1)
    )
    assert scheduled_stage(round_) is None


def test_the_periodic_task_moves_only_the_due_rounds():
    now = timezone.now()
    due = _dated(make_round(slug="sched-due"), closes_at=now - timedelta(minutes=5))
    future = _dated(make_round(slug="sched-future"), closes_at=now + timedelta(days=1))
    undated = make_round(slug="sched-none")
    assert apply_stage_schedules() == [due.pk]
    stages = dict(Round.objects.filter(pk__in=[due.pk, future.pk, undated.pk]).values_list("pk", "stage"))
    assert stages == {due.pk: Stage.CLOSED, future.pk: Stage.ARTICULATION, undated.pk: Stage.ARTICULATION}
    assert rounds_apply_schedules() == []
    assert "apply-stage-schedules" in {
        name
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
        if entry["task"] == apply_stage_schedules.name
    }


def test_a_read_shows_a_passed_closing_date_at_once_without_writing(settings):
    settings.WISER_SCHEDULE_ON_REQUEST = False  # as in production, where beat records the moves
    round_ = _dated(
        make_round(slug="sched-page", stage=Stage.VOTING), closes_at=timezone.now() - timedelta(seconds=5)
    )
    response = Client().get(f"/api/v1/rounds/{round_.slug}/")
    assert response.status_code == 200
    assert response.json()["stage"] == Stage.CLOSED
    assert Round.objects.get(pk=round_.pk).stage == Stage.VOTING  # a read writes nothing
    assert apply_stage_schedules() == [round_.pk]  # beat records the move
    assert Round.objects.get(pk=round_.pk).stage == Stage.CLOSED


def test_a_card_write_applies_a_passed_closing_date_before_checking_the_stage():
    round_ = make_round(slug="sched-card")
    person = join(round_)
    submit(person)  # articulation is open
    _dated(round_, closes_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(WrongStage):
        submit(person, family="safety")
    # The refused write rolls back with the move it saw; beat records it.
    assert Round.objects.get(pk=round_.pk).stage == Stage.ARTICULATION
    assert apply_stage_schedules() == [round_.pk]


def test_without_beat_a_request_applies_the_stage_dates_at_most_once_per_tick(settings, monkeypatch):
    from config import schedule

    settings.WISER_SCHEDULE_ON_REQUEST = True  # the embedded mode: no broker, no beat
    monkeypatch.setattr(schedule, "_next_tick", 0.0)
    first = _dated(make_round(slug="sched-tick", stage=Stage.VOTING), closes_at=timezone.now() - timedelta(seconds=5))
    assert Client().get(f"/api/v1/rounds/{first.slug}/").json()["stage"] == Stage.CLOSED
    assert Round.objects.get(pk=first.pk).stage == Stage.CLOSED  # recorded before the request was handled
    second = _dated(make_round(slug="sched-tock", stage=Stage.VOTING), closes_at=timezone.now() - timedelta(seconds=5))
    Client().get(f"/api/v1/rounds/{second.slug}/")
    assert Round.objects.get(pk=second.pk).stage == Stage.VOTING  # within the tick interval: not again
    monkeypatch.setattr(schedule, "_next_tick", 0.0)
    Client().get("/")
    assert Round.objects.get(pk=second.pk).stage == Stage.CLOSED


def _voter_with_stories(slug: str):
    from moral_graph import services as graph_services

    # Four people: two pairs of values, so the voter gets two stories (never both directions of one pair).
    round_, people = voting_round(slug, people=4)
    return round_, people[0], graph_services.assignments_take(participant=people[0])


def test_a_vote_after_the_closing_date_is_refused_even_before_anyone_read_the_round():
    from moral_graph import services as graph_services
    from moral_graph.models import WiserVote

    round_, person, stories = _voter_with_stories("sched-vote")
    first = graph_services.vote_cast(participant=person, story_id=stories[0].pk, answer="wiser")[0]
    Round.objects.filter(pk=round_.pk).update(closes_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(WrongStage):
        graph_services.vote_cast(participant=person, story_id=stories[1].pk, answer="wiser")
    assert Round.objects.get(pk=round_.pk).stage == Stage.CLOSED  # the refusal recorded the move
    with pytest.raises(WrongStage):
        graph_services.vote_update(participant=person, vote_id=first.pk, answer="not_wiser")
    assert list(WiserVote.objects.filter(participant=person).values_list("story_id", "answer")) == [
        (stories[0].pk, "wiser")
    ]


def test_votes_count_again_when_an_organizer_reopens_voting_after_the_closing_date():
    from moral_graph import services as graph_services

    round_, person, stories = _voter_with_stories("sched-reopen")
    Round.objects.filter(pk=round_.pk).update(closes_at=timezone.now() - timedelta(minutes=5))
    with pytest.raises(WrongStage):
        graph_services.vote_cast(participant=person, story_id=stories[0].pk, answer="wiser")
    owner = round_.roles.get().user
    round_set_stage(round_=Round.objects.get(pk=round_.pk), actor=owner, stage=Stage.VOTING)  # back one stage
    vote, created = graph_services.vote_cast(participant=person, story_id=stories[0].pk, answer="wiser")
    assert created and vote.answer == "wiser"
    assert (
        graph_services.vote_update(participant=person, vote_id=vote.pk, answer="not_sure").answer
        == "not_sure"
    )
