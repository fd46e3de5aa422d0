"""Celery tasks for cards: small, idempotent, taking ids."""
from celery import shared_task

from cards.services import dedup_place_card


@shared_task(bind=True, max_retries=5, default_retry_delay=10)
def dedup_card(self, card_id: int) -> None:
    """Place one card into a canonical value (does nothing when it is already placed or gone)."""
    dedup_place_card(card_id=card_id)
