"""Participant tokens: how an anonymous participant acts through the API."""

from django.contrib.auth.models import AnonymousUser
from django.core import signing
from django.http import HttpRequest
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from deliberation.models import Participant, Round

PARTICIPANT_SALT = "wiser.participant"
PARTICIPANT_TOKEN_MAX_AGE = 60 * 60 * 24 * 180


def participant_token(participant: Participant) -> str:
    """A signed token that lets an anonymous participant act in their round through the API."""
    return signing.dumps(
        {"p": participant.pk, "r": participant.round_id}, salt=PARTICIPANT_SALT, compress=True
    )


def participant_claims(token: str) -> tuple[int, int] | None:
    """The (participant id, round id) a valid token was signed for, without reading the database."""
    try:
        data = signing.loads(token, salt=PARTICIPANT_SALT, max_age=PARTICIPANT_TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    participant_id, round_id = data.get("p"), data.get("r")
    if type(participant_id) is not int or type(round_id) is not int:
        return None
    return participant_id, round_id


def participant_from_token(token: str) -> Participant | None:
    """The participant of a valid token, with their round, or None (also when their data was deleted)."""
    claims = participant_claims(token)
    if claims is None:
        return None
    return Participant.objects.select_related("round").filter(pk=claims[0], round_id=claims[1]).first()


def participant_unverified(participant_id: int, round_id: int) -> Participant:
    """A Participant holding only its id and round id, the other fields deferred (each read loads it)."""
    return Participant.from_db(None, ["id", "round_id"], [participant_id, round_id])


class ParticipantTokenAuthentication(BaseAuthentication):
    """`Authorization: Participant <token>`: request.auth becomes the Participant; the user stays anonymous.

    A view whose own query checks that the participant still exists in the token's round (the vote endpoint:
    one statement does that and the write) sets `participant_from_claims = True`: it gets
    `participant_unverified(...)` instead, sparing a database read per request, and must answer 401 itself
    when the participant is gone (their data deleted).
    """

    keyword = "Participant"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.startswith(self.keyword + " "):
            return None
        token = header[len(self.keyword) + 1 :].strip()
        view = (getattr(request, "parser_context", None) or {}).get("view")
        if getattr(view, "participant_from_claims", False):
            claims = participant_claims(token)
            participant = None if claims is None else participant_unverified(*claims)
        else:
            participant = participant_from_token(token)
        if participant is None:
            raise exceptions.AuthenticationFailed("Invalid or expired participant token.")
        return AnonymousUser(), participant

    def authenticate_header(self, request):
        return self.keyword


# The participant a rate-limited request counts against (core.ratelimit_middleware asks through settings).
RATE_LIMIT_SESSION_KEY = "wiser_participants"  # frontend.session.KEY: the page session's participants per round id


def _token_participant_id(request: HttpRequest) -> int | None:
    """The participant id in a valid participant token, without a database read (the view checks it fully)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    prefix = ParticipantTokenAuthentication.keyword + " "
    if not header.startswith(prefix):
        return None
    try:
        data = signing.loads(
            header[len(prefix) :].strip(), salt=PARTICIPANT_SALT, max_age=PARTICIPANT_TOKEN_MAX_AGE
        )
    except signing.BadSignature:
        return None
    value = data.get("p") if isinstance(data, dict) else None
    return value if isinstance(value, int) else None


def _session_participant_id(request: HttpRequest, slug: str | None) -> int | None:
    """The page session's participant in the round of the URL's slug."""
    session = getattr(request, "session", None)
    if session is None or not slug:
        return None
    remembered = session.get(RATE_LIMIT_SESSION_KEY) or {}
    if not remembered:
        return None
    round_id = Round.objects.filter(slug=slug[:64]).values_list("pk", flat=True).first()
    value = remembered.get(str(round_id)) if round_id is not None else None
    return value if isinstance(value, int) else None


def participant_id_of(request: HttpRequest, view_kwargs: dict) -> int | None:
    """Who is acting, for the rate limits (settings.WISER_RATE_LIMIT_PARTICIPANT): the API's participant token
    first, then the page session's participant of the round."""
    return _token_participant_id(request) or _session_participant_id(request, view_kwargs.get("slug"))
