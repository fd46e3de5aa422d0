"""A participant's data through the API: GET /rounds/<slug>/me/data/ and DELETE /rounds/<slug>/me/.

Both take only the participant token (no session cookie), so no other site can make a browser call them.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from deliberation import apis as deliberation_apis
from deliberation.apis import require_participant, round_or_404
from deliberation.auth import ParticipantTokenAuthentication
from operations.privacy import participant_delete, participant_export


class ParticipantDataApi(APIView):
    """The participant's own data as JSON."""

    authentication_classes = [ParticipantTokenAuthentication]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, slug: str) -> Response:
        """Everything stored about the caller in this round."""
        participant = require_participant(request, round_or_404(slug))
        response = Response(participant_export(participant=participant))
        response["Cache-Control"] = "no-store"
        return response


class MeApi(deliberation_apis.MeApi):
    """GET the caller's participant record; DELETE their personal data (their anonymous votes stay counted)."""

    authentication_classes = [ParticipantTokenAuthentication]

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, slug: str) -> Response:
        """Delete the caller's personal data; their token stops working."""
        participant = require_participant(request, round_or_404(slug))
        participant_delete(participant=participant)
        return Response(status=status.HTTP_204_NO_CONTENT)
