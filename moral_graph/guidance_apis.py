"""POST /api/v1/rounds/<slug>/guidance/: route a situation to its context and return the wisest values."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import Forbidden
from core.ratelimit import RateLimited, ratelimit_request
from deliberation.apis import round_or_404
from deliberation.permissions import can_read_report
from moral_graph.guidance_services import guidance_answer

RATE_SCOPE = "guidance"


class GuidanceIn(serializers.Serializer):
    # Length, NUL bytes and markup are checked by core.text.clean_text in the service.
    situation = serializers.CharField(allow_blank=True, trim_whitespace=False)


class GuidanceApi(APIView):
    """Anyone who may read the round's report may ask it for guidance; the situation is stored only if the round logs."""

    @extend_schema(request=GuidanceIn, responses={200: dict})
    def post(self, request: Request, slug: str) -> Response:
        ratelimit_request(request, scope=RATE_SCOPE)
        round_ = round_or_404(slug)
        if not can_read_report(request.user, round_, via_link=True):
            raise Forbidden("This round's results are not published for you.")
        data = GuidanceIn(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(guidance_answer(round_=round_, situation=data.validated_data["situation"]))

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if isinstance(exc, RateLimited):
            response["Retry-After"] = str(exc.retry_after)
        return response
