"""The API of values cards and canonical values."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cards import services
from cards.models import CanonicalValue, ValuesCard
from deliberation.apis import require_participant, round_or_404
from deliberation.errors import NotFound
from deliberation.models import Participant
from deliberation.permissions import can


class CardIn(serializers.Serializer):
    context = serializers.IntegerField()
    title = serializers.CharField(allow_blank=True, max_length=100_000, trim_whitespace=False)
    description = serializers.CharField(allow_blank=True, max_length=100_000, trim_whitespace=False)
    policies = serializers.ListField(
        child=serializers.CharField(allow_blank=True, max_length=100_000, trim_whitespace=False), max_length=50
    )


class CardOut(serializers.ModelSerializer):
    value = serializers.SerializerMethodField()

    class Meta:
        model = ValuesCard
        fields = ["id", "context", "title", "description", "policies", "status", "hidden_reason", "dedup_status",
                  "value", "created_at", "updated_at"]

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

    class Meta:
        model = CanonicalValue
        fields = ["id", "title", "description", "policies", "contexts", "external_id", "is_active"]


def _cards_queryset():
    return ValuesCard.objects.prefetch_related("merges__value", "merges__confirmation")


class RoundCardsApi(APIView):
    @extend_schema(responses=CardOut(many=True))
    def get(self, request: Request, slug: str) -> Response:
        round_ = round_or_404(slug)
        if can(request.user, round_, "view_console"):
            cards = _cards_queryset().filter(round=round_).order_by("id")
        else:
            participant = require_participant(request, round_)
            cards = _cards_queryset().filter(author=participant).order_by("id")
        return Response(CardOut(cards, many=True).data)

    @extend_schema(request=CardIn, responses={201: CardOut})
    def post(self, request: Request, slug: str) -> Response:
        round_ = round_or_404(slug)
        participant = require_participant(request, round_)
        data = CardIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        card = services.card_submit(
            participant=participant, context_id=v["context"], title=v["title"], description=v["description"],
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
        card = services.card_update(participant=participant, card=card, context_id=v["context"], title=v["title"],
                                    description=v["description"], policies=v["policies"])
        return Response(CardOut(_cards_queryset().get(pk=card.pk)).data)


class CardConfirmApi(APIView):
    @extend_schema(request=ConfirmIn, responses=CardOut)
    def post(self, request: Request, card_id: int) -> Response:
        participant, card = _own_card(request, card_id)
        data = ConfirmIn(data=request.data)
        data.is_valid(raise_exception=True)
        services.merge_confirm(participant=participant, card=card, answer=data.validated_data["answer"])
        return Response(CardOut(_cards_queryset().get(pk=card.pk)).data)


class RoundValuesApi(APIView):
    @extend_schema(responses=ValueOut(many=True))
    def get(self, request: Request, slug: str) -> Response:
        round_ = round_or_404(slug)
        if not can(request.user, round_, "view_console"):
            require_participant(request, round_)
        values = CanonicalValue.objects.filter(round=round_, is_active=True).prefetch_related("contexts").order_by("id")
        return Response(ValueOut(values, many=True).data)

