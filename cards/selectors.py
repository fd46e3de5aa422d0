"""Reads for values cards."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cards import dedup
from cards.models import CanonicalValue
from cards.services import vectors_from_bytes
from deliberation.models import Question


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
    from llm.gateway import embed

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
