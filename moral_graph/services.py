"""Writes for the moral graph: stories, assignments, wiser votes and ranking runs."""

import logging
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import numpy as np
import orjson
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Count, F, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from cards.models import CanonicalValue
from cards.services import value_vectors
from core.errors import Conflict, DomainError, Forbidden, NotFound, WrongStage
from core.queue import enqueue_on_commit, enqueue_slow_on_commit
from core.text import clean_text
from deliberation.models import Context, Job, Participant, Round, Stage
from deliberation.permissions import can
from deliberation.services import audit_log, round_apply_schedule
from llm.gateway import LLMUnavailable, model_available
from moral_graph import ranking, selectors, vote_sql
from moral_graph.digest import inputs_digest
from moral_graph.models import (
    Answer,
    RankingPart,
    RankingRelease,
    RankingRun,
    RankingSnapshot,
    StoryAssignment,
    TransitionStory,
    WiserVote,
    WiserVoteRevision,
)
from moral_graph.selectors import ranking_inputs
from moral_graph.stories import TEMPLATE_VERSION, template_story
from moral_graph.story_generation import propose_transitions

log = logging.getLogger(__name__)

STORY_NEIGHBOURS = 3
RANK_DEBOUNCE_SECONDS = 1.0
RANKING_FANOUT_MIN_VOTES = 50_000
RANKING_HEARTBEAT_SECONDS = 5
RANKING_STALE_SECONDS = 20
SOFTWARE_VERSION = "0.1.0"


def _neighbour_pairs(value_ids: list[int], vectors: dict[int, np.ndarray], k: int) -> set[tuple[int, int]]:
    """Unordered pairs of each value with its k nearest neighbours in embedding space."""
    if len(value_ids) < 2:
        return set()
    if len(value_ids) <= k + 1:
        return {(a, b) for i, a in enumerate(value_ids) for b in value_ids[i + 1 :]}
    matrix = np.stack([vectors[v][0] for v in value_ids])
    sims = matrix @ matrix.T
    np.fill_diagonal(sims, -np.inf)
    pairs = set()
    for i, a in enumerate(value_ids):
        for j in np.argsort(-sims[i], kind="stable")[:k]:
            b = value_ids[int(j)]
            pairs.add((min(a, b), max(a, b)))
    return pairs


def _model_stories(round_id: int, context: Context, values: list) -> list[TransitionStory]:
    """Transitions a model proposes for a context (each followed by its reverse); none when no model can answer."""
    if len(values) < 2 or not model_available(round_id):
        return []
    try:
        proposed = propose_transitions(round_id=round_id, context=context, values=values)
    except LLMUnavailable:
        return []
    return [
        TransitionStory(
            round_id=round_id,
            context_id=context.pk,
            from_value_id=s["from_value_id"],
            to_value_id=s["to_value_id"],
            origin=TransitionStory.Origin.MODEL,
            prompt_version=s["prompt_version"],
            text=s["text"],
        )
        for s in proposed
    ]


def stories_generate(*, round_id: int) -> int:
    """Write template stories (each with its reverse) between neighbouring values of every context, then, when a
    model is available, enqueue one task per context that replaces untouched templates with the model's stories.

    The templates are committed first and need no model, so a round entering voting has stories at once, and a
    model task that fails or is killed by its time limit leaves them in place. Idempotent."""
    round_ = Round.objects.filter(pk=round_id).first()
    if round_ is None:
        return 0
    per_context = selectors.context_value_ids(round_id=round_id)
    values = {v.pk: v for v in CanonicalValue.objects.filter(round_id=round_id, is_active=True)}
    vectors = {pk: value_vectors(v) for pk, v in values.items()}
    contexts = {c.pk: c for c in Context.objects.filter(question__round_id=round_id)}
    new = []
    model_contexts = []
    for context_id, value_ids in per_context.items():
        ids = [v for v in value_ids if v in values]
        if len(ids) >= 2:
            model_contexts.append(context_id)
        for a, b in sorted(_neighbour_pairs(ids, vectors, STORY_NEIGHBOURS)):
            for src, dst in ((a, b), (b, a)):
                new.append(
                    TransitionStory(
                        round_id=round_id,
                        context_id=context_id,
                        from_value_id=src,
                        to_value_id=dst,
                        origin=TransitionStory.Origin.TEMPLATE,
                        prompt_version=TEMPLATE_VERSION,
                        text=template_story(
                            context_name=contexts[context_id].name,
                            from_title=values[src].title,
                            from_policies=values[src].policies,
                            to_title=values[dst].title,
                            to_policies=values[dst].policies,
                        ),
                    )
                )
    with transaction.atomic():
        before = TransitionStory.objects.filter(round_id=round_id).count()
        TransitionStory.objects.bulk_create(new, ignore_conflicts=True)
        written = TransitionStory.objects.filter(round_id=round_id).count() - before
        if model_available(round_id):
            from moral_graph.tasks import generate_model_stories

            for context_id in model_contexts:
                enqueue_slow_on_commit(generate_model_stories, round_id, context_id)
    return written


def stories_from_model(*, round_id: int, context_id: int) -> int:
    """Replace a context's template stories with the transitions a model proposes; returns the stories written.

    The model is called outside any transaction. A proposed transition and its reverse are written together or
    not at all: over template stories that nobody has been shown yet, or where there is no story. A pair already
    shown to someone keeps its template (votes must refer to the text people read). Idempotent: a context that
    already has model stories of the current prompt is left alone.
    """
    from cards.models import CanonicalValue
    from moral_graph.story_generation import STORY_VERSION

    context = Context.objects.filter(pk=context_id, question__round_id=round_id).first()
    if context is None:
        return 0
    stories = TransitionStory.objects.filter(context=context)
    if stories.filter(origin=TransitionStory.Origin.MODEL, prompt_version=STORY_VERSION).exists():
        return 0
    value_ids = selectors.context_value_ids(round_id=round_id).get(context_id, [])
    by_id = CanonicalValue.objects.filter(round_id=round_id, is_active=True).in_bulk(value_ids)
    proposed = _model_stories(round_id, context, [by_id[v] for v in value_ids if v in by_id])
    pairs: dict[frozenset, list[TransitionStory]] = {}
    for story in proposed:
        pairs.setdefault(frozenset((story.from_value_id, story.to_value_id)), []).append(story)
    written = 0
    with transaction.atomic():
        Round.objects.select_for_update().filter(pk=round_id).first()
        active = set(
            CanonicalValue.objects.filter(round_id=round_id, is_active=True, pk__in=value_ids).values_list(
                "pk", flat=True
            )
        )
        for pair, both in pairs.items():
            if len(both) != 2 or not pair <= active:
                continue
            existing = list(
                stories.select_for_update().filter(from_value_id__in=pair, to_value_id__in=pair)
            )
            untouched = all(
                s.origin == TransitionStory.Origin.TEMPLATE and not s.is_hidden and not s.assignments.exists()
                for s in existing
            )
            if not untouched:
                continue
            TransitionStory.objects.filter(pk__in=[s.pk for s in existing]).delete()
            TransitionStory.objects.bulk_create(both)
            written += 2
    if written:
        log.info("round %s context %s: %s model stories replaced templates", round_id, context_id, written)
    return written


