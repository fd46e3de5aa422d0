"""Reads of values cards, canonical values and merges, with the access rules built in.

The card vocabulary the pages use (statuses, the number of policies) is named here too, so frontend/ imports no
models.
"""

from dataclasses import dataclass

import numpy as np
from django.db.models import Prefetch, QuerySet

from cards import dedup
from cards.models import MAX_POLICIES, CanonicalValue, CardMerge, ValuesCard
from cards.services import vectors_from_bytes
from core.errors import Forbidden
from deliberation.models import Participant, Question, Round
from deliberation.permissions import can
from llm.gateway import embed


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


@dataclass(frozen=True)
class SimilarValue:
    """An existing value of a question that looks close to a card being written."""

    id: int
    title: str
    description: str
    policies: list[str]
    similarity: float


def values_similar(
    question_id: int,
    text: dedup.CardText | str,
    limit: int = 3,
    *,
    round_id: int | None = None,
    floor: float | None = None,
) -> list[SimilarValue]:
    """Up to `limit` active values of the question that a card (or a draft's text, while it is being written) is
    close to, best first: scored as placement scores a card (centred by the question's values), kept above the
    review band's floor (or `floor`: a draft without policies scores lower than a whole card). Values whose stored vectors are missing or in another embedding space are left out; this
    read never writes them. The draft is embedded through the gateway (offline when there is no model)."""
    rows = list(
        CanonicalValue.objects.filter(question_id=question_id, is_active=True)
        .exclude(embedding=None)
        .values_list("id", "title", "description", "policies", "embedding")
    )
    if not rows or limit < 1:
        return []
    if isinstance(text, str):
        if not text.strip():
            return []
        # A draft without policies yet: its text stands for the heading and for its one policy.
        texts = [text.strip(), text.strip()]
    else:
        texts = dedup.card_texts(text.title, text.description, text.policies)
    card = dedup.as_card_vectors(embed(texts, purpose="dedup.similar", round_id=round_id))
    stored = [(row, vectors_from_bytes(row[4])) for row in rows]
    stored = [(row, matrix) for row, matrix in stored if matrix is not None and matrix.shape[1] == card.whole.shape[0]]
    if not stored:
        return []
    values = [dedup.as_card_vectors(matrix) for _, matrix in stored]
    scores = dedup.similarity_matrix([card], values, dedup.Population.of(values))[0]
    if floor is None:
        threshold = Question.objects.filter(pk=question_id).values_list("round__dedup_threshold", flat=True).first()
        floor = dedup.thresholds_for(threshold).review_low
    order = [int(i) for i in np.argsort(-scores, kind="stable") if scores[int(i)] >= floor][:limit]
    return [
        SimilarValue(
            id=stored[i][0][0],
            title=stored[i][0][1],
            description=stored[i][0][2],
            policies=list(stored[i][0][3]),
            similarity=float(scores[i]),
        )
        for i in order
    ]
