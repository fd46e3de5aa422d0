"""Celery tasks for the moral graph: small, idempotent, taking ids."""

from celery import shared_task

from core.queue import RETRY_ON_DATABASE_ERROR
from deliberation.models import Job
from moral_graph.services import ranking_compute, ranking_part_compute, stories_from_model, stories_generate
from moral_graph.translation import translate_reading

MAX_RANKING_ATTEMPTS = 5


@shared_task(max_retries=MAX_RANKING_ATTEMPTS, **RETRY_ON_DATABASE_ERROR)
def rank_round(round_id: int, method: str | None = None) -> int | None:
    """Recompute and publish a round's rankings; returns the published run's id."""
    failing = Job.objects.filter(
        round_id=round_id, kind="ranking", status=Job.Status.FAILED, attempts__gte=MAX_RANKING_ATTEMPTS
    ).exists()
    if failing:
        return None  # a poison round: the dashboard shows the error; an organizer's "rank now" resets it
    run = ranking_compute(round_id=round_id, method=method)
    return run.pk if run is not None else None


@shared_task(max_retries=MAX_RANKING_ATTEMPTS, **RETRY_ON_DATABASE_ERROR)
def rank_part(part_id: int) -> int | None:
    """Rank one context of a fanned-out run; the last part publishes the run (returns its id then)."""
    run = ranking_part_compute(part_id=part_id)
    return run.pk if run is not None else None


@shared_task
def generate_stories(round_id: int) -> int:
    """Write the round's template stories at once, and enqueue the model's per context (idempotent)."""
    return stories_generate(round_id=round_id)


@shared_task
def generate_model_stories(round_id: int, context_id: int) -> int:
    """Replace a context's untouched template stories with the model's (idempotent; templates stay on failure)."""
    return stories_from_model(round_id=round_id, context_id=context_id)


@shared_task
def translate_for_reader(round_id: int, language: str, value_ids: list[int], story_ids: list[int], key: str) -> int:
    """Machine-translate values and stories of a round for readers of `language` (idempotent: cached per text)."""
    return translate_reading(
        round_id=round_id, language=language, value_ids=value_ids, story_ids=story_ids, key=key
    )


@shared_task
def refresh_figures(round_id: int) -> None:
    """Count a round's participation and methodology figures again for the cached reads (report, dashboard)."""
    from django.core.cache import cache

    from deliberation.models import Round
    from moral_graph.selectors.participation import (
        participation_figures,
        participation_key,
        refresh_lock_key,
        store_figures,
    )
    from moral_graph.selectors.report import methodology_counts, methodology_key

    round_ = Round.objects.filter(pk=round_id).first()
    if round_ is None:
        return
    store_figures(participation_key(round_id), lambda: participation_figures(round_=round_))
    store_figures(methodology_key(round_id), lambda: methodology_counts(round_))
    cache.delete(refresh_lock_key(round_id))
