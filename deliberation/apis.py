"""The API of rounds: thin views that validate, select, call one service and serialize."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from deliberation import selectors, services
from deliberation.auth import participant_token
from deliberation.errors import Forbidden, NotFound
from deliberation.models import Participant, Round, Stage
from deliberation.permissions import can


class ContextOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()


class QuestionOut(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    contexts = ContextOut(many=True, source="contexts.all")


class AttributeOut(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    choices = serializers.ListField(child=serializers.CharField())
    is_grouping = serializers.BooleanField()


class RoundOut(serializers.ModelSerializer):
    questions = QuestionOut(many=True, source="questions.all")
    attributes = AttributeOut(many=True, source="attributes.all")

    class Meta:
        model = Round
        fields = [
            "slug", "title", "description", "stage", "consent_text", "stories_per_participant",
            "min_votes_per_story", "report_visibility", "report_live", "ranking_method", "participant_cap",
            "questions", "attributes",
        ]


class RoundCreateIn(serializers.Serializer):
    slug = serializers.CharField(required=False, allow_blank=True, max_length=200)
    title = serializers.CharField(max_length=10_000, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True, max_length=100_000)
    question = serializers.CharField(max_length=100_000, allow_blank=True)
    contexts = serializers.ListField(child=serializers.JSONField(), allow_empty=True)
    attributes = serializers.ListField(child=serializers.JSONField(), required=False)
    stories_per_participant = serializers.IntegerField(required=False)
    min_votes_per_story = serializers.IntegerField(required=False)
    participant_cap = serializers.IntegerField(required=False, allow_null=True)
    token_budget = serializers.IntegerField(required=False, allow_null=True)
    report_visibility = serializers.CharField(required=False)
    report_live = serializers.BooleanField(required=False)
    ranking_method = serializers.CharField(required=False)


class RoundUpdateIn(serializers.Serializer):
    title = serializers.CharField(required=False, max_length=10_000, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True, max_length=100_000)
    stories_per_participant = serializers.IntegerField(required=False)
    min_votes_per_story = serializers.IntegerField(required=False)
    participant_cap = serializers.IntegerField(required=False, allow_null=True)
    token_budget = serializers.IntegerField(required=False, allow_null=True)
    report_visibility = serializers.CharField(required=False)
    ranking_method = serializers.CharField(required=False)
    consent_text = serializers.CharField(required=False, max_length=100_000)
    open_link_enabled = serializers.BooleanField(required=False)
    report_live = serializers.BooleanField(required=False)
    guidance_logging = serializers.BooleanField(required=False)


class StageIn(serializers.Serializer):
    stage = serializers.CharField()


class JoinIn(serializers.Serializer):
    token = serializers.CharField(required=False, allow_blank=True, max_length=200)
    invite_code = serializers.CharField(required=False, allow_blank=True, max_length=200)
    consent = serializers.BooleanField()
    attributes = serializers.DictField(child=serializers.CharField(allow_blank=True, max_length=200), required=False)


class JoinOut(serializers.Serializer):
    participant = serializers.CharField()
    token = serializers.CharField()
    resume_token = serializers.CharField()


class ParticipantOut(serializers.ModelSerializer):
    class Meta:
        model = Participant
        fields = ["pseudonym", "attributes", "joined_at", "finished_at", "eval_represented", "eval_fair"]


class FinishIn(serializers.Serializer):
    represented = serializers.IntegerField(required=False, allow_null=True)
    fair = serializers.IntegerField(required=False, allow_null=True)


def round_or_404(slug: str) -> Round:
    round_ = selectors.round_get(slug=slug[:64])
    if round_ is None:
        raise NotFound("No such round.")
    return round_


def require_participant(request: Request, round_: Round) -> Participant:
    """The participant acting in this round, from their token; 403 when it is someone else's round."""
    participant = request.auth if isinstance(request.auth, Participant) else None
    if participant is None:
        raise Forbidden("Join the round first: send your participant token.")
    if participant.round_id != round_.pk:
        raise Forbidden("Your participant token belongs to another round.")
    return participant


def require_organizer(request: Request, round_: Round, action: str) -> None:
    if not can(request.user, round_, action):
        raise Forbidden("Your role in this round does not allow this.")


def can_see_round(request: Request, round_: Round) -> bool:
    if can(request.user, round_, "view_console"):
        return True
    if isinstance(request.auth, Participant) and request.auth.round_id == round_.pk:
        return True
    return round_.stage != Stage.DRAFT


class RoundListApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=RoundOut(many=True))
    def get(self, request: Request) -> Response:
        rounds = selectors.rounds_for_organizer(user=request.user).prefetch_related("questions__contexts", "attributes")
        return Response(RoundOut(rounds, many=True).data)

    @extend_schema(request=RoundCreateIn, responses={201: RoundOut})
    def post(self, request: Request) -> Response:
        data = RoundCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        round_ = services.round_create(owner=request.user, **data.validated_data)
        return Response(RoundOut(round_).data, status=status.HTTP_201_CREATED)


class RoundDetailApi(APIView):
    @extend_schema(responses=RoundOut)
    def get(self, request: Request, slug: str) -> Response:
        round_ = round_or_404(slug)
        if not can_see_round(request, round_):
            raise NotFound("No such round.")
        return Response(RoundOut(round_).data)

    @extend_schema(request=RoundUpdateIn, responses=RoundOut)
    def patch(self, request: Request, slug: str) -> Response:
        round_ = round_or_404(slug)
        require_organizer(request, round_, "edit_round")
        data = RoundUpdateIn(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        round_ = services.round_update(round_=round_, actor=request.user, **data.validated_data)
        return Response(RoundOut(round_).data)


class RoundStageApi(APIView):
    @extend_schema(request=StageIn, responses=RoundOut)
    def post(self, request: Request, slug: str) -> Response:
        round_ = round_or_404(slug)
        require_organizer(request, round_, "advance_stage")
        data = StageIn(data=request.data)
        data.is_valid(raise_exception=True)
        round_ = services.round_set_stage(round_=round_, actor=request.user, stage=data.validated_data["stage"])
        return Response(RoundOut(round_).data)


class RoundJoinApi(APIView):
    authentication_classes: list = []

    @extend_schema(request=JoinIn, responses={201: JoinOut})
    def post(self, request: Request, slug: str) -> Response:
        round_ = round_or_404(slug)
        data = JoinIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        participant = services.participant_join(
            round_=round_, consent=v["consent"], attributes=v.get("attributes"),
            join_token=v.get("token", ""), invite_code=v.get("invite_code", ""),
        )
        return Response(
            {"participant": participant.pseudonym, "token": participant_token(participant),
             "resume_token": participant.resume_token},
            status=status.HTTP_201_CREATED,
        )


class MeApi(APIView):
    @extend_schema(responses=ParticipantOut)
    def get(self, request: Request, slug: str) -> Response:
        round_ = round_or_404(slug)
        participant = require_participant(request, round_)
        return Response(ParticipantOut(participant).data)


class FinishApi(APIView):
    @extend_schema(request=FinishIn, responses=ParticipantOut)
    def post(self, request: Request, slug: str) -> Response:
        round_ = round_or_404(slug)
        participant = require_participant(request, round_)
        data = FinishIn(data=request.data)
        data.is_valid(raise_exception=True)
        participant = services.participant_finish(participant=participant, **data.validated_data)
        return Response(ParticipantOut(participant).data)

