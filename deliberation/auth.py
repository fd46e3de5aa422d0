"""Participant tokens: how an anonymous participant acts through the API."""
from django.contrib.auth.models import AnonymousUser
from django.core import signing
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from deliberation.models import Participant

PARTICIPANT_SALT = "wiser.participant"
PARTICIPANT_TOKEN_MAX_AGE = 60 * 60 * 24 * 180


def participant_token(participant: Participant) -> str:
    """A signed token that lets an anonymous participant act in their round through the API."""
    return signing.dumps({"p": participant.pk, "r": participant.round_id}, salt=PARTICIPANT_SALT, compress=True)


def participant_from_token(token: str) -> Participant | None:
    try:
        data = signing.loads(token, salt=PARTICIPANT_SALT, max_age=PARTICIPANT_TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    return Participant.objects.select_related("round").filter(pk=data.get("p"), round_id=data.get("r")).first()


class ParticipantTokenAuthentication(BaseAuthentication):
    """`Authorization: Participant <token>`: request.auth becomes the Participant; the user stays anonymous."""

    keyword = "Participant"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.startswith(self.keyword + " "):
            return None
        participant = participant_from_token(header[len(self.keyword) + 1 :].strip())
        if participant is None:
            raise exceptions.AuthenticationFailed("Invalid or expired participant token.")
        return AnonymousUser(), participant

    def authenticate_header(self, request):
        return self.keyword
