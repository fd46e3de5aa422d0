"""A context whose ranking inputs did not change since the previous run keeps its result (decision 45)."""

import json

import pytest

from deliberation.models import Context, Job
from moral_graph import selectors, services
from moral_graph.exports import export_build, export_verify
from moral_graph.models import RankingPart, RankingRun, RankingSnapshot, WiserVote, WiserVoteRevision
from tests.factories import join, voting_round
from tests.reliability.invariants import (
    assert_current_ranking_is_up_to_date,
    assert_snapshots_reproduce,
    cast_votes,
)

pytestmark = pytest.mark.django_db


def _snapshots(run: RankingRun) -> dict[int, dict]:
    return {s.context_id: s.results for s in RankingSnapshot.objects.filter(run=run)}


def _change_one_context(round_) -> int:
    """Flip one vote's answer (a new revision, no new assignment): only that vote's context changes."""
    vote = WiserVote.objects.filter(story__round=round_).select_related("story", "participant").order_by("pk")[0]
    answer = "not_sure" if vote.answer != "not_sure" else "wiser"
    services.vote_update(participant=vote.participant, vote_id=vote.pk, answer=answer)
    return vote.story.context_id


def _voted_round(slug: str):
    round_, people = voting_round(slug, people=6)
    cast_votes(people)
    first = services.ranking_compute(round_id=round_.pk)
    assert first is not None and len(_snapshots(first)) == 2
    return round_, first


def test_an_unchanged_context_keeps_its_result_and_the_run_reproduces():
    round_, first = _voted_round("reuse-one")
    changed = _change_one_context(round_)
    second = services.ranking_compute(round_id=round_.pk)
    assert second.pk != first.pk and second.watermark > first.watermark
    before, after = _snapshots(first), _snapshots(second)
    (kept,) = set(after) - {changed}
    assert second.parameters["reusedContexts"] == [kept]
    assert after[kept] == before[kept], "copied as it was, with the seed of the run that computed it"
    assert after[kept]["parameters"]["seed"] == first.watermark
    assert after[changed]["parameters"]["seed"] == second.watermark
    assert after[changed] != before[changed]
    assert after[changed]["parameters"]["inputsDigest"] != before[changed]["parameters"]["inputsDigest"]
    # Each stored result is what its recorded seed and warm start give on the votes at its run's watermark.
    assert_snapshots_reproduce(round_)
    # And an export of the new run recomputes to a match from its own votes (each result's own seed).
    data = json.loads(json.dumps(export_build(round_=round_, run=second), default=str))
    report = export_verify(data)
    assert report.mismatches == 0 and report.values_checked > 0, report.lines


def test_with_reuse_off_every_context_is_ranked_again(settings):
    settings.WISER_RANKING_REUSE = False
    round_, first = _voted_round("reuse-off")
    _change_one_context(round_)
    second = services.ranking_compute(round_id=round_.pk)
    assert second.parameters["reusedContexts"] == []
    assert all(r["parameters"]["seed"] == second.watermark for r in _snapshots(second).values())


def test_a_changed_ranking_code_is_never_reused(monkeypatch):
    round_, first = _voted_round("reuse-code")
    _change_one_context(round_)
    monkeypatch.setattr("moral_graph.digest.ranking_code_digest", lambda: "another version of the ranking")
    second = services.ranking_compute(round_id=round_.pk)
    assert second.parameters["reusedContexts"] == []


def _ranked_contexts(monkeypatch) -> list:
    """The contexts' value ids handed to rank_context from now on (a copied context is never ranked)."""
    ranked = []
    real = services.ranking.rank_context

    def counting(**kwargs):
        ranked.append(sorted(kwargs["value_ids"]))
        return real(**kwargs)

    monkeypatch.setattr(services.ranking, "rank_context", counting)
    return ranked


def test_the_fan_out_ranks_only_the_changed_context(settings, django_capture_on_commit_callbacks, monkeypatch):
    settings.WISER_RANKING_FANOUT = "always"
    round_, people = voting_round("reuse-fan", people=6)
    cast_votes(people)
    with django_capture_on_commit_callbacks(execute=True):
        services.ranking_compute(round_id=round_.pk)
    first = assert_current_ranking_is_up_to_date(round_)
    changed = _change_one_context(round_)
    ranked = _ranked_contexts(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True) as sent:
        assert services.ranking_compute(round_id=round_.pk) is None
    assert len(sent) == 2, "a part per context: each reads its own votes"
    assert len(ranked) == 1, "only the changed context is ranked; the other part copies its snapshot"
    second = assert_current_ranking_is_up_to_date(round_)
    (kept,) = set(_snapshots(second)) - {changed}
    assert second.parameters["reusedContexts"] == [kept]
    assert _snapshots(second)[kept] == _snapshots(first)[kept]
    assert _snapshots(second)[changed]["parameters"]["seed"] == second.watermark
    assert_snapshots_reproduce(round_)


