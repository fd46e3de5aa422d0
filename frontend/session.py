"""Which participant this browser is, per round: kept in the session, restored by a resume link."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

from deliberation import selectors

if TYPE_CHECKING:
    from deliberation.models import Participant, Round

KEY = "wiser_participants"


def remember(request: HttpRequest, participant: Participant) -> None:
    ids = dict(request.session.get(KEY, {}))
    ids[str(participant.round_id)] = participant.pk
    request.session[KEY] = ids
    request.session.cycle_key()


def current(request: HttpRequest, round_: Round) -> Participant | None:
    participant_id = request.session.get(KEY, {}).get(str(round_.pk))
    if participant_id is None:
        return None
    return selectors.participant_get(round_=round_, participant_id=participant_id)
