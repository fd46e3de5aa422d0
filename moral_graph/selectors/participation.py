"""Who took part and how: the one reading of a round's participation figures, for the report and the console.

A selector (reads only). What each figure counts is stated in docs/report.md ("Participation").
"""

import logging
import threading
import time
from collections import Counter
from statistics import median
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.db.models import Count, Exists, Max, OuterRef, Q

from cards.models import CanonicalValue, CardMerge, MergeConfirmation, ValuesCard
from deliberation.models import Round
from moral_graph.models import StoryAssignment, TransitionStory, WiserVote

EVALUATION_SCALE = (1, 2, 3, 4, 5)


def _evaluation(values: list[int | None]) -> dict[str, Any]:
    answered = [v for v in values if v is not None]
    counts = Counter(answered)
    return {
        "answered": len(answered),
        "mean": sum(answered) / len(answered) if answered else None,
        "distribution": [{"answer": a, "count": counts.get(a, 0)} for a in EVALUATION_SCALE],
    }


def grouped_confirmations(*, round_: Round):
    """Answers to "is this your value?" on merges that grouped a card into a value another card was already in.

    A card that founded its value was never grouped: its author's answer says nothing about a merge.
    """
    joined_existing = CardMerge.objects.filter(value=OuterRef("merge__value"), pk__lt=OuterRef("merge_id")).exclude(
        card=OuterRef("merge__card")
    )
    return MergeConfirmation.objects.filter(merge__card__round=round_).filter(Exists(joined_existing))


def participation_figures(*, round_: Round) -> dict[str, Any]:
    """Joined, finished, cards, values, stories, votes, grouping confirmations, time, coverage and evaluation.

    Finished: voted on every story assigned to them (hidden stories aside), or pressed finish. Time: from joining
    to pressing finish, or else to their last vote, for those who finished.
    """
    people = {
        pk: row
        for pk, *row in round_.participants.values_list(
            "pk", "joined_at", "finished_at", "eval_represented", "eval_fair", "is_simulated"
        )
    }
    assigned = dict(
        StoryAssignment.objects.filter(participant__round=round_, story__is_hidden=False)
        .values("participant")
        .annotate(n=Count("id"))
        .values_list("participant", "n")
    )
    voted = {
        pk: (n, last)
        for pk, n, last in WiserVote.objects.filter(participant__round=round_, story__is_hidden=False)
        .values("participant")
        .annotate(n=Count("id"), last=Max("created_at"))
        .values_list("participant", "n", "last")
    }
    minutes, finished = [], 0
    for pk, (joined, pressed, *_rest) in people.items():
        n_voted, last_vote = voted.get(pk, (0, None))
        all_voted = assigned.get(pk, 0) > 0 and n_voted >= assigned[pk]
        if pressed is None and not all_voted:
            continue
        finished += 1
        done = pressed or last_vote
        if done is not None and joined is not None:
            minutes.append(max(0.0, (done - joined).total_seconds() / 60))
    cards = ValuesCard.objects.filter(round=round_).aggregate(
        total=Count("id"),
        hidden=Count("id", filter=Q(status=ValuesCard.Status.HIDDEN)),
        pending=Count("id", filter=Q(dedup_status=ValuesCard.DedupStatus.PENDING)),
        review=Count("id", filter=Q(dedup_status=ValuesCard.DedupStatus.REVIEW)),
    )
    confirmations = grouped_confirmations(round_=round_).aggregate(
        total=Count("id"), same=Count("id", filter=Q(answer=MergeConfirmation.Answer.SAME))
    )
    per_story = list(
        TransitionStory.objects.filter(round=round_, is_hidden=False)
        .annotate(n=Count("votes"))
        .values_list("n", flat=True)
    )
    minimum = round_.min_votes_per_story
    covered = sum(1 for n in per_story if n >= minimum)
    votes = WiserVote.objects.filter(story__round=round_)
    return {
        "joined": len(people),
        "simulated": sum(1 for row in people.values() if row[4]),
        "finished": finished,
        "cards": cards["total"],
        "cardsHidden": cards["hidden"],
        "cardsPending": cards["pending"],
        "cardsReview": cards["review"],
        "values": CanonicalValue.objects.filter(round=round_, is_active=True).count(),
        "stories": len(per_story),
        "votes": votes.count(),
        "voters": votes.values("participant_id").distinct().count(),
        "confirmations": confirmations["total"],
        "confirmationRate": confirmations["same"] / confirmations["total"] if confirmations["total"] else None,
        "medianMinutes": median(minutes) if minutes else None,
        "coverage": {
            "min": min(per_story) if per_story else 0,
            "median": median(per_story) if per_story else 0,
            "max": max(per_story) if per_story else 0,
            "covered": covered,
            "share": covered / len(per_story) if per_story else None,
            "minimum": minimum,
        },
        "represented": _evaluation([row[2] for row in people.values()]),
        "fair": _evaluation([row[3] for row in people.values()]),
    }