def story_write(
    *, actor, context: Context, from_value_id: int, to_value_id: int, text: str
) -> TransitionStory:
    """An organizer writes (or rewrites) the story between two values of a context."""
    round_ = context.question.round
    if not can(actor, round_, "edit_stories"):
        raise Forbidden(_("Your role in this round does not allow editing stories."))
    text = clean_text(text, field="text", max_length=4000, multiline=True)
    ids = set(
        CanonicalValue.objects.filter(round=round_, pk__in=[from_value_id, to_value_id]).values_list(
            "pk", flat=True
        )
    )
    if len(ids) != 2:
        raise ValidationError({"values": "Choose two different values of this round."})
    with transaction.atomic():
        story, created = TransitionStory.objects.update_or_create(
            context=context,
            from_value_id=from_value_id,
            to_value_id=to_value_id,
            defaults={
                "round": round_,
                "text": text,
                "origin": TransitionStory.Origin.ORGANIZER,
                "prompt_version": "",
            },
        )
        audit_log(round_=round_, actor=actor, action="story.write", target=story, data={"created": created})
    return story


def story_hide(*, actor, story: TransitionStory, reason: str, hidden: bool = True) -> TransitionStory:
    """Hide a story from voting (its votes stop counting), or show it again."""
    if not can(actor, story.round, "edit_stories"):
        raise Forbidden(_("Your role in this round does not allow editing stories."))
    reason = clean_text(reason, field="reason", max_length=500, required=hidden)
    with transaction.atomic():
        TransitionStory.objects.filter(pk=story.pk).update(
            is_hidden=hidden, hidden_reason=reason if hidden else ""
        )
        audit_log(
            round_=story.round,
            actor=actor,
            action="story.hide" if hidden else "story.show",
            target=story,
            data={"reason": reason},
        )
        mark_ranking_dirty(story.round_id, structural=True)
    story.refresh_from_db()
    return story


def _story_count(rows) -> Coalesce:
    """The number of `rows` of each story in the outer query."""
    counted = rows.filter(story=OuterRef("pk")).order_by().values("story").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


ASSIGNMENT_CACHED_STORIES = 5_000
STORY_STATS_SECONDS = 30
# This process's copy of each big round's story counts: (stamp, rows), so a request does not fetch megabytes from
# the cache when nothing changed; locally raised as stories are assigned here.
_STORY_STATS_MEMO: dict[int, tuple[float, np.ndarray]] = {}


def story_stats_memo_clear() -> None:
    """Forget this process's copies of story counts (tests: round ids repeat across test databases)."""
    _STORY_STATS_MEMO.clear()


def _story_stats_cached(round_id: int) -> np.ndarray:
    """The round's story counts (`selectors.story_stats`) as of at most WISER_STORY_STATS_SECONDS ago, shared by
    all processes through the cache. When they are older, one request recomputes them while the others go on with
    the old copy."""
    key = f"wiser:story-stats:{round_id}"
    max_age = float(getattr(settings, "WISER_STORY_STATS_SECONDS", STORY_STATS_SECONDS))
    now = time.time()
    memo = _STORY_STATS_MEMO.get(round_id)
    try:
        stamp = cache.get(f"{key}:at")
        if stamp is not None and (memo is None or memo[0] != stamp):
            blob = cache.get(key)
            if blob is not None and blob[0] == stamp:
                memo = (stamp, np.frombuffer(blob[1], dtype=np.int64).reshape(-1, 7).copy())
                _STORY_STATS_MEMO[round_id] = memo
        fresh = memo is not None and now - memo[0] <= max_age
        if fresh or (memo is not None and not cache.add(f"{key}:lock", 1, timeout=60)):
            return memo[1]
    except Exception:  # the cache down: count in this request
        log.warning("story counts of round %s not cached", round_id, exc_info=True)
    stats = selectors.story_stats(round_id=round_id)
    stamp = time.time()
    _STORY_STATS_MEMO[round_id] = (stamp, stats)
    try:
        cache.set(key, (stamp, stats.tobytes()), timeout=3600)
        cache.set(f"{key}:at", stamp, timeout=3600)
        cache.delete(f"{key}:lock")
    except Exception:
        log.warning("story counts of round %s not cached", round_id, exc_info=True)
    return stats


def _choose_stories(
    rows: np.ndarray, *, participant_id: int, own_values: set, taken: set, exclude: set, missing: int, minimum: int
) -> list[int]:
    """Pick `missing` stories from rows (id, context, from, to, shown, wiser, votes): stories shown fewer than
    `minimum` times first (fewest shown first), then the most uncertain, the participant's own values preferred,
    ties in an order of their own; never both directions of a pair (`taken` holds the pairs they have)."""
    if missing <= 0 or len(rows) == 0:
        return []
    story, context, src, dst, shown, wiser, votes = (rows[:, i] for i in range(7))
    share = (wiser + 1) / (votes + 2)
    uncertainty = share * (1 - share) / (votes + 1)
    # Stories below the minimum first, fewest shown first; then the most uncertain: one number per story (the
    # uncertainty is at most 1/4), so only the best few and their ties need a full sort.
    key = np.where(shown < minimum, shown, minimum) + 2 * (0.25 - uncertainty)
    own = np.isin(src, list(own_values)) | np.isin(dst, list(own_values))
    tie = np.random.default_rng(participant_id).random(len(rows))
    wanted = min(len(rows), 4 * missing + 2 * len(exclude) + 2 * len(taken) + 16)
    chosen: list[int] = []
    while True:
        if wanted < len(rows):
            candidates = np.flatnonzero(key <= np.partition(key, wanted - 1)[wanted - 1])
        else:
            candidates = np.arange(len(rows))
        order = candidates[np.lexsort((tie[candidates], ~own[candidates], key[candidates]))]
        picked, seen = [], set(taken)
        for i in order.tolist():
            pair = (int(context[i]), frozenset((int(src[i]), int(dst[i]))))
            if int(story[i]) in exclude or pair in seen:
                continue
            seen.add(pair)
            picked.append(int(story[i]))
            if len(picked) == missing:
                break
        if len(picked) == missing or len(candidates) == len(rows):
            chosen = picked
            taken |= seen
            break
        wanted = min(len(rows), 4 * wanted)
    return chosen


