"""The API of values cards and canonical values."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cards import selectors, services
from cards.models import CanonicalValue, ValuesCard
from core.errors import NotFound
from deliberation.apis import choice_param, int_param, require_participant, round_or_404
from deliberation.models import Participant


class CardIn(serializers.Serializer):
    context = serializers.IntegerField()
    title = serializers.CharField(allow_blank=True, max_length=100_000, trim_whitespace=False)
    description = serializers.CharField(allow_blank=True, max_length=100_000, trim_whitespace=False)
    policies = serializers.ListField(
        child=serializers.CharField(allow_blank=True, max_length=100_000, trim_whitespace=False),
        max_length=50,
    )


class CardValueOut(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    policies = serializers.ListField(child=serializers.CharField())
    origin = serializers.CharField()
    confirmation = serializers.CharField(allow_null=True)


class CardOut(serializers.ModelSerializer):
    value = serializers.SerializerMethodField()
    policies = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = ValuesCard
        fields = [
            "id",
            "context",
            "title",
            "description",
            "policies",
            "status",
            "hidden_reason",
            "dedup_status",
            "value",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(CardValueOut(allow_null=True))
    def get_value(self, card: ValuesCard) -> dict | None:
        merge = next((m for m in card.merges.all() if m.undone_at is None), None)
        if merge is None:
            return None
        confirmation = getattr(merge, "confirmation", None)
        return {
            "id": merge.value_id,
            "title": merge.value.title,
            "description": merge.value.description,
            "policies": merge.value.policies,
            "origin": merge.origin,
            "confirmation": confirmation.answer if confirmation else None,
        }


class ConfirmIn(serializers.Serializer):
    answer = serializers.CharField()


class ValueOut(serializers.ModelSerializer):
    contexts = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    policies = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = CanonicalValue
        fields = [
            "id",
            "question",
            "title",
            "description",
            "policies",
            "contexts",
            "external_id",
            "is_active",
            "merged_into",
        ]


def _cards_queryset():
    return ValuesCard.objects.prefetch_related("merges__value", "merges__confirmation")


def _participant(request: Request) -> Participant | None:
    return request.auth if isinstance(request.auth, Participant) else None


class RoundCardsApi(generics.ListAPIView):
    """Organizers list every card of the round; a participant lists and writes their own."""

    serializer_class = CardOut

    @extend_schema(
        parameters=[
            OpenApiParameter("context", OpenApiTypes.INT),
            OpenApiParameter("status", OpenApiTypes.STR, enum=ValuesCard.Status.values),
            OpenApiParameter("dedup_status", OpenApiTypes.STR, enum=ValuesCard.DedupStatus.values),
        ]
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        request = self.request
        return selectors.cards_visible(
            user=request.user,
            participant=_participant(request),
            round_=round_or_404(self.kwargs["slug"]),
            context_id=int_param(request, "context"),
            status=choice_param(request, "status", ValuesCard.Status.values),
            dedup_status=choice_param(request, "dedup_status", ValuesCard.DedupStatus.values),
        )

    @extend_schema(request=CardIn, responses={201: CardOut})
    def post(self, request: Request, slug: str) -> Response:
        round_ = round_or_404(slug)
        participant = require_participant(request, round_)
        data = CardIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        card = services.card_submit(
            participant=participant,
            context_id=v["context"],
            title=v["title"],
            description=v["description"],
            policies=v["policies"],
        )
        card = _cards_queryset().get(pk=card.pk)
        return Response(CardOut(card).data, status=status.HTTP_201_CREATED)


def _own_card(request: Request, card_id: int) -> tuple[Participant, ValuesCard]:
    card = ValuesCard.objects.select_related("round").filter(pk=card_id).first()
    if card is None:
        raise NotFound("No such card.")
    participant = require_participant(request, card.round)
    if card.author_id != participant.pk:
        raise NotFound("No such card of yours.")
    return participant, card


class CardDetailApi(APIView):
    @extend_schema(responses=CardOut)
    def get(self, request: Request, card_id: int) -> Response:
        _, card = _own_card(request, card_id)
        return Response(CardOut(_cards_queryset().get(pk=card.pk)).data)

    @extend_schema(request=CardIn, responses=CardOut)
    def put(self, request: Request, card_id: int) -> Response:
        participant, card = _own_card(request, card_id)
        data = CardIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        card = services.card_update(
            participant=participant,
            card=card,
            context_id=v["context"],
            title=v["title"],
            description=v["description"],
            policies=v["policies"],
        )
        return Response(CardOut(_cards_queryset().get(pk=card.pk)).data)


class CardConfirmApi(APIView):
    @extend_schema(request=ConfirmIn, responses=CardOut)
    def post(self, request: Request, card_id: int) -> Response:
        participant, card = _own_card(request, card_id)
        data = ConfirmIn(data=request.data)
        data.is_valid(raise_exception=True)
        services.merge_confirm(participant=participant, card=card, answer=data.validated_data["answer"])
        return Response(CardOut(_cards_queryset().get(pk=card.pk)).data)


class RoundValuesApi(generics.ListAPIView):
    """The round's active canonical values, for its organizers and participants."""

    serializer_class = ValueOut

    @extend_schema(
        parameters=[
            OpenApiParameter("context", OpenApiTypes.INT),
            OpenApiParameter("question", OpenApiTypes.INT),
        ]
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        request = self.request
        return selectors.values_visible(
            user=request.user,
            participant=_participant(request),
            round_=round_or_404(self.kwargs["slug"]),
            context_id=int_param(request, "context"),
            question_id=int_param(request, "question"),
        )


class ValueDetailApi(APIView):
    """One canonical value, for its round's organizers and participants."""

    @extend_schema(responses=ValueOut)
    def get(self, request: Request, value_id: int) -> Response:
        value = selectors.value_visible(
            user=request.user, participant=_participant(request), value_id=value_id
        )
        if value is None:
            raise NotFound("No such value.")
        return Response(ValueOut(value).data)