def test_the_fan_out_copies_every_context_when_none_changed(
    settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.WISER_RANKING_FANOUT = "always"
    round_, people = voting_round("reuse-none", people=6)
    cast_votes(people)
    with django_capture_on_commit_callbacks(execute=True):
        services.ranking_compute(round_id=round_.pk)
    first = assert_current_ranking_is_up_to_date(round_)
    # A vote changed and changed back: two new revisions, the same answers at the new watermark.
    vote = WiserVote.objects.filter(story__round=round_).select_related("participant").order_by("pk")[0]
    original = vote.answer
    other = "not_sure" if original != "not_sure" else "wiser"
    services.vote_update(participant=vote.participant, vote_id=vote.pk, answer=other)
    services.vote_update(participant=vote.participant, vote_id=vote.pk, answer=original)
    ranked = _ranked_contexts(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        services.ranking_compute(round_id=round_.pk)
    assert ranked == [], "nothing to rank"
    second = assert_current_ranking_is_up_to_date(round_)
    assert not RankingPart.objects.exists()
    assert second.watermark > first.watermark
    assert sorted(second.parameters["reusedContexts"]) == sorted(_snapshots(first))
    assert _snapshots(second) == _snapshots(first)
    assert Job.objects.get(round=round_, kind="ranking").status == Job.Status.DONE


def test_auto_fans_out_only_when_at_least_half_the_contexts_changed(settings):
    round_, first = _voted_round("reuse-auto")
    settings.WISER_RANKING_FANOUT = "auto"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.WISER_RANKING_FANOUT_MIN_VOTES = 1
    watermark = first.watermark
    assert services.ranking_fanout_wanted(round_id=round_.pk, watermark=watermark), "nothing to copy from"
    assert not services.ranking_fanout_wanted(round_id=round_.pk, watermark=watermark, since=first), (
        "no context changed: one task copies them all"
    )
    changed = _change_one_context(round_)
    newer = selectors.round_watermark(round_id=round_.pk)
    assert selectors.contexts_changed_since(
        round_id=round_.pk,
        watermark=first.watermark,
        assignment_watermark=first.parameters["assignmentWatermark"],
        upto=newer,
    ) == 1
    # One of the round's two contexts changed: half of them, so the parts are worth it.
    assert Context.objects.filter(question__round=round_).count() == 2 and changed
    assert services.ranking_fanout_wanted(round_id=round_.pk, watermark=newer, since=first)
    settings.WISER_RANKING_FANOUT_MIN_VOTES = 10**9
    assert not services.ranking_fanout_wanted(round_id=round_.pk, watermark=newer, since=first)
    # The minimum itself is enough (the revisions are counted up to it only); one fewer is not.
    revisions = WiserVoteRevision.objects.filter(round=round_, id__lte=newer).count()
    settings.WISER_RANKING_FANOUT_MIN_VOTES = revisions
    assert services.ranking_fanout_wanted(round_id=round_.pk, watermark=newer)
    settings.WISER_RANKING_FANOUT_MIN_VOTES = revisions + 1
    assert not services.ranking_fanout_wanted(round_id=round_.pk, watermark=newer)


def test_a_story_shown_after_a_run_counts_its_context_as_changed():
    round_, first = _voted_round("reuse-shown")
    newcomer = join(round_, party="Left")
    shown = services.assignments_take(participant=newcomer)
    assert shown
    assert selectors.contexts_changed_since(
        round_id=round_.pk,
        watermark=first.watermark,
        assignment_watermark=first.parameters["assignmentWatermark"],
        upto=first.watermark,
    ) == len({story.context_id for story in shown})


def test_a_run_made_with_the_multiplier_bootstrap_reproduces_after_the_threshold_moves(monkeypatch):
    # Decision 50: a result names its bootstrap, and the recomputation takes that one, not today's choice.
    from moral_graph import ranking

    monkeypatch.setattr(ranking, "MULTIPLIER_MIN_VOTERS", 1)
    round_, first = _voted_round("reuse-multiplier")
    assert {r["parameters"]["bootstrap"] for r in _snapshots(first).values()} == {"multiplier"}
    monkeypatch.setattr(ranking, "MULTIPLIER_MIN_VOTERS", 10**9)
    assert_snapshots_reproduce(round_)
