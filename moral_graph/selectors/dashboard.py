"""Figures for the organizer's live dashboard (read-only)."""

from statistics import median
from typing import Any

from django.db.models import Avg, Count, Q

from cards.models import CanonicalValue, MergeConfirmation, ValuesCard
from deliberation.models import Job, Round
from moral_graph.models import TransitionStory, WiserVote


def dashboard_figures(round_: Round) -> dict[str, Any]:
    """Participants, cards, values, votes, story coverage, merge confirmations and evaluation averages."""
    participants = round_.participants.aggregate(
        joined=Count("id"),
        finished=Count("id", filter=Q(finished_at__isnull=False)),
        represented=Avg("eval_represented"),
        fair=Avg("eval_fair"),
    )
    cards = ValuesCard.objects.filter(round=round_).aggregate(
        total=Count("id"),
        hidden=Count("id", filter=Q(status=ValuesCard.Status.HIDDEN)),
        pending=Count("id", filter=Q(dedup_status=ValuesCard.DedupStatus.PENDING)),
        review=Count("id", filter=Q(dedup_status=ValuesCard.DedupStatus.REVIEW)),
    )
    per_story = list(
        TransitionStory.objects.filter(round=round_, is_hidden=False)
        .annotate(n=Count("votes"))
        .values_list("n", flat=True)
    )
    minimum = round_.min_votes_per_story
    covered = sum(1 for n in per_story if n >= minimum)
    confirmations = MergeConfirmation.objects.filter(merge__card__round=round_).aggregate(
        total=Count("id"), same=Count("id", filter=Q(answer=MergeConfirmation.Answer.SAME))
    )
    return {
        "participants": participants["joined"],
        "finished": participants["finished"],
        "eval_represented": participants["represented"],
        "eval_fair": participants["fair"],
        "cards": cards["total"],
        "cards_hidden": cards["hidden"],
        "cards_pending": cards["pending"],
        "cards_review": cards["review"],
        "values": CanonicalValue.objects.filter(round=round_, is_active=True).count(),
        "stories": len(per_story),
        "votes": WiserVote.objects.filter(story__round=round_).count(),
        "coverage": {
            "min": min(per_story) if per_story else 0,
            "median": median(per_story) if per_story else 0,
            "max": max(per_story) if per_story else 0,
            "covered": covered,
            "share": covered / len(per_story) if per_story else None,
            "minimum": minimum,
        },
        "confirmations": confirmations["total"],
        "confirmation_rate": confirmations["same"] / confirmations["total"]
        if confirmations["total"]
        else None,
    }


def dashboard_jobs(round_: Round) -> list[Job]:
    """The round's background jobs, failed ones first."""
    return sorted(
        round_.jobs.all()[:50], key=lambda j: (j.status != Job.Status.FAILED, j.status != Job.Status.RUNNING)
    )
