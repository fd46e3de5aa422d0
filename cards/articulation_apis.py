"""The API of the articulation chat: start or resume, answer, ask for a draft, confirm the card."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cards import articulation
from cards.apis import CardIn, CardOut, _cards_queryset
from cards.models import ArticulationSession
from core.errors import NotFound
from core.ratelimit import ratelimit_request
from deliberation.apis import require_participant, round_or_404
from deliberation.models import Participant
from llm import gateway

RATE_SCOPE = "articulation"


class StartIn(serializers.Serializer):
    context = serializers.IntegerField(required=False, allow_null=True)
    restart = serializers.BooleanField(required=False, default=False)


class TurnIn(serializers.Serializer):
    message = serializers.CharField(allow_blank=True, max_length=100_000, trim_whitespace=False)


class SessionOut(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    context = serializers.IntegerField(allow_null=True)
    messages = serializers.ListField(child=serializers.DictField())
    draft = serializers.DictField()
    draft_problems = serializers.DictField()
    turns = serializers.IntegerField()
    turn_cap = serializers.IntegerField()
    turns_left = serializers.IntegerField()
    minutes_left = serializers.ListField(child=serializers.IntegerField())
    card = serializers.IntegerField(allow_null=True)
    fault = serializers.DictField(allow_null=True)
    model_available = serializers.BooleanField()
    mode = serializers.CharField()
    pending = serializers.CharField(help_text='"reply" or "draft" while a task writes it; poll this endpoint.')


class TurnOut(serializers.Serializer):
    session = SessionOut()
    reply = serializers.CharField(allow_null=True)
    draft = serializers.DictField(allow_null=True)
    fault = serializers.DictField(allow_null=True)


def session_data(session: ArticulationSession) -> dict:
    """The chat's state as the API and the page script see it; model text is data for the client to escape."""
    return {
        "id": session.pk,
        "status": session.status,
        "context": session.context_id,
        "messages": articulation.transcript(session),
        "draft": session.draft,
        "draft_problems": articulation.draft_problems(session.draft),
        "turns": session.turns,
        "turn_cap": articulation.turn_cap(),
        "turns_left": articulation.turns_left(session),
        "minutes_left": list(articulation.time_estimate(session)),
        "card": session.card_id,
        "fault": _fault(session.fault),
        "model_available": gateway.model_available(session.participant.round_id),
        "mode": session.mode,
        "pending": session.pending,
    }


def _fault(code: str) -> dict | None:
    return {"code": code, "message": articulation.fault_message(code)} if code else None


def _result_data(result: articulation.TurnResult) -> dict:
    return {
        "session": session_data(result.session),
        "reply": result.reply,
        "draft": result.draft,
        "fault": _fault(result.fault),
    }


def _own_session(request: Request, session_id: int) -> tuple[Participant, ArticulationSession]:
    session = ArticulationSession.objects.select_related("participant__round").filter(pk=session_id).first()
    if session is None:
        raise NotFound("No such chat.")
    participant = require_participant(request, session.participant.round)
    if session.participant_id != participant.pk:
        raise NotFound("No such chat of yours.")
    return participant, session


class ArticulationStartApi(APIView):
    @extend_schema(request=StartIn, responses=SessionOut)
    def post(self, request: Request, slug: str) -> Response:
        round_ = round_or_404(slug)
        participant = require_participant(request, round_)
        data = StartIn(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["restart"]:
            current = ArticulationSession.objects.filter(
                participant=participant, status=ArticulationSession.Status.OPEN
            ).first()
            if current is not None:
                articulation.articulation_abandon(session=current)
        session = articulation.articulation_start(
            participant=participant, context_id=data.validated_data.get("context")
        )
        return Response(session_data(session))


class ArticulationDetailApi(APIView):
    @extend_schema(responses=SessionOut)
    def get(self, request: Request, session_id: int) -> Response:
        _, session = _own_session(request, session_id)
        return Response(session_data(session))


class ArticulationTurnApi(APIView):
    @extend_schema(request=TurnIn, responses=TurnOut)
    def post(self, request: Request, session_id: int) -> Response:
        participant, session = _own_session(request, session_id)
        data = TurnIn(data=request.data)
        data.is_valid(raise_exception=True)
        ratelimit_request(request, scope=RATE_SCOPE, participant_id=participant.pk)
        result = articulation.articulation_turn(session=session, message=data.validated_data["message"])
        return Response(_result_data(result))


class ArticulationDraftApi(APIView):
    @extend_schema(request=None, responses=TurnOut)
    def post(self, request: Request, session_id: int) -> Response:
        participant, session = _own_session(request, session_id)
        ratelimit_request(request, scope=RATE_SCOPE, participant_id=participant.pk)
        return Response(_result_data(articulation.articulation_request_draft(session=session)))


class ArticulationConfirmApi(APIView):
    @extend_schema(request=CardIn, responses={201: CardOut})
    def post(self, request: Request, session_id: int) -> Response:
        _, session = _own_session(request, session_id)
        data = CardIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        card = articulation.articulation_confirm(
            session=session,
            title=v["title"],
            description=v["description"],
            policies=v["policies"],
            context_id=v["context"],
        )
        return Response(CardOut(_cards_queryset().get(pk=card.pk)).data, status=status.HTTP_201_CREATED)
