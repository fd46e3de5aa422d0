"""Reads for the moral graph: votes at a watermark, edge counts, assignments, snapshots, and the organizer API's
reads with the role check built in. The report is `selectors.report`, the organizer's dashboard
`selectors.dashboard`."""

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from django.db import connection
from django.db.models import Count, Max, Q, QuerySet, TextField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from cards.models import CanonicalValue
from core.errors import Forbidden
from deliberation.models import Context, Participant, ParticipantAttribute, Round, Stage
from deliberation.permissions import can
from moral_graph.bridging import Labels
from moral_graph.exports import ExportError, Verification, export_parse, export_verify
from moral_graph.models import (
    Answer,
    RankingRelease,
    RankingRun,
    RankingSnapshot,
    StoryAssignment,
    TransitionStory,
    WiserVote,
    WiserVoteRevision,
)
from moral_graph.numeric import positions

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
    """The newest story assignment of the round (0 when none).

    Read as the first row of a backward scan of the primary key: MAX over a join reads every assignment.
    """
    newest = (
        StoryAssignment.objects.filter(story__round_id=round_id)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    return newest or 0


def _int_columns(sql: str, params: list, n_columns: int) -> np.ndarray:
    """The rows of a query of n_columns integers (none NULL) as an int64 array (rows x n_columns).

    On PostgreSQL each column comes back as one bytea, its values' binary forms (int8send) concatenated
    by string_agg, which numpy reads in place: no Python object per row, and about half the backend's
    work of array_send(array_agg(...)). Other databases go through fetchall.
    """
    if connection.vendor == "postgresql":
        names = [f"c{i}" for i in range(n_columns)]
        packed = ", ".join(f"string_agg(int8send(q.{name}), '')" for name in names)
        import psycopg

        connection.ensure_connection()
        # A server-side-binding cursor on Django's connection asking for binary results: the bytea columns
        # arrive as they are, not as hex text for psycopg to decode (tens of megabytes at millions of votes).
        with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(f"SELECT {packed} FROM ({sql}) AS q({', '.join(names)})", params, binary=True)  # noqa: S608 - generated names
            columns = cursor.fetchone()
        if columns[0] is None:
            return np.zeros((0, n_columns), dtype=np.int64)
        return np.stack([parse_int8_column(column) for column in columns], axis=1)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return np.asarray(rows, dtype=np.int64).reshape(-1, n_columns)


def parse_int8_column(data: bytes) -> np.ndarray:
    """Big-endian 8-byte integers back to back (string_agg of int8send) as an int64 array."""
    if len(data) % 8:
        raise ValueError("not a whole number of 8-byte integers")
    return np.frombuffer(data, ">i8").astype(np.int64)


def _answer_code_sql(column: str) -> str:
    return (
        f"CAST(CASE {column} WHEN '{Answer.WISER}' THEN {ANSWER_CODES[Answer.WISER]} "
        f"WHEN '{Answer.NOT_WISER}' THEN {ANSWER_CODES[Answer.NOT_WISER]} "
        f"ELSE {ANSWER_CODES[Answer.NOT_SURE]} END AS BIGINT)"
    )


def round_stories(*, round_id: int, context_id: int | None = None) -> np.ndarray:
    """The round's stories (or one context's) sorted by id: id, context, from value, to value, hidden (0/1)."""
    story = TransitionStory._meta.db_table
    sql = (
        f"SELECT id, context_id, from_value_id, to_value_id, CAST(CASE WHEN is_hidden THEN 1 ELSE 0 END AS BIGINT)"  # noqa: S608 - names from the models
        f" FROM {story} WHERE round_id = %s"
    )
    params = [round_id]
    if context_id is not None:
        sql += " AND context_id = %s"
        params.append(context_id)
    rows = _int_columns(sql, params, 5)
    return rows[np.argsort(rows[:, 0], kind="stable")]


def _latest_revisions(round_id: int, watermark: int, context_id: int | None = None) -> np.ndarray:
    """Per vote of the round (or of one context), its newest revision at the watermark: vote id, answer code,
    participant, story (sorted by vote). One table: each revision carries its vote's participant, story and
    context (decision 46), read by the (round, id) or (context, id) index.

    Vote id and answer code travel as one integer (vote id * 4 + code), a third less to aggregate.
    """
    revision = WiserVoteRevision._meta.db_table
    sql = (
        f"SELECT vote_id * 4 + {_answer_code_sql('answer')}, id, participant_id, story_id FROM {revision}"  # noqa: S608 - names from the models
        + (" WHERE round_id = %s AND id <= %s" if context_id is None else " WHERE context_id = %s AND id <= %s")
    )
    rows = _int_columns(sql, [round_id if context_id is None else context_id, watermark], 4)
    vote, code = rows[:, 0] >> 2, rows[:, 0] & 3
    if len(vote) < 2 or bool(np.all(vote[1:] > vote[:-1])):
        # One revision per vote, already in vote order (the usual case): nothing to sort or drop.
        return np.stack([vote, code, rows[:, 2], rows[:, 3]], axis=1)
    # Two stable sorts (by revision, then by vote) order as a lexsort would; rows come back nearly in
    # both orders, which timsort handles in about linear time.
    order = np.argsort(rows[:, 1], kind="stable")
    order = order[np.argsort(vote[order], kind="stable")]
    vote, code, participant, story = vote[order], code[order], rows[order, 2], rows[order, 3]
    last = np.ones(len(vote), dtype=bool)
    last[:-1] = vote[1:] != vote[:-1]
    return np.stack([vote[last], code[last], participant[last], story[last]], axis=1)


def votes_at_watermark(
    *, round_id: int, watermark: int, stories: np.ndarray | None = None, context_id: int | None = None
) -> dict[int, ContextVotes]:
    """Each vote's answer as of the watermark (hidden stories left out), grouped by context, ordered by vote.

    Two single-table reads (the latest revisions with their participant and story, the stories), joined in
    numpy. context_id: that context's votes only (a part of a fanned-out ranking), through the revisions'
    (context, id) index. stories: round_stories (of that context, or the round), when the caller read them.
    """
    latest = _latest_revisions(round_id, watermark, context_id)
    if len(latest) == 0:
        return {}
    if stories is None:
        stories = round_stories(round_id=round_id, context_id=context_id)
    story_row = positions(stories[:, 0], latest[:, 3])
    keep = story_row >= 0
    keep[keep] = stories[story_row[keep], 4] == 0
    latest, story_row = latest[keep], story_row[keep]
    contexts, story_context = np.unique(stories[:, 1], return_inverse=True)
    # The rows are in vote order; a stable sort by context keeps it within each context. Small integer
    # codes let numpy use a radix sort, ten times faster than sorting the ids.
    code_type = np.int16 if len(contexts) < 2**15 else np.int64
    order = np.argsort(story_context.astype(code_type)[story_row], kind="stable")
    latest, story_row = latest[order], story_row[order]
    context = stories[story_row, 1]
    answer = latest[:, 1].astype(np.int8)
    voter, src, dst = latest[:, 2], stories[story_row, 2], stories[story_row, 3]
    bounds = np.flatnonzero(np.diff(context)) + 1
    starts, ends = np.concatenate([[0], bounds]), np.concatenate([bounds, [len(context)]])
    return {
        int(context[a]): ContextVotes(voter=voter[a:b], src=src[a:b], dst=dst[a:b], answer=answer[a:b])
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
        if b > a
    }


# Up to this many stories (a context's, or a small round's), stories spread over more than twice their number of ids
# are read by id (index probes) rather than over their id range (on PostgreSQL; other databases read the range).
SPARSE_STORIES_MAX = 50_000


def impressions_at(
    *, round_id: int, assignment_watermark: int, stories: np.ndarray | None = None
) -> dict[int, list[tuple[int, int, int]]]:
    """How many participants were shown each story, per context: (from value, to value, count).

    The assignments are read as one column over the stories' id range and counted in numpy, which costs the
    database a plain scan (or, for one context's stories, an index-only scan of (story, id)) instead of a join
    and a grouping. stories: round_stories (of the round or of one context), when the caller has read them
    already. A context's few stories spread over a wide id range are looked up by id instead of by range.
    """
    stories = round_stories(round_id=round_id) if stories is None else stories
    if len(stories) == 0:
        return {}
    assignment = StoryAssignment._meta.db_table
    low, high = int(stories[0, 0]), int(stories[-1, 0])
    sparse = len(stories) <= SPARSE_STORIES_MAX and high - low + 1 > 2 * len(stories)
    if sparse and connection.vendor == "postgresql":
        sql = f"SELECT story_id FROM {assignment} WHERE id <= %s AND story_id = ANY(%s)"  # noqa: S608 - the model's table
        shown = _int_columns(sql, [assignment_watermark, stories[:, 0].tolist()], 1)[:, 0]
    else:
        sql = f"SELECT story_id FROM {assignment} WHERE id <= %s AND story_id >= %s AND story_id <= %s"  # noqa: S608 - the model's table
        shown = _int_columns(sql, [assignment_watermark, low, high], 1)[:, 0]
    row = positions(stories[:, 0], shown)
    counts = np.bincount(row[row >= 0], minlength=len(stories))
    keep = np.flatnonzero((counts > 0) & (stories[:, 4] == 0))
    result: dict[int, list[tuple[int, int, int]]] = {}
    for context_id, src, dst, n in zip(
        stories[keep, 1].tolist(),
        stories[keep, 2].tolist(),
        stories[keep, 3].tolist(),
        counts[keep].tolist(),
        strict=True,
    ):
        result.setdefault(context_id, []).append((src, dst, n))
    return result


def story_stats(*, round_id: int) -> np.ndarray:
    """Every visible story of the round with its counts, sorted by id: id, context, from value, to value, shown,
    wiser votes, votes (int64 rows). Two single-column scans counted in numpy, as `impressions_at` does."""
    stories = round_stories(round_id=round_id)
    stories = stories[stories[:, 4] == 0]
    stats = np.zeros((len(stories), 7), dtype=np.int64)
    stats[:, :4] = stories[:, :4]
    if len(stories) == 0:
        return stats
    low, high = int(stories[0, 0]), int(stories[-1, 0])
    assignment, vote = StoryAssignment._meta.db_table, WiserVote._meta.db_table
    shown = _int_columns(
        f"SELECT story_id FROM {assignment} WHERE story_id >= %s AND story_id <= %s", [low, high], 1  # noqa: S608 - the model's table
    )[:, 0]
    row = positions(stories[:, 0], shown)
    stats[:, 4] = np.bincount(row[row >= 0], minlength=len(stories))
    coded = _int_columns(
        f"SELECT story_id * 4 + {_answer_code_sql('answer')} FROM {vote} WHERE story_id >= %s AND story_id <= %s",  # noqa: S608 - the model's table
        [low, high],
        1,
    )[:, 0]
    row = positions(stories[:, 0], coded >> 2)
    keep = row >= 0
    stats[:, 6] = np.bincount(row[keep], minlength=len(stories))
    wiser = keep & ((coded & 3) == ANSWER_CODES[Answer.WISER])
    stats[:, 5] = np.bincount(row[wiser], minlength=len(stories))
    return stats


def context_value_ids(*, round_id: int) -> dict[int, list[int]]:
    """The active canonical values placed in each context of the round."""
    result: dict[int, list[int]] = {c.pk: [] for c in Context.objects.filter(question__round_id=round_id)}
    through = CanonicalValue.contexts.through
    for value_id, context_id in (
        through.objects.filter(canonicalvalue__round_id=round_id, canonicalvalue__is_active=True)
        .order_by("context_id", "canonicalvalue_id")
        .values_list("canonicalvalue_id", "context_id")
    ):
        result.setdefault(context_id, []).append(value_id)
    return result


@dataclass
class ParticipantGroups:
    """One grouping attribute's answers, factorized once per round: names[code[i]] is participant[i]'s answer."""

    participant: np.ndarray
    code: np.ndarray
    names: np.ndarray

    def labels(self, voter_ids: np.ndarray) -> Labels:
        """The answer of each voter ("" when unknown), aligned with voter_ids, as codes into the names."""
        names = self.names.tolist()
        if "" not in names:
            names.append("")
        position = positions(self.participant, np.asarray(voter_ids, dtype=np.int64))
        return Labels(tuple(names), np.where(position >= 0, self.code[position], names.index("")))


def participant_groups(*, round_id: int) -> dict[str, ParticipantGroups]:
    """Every grouping attribute of the round with each participant's answer (its text), one query per attribute."""
    keys = list(
        ParticipantAttribute.objects.filter(round_id=round_id, is_grouping=True)
        .order_by("order", "id")
        .values_list("key", flat=True)
    )
    result = {}
    for key in keys:
        if connection.vendor == "postgresql":
            result[key] = _participant_groups_pg(round_id, key)
            continue
        rows = (
            Participant.objects.filter(round_id=round_id)
            .annotate(answer=KT(f"attributes__{key}"))
            .order_by("id")
            .values_list("id", "answer")
        )
        codes: dict[str, int] = {"": 0}
        ids, code = [], []
        for pk, answer in rows:
            ids.append(pk)
            code.append(codes.setdefault("" if answer is None else str(answer), len(codes)))
        result[key] = ParticipantGroups(
            participant=np.asarray(ids, dtype=np.int64),
            code=np.asarray(code, dtype=np.int64),
            names=np.asarray(list(codes), dtype=str),
        )
    return result


def _participant_groups_pg(round_id: int, key: str) -> ParticipantGroups:
    """One attribute's answers factorized in the database: the distinct answers once, then (id, code) as packed
    integers, with no Python object per participant."""
    participant = Participant._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT attributes->>%s FROM {participant} WHERE round_id = %s", [key, round_id])  # noqa: S608 - the model's table
        names = ["", *sorted({answer for (answer,) in cursor.fetchall() if answer})]
    rows = _int_columns(
        f"SELECT id, CAST(COALESCE(array_position(%s::text[], attributes->>%s), 1) - 1 AS BIGINT)"  # noqa: S608 - the model's table
        f" FROM {participant} WHERE round_id = %s ORDER BY id",
        [names, key, round_id],
        2,
    )
    return ParticipantGroups(participant=rows[:, 0], code=rows[:, 1], names=np.asarray(names, dtype=str))


def voter_groups(
    *, round_: Round, voter_ids: np.ndarray, groups: dict[str, ParticipantGroups] | None = None
) -> dict[str, Labels]:
    """Each grouping attribute's answer per voter, aligned with voter_ids (groups: participant_groups, reused), as
    bridging.Labels: codes into the round's answers, which rank_context takes as they are."""
    if len(voter_ids) == 0:
        return {}
    groups = participant_groups(round_id=round_.pk) if groups is None else groups
    return {key: group.labels(voter_ids) for key, group in groups.items()}


def value_resolution(*, round_id: int) -> dict[int, int]:
    """Each merged-away value of the round mapped to the active value it now counts for."""
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


def run_scores(*, run_id: int, context_id: int | None = None) -> dict[int, dict[int, float]]:
    """Each context's scores in a run (context id -> value id -> score), to warm-start the next fit; context_id:
    that context's only.

    From the snapshots' scores column (decision 48): a few hundred kilobytes, not the results, which PostgreSQL
    would parse whole as json. Snapshots written before the column have none; their scores come from their
    results (once: the next run writes the column)."""
    snapshots = RankingSnapshot.objects.filter(run_id=run_id, context__isnull=False)
    if context_id is not None:
        snapshots = snapshots.filter(context_id=context_id)
    scores: dict[int, dict[int, float]] = {}
    for found, pairs in snapshots.filter(scores__isnull=False).values_list("context_id", "scores"):
        scores[found] = {value_id: score for value_id, score in pairs}
    for found, results in snapshots.filter(scores__isnull=True).values_list("context_id", "results"):
        scores[found] = {row["valueId"]: row["score"] for row in results.get("values", [])}
    return scores


def contexts_changed_since(*, round_id: int, watermark: int, assignment_watermark: int, upto: int) -> int:
    """How many of the round's contexts have a vote revision after `watermark` (up to `upto`) or a story shown after
    `assignment_watermark`: an upper bound on the contexts a new run must rank again (others copy their result
    unless a merge or a grouping answer changed them). Two index range scans of what is new."""
    revision, assignment = WiserVoteRevision._meta.db_table, StoryAssignment._meta.db_table
    story = TransitionStory._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM (SELECT context_id FROM {revision} WHERE round_id = %s AND id > %s AND id <= %s"  # noqa: S608 - the models' tables
            f" UNION SELECT s.context_id FROM {assignment} a JOIN {story} s ON s.id = a.story_id"
            " WHERE a.id > %s AND s.round_id = %s) AS changed",
            [round_id, watermark, upto, assignment_watermark, round_id],
        )
        return int(cursor.fetchone()[0])


def snapshot_digests(*, run_id: int) -> dict[int, tuple[int, str]]:
    """Each context's snapshot in a run with the digest of the inputs it was computed from (context id ->
    (snapshot id, digest)); snapshots stored before digests were recorded are left out."""
    rows = RankingSnapshot.objects.filter(run_id=run_id, context__isnull=False).exclude(inputs_digest="")
    return {context_id: (pk, digest) for pk, context_id, digest in rows.values_list("pk", "context_id", "inputs_digest")}


def current_run(*, round_: Round) -> RankingRun | None:
    """The round's latest computed run (what organizers inspect; not necessarily what the public sees)."""
    if round_.current_ranking_id is None:
        return None
    return RankingRun.objects.filter(pk=round_.current_ranking_id).first()


def public_run(*, round_: Round) -> RankingRun | None:
    """The run report readers see: the published one once the round is published (frozen until an organizer
    publishes another run explicitly), the latest computed one before."""
    if round_.stage == Stage.PUBLISHED and round_.published_ranking_id is not None:
        return RankingRun.objects.filter(pk=round_.published_ranking_id).first()
    return current_run(round_=round_)


def once_public_run_ids(*, round_: Round) -> set[int]:
    """The runs that are or were the published round's public result (earlier versions stay readable)."""
    ids = set()
    for run_id, previous_id in RankingRelease.objects.filter(round=round_).values_list("run_id", "previous_run_id"):
        ids.update((run_id, previous_id))
    if round_.published_ranking_id is not None:
        ids.add(round_.published_ranking_id)
    return ids


def run_for_reader(*, round_: Round, run_id: Any, organizer: bool) -> RankingRun | None:
    """A run of the round a reader asked for by id: organizers may read any finished run, others only a run that
    is or was public. None when there is no such run or it is not theirs to read."""
    try:
        pk = int(run_id)
    except (TypeError, ValueError):
        return None
    runs = RankingRun.objects.filter(
        round=round_, pk=pk, status__in=[RankingRun.Status.PUBLISHED, RankingRun.Status.SUPERSEDED]
    )
    if not organizer and pk not in once_public_run_ids(round_=round_):
        return None
    return runs.first()


def ranking_versions(*, round_: Round) -> dict[str, Any]:
    """For the organizers' console: the run readers see, the latest computed run when it differs (awaiting an
    explicit publication on a published round) and the revisions so far."""

    def brief(run: RankingRun | None) -> dict[str, Any] | None:
        if run is None:
            return None
        return {"id": run.pk, "method": run.method, "computedAt": run.created_at, "watermark": run.watermark}

    public, current = public_run(round_=round_), current_run(round_=round_)
    frozen = round_.stage == Stage.PUBLISHED and round_.published_ranking_id is not None
    return {
        "frozen": frozen,
        "public": brief(public),
        "unpublished": brief(current) if frozen and current is not None and current.pk != public.pk else None,
        "revisions": ranking_revisions(round_=round_),
    }


def ranking_revisions(*, round_: Round) -> list[dict[str, Any]]:
    """The published round's revisions, newest first: which run replaced which, when and why."""
    return [
        {
            "runId": run_id,
            "previousRunId": previous_id,
            "reason": reason,
            "revisedAt": created_at.isoformat(),
        }
        for run_id, previous_id, reason, created_at in RankingRelease.objects.filter(round=round_)
        .order_by("-created_at", "-id")
        .values_list("run_id", "previous_run_id", "reason", "created_at")
    ]


def snapshot_origins(*, run: RankingRun) -> list[tuple[int, int, int, int | None]]:
    """A run's snapshots without their results, in `snapshots_of`'s order: (id, origin (the snapshot whose result
    it is: its own id unless copied), question, context)."""
    rows = (
        RankingSnapshot.objects.filter(run=run)
        .order_by("question__order", "context__order", "context_id")
        .values_list("pk", "origin", "question_id", "context_id")
    )
    return [(pk, origin or pk, question, context) for pk, origin, question, context in rows]


def snapshots_of(*, run: RankingRun, ids: list[int] | None = None) -> list[RankingSnapshot]:
    """A run's snapshots (ids: only these) in question and context order. Their results are read as text and
    parsed with orjson: at a million votes that is 46 MB of JSON, which the standard library parses in about
    0.9 s, orjson in a fraction of it."""
    snapshots = RankingSnapshot.objects.filter(run=run)
    if ids is not None:
        snapshots = snapshots.filter(pk__in=ids)
    snapshots = list(
        snapshots.select_related("context", "question")
        .defer("results")
        .annotate(results_text=Cast("results", TextField()))
        .order_by("question__order", "context__order", "context_id")
    )
    for snapshot in snapshots:
        snapshot.results = orjson.loads(snapshot.results_text)
        del snapshot.results_text
    return snapshots


def stories_for_round(*, round_: Round, include_hidden: bool = False):
    qs = TransitionStory.objects.filter(round=round_).select_related("context", "from_value", "to_value")
    if not include_hidden:
        qs = qs.filter(is_hidden=False)
    return qs.annotate(
        n_votes=Count("votes", distinct=True),
        n_wiser=Count("votes", filter=Q(votes__answer=Answer.WISER), distinct=True),
    ).order_by("context__order", "id")


def _require(user, round_: Round, action: str) -> None:
    if not can(user, round_, action):
        raise Forbidden("Your role in this round does not allow this.")


def stories_for_organizer(
    *, user, round_: Round, context_id: int | None = None, hidden: bool | None = None
) -> QuerySet[TransitionStory]:
    """The round's transition stories with their current answer counts, for a viewer or above."""
    _require(user, round_, "view_console")
    stories = TransitionStory.objects.filter(round=round_).select_related("context", "from_value", "to_value")
    if context_id is not None:
        stories = stories.filter(context_id=context_id)
    if hidden is not None:
        stories = stories.filter(is_hidden=hidden)
    return stories.annotate(
        n_wiser=Count("votes", filter=Q(votes__answer=Answer.WISER)),
        n_not_wiser=Count("votes", filter=Q(votes__answer=Answer.NOT_WISER)),
        n_not_sure=Count("votes", filter=Q(votes__answer=Answer.NOT_SURE)),
        n_shown=Count("assignments", distinct=True),
    ).order_by("context__order", "context_id", "id")


def votes_for_organizer(
    *,
    user,
    round_: Round,
    context_id: int | None = None,
    pseudonym: str | None = None,
    answer: str | None = None,
) -> QuerySet[WiserVote]:
    """Every current wiser vote of the round under its voter's pseudonym, for a viewer or above."""
    _require(user, round_, "view_participants")
    votes = WiserVote.objects.filter(story__round=round_).select_related("participant", "story")
    if context_id is not None:
        votes = votes.filter(story__context_id=context_id)
    if pseudonym:
        votes = votes.filter(participant__pseudonym=pseudonym)
    if answer:
        votes = votes.filter(answer=answer)
    return votes.order_by("id")


def runs_for_organizer(*, user, round_: Round, status: str | None = None) -> QuerySet[RankingRun]:
    """The round's ranking runs, newest first, for a viewer or above."""
    _require(user, round_, "view_report")
    runs = RankingRun.objects.filter(round=round_)
    if status:
        runs = runs.filter(status=status)
    return runs.order_by("-id")


def run_for_organizer(*, user, round_: Round, run_id: int) -> RankingRun | None:
    """One ranking run of the round with its snapshots, for a viewer or above."""
    _require(user, round_, "view_report")
    return RankingRun.objects.filter(round=round_, pk=run_id).prefetch_related("snapshots").first()


def assignments_of(*, participant: Participant) -> list[TransitionStory]:
    """The stories already assigned to the participant, in the order they were given (a read: it assigns none;
    `services.assignments_take` tops them up)."""
    return list(
        TransitionStory.objects.filter(assignments__participant=participant)
        .select_related("context", "from_value", "to_value")
        .order_by("assignments__id")
    )


def voted_story_ids(*, participant: Participant) -> set[int]:
    """The stories the participant has voted on."""
    return set(WiserVote.objects.filter(participant=participant).values_list("story_id", flat=True))


def votes_of(*, participant: Participant) -> dict[int, WiserVote]:
    """The participant's votes by story id."""
    return {v.story_id: v for v in WiserVote.objects.filter(participant=participant)}


def stories_for_moderation(*, round_: Round) -> QuerySet[TransitionStory]:
    """Every story of the round with its vote count, by context, for the moderation page."""
    return (
        TransitionStory.objects.filter(round=round_)
        .select_related("context", "from_value", "to_value")
        .annotate(n_votes=Count("votes"))
        .order_by("context_id", "id")
    )


def stories_of_round(*, round_: Round) -> QuerySet[TransitionStory]:
    return TransitionStory.objects.filter(round=round_)


def participant_vote(*, participant_id: int, story_id: Any) -> WiserVote | None:
    """The participant's vote on one story, if they cast one."""
    try:
        story_pk = int(story_id)
    except (TypeError, ValueError):
        return None
    return WiserVote.objects.filter(participant_id=participant_id, story_id=story_pk).first()


def export_verification(*, content: bytes, name: str = "The file") -> Verification:
    """Recompute an uploaded JSON export from its own votes (as verify_export does); ExportError when unusable."""
    try:
        return export_verify(export_parse(content, name=name))
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError(f"{name} cannot be verified: {exc}") from exc


def story_names(*, round_id: int, ids: set[int]) -> dict[int, str]:
    """Each story of a round as "before → after" by id."""
    rows = TransitionStory.objects.filter(round_id=round_id, pk__in=ids).values_list(
        "pk", "from_value__title", "to_value__title"
    )
    return {pk: f"{before} → {after}" for pk, before, after in rows}
