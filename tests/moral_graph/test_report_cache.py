"""The report's cache: built once per run and limit, a new run is served at once, a published round keeps its run;
participation figures at most WISER_FIGURES_CACHE_SECONDS old."""

import time

import pytest
from rest_framework.test import APIClient

from deliberation.models import Participant
from moral_graph import selectors
from moral_graph import services as graph_services
from moral_graph.selectors.report import report_build
from tests.factories import join, make_round, submit
from tests.moral_graph.test_published_frozen import _published_round

pytestmark = pytest.mark.django_db


@pytest.fixture
def snapshot_reads(monkeypatch):
    """How many times a run's snapshots were read from the database, per run id."""
    reads: dict[int, int] = {}
    real = selectors.snapshots_of

    def counted(*, run, ids=None):
        reads[run.pk] = reads.get(run.pk, 0) + 1
        return real(run=run, ids=ids)

    monkeypatch.setattr(selectors, "snapshots_of", counted)
    return reads


def _votes(report: dict) -> int:
    return sum(c["nVotes"] for q in report["questions"] for c in q["contexts"])


def test_a_report_is_built_once_per_run_and_a_new_run_is_served_at_once(snapshot_reads):
    round_ = make_round(slug="cache-live", stories_per_participant=4, min_votes_per_story=1,
                        report_visibility="public", report_live=True)
    for family in ("autonomy", "safety", "honesty", "community"):
        submit(join(round_), family=family)
    round_.stage = "voting"
    round_.save()
    graph_services.stories_generate(round_id=round_.pk)
    people = list(Participant.objects.filter(round=round_).select_related("round"))
    for person in people[:2]:
        for story in graph_services.assignments_take(participant=person):
            graph_services.vote_cast(participant=person, story_id=story.pk, answer="wiser")
    first = graph_services.ranking_compute(round_id=round_.pk)
    round_.refresh_from_db()
    one = report_build(round_=round_)
    again = APIClient().get(f"/api/v1/rounds/{round_.slug}/report/").json()
    assert again["questions"] == one["questions"] and again["ranking"]["runId"] == first.pk
    assert snapshot_reads == {first.pk: 1}, "the second read is served from the cache"
    for person in people[2:]:
        for story in graph_services.assignments_take(participant=person):
            graph_services.vote_cast(participant=person, story_id=story.pk, answer="not_wiser")
    second = graph_services.ranking_compute(round_id=round_.pk)
    round_.refresh_from_db()
    newer = APIClient().get(f"/api/v1/rounds/{round_.slug}/report/").json()
    assert newer["ranking"]["runId"] == second.pk != first.pk
    assert _votes(newer) > _votes(one), "the new run's votes, not the cached run's"
    assert snapshot_reads == {first.pk: 1, second.pk: 1}
    assert report_build(round_=round_, values_per_context=1)["questions"] != newer["questions"]
    assert snapshot_reads[second.pk] == 2, "another limit is another entry"


def test_a_published_round_keeps_serving_its_published_run(snapshot_reads):
    round_, _organizer = _published_round("cache-frozen")
    published = round_.published_ranking_id
    before = report_build(round_=round_)
    newer = graph_services.ranking_compute(round_id=round_.pk, method="mai_pagerank")
    assert newer.pk != published
    round_.refresh_from_db()
    assert round_.current_ranking_id == newer.pk
    report_build(round_=round_, run=newer)  # an organizer previews the new run: now cached too
    after = report_build(round_=round_)
    assert after["ranking"]["runId"] == published and after["questions"] == before["questions"]
    assert snapshot_reads == {published: 1, newer.pk: 1}


def test_participation_figures_are_cached_for_their_age_only(settings):
    round_ = make_round(slug="cache-figures", report_visibility="public", report_live=True)
    join(round_)
    settings.WISER_FIGURES_CACHE_SECONDS = 60
    first = report_build(round_=round_)["participation"]["joined"]
    join(round_)
    assert report_build(round_=round_)["participation"]["joined"] == first, "cached for up to a minute"
    settings.WISER_FIGURES_CACHE_SECONDS = 0
    assert report_build(round_=round_)["participation"]["joined"] == first + 1


