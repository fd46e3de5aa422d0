"""The report's summary (issue 18, point 3): the answer first, with exactly the ranking's winners, support levels,
rank ranges and intervals, the published run of a published round, and the participation figures."""

from types import SimpleNamespace

import pytest
from django.test import Client
from rest_framework.test import APIClient

from deliberation.models import Participant, Round, Stage
from moral_graph import selectors
from moral_graph import services as graph_services
from moral_graph.models import RankingRun, WiserVote
from moral_graph.selectors.participation import participation_figures
from moral_graph.selectors.report import _summary, rank_label, report_build
from tests.factories import join, make_round, submit

FAMILIES = ("autonomy", "safety", "honesty", "community")


def _voted_round(slug: str, answers=("wiser", "not_wiser"), **settings) -> Round:
    """Six people: five write a card, four vote (alternating answers), one only joins."""
    round_ = make_round(slug=slug, stories_per_participant=4, min_votes_per_story=1, **settings)
    people = [join(round_, party=party) for party in ("Left", "Right", "Left", "Other", "Right")]
    for person, family in zip(people, FAMILIES + ("autonomy",), strict=True):
        submit(person, family=family, variant=1 if person is people[-1] else 0)
    join(round_, party="Other")
    Round.objects.filter(pk=round_.pk).update(stage=Stage.VOTING)
    graph_services.stories_generate(round_id=round_.pk)
    voters = Participant.objects.filter(pk__in=[p.pk for p in people[:4]]).select_related("round")
    for person in voters:
        for i, story in enumerate(graph_services.assignments_take(participant=person)):
            graph_services.vote_cast(participant=person, story_id=story.pk, answer=answers[i % len(answers)])
    graph_services.ranking_compute(round_id=round_.pk)
    round_.refresh_from_db()
    return round_


def _first(result: dict) -> list[int]:
    return [v["valueId"] for v in result["values"] if v["rank"] == 1] if result["nVotes"] else []


@pytest.mark.django_db
def test_the_summary_names_the_ranking_s_winners_with_its_support_rank_range_and_interval():
    round_ = _voted_round("summary-winners")
    # Only one value detailed per context: the summary does not depend on the detail.
    report = report_build(round_=round_, values_per_context=1)
    full = report_build(round_=round_, values_per_context=None)
    snapshots = {s.context_id: s.results for s in selectors.snapshots_of(run=round_.current_ranking)}
    summary = report["summary"]
    assert summary["runId"] == round_.current_ranking_id and summary["method"] == "bt"
    contexts = [c for q in summary["questions"] for c in q["contexts"]]
    assert [c["id"] for c in contexts] == [c["id"] for q in full["questions"] for c in q["contexts"]]
    assert [q["text"] for q in summary["questions"]] == [q.text for q in round_.questions.order_by("order")]
    assert any(c["winners"] for c in contexts), "the votes reach a context"
    detailed = {c["id"]: c for q in full["questions"] for c in q["contexts"]}
    for context in contexts:
        result = snapshots[context["id"]]
        assert context["support"] == result["support"], "the ranking's own label"
        assert context["support"] in {"broadly supported", "some support", "contested", "too few voters to call"}
        assert [w["valueId"] for w in context["winners"]] == _first(result)
        assert context["winnerVoters"] == result["winnerVoters"] and context["nVoters"] == result["nVoters"]
        ranked = {v["valueId"]: v for v in result["values"]}
        for winner in context["winners"]:
            value = ranked[winner["valueId"]]
            assert winner["rankInterval"] == value["rankInterval"] and winner["scoreInterval"] == value["scoreInterval"]
            assert winner["pTop"] == value["pTop"] and winner["score"] == value["score"]
            assert winner["rankLabel"] == rank_label(value["rankInterval"])
            assert winner["title"] == round_.values.get(pk=winner["valueId"]).title
        if detailed[context["id"]]["winner"] is not None:
            assert [w["valueId"] for w in context["winners"]] == [detailed[context["id"]]["winner"]["valueId"]]
            assert not context["tied"]


def test_a_tie_names_every_value_ranked_first_and_a_context_without_votes_names_none():
    def value(pk, rank, interval):
        return {"valueId": pk, "rank": rank, "rankInterval": interval, "score": 0.4, "scoreInterval": [0.1, 0.7],
                "pTop": 0.5}

    tied = {"nVotes": 2, "nVoters": 1, "support": "contested", "winnerVoters": 0, "minVoters": 20,
            "values": [value(1, 1, [1, 3]), value(2, 1, [1, 2]), value(3, 3, [2, 3])]}
    silent = {"nVotes": 0, "nVoters": 0, "support": "contested", "values": [value(4, 1, [1, 1])]}
    question = SimpleNamespace(text="What matters?")
    snapshots = [
        SimpleNamespace(results=result, question_id=1, question=question, context_id=pk,
                        context=SimpleNamespace(name=f"Context {pk}"))
        for pk, result in ((10, tied), (11, silent))
    ]
    people = {"joined": 1, "voters": 1, "finished": 1, "cards": 1, "values": 3, "votes": 2}
    summary = _summary(run=SimpleNamespace(pk=7, method="bt"), snapshots=snapshots,
                       titles={1: "A", 2: "B", 3: "C"}, participation=people)
    first, empty = summary["questions"][0]["contexts"]
    assert first["tied"] and [(w["title"], w["rankLabel"]) for w in first["winners"]] == [("A", "1–3"), ("B", "1–2")]
    assert first["support"] == "contested"
    assert empty["winners"] == [] and not empty["tied"]
    assert rank_label([2, 2]) == "2" and rank_label([1, 4]) == "1–4"


