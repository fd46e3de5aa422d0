"""Celery tasks for the moral graph: small, idempotent, taking ids."""

from celery import shared_task
from django.db import DatabaseError

from deliberation.models import Job
from moral_graph.services import ranking_compute, stories_generate

MAX_RANKING_ATTEMPTS = 5


@shared_task(bind=True, max_retries=MAX_RANKING_ATTEMPTS)
def rank_round(self, round_id: int, method: str | None = None) -> int | None:
    """Recompute and publish a round's rankings; returns the published run's id."""
    failing = Job.objects.filter(
        round_id=round_id, kind="ranking", status=Job.Status.FAILED, attempts__gte=MAX_RANKING_ATTEMPTS
    ).exists()
    if failing:
        return None  # a poison round: the dashboard shows the error; an organizer's "rank now" resets it
    try:
        run = ranking_compute(round_id=round_id, method=method)
    except DatabaseError as exc:
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from exc
    return run.pk if run is not None else None


@shared_task
def generate_stories(round_id: int) -> int:
    """Write the round's transition stories (idempotent)."""
    return stories_generate(round_id=round_id)