def test_an_edited_story_reaches_the_cached_report_without_a_new_run(snapshot_reads):
    round_, _organizer = _published_round("cache-text")
    before = report_build(round_=round_, values_per_context=None)
    edge = next(
        e for q in before["questions"] for c in q["contexts"] for v in c["values"] for e in v["incomingEdges"]
    )
    context = next(c["id"] for q in before["questions"] for c in q["contexts"] for v in c["values"]
                   if edge in v["incomingEdges"])
    report_build(round_=round_)
    from deliberation.models import Context

    graph_services.story_write(
        actor=round_.roles.get(role="owner").user,
        context=Context.objects.get(pk=context),
        from_value_id=edge["sourceValueId"],
        to_value_id=edge["wiserValueId"],
        text="An organizer rewrote this story after the run.",
    )
    after = report_build(round_=round_)
    stories = [e["story"] for q in after["questions"] for c in q["contexts"] for v in c["values"]
               for e in v["incomingEdges"]]
    assert "An organizer rewrote this story after the run." in stories
    assert after["ranking"]["runId"] == before["ranking"]["runId"]


def test_figures_past_their_age_are_served_while_a_task_counts_them_again(settings, monkeypatch):
    from moral_graph import tasks

    round_ = make_round(slug="cache-stale", report_visibility="public", report_live=True)
    join(round_)
    settings.WISER_FIGURES_CACHE_SECONDS = 60
    first = report_build(round_=round_)["participation"]["joined"]
    join(round_)
    settings.CELERY_TASK_ALWAYS_EAGER = False  # with workers: the refresh is a task
    sent = []
    monkeypatch.setattr(tasks.refresh_figures, "delay", lambda round_id: sent.append(round_id))
    settings.WISER_FIGURES_CACHE_SECONDS = 0.001  # every entry is now old
    time.sleep(0.01)
    assert report_build(round_=round_)["participation"]["joined"] == first, "the old figures, at once"
    assert report_build(round_=round_)["participation"]["joined"] == first
    assert sent == [round_.pk], "one refresh for both reads, both figures"
    tasks.refresh_figures(round_.pk)
    settings.WISER_FIGURES_CACHE_SECONDS = 60
    assert report_build(round_=round_)["participation"]["joined"] == first + 1


def test_a_limit_beyond_64_bits_is_echoed_not_a_server_error():
    import json

    from moral_graph.selectors.report import report_json

    round_, _organizer = _published_round("cache-huge")
    body = json.loads(report_json(round_=round_, values_per_context=10**30))
    assert body["ranking"]["valuesPerContext"] == 10**30 and body["questions"]


def test_a_new_run_parses_only_the_contexts_whose_results_changed(monkeypatch):
    from tests.factories import voting_round
    from tests.moral_graph.test_ranking_reuse import _change_one_context
    from tests.reliability.invariants import cast_votes

    parsed: list[int] = []
    real = selectors.snapshots_of

    def counted(*, run, ids=None):
        snapshots = real(run=run, ids=ids)
        parsed.extend(s.context_id for s in snapshots)
        return snapshots

    monkeypatch.setattr(selectors, "snapshots_of", counted)
    round_, people = voting_round("cache-copied", people=6)
    cast_votes(people)
    first = graph_services.ranking_compute(round_id=round_.pk)
    round_.refresh_from_db()
    before = report_build(round_=round_)
    assert sorted(parsed) == sorted(selectors.snapshot_digests(run_id=first.pk))
    parsed.clear()
    changed = _change_one_context(round_)
    second = graph_services.ranking_compute(round_id=round_.pk)
    assert len(second.parameters["reusedContexts"]) == 1
    round_.refresh_from_db()
    after = report_build(round_=round_)
    assert parsed == [changed], "the copied context's trimmed result comes from the cache"
    assert after["ranking"]["runId"] == second.pk
    kept = second.parameters["reusedContexts"][0]
    contexts = lambda report: {c["id"]: c for q in report["questions"] for c in q["contexts"]}  # noqa: E731
    assert contexts(after)[kept] == contexts(before)[kept]
    assert contexts(after)[changed] != contexts(before)[changed]
