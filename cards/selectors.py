"""Reads of cards, values and articulation chats for pages and services."""

from __future__ import annotations

from cards.models import ArticulationSession
from deliberation.models import Participant


def articulation_session_open(*, participant: Participant) -> ArticulationSession | None:
    """The participant's open articulation chat, if any."""
    return ArticulationSession.objects.filter(participant=participant, status=ArticulationSession.Status.OPEN).first()
