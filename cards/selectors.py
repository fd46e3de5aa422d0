"""Reads of values cards, canonical values and merges, with the access rules built in.

The card vocabulary the pages use (statuses, the number of policies) is named here too, so frontend/ imports no
models.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from cards import dedup
from cards.models import MAX_POLICIES, ArticulationSession, CanonicalValue, CardMerge, ValuesCard
from cards.services import vectors_from_bytes
from core.errors import Forbidden
from deliberation.models import Participant, Round
from deliberation.permissions import can
from llm import gateway


def cards_visible(
    *,
    user,
    participant: Participant | None,
    round_: Round,
    context_id: int | None = None,
    status: str | None = None,
    dedup_status: str | None = None,
) -> QuerySet[ValuesCard]:
    """Every card of the round for organizers; a participant's own cards for that participant."""
    cards = ValuesCard.objects.filter(round=round_).prefetch_related("merges__value", "merges__confirmation")
    if not can(user, round_, "view_console"):
        if participant is None or participant.round_id != round_.pk:
            raise Forbidden("Join the round first: send your participant token.")
        cards = cards.filter(author=participant)
    if context_id is not None:
        cards = cards.filter(context_id=context_id)
    if status:
        cards = cards.filter(status=status)
    if dedup_status:
        cards = cards.filter(dedup_status=dedup_status)
    return cards.order_by("id")


def values_visible(
    *,
    user,
    participant: Participant | None,
    round_: Round,
    context_id: int | None = None,
    question_id: int | None = None,
) -> QuerySet[CanonicalValue]:
    """The round's active canonical values, for its organizers and its participants."""
    if not can(user, round_, "view_console") and (participant is None or participant.round_id != round_.pk):
        raise Forbidden("Join the round first: send your participant token.")
    values = CanonicalValue.objects.filter(round=round_, is_active=True).prefetch_related("contexts")
    if context_id is not None:
        values = values.filter(contexts=context_id)
    if question_id is not None:
        values = values.filter(question_id=question_id)
    return values.order_by("id")


def value_visible(*, user, participant: Participant | None, value_id: int) -> CanonicalValue | None:
    """One canonical value (active or merged away), when the caller may see its round's values."""
    value = (
        CanonicalValue.objects.select_related("round")
        .prefetch_related("contexts")
        .filter(pk=value_id)
        .first()
    )
    if value is None:
        return None
    if can(user, value.round, "view_console"):
        return value
    if participant is not None and participant.round_id == value.round_id:
        return value
    return None


__all__ = ["MAX_POLICIES", "CardStatus", "DedupStatus"]  # with every function in this module
CardStatus = ValuesCard.Status
DedupStatus = ValuesCard.DedupStatus


def card_merge_current(*, card: ValuesCard) -> CardMerge | None:
    """The card's current merge, with its value and the author's confirmation."""
    return (
        CardMerge.objects.filter(card=card, undone_at__isnull=True).select_related("value", "confirmation").first()
    )


def card_confirmed(*, card: ValuesCard) -> bool:
    """Whether the card's place is settled: split out or placed by an organizer, or confirmed by its author."""
    merge = card_merge_current(card=card)
    if merge is None:
        return False
    return merge.origin in (CardMerge.Origin.SPLIT, CardMerge.Origin.ORGANIZER) or hasattr(merge, "confirmation")


def cards_unconfirmed(*, cards: list[ValuesCard]) -> list[ValuesCard]:
    """Cards placed into a value whose author has not yet said whether it is theirs."""
    pending = []
    for card in cards:
        merge = card_merge_current(card=card)
        if merge is not None and merge.origin == CardMerge.Origin.AUTO and not hasattr(merge, "confirmation"):
            pending.append(card)
    return pending


def cards_of_author(*, participant: Participant) -> list[ValuesCard]:
    """The participant's own cards, oldest first."""
    return list(participant.cards.all().order_by("id"))


def card_of_author(*, participant: Participant, card_id: int) -> ValuesCard | None:
    """One of the participant's own cards, or None."""
    return ValuesCard.objects.filter(pk=card_id, author=participant).first()


def cards_of_round(*, round_: Round) -> QuerySet[ValuesCard]:
    return ValuesCard.objects.filter(round=round_)


def values_of_round(*, round_: Round) -> QuerySet[CanonicalValue]:
    return CanonicalValue.objects.filter(round=round_)


def values_active(*, round_: Round) -> list[CanonicalValue]:
    """The round's active canonical values by title."""
    return list(CanonicalValue.objects.filter(round=round_, is_active=True).order_by("title"))


