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

from cards import dedup
from cards.models import CanonicalValue, CardMerge, MergeConfirmation, ValuesCard
from cards.validation import validate_card
from core.errors import Conflict, Forbidden, NotFound, WrongStage
from core.queue import enqueue_on_commit
from deliberation.models import Context, Participant, Question, Round, Stage
from deliberation.permissions import can
from deliberation.services import audit_log

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
        round_ = Round.objects.select_for_update().get(pk=participant.round_id)
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


def card_update(
    *, participant: Participant, card: ValuesCard, title, description, policies, context_id=None
) -> ValuesCard:
    """Let the author edit their card until the voting stage; it is placed again."""
    if card.author_id != participant.pk:
        raise Forbidden(_("Only the author can edit this card."))
    fields = validate_card(title=title, description=description, policies=policies)
    context = _context_for(participant, context_id) if context_id is not None else card.context
    with transaction.atomic():
        round_ = Round.objects.select_for_update().get(pk=participant.round_id)
        if round_.stage != Stage.ARTICULATION:
            raise WrongStage(_("Cards can be edited only until the voting stage starts."))
        locked = ValuesCard.objects.select_for_update().get(pk=card.pk)
        locked.title, locked.description, locked.policies = fields.title, fields.description, fields.policies
        locked.context = context
        locked.embedding = None
        locked.dedup_status = ValuesCard.DedupStatus.PENDING
        locked.save()
        CardMerge.objects.filter(card=locked, undone_at__isnull=True).update(
            undone_at=timezone.now(), undo_reason="edited by its author"
        )
        from cards.tasks import dedup_card

        enqueue_on_commit(dedup_card, locked.pk)
    return locked


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


def _ranked_candidates(card: ValuesCard, vectors: np.ndarray) -> list[int]:
    """Ids of the index's best candidates for the card, from an index exact for the question's values now."""
    entry = _question_index(card.question_id, int(vectors.shape[1]))
    recomputed: dict[int, np.ndarray] = {}
    for attempt in range(1, SYNC_ATTEMPTS + 1):
        with entry.lock:
            unusable = _index_sync(entry, card.question_id, recomputed)
            if not unusable or attempt == SYNC_ATTEMPTS:
                entry.nbytes = entry.index.memory_bytes()
                found = [int(key) for key, _ in entry.index.candidates(vectors, k=RESCORE_CANDIDATES)]
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
    return found


def _best_candidate(card: ValuesCard, vectors: np.ndarray) -> tuple[CanonicalValue | None, float]:
    """The active canonical value of the card's question closest to the card, and its similarity."""
    vectors = np.asarray(vectors, dtype=np.float32)
    found = _ranked_candidates(card, vectors)
    values = list(CanonicalValue.objects.filter(pk__in=found, is_active=True).order_by("id")) if found else []
    return best_scored(vectors, values)


def best_scored(vectors: np.ndarray, values: list[CanonicalValue]) -> tuple[CanonicalValue | None, float]:
    """The value scoring highest against the card's vectors with the exact `similarity`, and its score."""
    if not values:
        return None, -1.0
    scores = dedup.similarity_matrix(
        [dedup.as_card_vectors(vectors)],
        [dedup.as_card_vectors(value_vectors(v, like=vectors)) for v in values],
    )[0]
    best = int(np.argmax(scores))
    return values[best], float(scores[best])


def _card_text(item: ValuesCard | CanonicalValue) -> "dedup.CardText":
    return dedup.CardText(item.title, item.description, list(item.policies))


def dedup_place_card(*, card_id: int) -> CardMerge | None:
    """Place a pending card into the canonical value it expresses, or found a new one. Idempotent."""
    card = ValuesCard.objects.filter(pk=card_id).select_related("round").first()
    if card is None or card.dedup_status != ValuesCard.DedupStatus.PENDING:
        return None
    # The slow calls (embedding, and the model judge for a borderline pair) happen outside the transaction.
    vectors = card_vectors(card)
    thresholds = dedup.thresholds_for(card.round.dedup_threshold)
    judged: tuple[int, dedup.Resolution] | None = None
    candidate, score = _best_candidate(card, vectors)
    if (
        candidate is not None
        and dedup.decide(score, thresholds) == "review"
        and dedup.judge_available(card.round_id)
    ):
        judged = (
            candidate.pk,
            dedup.resolve_pair(
                score, thresholds, _card_text(card), _card_text(candidate), round_id=card.round_id
            ),
        )
    with transaction.atomic():
        # One placement per question at a time: two cards of the same new value end in one canonical value.
        Question.objects.select_for_update().get(pk=card.question_id)
        card = ValuesCard.objects.select_for_update().select_related("round").get(pk=card_id)
        if card.dedup_status != ValuesCard.DedupStatus.PENDING:
            return None
        best_value, best_score = _best_candidate(card, vectors)
        decision = dedup.decide(best_score, thresholds) if best_value is not None else "different"
        origin = CardMerge.Origin.AUTO
        if (
            judged is not None
            and best_value is not None
            and judged[0] == best_value.pk
            and decision == "review"
        ):
            decision = judged[1].decision
            origin = CardMerge.Origin.JUDGE if judged[1].judged else origin
        if decision == "same":
            value = best_value
            merge = CardMerge.objects.create(
                card=card, value=value, origin=origin, similarity=round(best_score, 6)
            )
        else:
            # A borderline card starts a value of its own and waits for an organizer: a wrong merge would hide
            # someone's value, a missed one stays visible and can be merged later.
            value = _new_value_from_card(card, vectors)
            merge = CardMerge.objects.create(card=card, value=value, origin=origin, similarity=None)
        value.contexts.add(card.context_id)
        card.dedup_status = (
            ValuesCard.DedupStatus.REVIEW if decision == "review" else ValuesCard.DedupStatus.PLACED
        )
        card.save(update_fields=["dedup_status", "updated_at"])
        if decision == "same":
            _refresh_representative(value)
        elif card.round.stage == Stage.VOTING:
            from moral_graph.tasks import generate_stories

            enqueue_on_commit(generate_stories, card.round_id)
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
    from moral_graph.services import mark_ranking_dirty

    mark_ranking_dirty(round_id, structural=True)


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