def assignments_take(*, participant: Participant) -> list[TransitionStory]:
    """Assign the participant stories up to the round's quota (adaptively) and return all of theirs.

    A write: called from write paths only (POST .../stories/assigned/, the seed) and from the vote page, which
    assigns on purpose when it shows the next story. Reads use `selectors.assignments_of`. In a round with more
    than WISER_ASSIGNMENT_CACHED_STORIES visible stories the counts come from `_story_stats_cached` (seconds old)
    instead of being counted for every participant.
    """
    round_ = participant.round
    assigned = selectors.assignments_of(participant=participant)
    missing = round_.stories_per_participant - len(assigned)
    if missing <= 0 or round_.stage != Stage.VOTING:
        return assigned
    own_values = set(
        participant.cards.filter(merges__undone_at__isnull=True).values_list("merges__value_id", flat=True)
    )
    own_values.discard(None)
    # Nobody judges both directions of one pair: the second would only echo the first answer.
    taken = {(s.context_id, frozenset((s.from_value_id, s.to_value_id))) for s in assigned}
    visible = TransitionStory.objects.filter(round=round_, is_hidden=False)
    cached_above = getattr(settings, "WISER_ASSIGNMENT_CACHED_STORIES", ASSIGNMENT_CACHED_STORIES)
    memo = _STORY_STATS_MEMO.get(round_.pk)
    # A round this process already knows to be big skips the count (a scan of its stories' index).
    if (memo is not None and len(memo[1]) > cached_above) or visible.count() > cached_above:
        rows = _story_stats_cached(round_.pk)
    else:
        rows = np.asarray(
            list(
                visible.filter(context__question__round=round_)
                .exclude(assignments__participant=participant)
                .annotate(
                    # One counting subquery each (index scans on story_id): joining both tables and counting
                    # distinct rows would multiply a story's assignments by its votes, quadratic in participants.
                    n_shown=_story_count(StoryAssignment.objects.all()),
                    n_wiser=_story_count(WiserVote.objects.filter(answer=Answer.WISER)),
                    n_votes=_story_count(WiserVote.objects.all()),
                )
                .order_by("pk")
                .values_list("pk", "context_id", "from_value_id", "to_value_id", "n_shown", "n_wiser", "n_votes")
            ),
            dtype=np.int64,
        ).reshape(-1, 7)
    chosen = _choose_stories(
        rows,
        participant_id=participant.pk,
        own_values=own_values,
        taken=taken,
        exclude={s.pk for s in assigned},
        missing=missing,
        minimum=round_.min_votes_per_story,
    )
    with transaction.atomic():
        StoryAssignment.objects.bulk_create(
            [StoryAssignment(participant=participant, story_id=pk) for pk in chosen], ignore_conflicts=True
        )
    memo = _STORY_STATS_MEMO.get(round_.pk)
    if memo is not None and memo[1] is rows and chosen:
        # This process's copy counts its own assignments at once, so its next participants spread further.
        memo[1][np.searchsorted(memo[1][:, 0], chosen), 4] += 1
    return selectors.assignments_of(participant=participant)


def _clean_vote(answer: Any, reason: Any) -> tuple[str, str]:
    errors = {}
    if answer not in Answer.values:
        errors["answer"] = [f"Answer one of: {', '.join(Answer.values)}."]
    try:
        reason = clean_text(reason, field="reason", max_length=500, required=False, multiline=True)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return answer, reason


def mark_ranking_dirty(round_id: int, *, structural: bool = False) -> None:
    """Schedule one recompute: only the first change after a ranking started enqueues it (`ranking_countdown`)."""
    if structural:
        Round.objects.filter(pk=round_id).update(structure_version=F("structure_version") + 1)
    flipped = Round.objects.filter(pk=round_id, ranking_dirty_since__isnull=True).update(
        ranking_dirty_since=timezone.now()
    )
    if flipped:
        from moral_graph.tasks import rank_round

        enqueue_on_commit(rank_round, round_id, countdown=ranking_countdown(round_id))


class StoryOfAnotherRound(NotFound):
    """The story exists but belongs to another round than the participant's (the API answers 403)."""


class ParticipantGone(DomainError):
    """The participant named by the caller no longer exists (their data was deleted; the API answers 401)."""

    status = 401
    code = "authentication_failed"


def vote_cast(
    *, participant: Participant, story_id: Any, answer: Any, reason: Any = ""
) -> tuple[WiserVote, bool]:
    """Cast a wiser vote on an assigned story; a retry of the same vote returns it unchanged.

    Only `participant.pk` and `participant.round_id` are read: the participant's existence is checked in the
    same statement, so a caller may pass `deliberation.auth.participant_unverified(...)`.
    """
    answer, reason = _clean_vote(answer, reason)
    try:
        story_pk = int(story_id)
    except (TypeError, ValueError) as exc:
        raise NotFound(_("No such story.")) from exc
    if not 0 < story_pk < 2**63:
        raise NotFound(_("No such story."))
    params = {
        "participant": participant.pk,
        "round": participant.round_id,
        "story": story_pk,
        "voting": Stage.VOTING.value,
        "closed": Stage.CLOSED.value,
        "answer": answer,
        "reason": reason,
        "now": timezone.now(),
    }
    # The time as the database compares it with stored datetimes (text on SQLite).
    params["at"] = connection.ops.adapt_datetimefield_value(params["now"])
    postgres = connection.vendor == "postgresql"
    row = vote_sql.vote_run(vote_sql.VOTE_CAST_SQL if postgres else vote_sql.VOTE_TARGET_SQL, params)
    if row is None:
        raise NotFound(_("No such story."))
    story_round, hidden, stage, known, assigned, prior_id, prior_answer, prior_reason = row[:8]
    if story_round != participant.round_id:
        raise StoryOfAnotherRound(_("No such story in this round."))
    if not known:
        raise ParticipantGone(_("Invalid or expired participant token."))
    if hidden:
        raise NotFound(_("No such story in this round."))
    if stage != Stage.VOTING:
        if stage == Stage.CLOSED:
            # Closed by its date before anyone read the round since: record the move now.
            round_apply_schedule(round_=Round.objects.get(pk=participant.round_id))
        raise WrongStage(_("Votes are accepted only while the round is in its voting stage."))
    if not assigned:
        raise Forbidden(_("This story was not assigned to you."))
    if prior_id is None:
        if postgres:
            vote_id, flipped = row[9:]
            vote = None if vote_id is None else _vote_built(participant, story_pk, vote_id, params)
        else:
            vote, flipped = _vote_insert_portable(
                participant=participant,
                story_id=story_pk,
                context_id=row[8],
                answer=answer,
                reason=reason,
                now=params["now"],
            )
        if vote is not None:
            if flipped:
                from moral_graph.tasks import rank_round

                enqueue_on_commit(rank_round, participant.round_id, countdown=ranking_countdown(participant.round_id))
            return vote, True
        # A concurrent request with the same participant and story inserted first.
        prior_id, prior_answer, prior_reason = (
            WiserVote.objects.filter(participant_id=participant.pk, story_id=story_pk)
            .values_list("pk", "answer", "reason")
            .get()
        )
    if prior_answer == answer and prior_reason == reason:
        return WiserVote.objects.get(pk=prior_id), False
    raise Conflict(
        _("You already voted on this story; change your answer with an update."), code="already_voted"
    )