FIGURES_CACHE_SECONDS = 10


def _figures_seconds() -> float:
    return float(getattr(settings, "WISER_FIGURES_CACHE_SECONDS", FIGURES_CACHE_SECONDS))


def store_figures(key: str, builder) -> Any:
    """Build figures and keep them in the cache with their time (what `cached_figures` serves)."""
    value = builder()
    try:
        cache.set(key, (time.time(), value), timeout=max(3600, 10 * _figures_seconds()))
        cache.delete(f"{key}:refreshing")
    except Exception:  # built afresh next time
        logging.getLogger(__name__).warning("figures %s not cached", key, exc_info=True)
    return value


def refresh_lock_key(round_id: int) -> str:
    """Held while a task counts the round's figures again (one task refreshes them all)."""
    return f"wiser:figures-refreshing:{round_id}"


def cached_figures(key: str, builder, *, refresh=None, lock: str | None = None) -> Any:
    """`builder()`'s result, at most WISER_FIGURES_CACHE_SECONDS old (0: built on every call).

    An entry past its age is still served while the next one is built elsewhere: by `refresh()` (which enqueues a
    task) when there are workers, else by one background thread. At a million votes the participation figures
    take seconds, and the report and the dashboard are read far more often than that."""
    seconds = _figures_seconds()
    if seconds <= 0:
        return builder()
    try:
        entry = cache.get(key)
    except Exception:
        entry = None
    if entry is None:
        return store_figures(key, builder)
    stamp, value = entry
    if time.time() - stamp <= seconds:
        return value
    try:
        claimed = cache.add(lock or f"{key}:refreshing", 1, timeout=max(60, 2 * seconds))
    except Exception:
        claimed = False
    if not claimed:
        return value
    if refresh is not None and not settings.CELERY_TASK_ALWAYS_EAGER:
        try:
            refresh()
            return value
        except Exception:  # the broker down: refresh here, in a thread
            logging.getLogger(__name__).warning("figures %s: refresh not enqueued", key, exc_info=True)

    def run() -> None:
        try:
            store_figures(key, builder)
            if lock:
                cache.delete(lock)
        except Exception:
            logging.getLogger(__name__).warning("figures %s not refreshed", key, exc_info=True)
        finally:
            connections.close_all()

    threading.Thread(target=run, name=f"wiser-figures-{key}", daemon=True).start()
    return value


def participation_key(round_id: int) -> str:
    return f"wiser:participation:v1:{round_id}"


def refresh_figures_later(round_id: int) -> None:
    from moral_graph.tasks import refresh_figures

    refresh_figures.delay(round_id)


def cached_participation_figures(*, round_: Round) -> dict[str, Any]:
    """`participation_figures` through `cached_figures` (the report and the organizer's dashboard)."""
    return cached_figures(
        participation_key(round_.pk),
        lambda: participation_figures(round_=round_),
        refresh=lambda: refresh_figures_later(round_.pk),
        lock=refresh_lock_key(round_.pk),
    )
