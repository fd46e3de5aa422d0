"""The periodic sweeper: re-enqueues what the database says is pending, so a lost message only delays work.

Celery beat runs it every 15 s (CELERY_BEAT_SCHEDULE); a ranking whose worker died is taken back once its
heartbeat is WISER_RANKING_STALE_SECONDS old, so a round is re-ranked well within a minute."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from cards.models import ValuesCard
from cards.tasks import MAX_DEDUP_ATTEMPTS, dedup_card
from deliberation.models import Job, Round
from moral_graph.models import WiserVoteRevision
from moral_graph.services import RANKING_STALE_SECONDS, ranking_due_rounds
from moral_graph.tasks import MAX_RANKING_ATTEMPTS, rank_round

SWEEP_BATCH = 500
SWEEP_GRACE_SECONDS = 30
LOST_MARGIN_SECONDS = 60


def _grace() -> timedelta:
    """How long fresh work is left to its own message before the sweeper steps in."""
    return timedelta(seconds=getattr(settings, "WISER_SWEEP_GRACE_SECONDS", SWEEP_GRACE_SECONDS))


def _lost_after() -> timedelta:
    """How long after its start a task is surely dead: its hard time limit has killed it by then."""
    seconds = getattr(settings, "WISER_SWEEP_LOST_AFTER_SECONDS", None)
    if seconds is None:
        seconds = settings.CELERY_TASK_TIME_LIMIT + LOST_MARGIN_SECONDS
    return timedelta(seconds=seconds)


def _ranking_stale_after() -> timedelta:
    """A running ranking's heartbeat older than this means its worker died (moral_graph.services beats every few
    seconds while it computes)."""
    return timedelta(seconds=getattr(settings, "WISER_RANKING_STALE_SECONDS", RANKING_STALE_SECONDS))


def _release_lost_ranking_locks(now) -> list[int]:
    """Ranking jobs still 'running' whose heartbeat went stale: their worker was lost (kill -9, OOM, machine gone).

    The claim is raised too, so the lost attempt, should it still be alive after all, can no longer publish."""
    stale = Q(kind="ranking", status=Job.Status.RUNNING, updated_at__lt=now - _ranking_stale_after())
    round_ids = list(Job.objects.filter(stale).values_list("round_id", flat=True))
    # The attempt counter is kept, so a round whose ranking kills its worker every time becomes poison. The
    # condition is repeated in the UPDATE: a job whose heartbeat came in meanwhile is left running (its round
    # is re-sent anyway, and that message finds the job busy).
    Job.objects.filter(stale, round_id__in=round_ids).update(
        status=Job.Status.FAILED,
        claim=F("claim") + 1,
        error="The worker computing this ranking was lost (no heartbeat).",
        updated_at=now,
    )
    return round_ids


def _rounds_behind_their_snapshot(now) -> list[int]:
    """Rounds with votes (or a structure change) newer than their current ranking and nothing on its way."""
    newest = WiserVoteRevision.objects.filter(round_id=OuterRef("pk")).order_by("-id").values("id")[:1]
    busy = Job.objects.filter(kind="ranking").filter(
        Q(status=Job.Status.RUNNING, updated_at__gte=now - _ranking_stale_after())
        | Q(status=Job.Status.FAILED, attempts__gte=MAX_RANKING_ATTEMPTS)
    )
    return list(
        Round.objects.annotate(newest=Subquery(newest))
        .filter(
            Q(current_ranking__isnull=True, newest__isnull=False)
            | Q(newest__gt=F("current_ranking__watermark"))
            | Q(structure_version__gt=F("current_ranking__structure_version"))
        )
        .exclude(ranking_dirty_since__gte=now - _grace())
        .exclude(pk__in=busy.values("round_id"))
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )


@shared_task
def sweep_pending_work() -> dict[str, int]:
    """Re-enqueue cards waiting for deduplication and rounds whose ranking is stale; free lost ranking locks."""
    now = timezone.now()
    review = ValuesCard.objects.filter(
        dedup_status=ValuesCard.DedupStatus.PENDING,
        dedup_attempts__gte=MAX_DEDUP_ATTEMPTS,
        updated_at__lt=now - _lost_after(),
    ).update(dedup_status=ValuesCard.DedupStatus.REVIEW, updated_at=now)
    card_ids = list(
        ValuesCard.objects.filter(
            dedup_status=ValuesCard.DedupStatus.PENDING, dedup_attempts__lt=MAX_DEDUP_ATTEMPTS
        )
        .filter(
            Q(dedup_attempts=0, created_at__lt=now - _grace())
            | Q(dedup_attempts__gt=0, updated_at__lt=now - _lost_after())
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for card_id in card_ids:
        dedup_card.delay(card_id)
    lost = _release_lost_ranking_locks(now)
    round_ids = sorted(set(ranking_due_rounds()) | set(lost) | set(_rounds_behind_their_snapshot(now)))
    for round_id in round_ids:
        rank_round.delay(round_id)
    return {"cards": len(card_ids), "review": review, "rounds": len(round_ids), "lost_rankings": len(lost)}