@pytest.mark.django_db
def test_the_summary_counts_are_the_participation_figures():
    round_ = _voted_round("summary-people")
    people = report_build(round_=round_)["summary"]["people"]
    figures = participation_figures(round_=round_)
    assert people == {key: figures[source] for key, source in (
        ("joined", "joined"), ("voted", "voters"), ("finished", "finished"), ("cards", "cards"),
        ("values", "values"), ("votes", "votes"))}
    # The known population: six joined, five wrote a card, four voted.
    assert (people["joined"], people["cards"], people["voted"]) == (6, 5, 4)
    assert people["votes"] == WiserVote.objects.filter(story__round=round_).count() > 0
    assert people["votes"] == sum(
        c["nVotes"] for q in report_build(round_=round_)["questions"] for c in q["contexts"]
    )


@pytest.mark.django_db
def test_a_published_round_s_summary_shows_the_published_run(django_capture_on_commit_callbacks):
    round_ = _voted_round("summary-frozen", report_visibility="public")
    owner = APIClient()
    owner.force_login(round_.roles.get(role="owner").user)
    for stage in ("closed", "published"):
        assert owner.post(f"/api/v1/rounds/{round_.slug}/stage/", {"stage": stage}, format="json").status_code == 200
    round_.refresh_from_db()
    published = round_.published_ranking
    before = APIClient().get(f"/api/v1/rounds/{round_.slug}/report/").json()["summary"]
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(f"/api/v1/rounds/{round_.slug}/rank/", {"method": "mai_pagerank"}, format="json")
        assert response.status_code == 202
    newest = RankingRun.objects.filter(round=round_).latest("id")
    assert newest.pk != published.pk and newest.method == "mai_pagerank"

    after = APIClient().get(f"/api/v1/rounds/{round_.slug}/report/").json()["summary"]
    assert after == before, "a re-rank leaves the public summary as published"
    assert after["runId"] == published.pk and after["method"] == "bt"
    snapshots = {s.context_id: s.results for s in selectors.snapshots_of(run=published)}
    for context in (c for q in after["questions"] for c in q["contexts"]):
        assert context["support"] == snapshots[context["id"]]["support"]
        assert [w["valueId"] for w in context["winners"]] == _first(snapshots[context["id"]])
    preview = owner.get(f"/api/v1/rounds/{round_.slug}/report/?run={newest.pk}").json()["summary"]
    assert preview["runId"] == newest.pk and preview["method"] == "mai_pagerank", "an organizer's preview"


@pytest.mark.django_db
def test_the_page_opens_with_the_summary_and_the_brief_holds_only_the_summary():
    round_ = _voted_round("summary-page", report_visibility="unlisted", report_live=True)
    summary = report_build(round_=round_)["summary"]
    client = Client()
    page = client.get(f"/r/{round_.slug}/report/").content.decode()
    start, detail = page.index('id="summary"'), page.index('id="detail"')
    assert start < detail < page.index('class="context-report"'), "the answer comes before the detail"
    head = page[start:detail]
    for context in (c for q in summary["questions"] for c in q["contexts"]):
        assert context["name"] in head
        for winner in context["winners"]:
            assert f"<strong>{winner['title']}</strong>" in head and f"Rank {winner['rankLabel']}" in head
    assert "?layout=brief" in head and "Print the full report" in head
    assert page.count('<details class="ranked-values">') == len(summary["questions"][0]["contexts"])
    assert '<details class="ranked-values" open>' in client.get(f"/r/{round_.slug}/report/?values=all").content.decode()

    brief = client.get(f"/r/{round_.slug}/report/?layout=brief")
    text = brief.content.decode()
    assert brief.status_code == 200 and 'id="summary"' in text
    assert "context-report" not in text and "graph-svg" not in text and "ranked-values" not in text
    assert f"http://testserver/r/{round_.slug}/report/" in text, "the printed brief names the full report"
    assert "No winner is called from fewer than 20 people" in text, "the methodology line"
    run = round_.current_ranking_id
    client.force_login(round_.roles.get(role="owner").user)
    earlier = client.get(f"/r/{round_.slug}/report/?run={run}&layout=brief").content.decode()
    assert f"http://testserver/r/{round_.slug}/report/?run={run}" in earlier
    bad = client.get(f"/r/{round_.slug}/report/?layout=poster")
    assert bad.status_code == 400 and "full" in bad.content.decode() and "brief" in bad.content.decode()
