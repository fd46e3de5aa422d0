"""Reads behind the organizer API of rounds: participants, with the role check built in."""

from django.db.models import Count, QuerySet

from core.errors import Forbidden
from deliberation.models import Participant, Round
from deliberation.permissions import can

PARTICIPANT_STATUSES = ("finished", "unfinished")


def participants_for_organizer(*, user, round_: Round, status: str | None = None) -> QuerySet[Participant]:
    """The round's participants (pseudonyms, attributes, times; no account link) for a viewer or above."""
    if not can(user, round_, "view_participants"):
        raise Forbidden("Your role in this round does not allow this.")
    participants = Participant.objects.filter(round=round_)
    if status == "finished":
        participants = participants.filter(finished_at__isnull=False)
    elif status == "unfinished":
        participants = participants.filter(finished_at__isnull=True)
    return participants.annotate(
        n_cards=Count("cards", distinct=True), n_votes=Count("votes", distinct=True)
    ).order_by("id")