def _vote_built(participant: Participant, story_id: int, vote_id: int, params: dict) -> WiserVote:
    """The vote `vote_sql.VOTE_CAST_SQL` inserted, as it is stored, without reading it back."""
    return WiserVote(
        pk=vote_id,
        participant=participant,
        story_id=story_id,
        answer=params["answer"],
        reason=params["reason"],
        created_at=params["now"],
        updated_at=params["now"],
    )


def _vote_insert_portable(
    *, participant: Participant, story_id: int, context_id: int, answer: str, reason: str, now
) -> tuple[WiserVote | None, bool]:
    """The writes of `vote_sql.VOTE_CAST_SQL` through the ORM, in one transaction (databases other than PostgreSQL)."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                vote = WiserVote.objects.create(
                    participant=participant, story_id=story_id, answer=answer, reason=reason
                )
        except IntegrityError:
            return None, False
        WiserVoteRevision.objects.create(
            vote=vote,
            round_id=participant.round_id,
            answer=answer,
            story_id=story_id,
            participant_id=participant.pk,
            context_id=context_id,
        )
        flipped = Round.objects.filter(pk=participant.round_id, ranking_dirty_since__isnull=True).update(
            ranking_dirty_since=now
        )
    return vote, bool(flipped)


def vote_update(*, participant: Participant, vote_id: Any, answer: Any, reason: Any = "") -> WiserVote:
    """Change one's answer until the round closes; the history is kept."""
    answer, reason = _clean_vote(answer, reason)
    try:
        vote_pk = int(vote_id)
    except (TypeError, ValueError) as exc:
        raise NotFound(_("No such vote.")) from exc
    with transaction.atomic():
        vote = (
            WiserVote.objects.select_for_update(of=("self",))
            .select_related("story")
            .filter(pk=vote_pk, participant=participant)
            .first()
        )
        if vote is None:
            raise NotFound(_("No such vote of yours."))
        if round_apply_schedule(round_=Round.objects.get(pk=participant.round_id)).stage != Stage.VOTING:
            raise WrongStage(_("Answers can be changed only while the round is in its voting stage."))
        if vote.answer == answer and vote.reason == reason:
            return vote
        answer_changed = vote.answer != answer
        vote.answer, vote.reason = answer, reason
        vote.save(update_fields=["answer", "reason", "updated_at"])
        if answer_changed:
            WiserVoteRevision.objects.create(
                vote=vote,
                round_id=participant.round_id,
                answer=answer,
                story_id=vote.story_id,
                participant_id=vote.participant_id,
                context_id=vote.story.context_id,
            )
            mark_ranking_dirty(participant.round_id)
    return vote


N_BOOT = 200


class _WarmScores:
    """Runs' scores by context, read once per run: the warm starts of a ranking."""

    def __init__(self, only_context: int | None = None) -> None:
        self._runs: dict[int, dict[int, dict[int, float]]] = {}
        self._only = only_context  # a part reads its own context's scores only

    def of(self, run_id: int | None, context_id: int) -> dict[int, float] | None:
        if run_id is None:
            return None
        if run_id not in self._runs:
            self._runs[run_id] = selectors.run_scores(run_id=run_id, context_id=self._only)
        return self._runs[run_id].get(context_id)


def _stamp(result: dict, *, digest: str, warm_from: int | None) -> dict:
    """Record in a context's result what reproduces it: its inputs' digest and the run its fit started from."""
    result["parameters"]["inputsDigest"] = digest
    if warm_from is not None:
        result["parameters"]["warmStart"] = warm_from
    return result


def ranking_results(
    *,
    round_: Round,
    watermark: int,
    assignment_watermark: int,
    method: str,
    warm_from: int | None = None,
    reuse: dict[int, tuple[int, str]] | None = None,
    reproduce: dict[int, dict] | None = None,
    serialized: bool = False,
) -> list[dict]:
    """Rank every context of the round from the votes as of the watermark; pure given the database state.

    warm_from: a run of the round whose scores start the Bradley-Terry fit (its `parameters.warmStart`).
    reuse: context id -> (snapshot id, inputs digest) of the previous run (`selectors.snapshot_digests`); a
    context whose inputs have that digest is not ranked again: its row is {"copy_of": snapshot id} (decision 45).
    reproduce: context id -> a stored result's `parameters`, to recompute that result exactly (its seed and warm
    start, which a copied result keeps from the run that computed it).
    serialized: each computed result is kept as its JSON ({"json": bytes, "digest": its inputs' digest}) as soon
    as it is made, as publication writes it: a context's result is tens of megabytes as Python objects at
    millions of votes and a fifth of that as JSON, and all of a round's wait for publication together."""
    warm = _WarmScores()
    results = []
    # The snapshots stay in memory until published: the collector would walk them again after each context.
    with ranking.gc_paused():
        for context, data in ranking_inputs.round_inputs(
            round_=round_, watermark=watermark, assignment_watermark=assignment_watermark
        ):
            seed, start, root = watermark, warm_from, ranking.DEFAULT_POSTERIOR_ROOT
            bootstrap = ranking.DEFAULT_BOOTSTRAP
            if reproduce is not None and context.pk in reproduce:
                stored = reproduce[context.pk]
                seed, start, root = int(stored["seed"]), stored.get("warmStart"), ranking.posterior_root_of(stored)
                bootstrap = ranking.bootstrap_of(stored)
            row = _rank_or_copy(
                context_id=context.pk,
                data=data,
                method=method,
                seed=seed,
                warm_from=start,
                previous=(reuse or {}).get(context.pk),
                warm=warm,
                posterior_root=root,
                bootstrap=bootstrap,
            )
            if serialized and "result" in row:
                row = _serialized(row.pop("result"))
            results.append({"question_id": context.question_id, "context_id": context.pk, **row})
    return results


def _rank_or_copy(
    *,
    context_id: int,
    data: dict,
    method: str,
    seed: int,
    warm_from: int | None,
    previous: tuple[int, str] | None,
    warm: "_WarmScores",
    posterior_root: str = ranking.DEFAULT_POSTERIOR_ROOT,
    bootstrap: str = ranking.DEFAULT_BOOTSTRAP,
) -> dict:
    """{"copy_of": snapshot id} when the context's inputs have the previous snapshot's digest, else {"result":
    its ranking}, stamped with the digest and warm start that reproduce it (decision 45)."""
    digest = inputs_digest(data, method=method, n_boot=N_BOOT)
    if previous is not None and previous[1] == digest:
        return {"copy_of": previous[0]}
    data["initial_scores"] = warm.of(warm_from, context_id)
    result = ranking.rank_context(
        **data, method=method, n_boot=N_BOOT, seed=seed, posterior_root=posterior_root, bootstrap=bootstrap
    )
    return {"result": _stamp(result, digest=digest, warm_from=warm_from)}


