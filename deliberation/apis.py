"""The API of rounds: thin views that validate, select, call one service and serialize."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import Forbidden, NotFound
from core.ratelimit import Rate, rate_for, ratelimit_request
from deliberation import selectors, services
from deliberation.auth import participant_token
from deliberation.models import Context, Participant, Question, Round, Stage
from deliberation.permissions import can

AUTH_RATE_SCOPE = "api_auth"
# Guessing passwords through the token endpoint is as slow as through the sign-in page.
AUTH_DEFAULT_RATE = Rate(limit=10, window=60)
MAX_ID = 2**63 - 1
USERNAME_MAX_LENGTH = 150  # django.contrib.auth's User.username


class TokenIn(AuthTokenSerializer):
    # DRF leaves the username unbounded; one longer than any account's is refused before authentication.
    username = serializers.CharField(label="Username", write_only=True, max_length=USERNAME_MAX_LENGTH)


class ParticipantTokenScheme(OpenApiAuthenticationExtension):
    """Describes `Authorization: Participant <token>` in the OpenAPI schema."""

    target_class = "deliberation.auth.ParticipantTokenAuthentication"
    name = "participantToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Participant <token>`: the token returned by joining a round.",
        }


def int_param(request: Request, name: str) -> int | None:
    """A whole-number query parameter, None when absent; 400 with the field named when it is not one."""
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise serializers.ValidationError({name: ["A whole number."]}) from None
    # Beyond a 64-bit id the database driver fails on foreign-key lookups (OverflowError on SQLite).
    if abs(value) > MAX_ID:
        raise serializers.ValidationError({name: ["A whole number."]})
    return value


def choice_param(request: Request, name: str, choices) -> str | None:
    """A query parameter limited to choices, None when absent; 400 with the field named otherwise."""
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    if raw not in choices:
        raise serializers.ValidationError({name: [f"One of {', '.join(choices)}."]})
    return raw


def bool_param(request: Request, name: str) -> bool | None:
    """A true/false query parameter, None when absent."""
    value = choice_param(request, name, ("true", "false"))
    return None if value is None else value == "true"


class ContextOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    translations = serializers.JSONField()


class QuestionOut(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    translations = serializers.JSONField()
    contexts = ContextOut(many=True, source="contexts.all")


class AttributeOut(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    choices = serializers.ListField(child=serializers.CharField())
    is_grouping = serializers.BooleanField()
    translations = serializers.JSONField(help_text='{"es": {"label": ..., "choices": [...]}}')


class RoundOut(serializers.ModelSerializer):
    questions = QuestionOut(many=True, source="questions.all")
    attributes = AttributeOut(many=True, source="attributes.all")

    class Meta:
        model = Round
        fields = [
            "slug",
            "title",
            "description",
            "stage",
            "consent_text",
            "stories_per_participant",
            "min_votes_per_story",
            "report_visibility",
            "report_live",
            "ranking_method",
            "participant_cap",
            "translations",
            "questions",
            "attributes",
        ]


class RoundCreateIn(serializers.Serializer):
    """Shapes only: round_create checks the texts (the question with core.text.clean_question, as the console
    does) and reports every refused field together."""

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
    consent_text = serializers.CharField(required=False, max_length=100_000)
    translations = serializers.JSONField(
        required=False, help_text='{"es": {"title": ..., "description": ..., "consent_text": ...}}'
    )
    question_translations = serializers.JSONField(required=False, help_text='{"es": {"text": ...}}')


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
    translations = serializers.JSONField(
        required=False, help_text='{"es": {"title": ..., "description": ..., "consent_text": ...}}'
    )
    attribute_translations = serializers.JSONField(
        required=False, help_text='{attribute key: {"es": {"label": ..., "choices": [...]}}}'
    )


class QuestionCreateIn(serializers.Serializer):
    text = serializers.CharField(max_length=100_000, allow_blank=True)
    contexts = serializers.ListField(child=serializers.JSONField(), allow_empty=True)
    translations = serializers.JSONField(required=False)


class StageIn(serializers.Serializer):
    stage = serializers.CharField()


class JoinIn(serializers.Serializer):
    token = serializers.CharField(required=False, allow_blank=True, max_length=200)
    invite_code = serializers.CharField(required=False, allow_blank=True, max_length=200)
    consent = serializers.BooleanField()
    attributes = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=200), required=False
    )


class JoinOut(serializers.Serializer):
    participant = serializers.CharField()
    token = serializers.CharField()
    resume_token = serializers.CharField()


class ParticipantOut(serializers.ModelSerializer):
    attributes = serializers.DictField(child=serializers.CharField())

    class Meta:
        model = Participant
        fields = ["pseudonym", "attributes", "joined_at", "finished_at", "eval_represented", "eval_fair"]


class OrganizerParticipantOut(serializers.ModelSerializer):
    """What organizers see of a participant: no account, no resume token."""

    attributes = serializers.DictField(child=serializers.CharField())
    cards = serializers.IntegerField(source="n_cards")
    votes = serializers.IntegerField(source="n_votes")

    class Meta:
        model = Participant
        fields = [
            "pseudonym",
            "attributes",
            "joined_at",
            "finished_at",
            "eval_represented",
            "eval_fair",
            "is_simulated",
            "cards",
            "votes",
        ]


class QuestionBriefOut(serializers.ModelSerializer):
    class Meta:
        model = Question
        fields = ["id", "text", "order"]


class ContextDetailOut(serializers.ModelSerializer):
    class Meta:
        model = Context
        fields = ["id", "question", "name", "description", "order"]


class TokenOut(serializers.Serializer):
    token = serializers.CharField()


class FinishIn(serializers.Serializer):
    represented = serializers.IntegerField(required=False, allow_null=True)
    fair = serializers.IntegerField(required=False, allow_null=True)


def round_or_404(slug: str) -> Round:
    round_ = selectors.round_get(slug=slug[:64])
    if round_ is None:
        raise NotFound("No such round.")
    return selectors.round_as_scheduled(round_)  # a pure read: the stage its dates call for


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


class RoundListApi(generics.ListAPIView):
    """The rounds in which the signed-in user holds an organizer role; creating one makes them its owner."""

    permission_classes = [IsAuthenticated]
    serializer_class = RoundOut

    def get_queryset(self):
        return selectors.rounds_for_organizer(user=self.request.user).prefetch_related(
            "questions__contexts", "attributes"
        )

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

    @extend_schema(
        parameters=[OpenApiParameter("confirm", OpenApiTypes.STR, description="The round's slug, again.")],
        responses={204: None},
    )
    def delete(self, request: Request, slug: str) -> Response:
        """Delete a round nobody has joined (owner), confirmed by its slug; 409 when people joined."""
        round_ = round_or_404(slug)
        require_organizer(request, round_, "edit_round")
        services.round_delete(round_=round_, actor=request.user, confirm=request.query_params.get("confirm", ""))
        return Response(status=status.HTTP_204_NO_CONTENT)

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
        round_ = services.round_set_stage(
            round_=round_, actor=request.user, stage=data.validated_data["stage"]
        )
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
            round_=round_,
            consent=v["consent"],
            attributes=v.get("attributes"),
            join_token=v.get("token", ""),
            invite_code=v.get("invite_code", ""),
        )
        return Response(
            {
                "participant": participant.pseudonym,
                "token": participant_token(participant),
                "resume_token": participant.resume_token,
            },
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


def _visible_round(request: Request, slug: str) -> Round:
    round_ = round_or_404(slug)
    if not can_see_round(request, round_):
        raise NotFound("No such round.")
    return round_


class QuestionListApi(generics.ListAPIView):
    """The round's questions, for anyone who may see the round."""

    serializer_class = QuestionBriefOut

    def get_queryset(self):
        return _visible_round(self.request, self.kwargs["slug"]).questions.order_by("order", "id")

    @extend_schema(request=QuestionCreateIn, responses={201: QuestionBriefOut})
    def post(self, request: Request, slug: str) -> Response:
        """Add a question with its contexts (owner, before voting opens)."""
        round_ = round_or_404(slug)
        require_organizer(request, round_, "edit_round")
        data = QuestionCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        question = services.question_add(actor=request.user, round_=round_, **data.validated_data)
        return Response(QuestionBriefOut(question).data, status=status.HTTP_201_CREATED)


