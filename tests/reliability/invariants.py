"""The invariants every fault test holds (the voting round they start from is tests.factories.voting_round)."""

from cards.models import CardMerge, ValuesCard
from deliberation.models import Job, Round
from moral_graph import selectors, services
from moral_graph.models import RankingRun, RankingSnapshot, WiserVote, WiserVoteRevision


def cast_votes(participants) -> dict[tuple[int, int], str]:
    """Every participant answers every assigned story; returns the expected answer per (participant, story)."""
    expected = {}
    for person in participants:
        for story in services.assignments_take(participant=person):
            answer = "wiser" if story.to_value_id > story.from_value_id else "not_wiser"
            services.vote_cast(participant=person, story_id=story.pk, answer=answer)
            expected[(person.pk, story.pk)] = answer
    return expected


def assert_votes_stored_once(round_: Round, expected: dict[tuple[int, int], str]) -> None:
    """Every accepted vote is there exactly once, with one revision, and nothing else is."""
    stored = list(
        WiserVote.objects.filter(story__round=round_).values_list("participant_id", "story_id", "answer")
    )
    assert len(stored) == len({(p, s) for p, s, _ in stored})
    assert {(p, s): a for p, s, a in stored} == expected
    assert WiserVoteRevision.objects.filter(round=round_).count() == len(expected)


def assert_snapshots_reproduce(round_: Round) -> None:
    """Every stored snapshot equals a from-scratch recompute at its run's watermark; one run per watermark."""
    runs = list(RankingRun.objects.filter(round=round_).exclude(status=RankingRun.Status.FAILED))
    keys = [(r.method, r.watermark, r.structure_version) for r in runs]
    assert len(keys) == len(set(keys)), f"two runs at one watermark: {keys}"
    for run in runs:
        stored = {s.context_id: s.results for s in RankingSnapshot.objects.filter(run=run)}
        # Each result with the seed and warm start it records (a copied result keeps its first run's).
        recomputed = services.ranking_results(
            round_=round_,
            watermark=run.watermark,
            assignment_watermark=run.parameters["assignmentWatermark"],
            method=run.method,
            warm_from=run.parameters.get("warmStart"),
            reproduce={c: r["parameters"] for c, r in stored.items()},
        )
        assert {r["context_id"]: r["result"] for r in recomputed} == stored, (
            f"run {run.pk} does not reproduce"
        )


def assert_current_ranking_is_up_to_date(round_: Round) -> RankingRun:
    """The round's current run is published and includes its newest vote."""
    round_.refresh_from_db()
    run = RankingRun.objects.get(pk=round_.current_ranking_id)
    assert run.status == RankingRun.Status.PUBLISHED
    assert run.watermark == selectors.round_watermark(round_id=round_.pk)
    assert RankingRun.objects.filter(round=round_, status=RankingRun.Status.PUBLISHED).count() == 1
    return run


def assert_cards_kept(card_ids: list[int]) -> None:
    """Deduplication never deletes a card, and a placed card sits in exactly one value."""
    assert ValuesCard.objects.filter(pk__in=card_ids).count() == len(card_ids)
    for card_id in card_ids:
        live = CardMerge.objects.filter(card_id=card_id, undone_at__isnull=True).count()
        status = ValuesCard.objects.values_list("dedup_status", flat=True).get(pk=card_id)
        allowed = {ValuesCard.DedupStatus.PENDING: {0}, ValuesCard.DedupStatus.PLACED: {1}}.get(
            status, {0, 1}
        )
        assert live in allowed, (card_id, status, live)


def ranking_job_running(round_id: int) -> bool:
    """Whether the round's ranking job row says a computation is under way."""
    return Job.objects.filter(round_id=round_id, kind="ranking", status=Job.Status.RUNNING).exists()
