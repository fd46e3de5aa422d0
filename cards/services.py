"""Writes for values cards: submission, editing, moderation, and placement into canonical values."""

import io
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator

import numpy as np
from django.core.exceptions import ValidationError
from django.db import connections, router, transaction
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _

from cards import dedup, judge
from cards.models import CanonicalValue, CardMerge, MergeConfirmation, ValuesCard
from cards.validation import validate_card
from core import events
from core.errors import Conflict, DomainError, Forbidden, NotFound, WrongStage
from core.queue import enqueue_on_commit
from deliberation.models import Context, Participant, Question, Round, Stage
from deliberation.permissions import can
from deliberation.services import audit_log, round_lock

log = logging.getLogger(__name__)

# Late joiners write their card during voting too, as in MAI's one-sitting journey; editing stops at voting.
CARD_STAGES = (Stage.ARTICULATION, Stage.VOTING)


def vectors_to_bytes(vectors: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(vectors, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


def vectors_from_bytes(raw: bytes | memoryview | None) -> np.ndarray | None:
    if raw is None:
        return None
    return np.load(io.BytesIO(bytes(raw)), allow_pickle=False)


def _context_for(participant: Participant, context_id) -> Context:
    try:
        context_pk = int(context_id)
    except (TypeError, ValueError) as exc:
        raise ValidationError({"context": "Choose one of the round's contexts."}) from exc
    context = (
        Context.objects.select_related("question")
        .filter(pk=context_pk, question__round_id=participant.round_id)
        .first()
    )
    if context is None:
        raise ValidationError({"context": "Choose one of the round's contexts."})
    return context


def card_submit(
    *,
    participant: Participant,
    context_id,
    title,
    description,
    policies,
    transcript: list | None = None,
    source: str = "form",
) -> ValuesCard:
    """Submit a participant's values card (form or chat) and queue its deduplication."""
    fields = validate_card(title=title, description=description, policies=policies)
    context = _context_for(participant, context_id)
    with transaction.atomic():
        round_ = round_lock(round_id=participant.round_id)  # applies due stage dates first
        if round_.stage not in CARD_STAGES:
            raise WrongStage(_("Cards can be submitted only during the articulation and voting stages."))
        duplicate = ValuesCard.objects.filter(
            author=participant, title=fields.title, description=fields.description, policies=fields.policies
        ).first()
        if duplicate is not None:
            return duplicate
        if ValuesCard.objects.filter(author=participant).count() >= 5:
            raise Conflict(_("You can submit at most 5 cards in a round."), code="too_many_cards")
        card = ValuesCard.objects.create(
            round=round_,
            question=context.question,
            context=context,
            author=participant,
            title=fields.title,
            description=fields.description,
            policies=fields.policies,
            transcript=transcript or [],
            source=source,
        )
        from cards.tasks import dedup_card

        enqueue_on_commit(dedup_card, card.pk)
    return card


class CardLocked(DomainError):
    """A card edit after voting opened (400: the request cannot succeed in this round any more)."""

    code = "card_locked"


def card_update(
    *, participant: Participant, card: ValuesCard, title, description, policies, context_id=None
) -> ValuesCard:
    """Let the author edit their card until the voting stage; it is placed again.

    A value whose representative card is edited shows the edit at once (and is embedded again); when the text
    changed the card is deduplicated again. Once voting opens, edits are refused: people vote on the values as
    they read them then.
    """
    if card.author_id != participant.pk:
        raise Forbidden(_("Only the author can edit this card."))
    fields = validate_card(title=title, description=description, policies=policies)
    context = _context_for(participant, context_id) if context_id is not None else card.context
    with transaction.atomic():
        round_ = round_lock(round_id=participant.round_id)  # applies due stage dates first
        if round_.stage != Stage.ARTICULATION:
            raise CardLocked(
                _(
                    "Cards can no longer be edited: voting has started, and people are voting on the values "
                    "as they were written then. Your card stays as it is."
                )
                if round_.stage in (Stage.VOTING, Stage.CLOSED, Stage.PUBLISHED)
                else _("Cards can be edited only while the round collects cards.")
            )
        locked = ValuesCard.objects.select_for_update().get(pk=card.pk)
        text = (fields.title, fields.description, list(fields.policies))
        if text == (locked.title, locked.description, list(locked.policies)) and context.pk == locked.context_id:
            return locked
        locked.title, locked.description, locked.policies = text
        locked.context = context
        locked.embedding = None
        locked.dedup_status = ValuesCard.DedupStatus.PENDING
        locked.save()
        CardMerge.objects.filter(card=locked, undone_at__isnull=True).update(
            undone_at=timezone.now(), undo_reason="edited by its author"
        )
        for value in CanonicalValue.objects.select_for_update().filter(representative=locked, is_active=True):
            _represent_after_edit(value, locked)
        from cards.tasks import dedup_card

        enqueue_on_commit(dedup_card, locked.pk)
    return locked


def _represent_after_edit(value: CanonicalValue, edited: ValuesCard) -> None:
    """A value whose representative card was edited. Alone in it, the card's edit is the value's text at once
    (embedded again when next compared). With other cards, the earliest of them represents the value while the
    edited card is compared again, so the edit is judged against the others and not against itself; if it rejoins
    and reads best, it represents the value again (`_refresh_representative`)."""
    others = (
        ValuesCard.objects.filter(merges__value=value, merges__undone_at__isnull=True)
        .exclude(pk=edited.pk)
        .order_by("id")
    )
    source = others.first() or edited
    CanonicalValue.objects.filter(pk=value.pk).update(
        representative=source,
        title=source.title,
        description=source.description,
        policies=source.policies,
        embedding=None if source is edited else source.embedding,
        updated_at=timezone.now(),
    )


def _release_represented(card: ValuesCard, placed_in: CanonicalValue) -> None:
    """Values the card represents but is no longer in (it was edited and placed elsewhere): the earliest remaining
    card represents each, or the value retires when none is left."""
    represented = CanonicalValue.objects.filter(representative=card, is_active=True).exclude(pk=placed_in.pk)
    for value in represented.only("pk"):
        successor = (
            ValuesCard.objects.filter(merges__value=value, merges__undone_at__isnull=True).order_by("id").first()
        )
        if successor is None:
            _retire_if_empty(value)
            continue
        CanonicalValue.objects.filter(pk=value.pk).update(
            representative=successor,
            title=successor.title,
            description=successor.description,
            policies=successor.policies,
            embedding=successor.embedding,
            updated_at=timezone.now(),
        )


def card_hide(*, actor, card: ValuesCard, reason: str, hidden: bool = True) -> ValuesCard:
    """Hide (or show again) a card, with a reason its author is shown."""
    if not can(actor, card.round, "moderate"):
        raise Forbidden(_("Your role in this round does not allow moderation."))
    from core.text import clean_text

    reason = clean_text(reason, field="reason", max_length=500, required=hidden)
    with transaction.atomic():
        ValuesCard.objects.filter(pk=card.pk).update(
            status=ValuesCard.Status.HIDDEN if hidden else ValuesCard.Status.SUBMITTED,
            hidden_reason=reason if hidden else "",
        )
        audit_log(
            round_=card.round,
            actor=actor,
            action="card.hide" if hidden else "card.show",
            target=card,
            data={"reason": reason},
        )
    card.refresh_from_db()
    return card


def card_vectors(card: ValuesCard) -> np.ndarray:
    """The card's embedding matrix (whole card first, then one row per policy), computed once."""
    cached = vectors_from_bytes(card.embedding)
    if cached is not None:
        return cached
    from llm.gateway import embed

    vectors = embed(
        dedup.card_texts(card.title, card.description, card.policies),
        purpose="dedup.embed",
        round_id=card.round_id,
    )
    ValuesCard.objects.filter(pk=card.pk).update(embedding=vectors_to_bytes(vectors))
    return vectors


def value_vectors(value: CanonicalValue, like: np.ndarray | None = None) -> np.ndarray:
    """A value's embedding matrix; recomputed when it is in another embedding space than `like`."""
    cached = vectors_from_bytes(value.embedding)
    if cached is not None and (like is None or cached.shape[1] == like.shape[1]):
        return cached
    from llm.gateway import embed

    vectors = embed(
        dedup.card_texts(value.title, value.description, value.policies),
        purpose="dedup.embed",
        round_id=value.round_id,
    )
    # updated_at changes with every embedding write: the placement index re-reads a value when it changes.
    CanonicalValue.objects.filter(pk=value.pk).update(
        embedding=vectors_to_bytes(vectors), updated_at=timezone.now()
    )
    return vectors


def _new_value_from_card(card: ValuesCard, vectors: np.ndarray) -> CanonicalValue:
    value = CanonicalValue.objects.create(
        round_id=card.round_id,
        question_id=card.question_id,
        title=card.title,
        description=card.description,
        policies=card.policies,
        representative=card,
        embedding=vectors_to_bytes(vectors),
    )
    return value


def _refresh_representative(value: CanonicalValue) -> None:
    """Choose again the best articulation of a value's cluster as it grows."""
    members = list(
        ValuesCard.objects.filter(merges__value=value, merges__undone_at__isnull=True).order_by("id")
    )
    if not members:
        return
    matrices = [card_vectors(card) for card in members]
    texts = [dedup.CardText(card.title, card.description, card.policies) for card in members]
    best = members[dedup.choose_representative(matrices, texts)]
    if best.pk != value.representative_id:
        CanonicalValue.objects.filter(pk=value.pk).update(
            representative=best,
            title=best.title,
            description=best.description,
            policies=best.policies,
            embedding=vectors_to_bytes(card_vectors(best)),
            updated_at=timezone.now(),
        )


# Placement keeps one CanonicalIndex per question in this process, brought in line with the database on every
# call from the (id, updated_at) of its active values: only new or changed values' vectors are read (docs/dedup.md).
INDEX_CACHE_QUESTIONS = 16
INDEX_CACHE_BYTES = 512 * 1024 * 1024
# The index's best few are scored again exactly, from the values' float32 vectors, as the full scan did.
RESCORE_CANDIDATES = 5
FETCH_CHUNK = 500
SYNC_ATTEMPTS = 3


class _QuestionIndex:
    """One question's index, and the updated_at of each value it holds (None: read it again next time)."""

    def __init__(self, dimensions: int):
        self.index = dedup.CanonicalIndex(dimensions=dimensions)
        self.versions: dict[int, str | None] = {}
        self.lock = threading.Lock()
        self.nbytes = 0

    def drop(self, pk: int) -> None:
        if pk in self.versions:
            del self.versions[pk]
            self.index.remove(pk)


_index_cache: OrderedDict[tuple, _QuestionIndex] = OrderedDict()
_index_cache_lock = threading.Lock()


def dedup_index_cache_clear() -> None:
    """Forget every cached placement index (tests call it between tests: ids repeat across test databases)."""
    with _index_cache_lock:
        _index_cache.clear()


def _question_index(question_id: int, dimensions: int) -> _QuestionIndex:
    """The cached index of a question in this database, a new one when the embedding space changed."""
    alias = router.db_for_read(CanonicalValue)
    key = (alias, str(connections[alias].settings_dict["NAME"]), question_id)
    with _index_cache_lock:
        entry = _index_cache.get(key)
        if entry is None or entry.index.dimensions != dimensions:
            entry = _index_cache[key] = _QuestionIndex(dimensions)
        _index_cache.move_to_end(key)
        return entry


def _index_cache_trim(keep: _QuestionIndex) -> None:
    """Forget the least recently used questions beyond INDEX_CACHE_QUESTIONS or INDEX_CACHE_BYTES."""
    with _index_cache_lock:
        total = sum(entry.nbytes for entry in _index_cache.values())
        for key in list(_index_cache):
            if len(_index_cache) <= INDEX_CACHE_QUESTIONS and total <= INDEX_CACHE_BYTES:
                break
            if _index_cache[key] is not keep:
                total -= _index_cache.pop(key).nbytes


def _active_values(question_id: int) -> QuerySet[CanonicalValue]:
    """The question's active values, with `stamp`: updated_at as the database stores it, as text. Stamps are only
    compared, so they are never parsed into datetimes (most of the cost of listing 10,000 values)."""
    return CanonicalValue.objects.filter(question_id=question_id, is_active=True).annotate(
        stamp=Cast("updated_at", output_field=TextField())
    )


def _value_blobs(question_id: int, stale: list[int], active: int) -> Iterator[tuple[int, str, bytes | None]]:
    """(id, stamp, embedding) of the question's active values among `stale` (all of them when most are)."""
    rows = _active_values(question_id)
    if 2 * len(stale) > active:
        yield from rows.values_list("id", "stamp", "embedding").iterator(chunk_size=FETCH_CHUNK)
        return
    for start in range(0, len(stale), FETCH_CHUNK):
        yield from rows.filter(pk__in=stale[start : start + FETCH_CHUNK]).values_list(
            "id", "stamp", "embedding"
        )


def _index_sync(entry: _QuestionIndex, question_id: int, recomputed: dict[int, np.ndarray]) -> list[int]:
    """Make the index hold exactly the question's active values as the database has them now, reading vectors
    only of new or changed values; returns the ids whose stored vectors are missing or in another space."""
    listed = dict(_active_values(question_id).values_list("id", "stamp"))
    for pk in entry.versions.keys() - listed.keys():
        entry.drop(pk)
    stale = sorted(
        pk for pk, stamp in listed.items() if pk not in entry.versions or entry.versions[pk] != stamp
    )
    if not stale:
        return []
    seen: set[int] = set()
    unusable: list[int] = []
    for pk, stamp, raw in _value_blobs(question_id, stale, len(listed)):
        if pk in entry.versions and entry.versions[pk] == stamp:
            continue
        seen.add(pk)
        matrix = vectors_from_bytes(raw)
        if matrix is None or matrix.shape[1] != entry.index.dimensions:
            if pk not in recomputed:
                entry.drop(pk)
                unusable.append(pk)
                continue
            # Written in another space again since this call stored it: use this call's vectors, read it next time.
            matrix, stamp = recomputed[pk], None
        entry.index.add(pk, matrix)
        entry.versions[pk] = stamp
    for pk in set(stale) - seen:
        entry.drop(pk)
    return unusable


def _ranked_candidates(card: ValuesCard, vectors: np.ndarray) -> tuple[list[int], dedup.Population]:
    """Ids of the index's best candidates for the card, from an index exact for the question's values now, and the
    population of those values (what the card is centred by before it is scored)."""
    entry = _question_index(card.question_id, int(vectors.shape[1]))
    recomputed: dict[int, np.ndarray] = {}
    for attempt in range(1, SYNC_ATTEMPTS + 1):
        with entry.lock:
            unusable = _index_sync(entry, card.question_id, recomputed)
            if not unusable or attempt == SYNC_ATTEMPTS:
                entry.nbytes = entry.index.memory_bytes()
                population = entry.index.population()
                found = [
                    int(key)
                    for key, _ in entry.index.candidates(vectors, k=RESCORE_CANDIDATES, population=population)
                ]
                break
        # Rare (no vectors yet, or another embedding space): recompute and store them outside the index lock, as
        # a placement in a transaction may be waiting for that lock while holding the database's write lock.
        for start in range(0, len(unusable), FETCH_CHUNK):
            for value in CanonicalValue.objects.filter(pk__in=unusable[start : start + FETCH_CHUNK]):
                recomputed[value.pk] = value_vectors(value, like=vectors)
    _index_cache_trim(entry)
    if unusable:
        # Still changing under us after SYNC_ATTEMPTS: score those values as the full scan did.
        found.extend(unusable)
    return found, population


def _scored_candidates(card: ValuesCard, vectors: np.ndarray) -> list[tuple[CanonicalValue, float]]:
    """The card's best candidates among its question's active values, best first, with their exact similarity."""
    vectors = np.asarray(vectors, dtype=np.float32)
    found, population = _ranked_candidates(card, vectors)
    values = list(CanonicalValue.objects.filter(pk__in=found, is_active=True).order_by("id")) if found else []
    return scored(vectors, values, population)


def _best_candidate(card: ValuesCard, vectors: np.ndarray) -> tuple[CanonicalValue | None, float]:
    """The active canonical value of the card's question closest to the card, and its similarity."""
    ranked = _scored_candidates(card, vectors)
    return ranked[0] if ranked else (None, -1.0)


def scored(
    vectors: np.ndarray, values: list[CanonicalValue], population: dedup.Population | None = None
) -> list[tuple[CanonicalValue, float]]:
    """The values with their exact `similarity` to the card's vectors (centred by `population`), best first."""
    if not values:
        return []
    scores = dedup.similarity_matrix(
        [dedup.as_card_vectors(vectors)],
        [dedup.as_card_vectors(value_vectors(v, like=vectors)) for v in values],
        population,
    )[0]
    order = np.argsort(-scores, kind="stable")
    return [(values[int(i)], float(scores[int(i)])) for i in order]


def best_scored(
    vectors: np.ndarray, values: list[CanonicalValue], population: dedup.Population | None = None
) -> tuple[CanonicalValue | None, float]:
    """The value scoring highest against the card's vectors with the exact `similarity`, and its score."""
    ranked = scored(vectors, values, population)
    return ranked[0] if ranked else (None, -1.0)


def _card_text(item: ValuesCard | CanonicalValue) -> "dedup.CardText":
    return dedup.CardText(item.title, item.description, tuple(item.policies))


def _judge_doubtful(
    card: ValuesCard, ranked: list[tuple[CanonicalValue, float]], thresholds: dedup.Thresholds
) -> tuple[dict[int, dedup.Verdict | None] | None, bool]:
    """With a model, ask the judge about every doubtful candidate in one call: (verdicts by value id, failed).
    (None, False) when no model is configured or nothing is doubtful."""
    asked = dedup.doubtful([(value.pk, score) for value, score in ranked], thresholds)
    if not asked or ranked[0][1] >= dedup.NEAR_VERBATIM or not judge.judge_available(card.round_id):
        return None, False
    by_id = {value.pk: value for value, _ in ranked}
    try:
        answers = judge.judge_candidates(
            _card_text(card), [_card_text(by_id[pk]) for pk, _ in asked], round_id=card.round_id
        )
    except dedup.JudgeUnavailable as failure:
        log.warning("dedup judge unavailable for card %s (%s); it waits for review", card.pk, failure)
        return None, True
    return {pk: answer for (pk, _), answer in zip(asked, answers, strict=True)}, False


def dedup_place_card(*, card_id: int, on_settled=None) -> CardMerge | None:
    """Place a pending card into the canonical value it expresses, or found a new one. Idempotent.
    `on_settled(card, candidates, placement)`, when given, is called with the decision (the dedup_cards command
    counts the doubtful cards with it)."""
    card = ValuesCard.objects.filter(pk=card_id).select_related("round").first()
    if card is None or card.dedup_status != ValuesCard.DedupStatus.PENDING:
        return None
    # The slow calls (embedding, and the model judge for doubtful pairs) happen outside the transaction.
    vectors = card_vectors(card)
    thresholds = dedup.thresholds_for(card.round.dedup_threshold)
    verdicts, failed = _judge_doubtful(card, _scored_candidates(card, vectors), thresholds)
    with transaction.atomic():
        # One placement per question at a time: two cards of the same new value end in one canonical value.
        Question.objects.select_for_update().get(pk=card.question_id)
        card = ValuesCard.objects.select_for_update().select_related("round").get(pk=card_id)
        if card.dedup_status != ValuesCard.DedupStatus.PENDING:
            return None
        ranked = _scored_candidates(card, vectors)
        candidates = [(value.pk, score) for value, score in ranked]
        # A value placed since the judge was asked has no verdict: if it is doubtful, the card waits for review.
        placement = dedup.settle(candidates, thresholds, verdicts, judge_failed=failed)
        decision = placement.decision
        origin = CardMerge.Origin.JUDGE if placement.judged else CardMerge.Origin.AUTO
        if decision == "same":
            value = next(v for v, _ in ranked if v.pk == placement.key)
            merge = CardMerge.objects.create(
                card=card, value=value, origin=origin, similarity=round(placement.score, 6)
            )
        else:
            # A doubtful card starts a value of its own and waits for an organizer: a wrong merge would hide
            # someone's value, a missed one stays visible and can be merged later.
            value = _new_value_from_card(card, vectors)
            merge = CardMerge.objects.create(card=card, value=value, origin=origin, similarity=None)
        value.contexts.add(card.context_id)
        card.dedup_status = (
            ValuesCard.DedupStatus.REVIEW if decision == "review" else ValuesCard.DedupStatus.PLACED
        )
        card.save(update_fields=["dedup_status", "updated_at"])
        _release_represented(card, value)
        if decision == "same":
            _refresh_representative(value)
        elif card.round.stage == Stage.VOTING:
            # A value founded while voting is open needs stories (moral_graph writes them).
            events.emit(events.VALUE_FOUNDED, round_id=card.round_id, value_id=value.pk)
    if on_settled is not None:
        on_settled(card, candidates, placement)
    return merge


def merge_confirm(*, participant: Participant, card: ValuesCard, answer: str) -> MergeConfirmation:
    """The author answers "is this your value?"; "different" splits their card into a value of its own."""
    if card.author_id != participant.pk:
        raise Forbidden(_("Only the author of this card can answer."))
    if answer not in MergeConfirmation.Answer.values:
        raise ValidationError({"answer": "Answer 'same' or 'different'."})
    with transaction.atomic():
        merge = CardMerge.objects.select_for_update().filter(card=card, undone_at__isnull=True).first()
        if merge is None:
            raise NotFound(_("This card has not been placed yet."))
        existing = MergeConfirmation.objects.filter(merge=merge).first()
        if existing is not None:
            if existing.answer == answer:
                return existing
            raise Conflict(_("You have already answered for this card."), code="already_answered")
        confirmation = MergeConfirmation.objects.create(merge=merge, answer=answer)
        if answer == MergeConfirmation.Answer.DIFFERENT:
            others = CardMerge.objects.filter(value=merge.value, undone_at__isnull=True).exclude(pk=merge.pk)
            if others.exists():
                merge.undone_at = timezone.now()
                merge.undo_reason = "its author said it is a different value"
                merge.save(update_fields=["undone_at", "undo_reason"])
                value = _new_value_from_card(card, card_vectors(card))
                value.contexts.add(card.context_id)
                CardMerge.objects.create(card=card, value=value, origin=CardMerge.Origin.SPLIT)
                _refresh_representative(merge.value)
    return confirmation


def card_choose_value(*, participant: Participant, value_id, card: ValuesCard | None = None, context_id=None) -> ValuesCard:
    """The participant says an existing value is theirs: their card joins it, with their own confirmation.

    With `card` (a step after submitting) that card joins the value, keeping its words; without one (while
    writing) a card with the value's words is submitted for them. Either way deduplication has nothing left to do.
    """
    value = CanonicalValue.objects.filter(pk=_int_or_none(value_id), round_id=participant.round_id, is_active=True).first()
    if value is None:
        raise ValidationError({"value": _("Choose one of the values shown.")})
    if card is None:
        if context_id in (None, ""):
            context_id = value.contexts.values_list("pk", flat=True).order_by("order", "id").first()
        card = card_submit(
            participant=participant,
            context_id=context_id,
            title=value.title,
            description=value.description,
            policies=value.policies,
        )
    elif card.author_id != participant.pk:
        raise Forbidden(_("Only the author of this card can choose its value."))
    with transaction.atomic():
        Question.objects.select_for_update().get(pk=card.question_id)
        card = ValuesCard.objects.select_for_update().get(pk=card.pk)
        current = CardMerge.objects.select_for_update().filter(card=card, undone_at__isnull=True).first()
        if current is not None and current.value_id == value.pk:
            merge = current
        else:
            if current is not None:
                current.undone_at = timezone.now()
                current.undo_reason = "its author chose another value"
                current.save(update_fields=["undone_at", "undo_reason"])
            merge = CardMerge.objects.create(card=card, value=value, origin=CardMerge.Origin.CHOSEN)
        MergeConfirmation.objects.update_or_create(merge=merge, defaults={"answer": MergeConfirmation.Answer.SAME})
        value.contexts.add(card.context_id)
        card.dedup_status = ValuesCard.DedupStatus.PLACED
        card.save(update_fields=["dedup_status", "updated_at"])
        if current is not None and current.value_id != value.pk:
            _retire_if_empty(current.value_id)
    return card


def _retire_if_empty(value_id: int) -> None:
    """A value left without cards (its only card chose another value) stops being shown."""
    if not CardMerge.objects.filter(value_id=value_id, undone_at__isnull=True).exists():
        CanonicalValue.objects.filter(pk=value_id).update(is_active=False, updated_at=timezone.now())


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _require_moderator(actor, round_: Round) -> None:
    if not can(actor, round_, "moderate"):
        raise Forbidden(_("Your role in this round does not allow moderation."))


def value_merge(*, actor, source: CanonicalValue, target: CanonicalValue) -> CanonicalValue:
    """Merge one canonical value into another; its cards move, and votes on its stories count for the target."""
    _require_moderator(actor, source.round)
    if source.pk == target.pk or source.question_id != target.question_id:
        raise ValidationError({"target": "Choose another value of the same question."})
    with transaction.atomic():
        Question.objects.select_for_update().get(pk=source.question_id)
        source = CanonicalValue.objects.select_for_update().get(pk=source.pk)
        target = CanonicalValue.objects.select_for_update().get(pk=target.pk)
        if not source.is_active or not target.is_active:
            raise Conflict(_("Both values must be active."), code="inactive_value")
        now = timezone.now()
        moved = list(CardMerge.objects.filter(value=source, undone_at__isnull=True))
        CardMerge.objects.filter(pk__in=[m.pk for m in moved]).update(
            undone_at=now, undo_reason=f"value merged into {target.pk}"
        )
        CardMerge.objects.bulk_create(
            [CardMerge(card_id=m.card_id, value=target, origin=CardMerge.Origin.ORGANIZER) for m in moved]
        )
        target.contexts.add(*source.contexts.all())
        source.is_active = False
        source.merged_into = target
        source.save(update_fields=["is_active", "merged_into", "updated_at"])
        _refresh_representative(target)
        audit_log(
            round_=source.round,
            actor=actor,
            action="value.merge",
            target=source,
            data={"into": target.pk, "cards": len(moved)},
        )
        _ranking_changed(source.round_id)
    target.refresh_from_db()
    return target


def card_reassign(*, actor, card: ValuesCard, target: CanonicalValue | None) -> CardMerge:
    """Move a card to another canonical value, or (target None) split it into a value of its own."""
    _require_moderator(actor, card.round)
    if target is not None and (target.question_id != card.question_id or not target.is_active):
        raise ValidationError({"target": "Choose an active value of the same question."})
    with transaction.atomic():
        Question.objects.select_for_update().get(pk=card.question_id)
        current = CardMerge.objects.select_for_update().filter(card=card, undone_at__isnull=True).first()
        if current is not None and target is not None and current.value_id == target.pk:
            raise ValidationError({"target": _("The card is already in that value: choose another one.")})
        if current is not None:
            current.undone_at = timezone.now()
            current.undo_reason = "reassigned by an organizer"
            current.save(update_fields=["undone_at", "undo_reason"])
        if target is None:
            target = _new_value_from_card(card, card_vectors(card))
        target.contexts.add(card.context_id)
        merge = CardMerge.objects.create(card=card, value=target, origin=CardMerge.Origin.ORGANIZER)
        ValuesCard.objects.filter(pk=card.pk).update(dedup_status=ValuesCard.DedupStatus.PLACED)
        if current is not None:
            _retire_if_empty(current.value)
            _refresh_representative(current.value)
        _refresh_representative(target)
        audit_log(
            round_=card.round,
            actor=actor,
            action="card.reassign",
            target=card,
            data={"from": current.value_id if current else None, "to": target.pk},
        )
        _ranking_changed(card.round_id)
    return merge


def _retire_if_empty(value: CanonicalValue) -> None:
    """A value left with no cards and no stories disappears from the graph; with stories it stays."""
    if CardMerge.objects.filter(value=value, undone_at__isnull=True).exists():
        return
    if value.stories_from.exists() or value.stories_to.exists():
        return
    CanonicalValue.objects.filter(pk=value.pk).update(is_active=False, updated_at=timezone.now())


def _ranking_changed(round_id: int) -> None:
    # moral_graph marks the round's ranking stale (structure changed), in this transaction.
    events.emit(events.MERGES_CHANGED, round_id=round_id)


def card_review_keep(*, actor, card: ValuesCard) -> ValuesCard:
    """An organizer decides a borderline card is a value of its own: it leaves the review queue as it is."""
    _require_moderator(actor, card.round)
    with transaction.atomic():
        updated = ValuesCard.objects.filter(pk=card.pk, dedup_status=ValuesCard.DedupStatus.REVIEW).update(
            dedup_status=ValuesCard.DedupStatus.PLACED
        )
        if not updated:
            raise Conflict(_("This card is not waiting for review."), code="not_in_review")
        audit_log(round_=card.round, actor=actor, action="card.review_keep", target=card)
    card.refresh_from_db()
    return card


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def dedup_scratch_run(
    *, cards: list[tuple[str, "dedup.CardText", str | None]], threshold: float = 0.0
) -> dict:
    """Place cards (id, text, question or None), one by one in the given order, with the placement code of live
    cards, in a scratch round created for the run and deleted after it. Returns {"assignments": {id: value key},
    "values": n, ...}; a value's key is the id of its representative card."""
    import uuid

    from cards.models import DESCRIPTION_MAX, POLICY_MAX, TITLE_MAX

    settled: dict[int, tuple[list, dedup.Placement]] = {}
    round_ = None
    try:
        with transaction.atomic():
            round_ = Round.objects.create(
                slug=f"dedup-scratch-{uuid.uuid4().hex[:12]}",
                title="Scratch round of dedup_cards (deleted after the run)",
                stage=Stage.ARTICULATION,
                dedup_threshold=threshold,
            )
            contexts: dict[str | None, Context] = {}
            for order, question in enumerate(dict.fromkeys(q for _, _, q in cards)):
                row = Question.objects.create(round=round_, text=question or "(no question given)", order=order)
                contexts[question] = Context.objects.create(question=row, name="scratch")
            rows: list[tuple[str, ValuesCard]] = []
            for card_id, text, question in cards:
                context = contexts[question]
                stored = dedup.CardText(
                    _clip(text.title, TITLE_MAX),
                    _clip(text.description, DESCRIPTION_MAX),
                    tuple(_clip(p, POLICY_MAX) for p in text.policies),
                )
                # The database keeps texts within its limits; the vectors are always those of the full text.
                embedding = None
                if stored != text:
                    from llm.gateway import embed

                    embedding = vectors_to_bytes(
                        embed(
                            dedup.card_texts(text.title, text.description, text.policies),
                            purpose="dedup.embed",
                            round_id=round_.pk,
                        )
                    )
                row = ValuesCard.objects.create(
                    round=round_,
                    question_id=context.question_id,
                    context=context,
                    title=stored.title,
                    description=stored.description,
                    policies=list(stored.policies),
                    source="dedup_cards",
                    embedding=embedding,
                )
                rows.append((card_id, row))
        for _, row in rows:
            dedup_place_card(
                card_id=row.pk,
                on_settled=lambda card, candidates, placement: settled.__setitem__(card.pk, (candidates, placement)),
            )
        input_id = {row.pk: card_id for card_id, row in rows}
        value_of = dict(
            CardMerge.objects.filter(card__round=round_, undone_at__isnull=True).values_list("card_id", "value_id")
        )
        representative = dict(
            CanonicalValue.objects.filter(round=round_, is_active=True).values_list("pk", "representative_id")
        )
        statuses = dict(ValuesCard.objects.filter(round=round_).values_list("pk", "dedup_status"))
        thresholds = dedup.thresholds_for(threshold)
        doubtful = sum(
            bool(dedup.doubtful(candidates, thresholds)) and candidates[0][1] < dedup.NEAR_VERBATIM
            for candidates, _ in settled.values()
        )
        assignments = {
            card_id: input_id[representative[value_of[row.pk]]] for card_id, row in rows
        }
        return {
            "assignments": assignments,
            "values": len(set(assignments.values())),
            "cards": len(rows),
            "review": sum(status == ValuesCard.DedupStatus.REVIEW for status in statuses.values()),
            "doubtful": doubtful,
            "judged": sum(placement.judged for _, placement in settled.values()),
            "model": judge.judge_available(round_.pk),
            "thresholds": {
                "same": thresholds.threshold,
                "review_low": thresholds.review_low,
                "review_high": thresholds.review_high,
            },
        }
    finally:
        if round_ is not None:
            with transaction.atomic():
                # Cards first: they protect the contexts that deleting the round would otherwise cascade to.
                CanonicalValue.objects.filter(round=round_).delete()
                ValuesCard.objects.filter(round=round_).delete()
                Round.objects.filter(pk=round_.pk).delete()
            dedup_index_cache_clear()
