"""Figures for the organizer's live dashboard (read-only)."""

from typing import Any

from deliberation.models import Job, Round
from moral_graph.selectors.participation import cached_participation_figures


def dashboard_figures(round_: Round) -> dict[str, Any]:
    """Participants, cards, values, votes, story coverage, merge confirmations and evaluation averages: the
    report's participation figures (one selector computes both)."""
    figures = cached_participation_figures(round_=round_)
    return {
        "participants": figures["joined"],
        "finished": figures["finished"],
        "median_minutes": figures["medianMinutes"],
        "eval_represented": figures["represented"]["mean"],
        "eval_fair": figures["fair"]["mean"],
        "cards": figures["cards"],
        "cards_hidden": figures["cardsHidden"],
        "cards_pending": figures["cardsPending"],
        "cards_review": figures["cardsReview"],
        "values": figures["values"],
        "stories": figures["stories"],
        "votes": figures["votes"],
        "voters": figures["voters"],
        "coverage": figures["coverage"],
        "confirmations": figures["confirmations"],
        "confirmation_rate": figures["confirmationRate"],
    }


def dashboard_jobs(round_: Round) -> list[Job]:
    """The round's background jobs, failed ones first."""
    return sorted(
        round_.jobs.all()[:50], key=lambda j: (j.status != Job.Status.FAILED, j.status != Job.Status.RUNNING)
    )
