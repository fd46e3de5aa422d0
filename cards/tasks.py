"""Celery tasks for cards: small, idempotent, taking ids."""
import logging

from celery import shared_task
from django.db.models import F
from django.utils import timezone

from cards.models import ValuesCard
from cards.services import dedup_place_card
from core.queue import RETRY_ON_DATABASE_ERROR

log = logging.getLogger(__name__)
MAX_DEDUP_ATTEMPTS = 5


# A database error retries the task (core.queue's backoff); the attempt counter below turns a card that keeps
# failing into review.
@shared_task(max_retries=MAX_DEDUP_ATTEMPTS, **RETRY_ON_DATABASE_ERROR)
def dedup_card(card_id: int) -> None:
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
    dedup_place_card(card_id=card_id)


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