def _reusable(current: RankingRun | None, method: str) -> dict[int, tuple[int, str]] | None:
    """The current run's snapshots that a new run may copy (same method; WISER_RANKING_REUSE, on by default)."""
    if current is None or current.method != method or not getattr(settings, "WISER_RANKING_REUSE", True):
        return None
    return selectors.snapshot_digests(run_id=current.pk)


ADVISORY_LOCK_NAMESPACE = 0x57495345  # "WISE": our advisory locks, apart from anyone else's on the server


@contextmanager
def _advisory_lock(round_id: int):
    """On PostgreSQL, a session lock held for the whole computation: it dies with a killed worker's connection,
    so recovery does not wait for the stale-lock timeout. Yields whether it was acquired (always True elsewhere)."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = round_id % 2**31
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, key])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, key])


def ranking_heartbeat_seconds() -> float:
    """How often a running ranking touches its Job row (its heartbeat)."""
    return float(getattr(settings, "WISER_RANKING_HEARTBEAT_SECONDS", RANKING_HEARTBEAT_SECONDS))


def ranking_stale_after() -> timedelta:
    """A running ranking whose heartbeat is older than this was lost (its worker died): anyone may take it over."""
    return timedelta(seconds=getattr(settings, "WISER_RANKING_STALE_SECONDS", RANKING_STALE_SECONDS))


def _claim_ranking_lock(round_: Round, *, exclusive: bool = False) -> tuple[Job, int] | None:
    """Mark the round's ranking job running and return it with the claim it now holds (its fencing stamp).

    A job running with a fresh heartbeat is left alone unless `exclusive` (we hold the round's advisory lock, so a
    one-task computation is surely dead) and no part of a fan-out under its claim is left: the parts run without
    the advisory lock, and taking their job over would abandon them (and, with votes coming in, every fan-out
    after them). Their last part ranks again if votes came in meanwhile."""
    Job.objects.get_or_create(round=round_, kind="ranking", key="round")
    with transaction.atomic():
        job = Job.objects.select_for_update().get(round=round_, kind="ranking", key="round")
        alive = job.status == Job.Status.RUNNING and job.updated_at >= timezone.now() - ranking_stale_after()
        if alive and (not exclusive or RankingPart.objects.filter(run__round=round_, claim=job.claim).exists()):
            return None
        job.status, job.attempts, job.claim = Job.Status.RUNNING, job.attempts + 1, job.claim + 1
        job.progress, job.error = 0.0, ""
        job.save(update_fields=["status", "attempts", "claim", "progress", "error", "updated_at"])
    return job, job.claim


@contextmanager
def _ranking_heartbeat(job_id: int, claim: int):
    """Touch the running job every few seconds from a thread (on its own connection) while the body computes.

    The beat stops by itself once the claim is no longer ours (the sweeper or a new attempt took the job)."""
    import threading

    from django.db import connections

    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(ranking_heartbeat_seconds()):
                try:
                    touched = Job.objects.filter(pk=job_id, claim=claim, status=Job.Status.RUNNING).update(
                        updated_at=timezone.now()
                    )
                except Exception:  # a heartbeat missed is a takeover risked, never a failed computation
                    log.warning("ranking heartbeat of job %s failed", job_id, exc_info=True)
                    continue
                if not touched:
                    return
        finally:
            connections.close_all()

    thread = threading.Thread(target=beat, name=f"ranking-heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def ranking_fanout_wanted(*, round_id: int, watermark: int, since: RankingRun | None = None) -> bool:
    """Whether the round's contexts are ranked as parallel part tasks (decisions 41 and 46).

    WISER_RANKING_FANOUT: "never", "always", or "auto" (the default): with workers (not eager) and at least
    WISER_RANKING_FANOUT_MIN_VOTES vote revisions, where the parts' overhead is small against the ranking, unless
    `since` (the run whose unchanged contexts will be copied) is given and fewer than half of the contexts have
    votes or impressions after it: then most parts would only copy, and one task is faster."""
    mode = getattr(settings, "WISER_RANKING_FANOUT", "auto")
    if mode == "never":
        return False
    contexts = Context.objects.filter(question__round_id=round_id).count()
    if contexts < 2:
        return False
    if mode == "always":
        return True
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return False
    minimum = getattr(settings, "WISER_RANKING_FANOUT_MIN_VOTES", RANKING_FANOUT_MIN_VOTES)
    # Counted up to the minimum only: a count of all revisions took 0.13-0.2 s at 3M votes, before any part started.
    if WiserVoteRevision.objects.filter(round_id=round_id, id__lte=watermark)[:minimum].count() < minimum:
        return False
    if since is None:
        return True
    changed = selectors.contexts_changed_since(
        round_id=round_id,
        watermark=since.watermark,
        assignment_watermark=since.parameters.get("assignmentWatermark", 0),
        upto=watermark,
    )
    return 2 * changed >= contexts


def ranking_compute(*, round_id: int, method: str | None = None, fanout: bool = True) -> RankingRun | None:
    """Recompute the round's rankings and publish them atomically; one computation per round at a time.

    With the fan-out (`ranking_fanout_wanted`, and `fanout`), the contexts are handed to part tasks and None is
    returned: the last part to finish publishes the run."""
    round_ = Round.objects.filter(pk=round_id).first()
    if round_ is None:
        return None
    with _advisory_lock(round_id) as acquired:
        if not acquired:
            return None  # another computation runs; it re-checks for newer votes when it ends
        return _ranking_compute_locked(round_, method, exclusive=connection.vendor == "postgresql", fanout=fanout)


class _Superseded(Exception):
    """Our claim on the ranking job was taken back (our heartbeat went stale): another attempt owns the round."""


class _Discarded(Exception):
    """A ranking part has nothing to write: a duplicate delivery wrote it, or its run was abandoned."""


def _warm_start_run(current: RankingRun | None, method: str) -> int | None:
    """The run whose scores start the fit: the current run when it used the same method."""
    if current is None or current.method != method or not getattr(settings, "WISER_RANKING_WARM_START", True):
        return None
    return current.pk


def _ranking_compute_locked(
    round_: Round, method: str | None, *, exclusive: bool, fanout: bool = True
) -> RankingRun | None:
    round_id = round_.pk
    claimed = _claim_ranking_lock(round_, exclusive=exclusive)
    if claimed is None:
        return None  # another computation runs; it re-checks for newer votes when it ends
    job, claim = claimed
    _note_ranking_started(round_id)
    ours = Job.objects.filter(pk=job.pk, claim=claim)
    method = method or round_.ranking_method
    fanned_out = False
    try:
        with _ranking_heartbeat(job.pk, claim):
            Round.objects.filter(pk=round_id).update(ranking_dirty_since=None)
            watermark = selectors.round_watermark(round_id=round_id)
            current = selectors.current_run(round_=round_)
            structure = Round.objects.values_list("structure_version", flat=True).get(pk=round_id)
            up_to_date = current is not None and (current.watermark, current.method, current.structure_version) == (
                watermark,
                method,
                structure,
            )
            # The current run's results that this run may copy (decision 45), read once for both paths.
            reuse = None if up_to_date else _reusable(current, method)
            if up_to_date:
                run = current
            elif fanout and ranking_fanout_wanted(
                round_id=round_id, watermark=watermark, since=current if reuse is not None else None
            ):
                _ranking_fan_out(
                    round_=round_,
                    job_id=job.pk,
                    claim=claim,
                    method=method,
                    watermark=watermark,
                    structure=structure,
                    warm_from=_warm_start_run(current, method),
                    reuse=reuse,
                )
                fanned_out, run = True, None
            else:
                assignment_wm = selectors.assignment_watermark(round_id=round_id)
                warm_from = _warm_start_run(current, method)
                results = ranking_results(
                    round_=round_,
                    watermark=watermark,
                    assignment_watermark=assignment_wm,
                    method=method,
                    warm_from=warm_from,
                    reuse=reuse,
                    serialized=True,
                )
                with transaction.atomic():
                    # Fencing: publish only while the claim is still ours (the row lock holds it until commit).
                    if not ours.select_for_update().exists():
                        raise _Superseded
                    run = _publish(
                        round_=round_,
                        method=method,
                        watermark=watermark,
                        assignment_watermark=assignment_wm,
                        results=results,
                        warm_from=warm_from,
                    )
        if fanned_out:
            return None  # the job stays running; its parts beat its heartbeat and the last one publishes
        ours.update(status=Job.Status.DONE, progress=1.0, attempts=0, updated_at=timezone.now())
    except _Superseded:
        log.warning("ranking of round %s superseded (claim %s taken back); nothing published", round_id, claim)
        run = None
        Round.objects.filter(pk=round_id, ranking_dirty_since__isnull=True).update(
            ranking_dirty_since=timezone.now()
        )
    except Exception as exc:
        ours.update(
            status=Job.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], updated_at=timezone.now()
        )
        raise
    _rank_again_if_dirty(round_id)
    return run


def _rank_again_if_dirty(round_id: int) -> None:
    """Votes (or a structure change) came in while we computed: one more ranking, after the debounce window."""
    if Round.objects.filter(pk=round_id, ranking_dirty_since__isnull=False).exists():
        from moral_graph.tasks import rank_round

        enqueue_on_commit(rank_round, round_id, countdown=ranking_countdown(round_id))


def _run_parameters(
    *, round_: Round, method: str, watermark: int, assignment_watermark: int, warm_from, reused: list[int]
) -> dict:
    parameters = {
        "method": method,
        "bootstrapResamples": N_BOOT,
        "seed": watermark,
        "assignmentWatermark": assignment_watermark,
        "storyNeighbours": STORY_NEIGHBOURS,
        "minVotesPerStory": round_.min_votes_per_story,
    }
    if warm_from is not None:
        parameters["warmStart"] = warm_from
    # Contexts whose inputs were unchanged since the previous run: their results were copied, with the seed and
    # warm start they were computed with (each result's own `parameters`), decision 45.
    parameters["reusedContexts"] = sorted(reused)
    return parameters


def _ranking_fan_out(
    *,
    round_: Round,
    job_id: int,
    claim: int,
    method: str,
    watermark: int,
    structure: int,
    warm_from: int | None,
    reuse: dict[int, tuple[int, str]] | None = None,
) -> None:
    """Read what the round's contexts share once, create a `computing` run with one part per context, and enqueue
    one `rank_part` task per part (on commit); each part reads its own context's votes (decision 46) and counts
    its own context's impressions (decision 51). Runs left computing by an abandoned fan-out are deleted."""
    from moral_graph.tasks import rank_part

    assignment_wm = selectors.assignment_watermark(round_id=round_.pk)
    # Each part counts its own context's impressions (decision 51): the round's scan of the assignments was most
    # of this serial step, which every part waits for.
    shared = ranking_inputs.round_reads(round_id=round_.pk, assignment_watermark=assignment_wm, impressions=False)
    token = uuid.uuid4().hex  # this fan-out's, for what its parts share in a process
    parts = [
        RankingPart(
            context_id=context.pk,
            question_id=context.question_id,
            claim=claim,
            inputs=ranking_inputs.pack_part(
                context_id=context.pk,
                shared=shared,
                previous=(reuse or {}).get(context.pk),
                token=token,
                assignment_watermark=assignment_wm,
            ),
        )
        for context in ranking_inputs.round_contexts(round_=round_)
    ]
    with transaction.atomic():
        if not Job.objects.select_for_update().filter(pk=job_id, claim=claim).exists():
            raise _Superseded
        RankingRun.objects.filter(round=round_, status=RankingRun.Status.COMPUTING).delete()
        run = RankingRun.objects.create(
            round=round_,
            method=method,
            parameters=_run_parameters(
                round_=round_,
                method=method,
                watermark=watermark,
                assignment_watermark=assignment_wm,
                warm_from=warm_from,
                reused=[],
            ),
            watermark=watermark,
            structure_version=structure,
            status=RankingRun.Status.COMPUTING,
            software_version=SOFTWARE_VERSION,
        )
        for part in parts:
            part.run = run
        part_ids = [part.pk for part in RankingPart.objects.bulk_create(parts)]
        for part_id in part_ids:
            enqueue_on_commit(rank_part, part_id)
    log.info("round %s: ranking fanned out to %s parts (run %s, claim %s)", round_.pk, len(parts), run.pk, claim)


