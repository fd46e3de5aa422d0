"""Celery tasks for the moral graph: small, idempotent, taking ids."""
from celery import shared_task

from moral_graph.services import ranking_compute, stories_generate


@shared_task(bind=True, max_retries=5, default_retry_delay=10)
def rank_round(self, round_id: int, method: str | None = None) -> int | None:
    """Recompute and publish a round's rankings; returns the published run's id."""
    run = ranking_compute(round_id=round_id, method=method)
    return run.pk if run is not None else None


@shared_task
def generate_stories(round_id: int) -> int:
    """Write the round's transition stories (idempotent)."""
    return stories_generate(round_id=round_id)
