"""Reads of cards, values and articulation chats for pages and services."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cards import dedup
from cards.models import ArticulationSession, CanonicalValue, CardMerge, ValuesCard
from cards.services import vectors_from_bytes
from deliberation.models import Participant
from llm import gateway


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


def value_of_card(*, card: ValuesCard) -> int | None:
    """The id of the value a card is placed in now, if any."""
    return CardMerge.objects.filter(card=card, undone_at__isnull=True).values_list("value_id", flat=True).first()
