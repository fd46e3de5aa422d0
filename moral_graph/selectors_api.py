"""Reads behind the organizer API of stories, votes and ranking runs, with the role check built in."""

from django.db.models import Count, Q, QuerySet

from core.errors import Forbidden
from deliberation.models import Round
from deliberation.permissions import can
from moral_graph.models import Answer, RankingRun, TransitionStory, WiserVote


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