class ContextListApi(generics.ListAPIView):
    """The round's contexts (choice types), optionally of one question."""

    serializer_class = ContextDetailOut

    @extend_schema(
        parameters=[OpenApiParameter("question", OpenApiTypes.INT, description="Only this question's.")]
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        round_ = _visible_round(self.request, self.kwargs["slug"])
        contexts = Context.objects.filter(question__round=round_)
        question = int_param(self.request, "question")
        if question is not None:
            contexts = contexts.filter(question_id=question)
        return contexts.order_by("question__order", "question_id", "order", "id")


class ParticipantListApi(generics.ListAPIView):
    """The organizer's view of participants: pseudonym, attributes, times, evaluation; no personal data."""

    serializer_class = OrganizerParticipantOut

    @extend_schema(
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=list(selectors.PARTICIPANT_STATUSES)),
        ]
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        round_ = round_or_404(self.kwargs["slug"])
        return selectors.participants_for_organizer(
            user=self.request.user,
            round_=round_,
            status=choice_param(self.request, "status", selectors.PARTICIPANT_STATUSES),
        )


class TokenApi(APIView):
    """An organizer's API token from their username and password (rate-limited per client address)."""

    authentication_classes: list = []

    @extend_schema(request=TokenIn, responses={200: TokenOut})
    def post(self, request: Request) -> Response:
        ratelimit_request(request, scope=AUTH_RATE_SCOPE, rate=rate_for(AUTH_RATE_SCOPE) or AUTH_DEFAULT_RATE)
        data = TokenIn(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        token, _ = Token.objects.get_or_create(user=data.validated_data["user"])
        return Response({"token": token.key})


class RoundArchiveIn(serializers.Serializer):
    archived = serializers.BooleanField()


class RoundArchiveApi(APIView):
    @extend_schema(request=RoundArchiveIn, responses=RoundOut)
    def post(self, request: Request, slug: str) -> Response:
        """Archive the round, or take it out of the archive (owner)."""
        round_ = round_or_404(slug)
        require_organizer(request, round_, "edit_round")
        data = RoundArchiveIn(data=request.data)
        data.is_valid(raise_exception=True)
        round_ = services.round_archive(round_=round_, actor=request.user, archived=data.validated_data["archived"])
        return Response(RoundOut(round_).data)


class ContextDetailApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, context_id: int) -> Response:
        """Remove a context in which no card was written (owner); a question keeps at least one."""
        round_ = round_or_404(slug)
        require_organizer(request, round_, "edit_round")
        context = selectors.context_of_round(round_=round_, context_id=context_id)
        if context is None:
            raise NotFound("No such context in this round.")
        services.context_delete(actor=request.user, context=context)
        return Response(status=status.HTTP_204_NO_CONTENT)
