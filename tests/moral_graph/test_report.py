"""The ranked report: its figures, the page a policy reader opens, the graph and the downloads."""

import inspect
import io
import json
import zipfile
from datetime import timedelta

import networkx as nx
import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from cards.models import MergeConfirmation
from deliberation.models import Participant, Round, Stage
from llm.models import LLMCall
from moral_graph import ranking
from moral_graph import services as graph_services
from moral_graph.exports import export_verify
from moral_graph.selectors.report import (
    MIN_GROUP_VOTERS,
    SUPPORT_BROAD_P_TOP,
    SUPPORT_SOME_P_TOP,
    graph_layout,
    report_build,
)
from moral_graph.selectors.report import wrap_label as wrap
from tests.factories import join, make_round, submit


def test_labels_wrap_at_words_and_stop_at_three_lines():
    assert wrap("Finding Steady Ground") == ["Finding Steady", "Ground"]
    assert wrap("Honest") == ["Honest"]
    lines = wrap("one two three four five six seven eight nine ten eleven twelve", width=10)
    assert len(lines) == 3 and lines[-1].endswith("…") and all(len(line) <= 10 for line in lines)


def test_layout_puts_the_winner_on_top_sizes_nodes_by_score_and_edges_by_share():
    nodes = [
        {"id": 7, "title": "B", "rank": 2, "score": 0.2},
        {"id": 3, "title": "A", "rank": 1, "score": 0.8},
        {"id": 9, "title": "C", "rank": 3, "score": 0.0},
    ]
    edges = [
        {"source": 7, "target": 3, "share": 1.0},
        {"source": 9, "target": 7, "share": 0.25},
        {"source": 3, "target": 99, "share": 1.0},
    ]
    layout = graph_layout(nodes, edges)
    placed = {n["id"]: n for n in layout["nodes"]}
    assert placed[3]["y"] < placed[7]["y"] and placed[3]["y"] < placed[9]["y"], "best value at the top"
    assert placed[3]["r"] > placed[7]["r"] > placed[9]["r"]
    assert len(layout["edges"]) == 2, "an edge to a value not in the graph is left out"
    strong = next(e for e in layout["edges"] if e["source"] == 7)
    weak = next(e for e in layout["edges"] if e["source"] == 9)
    assert strong["width"] > weak["width"] and strong["strong"] and not weak["strong"]
    for node in layout["nodes"]:
        assert 0 <= node["x"] <= layout["width"] and 0 <= node["y"] <= layout["height"]
    assert [row["title"] for row in layout["table"]] == ["A", "B", "C"]
    assert graph_layout([], [])["nodes"] == []


def test_the_stated_thresholds_are_the_ones_the_ranking_uses():
    assert inspect.signature(ranking.rank_context).parameters["min_group_voters"].default == MIN_GROUP_VOTERS
    enough = ranking.MIN_BROAD_VOTERS
    assert inspect.signature(ranking.rank_context).parameters["min_broad_voters"].default == enough
    assert ranking._support(SUPPORT_BROAD_P_TOP, [1, 1], True, enough, enough) == "broadly supported"
    assert ranking._support(SUPPORT_BROAD_P_TOP - 1e-9, [1, 1], True, enough, enough) == "some support"
    assert ranking._support(SUPPORT_SOME_P_TOP, [1, 2], True, enough, enough) == "some support"
    assert ranking._support(SUPPORT_SOME_P_TOP - 1e-9, [1, 2], True, enough, enough) == "contested"
    assert ranking._support(1.0, [1, 1], True, enough - 1, enough) == ranking.TOO_FEW_VOTERS


def _ranked_round(slug: str, **settings) -> Round:
    round_ = make_round(slug=slug, stories_per_participant=4, min_votes_per_story=1, **settings)
    people = [join(round_, party=party) for party in ("Left", "Right", "Left", "Other")]
    for person, family in zip(people, ["autonomy", "safety", "honesty", "community"], strict=True):
        submit(person, family=family)
    Round.objects.filter(pk=round_.pk).update(stage=Stage.VOTING)
    graph_services.stories_generate(round_id=round_.pk)
    for person in Participant.objects.filter(round=round_).select_related("round"):
        for story in graph_services.assignments_take(participant=person):
            graph_services.vote_cast(participant=person, story_id=story.pk, answer="wiser")
    graph_services.ranking_compute(round_id=round_.pk)
    round_.refresh_from_db()
    return round_


