"""Reads behind the API of values cards and canonical values, with the access rules built in."""

from django.db.models import QuerySet

from cards.models import CanonicalValue, ValuesCard
from core.errors import Forbidden
from deliberation.models import Participant, Round
from deliberation.permissions import can


def cards_visible(
    *,
    user,
    participant: Participant | None,
    round_: Round,
    context_id: int | None = None,
    status: str | None = None,
    dedup_status: str | None = None,
) -> QuerySet[ValuesCard]:
    """Every card of the round for organizers; a participant's own cards for that participant."""
    cards = ValuesCard.objects.filter(round=round_).prefetch_related("merges__value", "merges__confirmation")
    if not can(user, round_, "view_console"):
        if participant is None or participant.round_id != round_.pk:
            raise Forbidden("Join the round first: send your participant token.")
        cards = cards.filter(author=participant)
    if context_id is not None:
        cards = cards.filter(context_id=context_id)
    if status:
        cards = cards.filter(status=status)
    if dedup_status:
        cards = cards.filter(dedup_status=dedup_status)
    return cards.order_by("id")


def values_visible(
    *,
    user,
    participant: Participant | None,
    round_: Round,
    context_id: int | None = None,
    question_id: int | None = None,
) -> QuerySet[CanonicalValue]:
    """The round's active canonical values, for its organizers and its participants."""
    if not can(user, round_, "view_console") and (participant is None or participant.round_id != round_.pk):
        raise Forbidden("Join the round first: send your participant token.")
    values = CanonicalValue.objects.filter(round=round_, is_active=True).prefetch_related("contexts")
    if context_id is not None:
        values = values.filter(contexts=context_id)
    if question_id is not None:
        values = values.filter(question_id=question_id)
    return values.order_by("id")


def value_visible(*, user, participant: Participant | None, value_id: int) -> CanonicalValue | None:
    """One canonical value (active or merged away), when the caller may see its round's values."""
    value = (
        CanonicalValue.objects.select_related("round")
        .prefetch_related("contexts")
        .filter(pk=value_id)
        .first()
    )
    if value is None:
        return None
    if can(user, value.round, "view_console"):
        return value
    if participant is not None and participant.round_id == value.round_id:
        return value
    return None
