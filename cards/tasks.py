"""Celery tasks for cards: small, idempotent, taking ids."""
import logging

from celery import shared_task
from django.db import DatabaseError
from django.db.models import F
from django.utils import timezone

from cards.models import ValuesCard
from cards.services import dedup_place_card

log = logging.getLogger(__name__)
MAX_DEDUP_ATTEMPTS = 5


@shared_task(bind=True, max_retries=MAX_DEDUP_ATTEMPTS)
def dedup_card(self, card_id: int) -> None:
    """Place one card into a canonical value (does nothing when it is already placed or gone)."""
    counted = ValuesCard.objects.filter(
        pk=card_id, dedup_status=ValuesCard.DedupStatus.PENDING, dedup_attempts__lt=MAX_DEDUP_ATTEMPTS
    ).update(dedup_attempts=F("dedup_attempts") + 1, updated_at=timezone.now())
    if not counted:
        if ValuesCard.objects.filter(pk=card_id, dedup_status=ValuesCard.DedupStatus.PENDING).exists():
            # A poison card: stop retrying and hand it to the organizers' review queue.
            ValuesCard.objects.filter(pk=card_id).update(dedup_status=ValuesCard.DedupStatus.REVIEW)
            log.warning("card %s failed deduplication %s times; sent to review", card_id, MAX_DEDUP_ATTEMPTS)
        return
    try:
        dedup_place_card(card_id=card_id)
    except DatabaseError as exc:
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from exc


@shared_task
def articulation_reply_task(session_id: int, turn: int) -> None:
    """Write the assistant's reply to answer number `turn` of a chat (a draft when the server decides)."""
    from cards.articulation import articulation_reply

    articulation_reply(session_id=session_id, turn=turn)


@shared_task
def articulation_draft_task(session_id: int, drafts: int) -> None:
    """Draft the card the participant asked for (does nothing when a newer draft exists or the chat closed)."""
    from cards.articulation import articulation_draft_pending

    articulation_draft_pending(session_id=session_id, drafts=drafts)