@pytest.mark.django_db
def test_report_holds_ranked_values_with_their_votes_stories_participation_and_methodology():
    round_ = _ranked_round("report-data")
    people = list(Participant.objects.filter(round=round_).order_by("id"))
    now = timezone.now()
    for minutes, person, answers in ((10, people[0], (4, 5)), (20, people[1], (2, 3))):
        Participant.objects.filter(pk=person.pk).update(
            joined_at=now - timedelta(minutes=minutes),
            finished_at=now,
            eval_represented=answers[0],
            eval_fair=answers[1],
        )
    card = people[0].cards.get()
    MergeConfirmation.objects.create(merge=card.merges.get(undone_at__isnull=True), answer="same")
    LLMCall.objects.create(
        purpose="stories.write",
        kind="structured",
        provider="remote",
        model="gpt-test",
        prompt_version="stories-v2",
        input_hash="x",
        outcome="ok",
        round_id=round_.pk,
    )

    report = report_build(round_=round_)

    assert report["ranking"]["watermark"] == round_.current_ranking.watermark
    contexts = [c for q in report["questions"] for c in q["contexts"]]
    voted = [c for c in contexts if c["nVotes"]]
    assert voted, "the votes reach at least one context"
    for context in voted:
        values = context["values"]
        assert [v["rank"] for v in values] == sorted(v["rank"] for v in values)
        assert {n["id"] for n in context["graph"]["nodes"]} == {v["valueId"] for v in values}
        assert len(context["graph"]["layout"]["nodes"]) == len(values)
        wiser_towards = sum(v["answers"]["towards"]["wiser"] for v in values)
        wiser_away = sum(v["answers"]["awayFrom"]["wiser"] for v in values)
        assert wiser_towards == wiser_away == context["nVotes"], "everyone answered wiser"
        for value in values:
            assert value["title"] and value["policies"]
            assert 0 <= value["bar"]["low"] <= value["bar"]["point"] <= value["bar"]["high"] <= 100
            for edge in value["incomingEdges"]:
                assert edge["wiserValueId"] == value["valueId"]
                assert edge["story"], "each voted edge shows its story"
                assert edge["wiserShare"] == 1.0
        if context["winner"] is not None:
            assert context["winner"]["valueId"] == values[0]["valueId"]

    participation = report["participation"]
    # All four voted on every story they were given: finished, two by pressing Finish (10 and 20 minutes after
    # joining), two by their last vote (moments after joining).
    assert (participation["joined"], participation["finished"]) == (4, 4)
    assert participation["medianMinutes"] == pytest.approx(5, abs=0.5)
    # The confirmed card founded its own value: nothing was grouped, so no merge was confirmed.
    assert participation["cards"] == 4 and participation["confirmationRate"] is None
    assert participation["votes"] == sum(c["nVotes"] for c in contexts)
    assert participation["represented"]["mean"] == 3 and participation["represented"]["answered"] == 2
    assert [d["count"] for d in participation["fair"]["distribution"]] == [0, 0, 1, 0, 1]

    methodology = report["methodology"]
    assert methodology["watermark"] == report["ranking"]["watermark"]
    assert methodology["bootstrapResamples"] == 200 and methodology["method"] == "bt"
    assert {
        "purpose": "stories.write",
        "kind": "structured",
        "provider": "remote",
        "model": "gpt-test",
        "prompt_version": "stories-v2",
        "calls": 1,
    } in methodology["models"]
    assert methodology["storyOrigins"] and methodology["recompute"][1].startswith(
        "python manage.py verify_export"
    )
    json.dumps(report)


@pytest.mark.django_db
def test_report_without_a_ranking_still_gives_participation():
    round_ = make_round(slug="report-empty")
    join(round_)
    report = report_build(round_=round_)
    assert report["ranking"] is None and report["questions"] == []
    assert report["participation"]["joined"] == 1 and report["participation"]["medianMinutes"] is None
    assert report["methodology"]["watermark"] is None


@pytest.mark.django_db
def test_the_page_explains_the_results_draws_the_graph_and_offers_downloads():
    round_ = _ranked_round("report-page-full", report_visibility="unlisted", report_live=True)
    page = Client().get(f"/r/{round_.slug}/report/")
    assert page.status_code == 200
    text = page.content.decode()
    for phrase in (
        "Which values won",
        "How to read this report",
        "95% interval",
        "Chance of being first",
        "Broadly supported",
        "Some support",
        "Contested",
        "The moral graph",
        "Who took part",
        "Methodology",
        "verify_export",
        "Try the guidance",
    ):
        assert phrase in text, phrase
    assert text.count('<svg class="graph-svg"') == sum(q.contexts.count() for q in round_.questions.all())
    assert 'id="graph-data"' in text and "frontend/graph.js" in text and "report-print.css" in text
    for kind in ("json", "csv", "graphml"):
        assert f"/api/v1/rounds/{round_.slug}/exports/{kind}/" in text
    Round.objects.filter(pk=round_.pk).update(report_visibility="private")
    assert Client().get(f"/r/{round_.slug}/report/").status_code == 403
    assert Client().get(f"/api/v1/rounds/{round_.slug}/exports/json/").status_code == 403
    assert Client().get("/r/no-such-round/report/").status_code == 404