def ranking_part_compute(*, part_id: int) -> RankingRun | None:
    """Rank one context of a fanned-out run (or copy its previous snapshot when its inputs did not change) and
    store its snapshot; the last part publishes the run.

    A part whose claim is no longer the job's (the job was taken back, a newer ranking started) stops without
    writing; a part delivered twice finds its row gone. Returns the run once this part published it."""
    part = RankingPart.objects.select_related("run", "run__round").defer("inputs").filter(pk=part_id).first()
    if part is None:
        return None  # written already, or its run was abandoned
    run, claim = part.run, part.claim
    job = Job.objects.filter(round_id=run.round_id, kind="ranking", key="round").first()
    ours = Job.objects.filter(round_id=run.round_id, kind="ranking", key="round", claim=claim)
    if job is None or job.claim != claim or job.status != Job.Status.RUNNING:
        return None  # a stale part: a newer claim owns the round's ranking
    published = None
    try:
        with _ranking_heartbeat(job.pk, claim):
            blob = RankingPart.objects.filter(pk=part_id).values_list("inputs", flat=True).first()
            if blob is None:
                return None
            spec = ranking_inputs.unpack_part(blob)
            data = ranking_inputs.context_inputs(
                round_=run.round, context_id=part.context_id, watermark=run.watermark, spec=spec
            )
            row = _rank_or_copy(
                context_id=part.context_id,
                data=data,
                method=run.method,
                seed=run.watermark,
                warm_from=run.parameters.get("warmStart"),
                previous=spec.previous,
                warm=_WarmScores(only_context=part.context_id),
            )
            with transaction.atomic():
                # The snapshot first, before any lock: the database parses its JSON (the slow part of the write)
                # while other parts hold the locks below. A duplicate delivery or an abandoned run fails on the
                # constraints; every check below that fails rolls the insert back.
                _insert_snapshots(
                    run_id=run.pk,
                    round_id=run.round_id,
                    rows=[{"question_id": part.question_id, "context_id": part.context_id, **row}],
                )
                # Lock order: the job, the run, then (publishing) the round.
                if not ours.filter(status=Job.Status.RUNNING).select_for_update().exists():
                    raise _Superseded
                if not RankingRun.objects.select_for_update().filter(
                    pk=run.pk, status=RankingRun.Status.COMPUTING
                ).exists():
                    raise _Discarded
                if not RankingPart.objects.filter(pk=part_id).delete()[0]:
                    raise _Discarded  # a duplicate delivery wrote it first
                if "copy_of" in row:
                    # The run's row is locked: its list of unchanged contexts grows one part at a time.
                    parameters = RankingRun.objects.values_list("parameters", flat=True).get(pk=run.pk)
                    parameters["reusedContexts"] = sorted({*parameters.get("reusedContexts", []), part.context_id})
                    RankingRun.objects.filter(pk=run.pk).update(parameters=parameters)
                left = RankingPart.objects.filter(run=run).count()
                done = RankingSnapshot.objects.filter(run=run).count()
                ours.update(progress=done / (done + left), updated_at=timezone.now())
                if left:
                    return None
                published = _publish_computed(run)
        ours.update(status=Job.Status.DONE, progress=1.0, attempts=0, updated_at=timezone.now())
    except _Superseded:
        log.warning("ranking part %s of round %s is stale (claim %s); not written", part_id, run.round_id, claim)
        return None
    except (_Discarded, IntegrityError):
        # Written by a duplicate delivery (the snapshot's unique context), or its run was abandoned (gone, or
        # no longer computing): nothing of this part was kept.
        log.info("ranking part %s of run %s: written already or abandoned", part_id, run.pk)
        return None
    except DatabaseError:
        raise  # the task retries this part (RETRY_ON_DATABASE_ERROR); the job stays running
    except Exception as exc:
        ours.update(
            status=Job.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], updated_at=timezone.now()
        )
        raise
    _rank_again_if_dirty(run.round_id)
    return published