def values_for_moderation(*, round_: Round) -> QuerySet[CanonicalValue]:
    """Active values with their current merges (cards) and contexts, for the moderation page."""
    merges = CardMerge.objects.filter(undone_at__isnull=True).select_related("card")
    return (
        CanonicalValue.objects.filter(round=round_, is_active=True)
        .order_by("id")
        .prefetch_related(Prefetch("merges", queryset=merges, to_attr="active_merges"), "contexts")
    )


def cards_for_moderation(*, round_: Round, review_only: bool = False) -> tuple[QuerySet[ValuesCard], int]:
    """The round's cards, newest first (only those waiting for review when asked), and how many wait."""
    queryset = ValuesCard.objects.filter(round=round_).select_related("context", "author").order_by("-id")
    in_review = queryset.filter(dedup_status=ValuesCard.DedupStatus.REVIEW).count()
    if review_only:
        queryset = queryset.filter(dedup_status=ValuesCard.DedupStatus.REVIEW)
    return queryset, in_review


ArticulationMode = ArticulationSession.Mode


def articulation_session_open(*, participant: Participant) -> ArticulationSession | None:
    """The participant's open articulation chat, if any."""
    return ArticulationSession.objects.filter(participant=participant, status=ArticulationSession.Status.OPEN).first()


# How close a value must look to be shown while someone writes, on the blended score of cards.dedup.similarity.
# On the test families (12 cards, offline MiniLM), whole cards of one value score >= 0.625 and of different values
# <= 0.50; with only the first policy written, 0.50 and <= 0.57. The heading alone does not separate them (same
# value from 0.29, different up to 0.48), so nothing is suggested before a policy is written.
SIMILAR_FLOOR = 0.52
SIMILAR_LIMIT = 3


@dataclass(frozen=True)
class SimilarValue:
    """An existing value that looks close to what a participant is writing."""

    id: int
    title: str
    description: str
    policies: list[str]
    score: float


def values_similar(
    *,
    round_id: int,
    title: str,
    description: str = "",
    policies: Sequence[str] = (),
    exclude_ids: Iterable[int] = (),
    limit: int = SIMILAR_LIMIT,
) -> list[SimilarValue]:
    """Up to `limit` active values of the round's question that look close to the text being written.

    Embeds the text with the same embedder as deduplication (offline unless a model is configured) and compares
    it with the values' stored vectors; a value without stored vectors, or in another embedding space, is skipped
    (this read never writes). Nothing is suggested before a title and one policy of two words or more are written.
    """
    heading = dedup.card_heading(str(title or ""), str(description or ""))
    written = [p.strip() for p in policies if isinstance(p, str) and len(p.split()) >= 2]
    if len(heading.split()) < 2 or not written:
        return []
    candidates = list(
        CanonicalValue.objects.filter(round_id=round_id, is_active=True)
        .exclude(pk__in=list(exclude_ids))
        .only("pk", "title", "description", "policies", "embedding")
    )
    if not candidates:
        return []
    matrix = gateway.embed(dedup.card_texts(heading, "", written), purpose="cards.similar", round_id=round_id)
    scored = []
    for value in candidates:
        stored = vectors_from_bytes(value.embedding)
        if stored is None or stored.ndim != 2 or stored.shape[1] != matrix.shape[1] or stored.shape[0] < 2:
            continue
        score = dedup.similarity(matrix, stored)
        if score >= SIMILAR_FLOOR:
            scored.append(
                SimilarValue(
                    id=value.pk,
                    title=value.title,
                    description=value.description,
                    policies=list(value.policies),
                    score=round(score, 3),
                )
            )
    scored.sort(key=lambda v: (-v.score, v.id))
    return scored[:limit]


def values_active_by_ids(*, round_id: int, ids: Sequence[int]) -> list[CanonicalValue]:
    """The round's active values with these ids, in the order given (ids of other rounds or retired values are
    left out): suggestions shown again once their translation is ready."""
    found = CanonicalValue.objects.filter(round_id=round_id, is_active=True, pk__in=list(ids)).only(
        "pk", "title", "description", "policies"
    )
    by_id = {v.pk: v for v in found}
    return [by_id[i] for i in dict.fromkeys(ids) if i in by_id]


def value_of_card(*, card: ValuesCard) -> int | None:
    """The id of the value a card is placed in now, if any."""
    return CardMerge.objects.filter(card=card, undone_at__isnull=True).values_list("value_id", flat=True).first()


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