@pytest.mark.django_db
def test_exports_download_as_json_zipped_csv_and_graphml():
    round_ = _ranked_round("report-exports", report_visibility="public", report_live=True)
    client = Client()
    data = client.get(f"/api/v1/rounds/{round_.slug}/exports/json/")
    assert data.status_code == 200 and data["Content-Type"] == "application/json"
    assert 'filename="report-exports.json"' in data["Content-Disposition"]
    assert export_verify(json.loads(data.content)).mismatches == 0
    tables = client.get(f"/api/v1/rounds/{round_.slug}/exports/csv/")
    names = sorted(zipfile.ZipFile(io.BytesIO(tables.content)).namelist())
    assert names == [
        f"report-exports/{n}.csv"
        for n in ("edges", "impressions", "participants", "rankings", "values", "votes")
    ]
    graph = nx.read_graphml(io.BytesIO(client.get(f"/api/v1/rounds/{round_.slug}/exports/graphml/").content))
    assert graph.number_of_nodes() == len(json.loads(data.content)["values"])
    assert client.get(f"/api/v1/rounds/{round_.slug}/exports/pdf/").status_code == 404
    unranked = make_round(slug="report-unranked", report_visibility="public", report_live=True)
    missing = client.get(f"/api/v1/rounds/{unranked.slug}/exports/json/")
    assert missing.status_code == 409 and missing.json()["error"]["code"] == "no_ranking"


@pytest.mark.django_db(transaction=True)
def test_the_demo_report_reads_on_its_own_and_its_export_recomputes(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", "--password", "demo-pass-123")
    round_ = Round.objects.get(slug="ai-distress")
    client = Client()
    page = client.get("/r/ai-distress/report/").content.decode()
    report = report_build(round_=round_)
    for context in report["questions"][0]["contexts"]:
        assert context["winner"] is not None, "each demo context has a winner"
        assert f"Winner: <strong>{context['winner']['title']}</strong>" in page
    export = json.loads(client.get("/api/v1/rounds/ai-distress/exports/json/").content)
    verification = export_verify(export)
    assert verification.mismatches == 0 and verification.values_checked > 0


@pytest.mark.django_db
def test_a_context_details_its_first_values_and_counts_the_rest():
    round_ = _ranked_round("report-limit", report_visibility="unlisted", report_live=True)
    full = report_build(round_=round_, values_per_context=None)
    short = report_build(round_=round_, values_per_context=2)
    assert full["ranking"]["valuesPerContext"] is None and short["ranking"]["valuesPerContext"] == 2
    pairs = list(zip(full["questions"][0]["contexts"], short["questions"][0]["contexts"], strict=True))
    assert any(len(whole["values"]) > 2 for whole, _ in pairs)
    for whole, part in pairs:
        assert whole["valuesTotal"] == part["valuesTotal"] == len(whole["values"])
        assert part["values"] == whole["values"][:2]  # the same entries, incoming stories included
        kept = {v["valueId"] for v in part["values"]}
        assert {n["id"] for n in part["graph"]["nodes"]} == kept
        assert all(e["source"] in kept and e["target"] in kept for e in part["graph"]["edges"])
        assert part["winner"] == whole["winner"] and part["support"] == whole["support"]
    # The API and the page take ?values=; nonsense is a 400 with the field named.
    client = Client()
    api = client.get(f"/api/v1/rounds/{round_.slug}/report/", {"values": "1"}).json()
    shown = [len(c["values"]) for c in api["questions"][0]["contexts"]]
    assert shown == [min(1, len(whole["values"])) for whole, _ in pairs]
    everything = client.get(f"/api/v1/rounds/{round_.slug}/report/", {"values": "all"}).json()
    assert everything["questions"] == json.loads(json.dumps(full["questions"]))
    for bad in ("0", "-3", "lots", "1.5"):
        refused = client.get(f"/api/v1/rounds/{round_.slug}/report/", {"values": bad})
        assert refused.status_code == 400 and "values" in refused.json()["error"]["fields"], bad
    page = client.get(f"/r/{round_.slug}/report/", {"values": "1"}).content.decode()
    total = max(whole["valuesTotal"] for whole, _ in pairs)
    assert f"The first 1 of {total} values, best first." in page and 'href="?values=all#ctx-' in page
    assert client.get(f"/r/{round_.slug}/report/", {"values": "none"}).status_code == 400
    assert "The first" not in client.get(f"/r/{round_.slug}/report/").content.decode()  # 4 values: all shown