def _publish_computed(run: RankingRun) -> RankingRun:
    """Make a fanned-out run, all its snapshots written, the round's current run (inside the caller's
    transaction). A run at a watermark already published, or older than the current one, is dropped instead."""
    locked = Round.objects.select_for_update().get(pk=run.round_id)
    instead = _published_instead(
        locked, method=run.method, watermark=run.watermark, structure=run.structure_version, exclude=run.pk
    )
    if instead is not None:
        run.delete()
        return instead
    RankingRun.objects.filter(pk=run.pk).update(status=RankingRun.Status.PUBLISHED, published_at=timezone.now())
    run.refresh_from_db()
    _make_current(locked, run)
    return run


def _published_instead(
    locked: Round, *, method: str, watermark: int, structure: int, exclude: int | None = None
) -> RankingRun | None:
    """The run readers get instead of a new one at this method, watermark and structure (the round row is locked):
    the one already published; a newer current run (a computation that started earlier and ended later never
    replaces it); or the superseded run of the same votes and method, made current again. The database keeps one
    run per watermark, method and structure, so ranking with another method and back at the same watermark
    must return to the first run, not write a second (it failed on the unique constraint before)."""
    twin = (
        RankingRun.objects.filter(
            round=locked,
            method=method,
            watermark=watermark,
            structure_version=structure,
            status__in=[RankingRun.Status.PUBLISHED, RankingRun.Status.SUPERSEDED],
        )
        .exclude(pk=exclude)
        .first()
    )
    if twin is not None and twin.status == RankingRun.Status.PUBLISHED:
        return twin
    newer = RankingRun.objects.filter(pk=locked.current_ranking_id, watermark__gt=watermark).first()
    if newer is not None:
        return newer
    if twin is not None:
        RankingRun.objects.filter(pk=twin.pk).update(status=RankingRun.Status.PUBLISHED)
        twin.refresh_from_db()
        _make_current(locked, twin)
    return twin


def _make_current(locked: Round, run: RankingRun) -> None:
    """Supersede the round's other published runs and point readers at `run` (the round row is locked)."""
    RankingRun.objects.filter(round=locked, status=RankingRun.Status.PUBLISHED).exclude(pk=run.pk).update(
        status=RankingRun.Status.SUPERSEDED
    )
    locked.current_ranking = run
    locked.save(update_fields=["current_ranking", "updated_at"])


def _digest_of(row: dict) -> str:
    if "json" in row:
        return row["digest"]
    return row["result"].get("parameters", {}).get("inputsDigest", "")


def _result_json(row: dict) -> str:
    return (row["json"] if "json" in row else orjson.dumps(row["result"])).decode()


def _serialized(result: dict) -> dict:
    """A computed result as publication writes it: its JSON, its inputs' digest and its scores (serialized=True)."""
    return {"json": orjson.dumps(result), "digest": _digest_of({"result": result}), "scores": _scores_of(result)}


def _scores_of(result: dict) -> bytes:
    """A result's scores as stored apart for the next run's warm start: [[value id, score], ...] (decision 48)."""
    return orjson.dumps([[v["valueId"], v["score"]] for v in result.get("values", [])])


def _scores_json(row: dict) -> str:
    return (row["scores"] if "json" in row else _scores_of(row["result"])).decode()


