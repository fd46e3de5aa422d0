"""A participant's own data: download it as JSON, or delete it.

Deletion keeps what the round's results are made of and removes what could point back to the person. The
participant's row is replaced by a fresh anonymous row (new id, new pseudonym, new resume token, no
attributes, no account, no invitation) that takes over their votes and story assignments, so every count
and every ranking input stays as it was; the old row is deleted, which also voids their participant token
and resume link. Cards lose their author and their chat transcript; chats are deleted; vote reasons are
cleared (they do not affect rankings). The ranking is recomputed, since the voter ids changed.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from cards.models import ArticulationSession, ValuesCard
from deliberation.models import Participant
from moral_graph.models import StoryAssignment, WiserVote, WiserVoteRevision
from moral_graph.services import mark_ranking_dirty

EXPORT_FORMAT = "wiser.participant-data"
EXPORT_VERSION = 1


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _card_data(card: ValuesCard) -> dict[str, Any]:
    merge = next((m for m in card.merges.all() if m.undone_at is None), None)
    confirmation = getattr(merge, "confirmation", None) if merge is not None else None
    return {
        "id": card.pk,
        "context": card.context.name,
        "title": card.title,
        "description": card.description,
        "policies": list(card.policies),
        "status": card.status,
        "hiddenReason": card.hidden_reason,
        "dedupStatus": card.dedup_status,
        "source": card.source,
        "transcript": card.transcript,
        "createdAt": _iso(card.created_at),
        "updatedAt": _iso(card.updated_at),
        "value": None
        if merge is None
        else {
            "id": merge.value_id,
            "title": merge.value.title,
            "origin": merge.origin,
            "yourAnswer": confirmation.answer if confirmation else None,
        },
    }


def participant_export(*, participant: Participant) -> dict[str, Any]:
    """Everything the round stores about one participant, as plain JSON-ready data (no credentials)."""
    round_ = participant.round
    cards = (
        ValuesCard.objects.filter(author=participant)
        .select_related("context")
        .prefetch_related("merges__value", "merges__confirmation")
        .order_by("id")
    )
    votes = (
        WiserVote.objects.filter(participant=participant)
        .select_related("story__context", "story__from_value", "story__to_value")
        .order_by("id")
    )
    revisions: dict[int, list[dict[str, Any]]] = {}
    for revision in WiserVoteRevision.objects.filter(vote__participant=participant).order_by("id"):
        revisions.setdefault(revision.vote_id, []).append(
            {"answer": revision.answer, "at": _iso(revision.created_at)}
        )
    chats = (
        ArticulationSession.objects.filter(participant=participant).select_related("context").order_by("id")
    )
    shown = StoryAssignment.objects.filter(participant=participant).order_by("id")
    return {
        "format": EXPORT_FORMAT,
        "formatVersion": EXPORT_VERSION,
        "round": {"slug": round_.slug, "title": round_.title, "stage": round_.stage},
        "participant": {
            "pseudonym": participant.pseudonym,
            "attributes": participant.attributes,
            "consentAt": _iso(participant.consent_at),
            "joinedAt": _iso(participant.joined_at),
            "finishedAt": _iso(participant.finished_at),
            "evaluation": {"represented": participant.eval_represented, "fair": participant.eval_fair},
            "viaInvitation": participant.invitation_id is not None,
            "linkedAccount": participant.user_id is not None,
        },
        "cards": [_card_data(card) for card in cards],
        "chats": [
            {
                "id": chat.pk,
                "context": chat.context.name if chat.context else None,
                "status": chat.status,
                "messages": chat.messages,
                "draft": chat.draft,
                "createdAt": _iso(chat.created_at),
                "updatedAt": _iso(chat.updated_at),
            }
            for chat in chats
        ],
        "votes": [
            {
                "id": vote.pk,
                "storyId": vote.story_id,
                "context": vote.story.context.name,
                "story": vote.story.text,
                "fromValue": vote.story.from_value.title,
                "toValue": vote.story.to_value.title,
                "answer": vote.answer,
                "reason": vote.reason,
                "history": revisions.get(vote.pk, []),
                "createdAt": _iso(vote.created_at),
                "updatedAt": _iso(vote.updated_at),
            }
            for vote in votes
        ],
        "storiesShown": [{"storyId": a.story_id, "at": _iso(a.created_at)} for a in shown],
    }


@transaction.atomic
def participant_delete(*, participant: Participant) -> Participant:
    """Remove the participant's personal data and authorship; their anonymous votes move to a fresh row (returned)."""
    old = Participant.objects.select_for_update().get(pk=participant.pk)
    anonymous = Participant.objects.create(
        round_id=old.round_id,
        consent_at=old.consent_at,
        finished_at=old.finished_at,
        eval_represented=old.eval_represented,
        eval_fair=old.eval_fair,
        is_simulated=old.is_simulated,
    )
    Participant.objects.filter(pk=anonymous.pk).update(joined_at=old.joined_at)
    moved_votes = WiserVote.objects.filter(participant=old).update(participant=anonymous, reason="")
    # Revisions carry their vote's participant for the ranking's reads (decision 46): they move with the votes.
    WiserVoteRevision.objects.filter(vote__participant=anonymous).update(participant=anonymous)
    StoryAssignment.objects.filter(participant=old).update(participant=anonymous)
    cards = ValuesCard.objects.filter(author=old)
    ArticulationSession.objects.filter(participant=old).delete()
    # Merges stay: canonical values keep their members and the graph its nodes.
    had_cards = cards.update(author=None, transcript=[]) > 0
    old.delete()
    if moved_votes or had_cards:
        mark_ranking_dirty(old.round_id, structural=True)
    return anonymous
