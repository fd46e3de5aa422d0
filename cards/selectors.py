"""Reads for values cards and canonical values."""

from cards.models import CanonicalValue, CardMerge, ValuesCard


def review_targets(*, round_id: int, cards) -> dict[int, list[CanonicalValue]]:
    """For each card waiting for review, the active values it may join: same question and context, not its own."""
    waiting = [c for c in cards if c.dedup_status == ValuesCard.DedupStatus.REVIEW]
    if not waiting:
        return {}
    own = dict(
        CardMerge.objects.filter(card__in=waiting, undone_at__isnull=True).values_list("card_id", "value_id")
    )
    values = list(
        CanonicalValue.objects.filter(round_id=round_id, is_active=True)
        .prefetch_related("contexts")
        .order_by("title", "id")
    )
    contexts = {v.pk: {c.pk for c in v.contexts.all()} for v in values}
    return {
        card.pk: [
            v
            for v in values
            if v.question_id == card.question_id
            and card.context_id in contexts[v.pk]
            and v.pk != own.get(card.pk)
        ]
        for card in waiting
    }


def card_titles(*, round_id: int, ids: set[int]) -> dict[int, str]:
    """Titles of a round's cards by id."""
    return dict(ValuesCard.objects.filter(round_id=round_id, pk__in=ids).values_list("pk", "title"))


def value_titles(*, round_id: int, ids: set[int]) -> dict[int, str]:
    """Titles of a round's canonical values by id (merged or retired ones too)."""
    return dict(CanonicalValue.objects.filter(round_id=round_id, pk__in=ids).values_list("pk", "title"))