def _insert_snapshots(*, run_id: int, round_id: int, rows: list[dict]) -> None:
    """Insert snapshots of a run, inside the caller's transaction: rows of (question_id, context_id, result), or
    of (question_id, context_id, json, digest) for a result already serialized (`ranking_results(serialized=True)`),
    or (question_id, context_id, copy_of) for a context whose earlier snapshot is copied as it is (decision 45)."""
    copies = [r["copy_of"] for r in rows if "copy_of" in r]
    rows = [r for r in rows if "copy_of" not in r]
    if copies:
        table = RankingSnapshot._meta.db_table
        marks = ", ".join(["%s"] * len(copies))
        with connection.cursor() as cursor:
            # The stored results move inside the database (compressed as they are), never through Python.
            cursor.execute(
                f"INSERT INTO {table} (run_id, round_id, question_id, context_id, results, scores, inputs_digest, origin)"  # noqa: S608 - the model's table
                f" SELECT %s, round_id, question_id, context_id, results, scores, inputs_digest, COALESCE(origin, id)"
                f" FROM {table} WHERE id IN ({marks})",
                [run_id, *copies],
            )
    if not rows:
        return
    if connection.vendor == "postgresql":
        # Django's psycopg cursor inlines parameters client-side, escaping megabytes of JSON in Python
        # (15 s for a million votes); a server-side-binding cursor on the same connection sends it as is.
        import psycopg

        # A generator: one result's text at a time, not the whole round's.
        values = (
            (run_id, round_id, r["question_id"], r["context_id"], _result_json(r), _scores_json(r), _digest_of(r))
            for r in rows
        )
        with psycopg.Cursor(connection.connection) as cursor:
            # lz4 compresses the snapshots' TOAST about twice as fast as the default pglz (1 s of the
            # backend's CPU at a million votes); SET LOCAL ends with this transaction.
            cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
            lz4 = cursor.fetchone()
            if lz4 and lz4[0]:
                cursor.execute("SET LOCAL default_toast_compression = lz4")
            cursor.executemany(
                f"INSERT INTO {RankingSnapshot._meta.db_table} (run_id, round_id, question_id, context_id, results, scores, inputs_digest)"  # noqa: S608 - the model's table
                " VALUES (%s, %s, %s, %s, %s::json, %s::json, %s)",
                values,
            )
        return
    RankingSnapshot.objects.bulk_create(
        [
            RankingSnapshot(
                run_id=run_id,
                round_id=round_id,
                question_id=r["question_id"],
                context_id=r["context_id"],
                results=orjson.loads(r["json"]) if "json" in r else r["result"],
                scores=orjson.loads(_scores_json(r)),
                inputs_digest=_digest_of(r),
            )
            for r in rows
        ]
    )


def _publish(
    *,
    round_: Round,
    method: str,
    watermark: int,
    assignment_watermark: int,
    results: list[dict],
    warm_from: int | None = None,
) -> RankingRun:
    parameters = _run_parameters(
        round_=round_,
        method=method,
        watermark=watermark,
        assignment_watermark=assignment_watermark,
        warm_from=warm_from,
        reused=[r["context_id"] for r in results if "copy_of" in r],
    )
    with transaction.atomic():
        locked = Round.objects.select_for_update().get(pk=round_.pk)
        instead = _published_instead(
            locked, method=method, watermark=watermark, structure=locked.structure_version
        )
        if instead is not None:
            return instead
        run = RankingRun.objects.create(
            round=locked,
            method=method,
            parameters=parameters,
            watermark=watermark,
            structure_version=locked.structure_version,
            status=RankingRun.Status.PUBLISHED,
            software_version=SOFTWARE_VERSION,
            published_at=timezone.now(),
        )
        _insert_snapshots(run_id=run.pk, round_id=locked.pk, rows=results)
        _make_current(locked, run)
    return run



def ranking_request(*, actor, round_: Round, method: str | None = None, now: bool = False) -> RankingRun | None:
    """An organizer asks for the round to be ranked again (now, or by the worker); recorded in the audit log.

    On a published round the new run does not reach readers: an organizer inspects it and publishes it with
    `ranking_release`."""
    from deliberation.permissions import can
    from deliberation.services import audit_log

    if not can(actor, round_, "rank"):
        raise Forbidden(_("Your role in this round does not allow ranking."))
    if method is not None and method not in ranking.METHODS:
        raise ValidationError({"method": [f"One of {', '.join(ranking.METHODS)}."]})
    with transaction.atomic():
        audit_log(
            round_=round_,
            actor=actor,
            action="ranking.rank",
            target=round_,
            data={"method": method or round_.ranking_method, "stage": round_.stage},
        )
        if not now:
            from moral_graph.tasks import rank_round

            enqueue_on_commit(rank_round, round_.pk, method)
    return ranking_compute(round_id=round_.pk, method=method, fanout=False) if now else None


def ranking_release(*, actor, round_: Round, run_id: Any, reason: Any) -> RankingRun:
    """Publish another run as the published round's result ("publish this run"), with a reason for readers."""
    from deliberation.permissions import can
    from deliberation.services import audit_log

    if not can(actor, round_, "advance_stage"):
        raise Forbidden(_("Only the round's owner can publish a revised result."))
    reason = clean_text(reason, field="reason", max_length=1000, required=True)
    try:
        pk = int(run_id)
    except (TypeError, ValueError) as exc:
        raise NotFound(_("No such ranking run.")) from exc
    with transaction.atomic():
        locked = Round.objects.select_for_update().get(pk=round_.pk)
        if locked.stage != Stage.PUBLISHED or locked.published_ranking_id is None:
            raise WrongStage(_("Only a published round's result can be revised; publish the round first."))
        run = RankingRun.objects.filter(
            round=locked, pk=pk, status__in=[RankingRun.Status.PUBLISHED, RankingRun.Status.SUPERSEDED]
        ).first()
        if run is None:
            raise NotFound(_("No such ranking run."))
        if run.pk == locked.published_ranking_id:
            raise Conflict(_("This run is already the published result."), code="already_published")
        previous = locked.published_ranking_id
        RankingRelease.objects.create(
            round=locked,
            run=run,
            previous_run_id=previous,
            reason=reason,
            actor=actor if getattr(actor, "is_authenticated", False) else None,
        )
        locked.published_ranking = run
        locked.save(update_fields=["published_ranking", "updated_at"])
        audit_log(
            round_=locked,
            actor=actor,
            action="ranking.publish",
            target=run,
            data={"run": run.pk, "previous": previous, "method": run.method, "reason": reason},
        )
    return run


def ranking_due_rounds(*, older_than: timedelta | None = None) -> list[int]:
    """Rounds with votes newer than their snapshot (for the sweeper)."""
    cutoff = timezone.now() - (older_than or timedelta(seconds=max(_debounce() * 4, 20)))
    return list(Round.objects.filter(ranking_dirty_since__lt=cutoff).values_list("pk", flat=True))


def _debounce() -> float:
    return float(getattr(settings, "WISER_RANK_DEBOUNCE_SECONDS", RANK_DEBOUNCE_SECONDS))


def _started_key(round_id: int) -> str:
    return f"wiser:ranking-started:{round_id}"


def _note_ranking_started(round_id: int) -> None:
    """Remember when the round's latest ranking started (read by `ranking_countdown`)."""
    try:
        cache.set(_started_key(round_id), time.time(), timeout=3600)
    except Exception:  # the cache down costs only the debounce
        log.warning("could not record the start of round %s's ranking", round_id, exc_info=True)


def ranking_countdown(round_id: int) -> float:
    """Leading-edge debounce: how long a new ranking of the round waits before it starts.

    The first change after a quiet period (no ranking started within WISER_RANK_DEBOUNCE_SECONDS) ranks at once;
    a change soon after a start waits out the rest of the window. Only the change that marks the round dirty
    enqueues, so a burst of votes gives at most one follow-up run."""
    window = _debounce()
    if window <= 0:
        return 0.0
    try:
        started = cache.get(_started_key(round_id))
    except Exception:
        return 0.0
    if started is None:
        return 0.0
    return round(max(0.0, window - (time.time() - float(started))), 3)
