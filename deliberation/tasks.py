"""The periodic sweeper: re-enqueues what the database says is pending, so a lost message only delays work."""
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from cards.models import ValuesCard
from cards.tasks import MAX_DEDUP_ATTEMPTS


@shared_task
def sweep_pending_work() -> dict[str, int]:
    """Re-enqueue cards still waiting for deduplication and rounds whose ranking is stale."""
    from cards.tasks import dedup_card
    from moral_graph.services import ranking_due_rounds
    from moral_graph.tasks import rank_round

    cutoff = timezone.now() - timedelta(seconds=30)
    card_ids = list(
        ValuesCard.objects.filter(
            dedup_status=ValuesCard.DedupStatus.PENDING, created_at__lt=cutoff, dedup_attempts__lt=MAX_DEDUP_ATTEMPTS
        ).values_list("pk", flat=True)[:500]
    )
    for card_id in card_ids:
        dedup_card.delay(card_id)
    round_ids = ranking_due_rounds()
    for round_id in round_ids:
        rank_round.delay(round_id)
    return {"cards": len(card_ids), "rounds": len(round_ids)}
