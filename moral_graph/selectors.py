"""Reads for the moral graph: votes at a watermark, edge counts, assignments, snapshots."""

from dataclasses import dataclass

import numpy as np
from django.db import connection
from django.db.models import Count, Max, Q

from deliberation.models import Context, Participant, Round
from moral_graph.models import (
    Answer,
    RankingRun,
    RankingSnapshot,
    StoryAssignment,
    TransitionStory,
    WiserVoteRevision,
)

ANSWER_CODES = {Answer.WISER: 0, Answer.NOT_WISER: 1, Answer.NOT_SURE: 2}


@dataclass
class ContextVotes:
    """Per-vote arrays of one context at a watermark (src/dst are canonical value ids)."""

    voter: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    answer: np.ndarray


def round_watermark(*, round_id: int) -> int:
    """The newest vote revision of the round (0 when nobody voted)."""
    return WiserVoteRevision.objects.filter(round_id=round_id).aggregate(m=Max("id"))["m"] or 0


def assignment_watermark(*, round_id: int) -> int:
    return StoryAssignment.objects.filter(story__round_id=round_id).aggregate(m=Max("id"))["m"] or 0


def votes_at_watermark(*, round_id: int, watermark: int) -> dict[int, ContextVotes]:
    """Each vote's answer as of the watermark, grouped by context, computed in one SQL query."""
    revision = WiserVoteRevision._meta.db_table
    vote = "moral_graph_wiservote"
    story = TransitionStory._meta.db_table
    sql = f"""
        SELECT s.context_id, v.participant_id, s.from_value_id, s.to_value_id, r.answer
        FROM (SELECT vote_id, MAX(id) AS last_id FROM {revision}
              WHERE round_id = %s AND id <= %s GROUP BY vote_id) AS lr
        JOIN {revision} r ON r.id = lr.last_id
        JOIN {vote} v ON v.id = lr.vote_id
        JOIN {story} s ON s.id = v.story_id
        WHERE s.is_hidden = %s
        ORDER BY s.context_id, r.vote_id
    """  # noqa: S608 - table names come from the models, values are parameters
    rows: dict[int, list[tuple[int, int, int, int]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [round_id, watermark, False])
        for context_id, participant_id, src, dst, answer in cursor.fetchall():
            rows.setdefault(context_id, []).append((participant_id, src, dst, ANSWER_CODES[answer]))
    result = {}
    for context_id, items in rows.items():
        array = np.asarray(items, dtype=np.int64).reshape(-1, 4)
        result[context_id] = ContextVotes(
            voter=array[:, 0], src=array[:, 1], dst=array[:, 2], answer=array[:, 3].astype(np.int8)
        )
    return result


def impressions_at(*, round_id: int, assignment_watermark: int) -> dict[int, list[tuple[int, int, int]]]:
    """How many participants were shown each story, per context: (from value, to value, count)."""
    rows = (
        StoryAssignment.objects.filter(
            story__round_id=round_id, id__lte=assignment_watermark, story__is_hidden=False
        )
        .values("story__context_id", "story__from_value_id", "story__to_value_id")
        .annotate(n=Count("id"))
    )
    result: dict[int, list[tuple[int, int, int]]] = {}
    for row in rows:
        result.setdefault(row["story__context_id"], []).append(
            (row["story__from_value_id"], row["story__to_value_id"], row["n"])
        )
    return result


def context_value_ids(*, round_id: int) -> dict[int, list[int]]:
    """The active canonical values placed in each context of the round."""
    from cards.models import CanonicalValue

    result: dict[int, list[int]] = {c.pk: [] for c in Context.objects.filter(question__round_id=round_id)}
    through = CanonicalValue.contexts.through
    for value_id, context_id in (
        through.objects.filter(canonicalvalue__round_id=round_id, canonicalvalue__is_active=True)
        .order_by("context_id", "canonicalvalue_id")
        .values_list("canonicalvalue_id", "context_id")
    ):
        result.setdefault(context_id, []).append(value_id)
    return result


def voter_groups(*, round_: Round, voter_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Each grouping attribute's answer per voter, aligned with voter_ids."""
    keys = list(round_.attributes.filter(is_grouping=True).values_list("key", flat=True))
    if not keys or len(voter_ids) == 0:
        return {}
    answers = dict(Participant.objects.filter(round=round_).values_list("id", "attributes"))
    return {
        key: np.asarray([str((answers.get(int(v)) or {}).get(key, "")) for v in voter_ids], dtype=object)
        for key in keys
    }


def value_resolution(*, round_id: int) -> dict[int, int]:
    """Each merged-away value of the round mapped to the active value it now counts for."""
    from cards.models import CanonicalValue

    parent = dict(
        CanonicalValue.objects.filter(round_id=round_id, merged_into__isnull=False).values_list(
            "pk", "merged_into_id"
        )
    )
    resolved = {}
    for value_id in parent:
        seen, current = set(), value_id
        while current in parent and current not in seen:
            seen.add(current)
            current = parent[current]
        resolved[value_id] = current
    return resolved


def current_run(*, round_: Round) -> RankingRun | None:
    if round_.current_ranking_id is None:
        return None
    return RankingRun.objects.filter(pk=round_.current_ranking_id).first()


def snapshots_of(*, run: RankingRun) -> list[RankingSnapshot]:
    return list(
        RankingSnapshot.objects.filter(run=run)
        .select_related("context", "question")
        .order_by("question__order", "context__order", "context_id")
    )


def stories_for_round(*, round_: Round, include_hidden: bool = False):
    qs = TransitionStory.objects.filter(round=round_).select_related("context", "from_value", "to_value")
    if not include_hidden:
        qs = qs.filter(is_hidden=False)
    return qs.annotate(
        n_votes=Count("votes", distinct=True),
        n_wiser=Count("votes", filter=Q(votes__answer=Answer.WISER), distinct=True),
    ).order_by("context__order", "id")
