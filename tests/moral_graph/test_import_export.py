"""MAI dump import, recomputable exports, their verification and the MAI comparison, on the invented mini dump."""

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import networkx as nx
import pytest

from moral_graph import ranking
from moral_graph.exports import _cell, export_graph, export_verify, mai_graph_compare, recompute_rankings
from moral_graph.importer import MaiDumpError, _plan, _shorten, mai_dump_load, parse_cutoff

MINI = Path(__file__).resolve().parent.parent / "data" / "mai_mini"
CUTOFF = datetime(2023, 10, 18, tzinfo=UTC)


def test_load_reads_and_types_the_mini_dump():
    dump = mai_dump_load(MINI)
    assert [c["id"] for c in dump.cases] == ["homework", "grief"]
    assert dump.context_cases["When feeling stuck"] == ["homework", "grief"]
    assert len(dump.cards) == 7 and len(dump.votes) == 21
    assert {v.answer for v in dump.votes} == {"wiser", "not_wiser", "not_sure"}
    assert dump.hypotheses[("When feeling stuck", 501, 503)].startswith("I kept my son")
    assert dump.card_cases[507]["grief"] == 1


def test_plan_filters_by_date_and_keeps_every_answer_in_time_order():
    dump = mai_dump_load(MINI)
    plan = _plan(dump, CUTOFF)
    assert len(plan.kept) == 19 and plan.after_cutoff == 2
    assert all(v.created_at < CUTOFF for v in plan.kept)
    twice = plan.ballots[(2, ("When feeling stuck", 501, 503))]
    assert [v.answer for v in twice] == ["wiser", "not_sure"]
    assert "When planning a city budget" not in plan.context_question
    everything = _plan(dump, None)
    assert len(everything.kept) == 21
    assert everything.context_question["When planning a city budget"] == 2
    assert everything.questions[2]["key"] is None


def test_plan_places_values_and_stories():
    plan = _plan(mai_dump_load(MINI), CUTOFF)
    assert plan.context_question == {
        "When feeling stuck": 0,
        "When seeking motivation": 0,
        "When grieving": 1,
    }
    assert plan.value_question[505] == 1 and plan.value_question[501] == 0
    assert plan.value_question[507] == 1
    assert plan.stories[("When feeling stuck", 501, 503)].startswith("I kept my son")
    assert plan.value_contexts[502] == ["When feeling stuck", "When seeking motivation"]


def test_cutoff_accepts_dates_and_times():
    assert parse_cutoff("2023-10-18") == CUTOFF
    assert parse_cutoff("2023-10-18T12:00:00+02:00") == datetime(2023, 10, 18, 10, tzinfo=UTC)
    with pytest.raises(MaiDumpError):
        parse_cutoff("next tuesday")


def test_shorten_cuts_at_a_word_and_marks_it():
    text = "word " * 200
    short = _shorten(text.strip(), 400)
    assert len(short) <= 400 and short.endswith("word…")
    assert _shorten("short", 400) == "short"


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("wiser_votes.json", "[{", "not readable JSON"),
        ("cases.json", '{"id": "x"}', "list of objects"),
        ("cases.json", "[]", "no case"),
        (
            "wiser_votes.json",
            json.dumps(
                [
                    {
                        "userId": 1,
                        "fromId": 501,
                        "toId": 502,
                        "contextId": "When grieving",
                        "relationship": "maybe",
                        "createdAt": "2023-09-01T00:00:00Z",
                    }
                ]
            ),
            "relationship",
        ),
        (
            "wiser_votes.json",
            json.dumps(
                [
                    {
                        "userId": 1,
                        "fromId": 501,
                        "toId": 999,
                        "contextId": "When grieving",
                        "relationship": "upgrade",
                        "createdAt": "2023-09-01T00:00:00Z",
                    }
                ]
            ),
            "two different canonical cards",
        ),
        (
            "contexts_on_cases.json",
            json.dumps([{"contextId": "When lost", "caseId": "grief"}]),
            "unknown context",
        ),
    ],
)
def test_load_names_the_problem(tmp_path, file, content, message):
    shutil.copytree(MINI, tmp_path / "dump")
    (tmp_path / "dump" / file).write_text(content, encoding="utf-8")
    with pytest.raises(MaiDumpError, match=message):
        mai_dump_load(tmp_path / "dump")


def test_csv_cells_never_start_a_formula_but_numbers_stay_numbers():
    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _cell("@home") == "'@home"
    assert _cell(-0.4) == -0.4
    assert _cell(["A FIXED TIME"]) == '["A FIXED TIME"]'
    assert _cell("When grieving") == "When grieving"


def test_load_refuses_a_missing_file(tmp_path):
    shutil.copytree(MINI, tmp_path / "dump")
    (tmp_path / "dump" / "users.json").unlink()
    with pytest.raises(MaiDumpError, match="users.json is missing"):
        mai_dump_load(tmp_path / "dump")


@pytest.fixture
def mini_round(db):
    from deliberation.models import Round
    from moral_graph.importer import mai_dump_import

    summary = mai_dump_import(directory=MINI, slug="mini", votes_before=CUTOFF)
    return Round.objects.get(pk=summary.round_id)


def _export(round_, method):
    from moral_graph.exports import export_build
    from moral_graph.services import ranking_compute

    assert ranking_compute(round_id=round_.pk, method=method) is not None
    round_.refresh_from_db()
    return export_build(round_=round_)


@pytest.mark.django_db
def test_import_writes_the_round(mini_round):
    from cards.models import CanonicalValue
    from deliberation.models import Participant
    from moral_graph.models import StoryAssignment, TransitionStory, WiserVote, WiserVoteRevision

    assert (mini_round.stage, mini_round.report_visibility) == ("closed", "private")
    assert [q.text[:9] for q in mini_round.questions.all()] == ["My son re", "My grandm"]
    stuck = mini_round.questions.first().contexts.get(name="When feeling stuck")
    assert "grief" in stuck.description
    assert CanonicalValue.objects.filter(round=mini_round).count() == 7
    gentle = CanonicalValue.objects.get(round=mini_round, external_id="506")
    assert len(gentle.description) <= 400 and gentle.description.endswith("…")
    assert gentle.question.text.startswith("My grandmother")
    assert CanonicalValue.objects.get(round=mini_round, external_id="507").question.text.startswith(
        "My grandm"
    )
    assert sorted(
        CanonicalValue.objects.get(round=mini_round, external_id="502").contexts.values_list(
            "name", flat=True
        )
    ) == ["When feeling stuck", "When seeking motivation"]
    assert TransitionStory.objects.filter(round=mini_round, origin="import").count() == 7
    assert WiserVote.objects.filter(story__round=mini_round).count() == 18
    assert WiserVoteRevision.objects.filter(round=mini_round).count() == 19
    assert StoryAssignment.objects.filter(story__round=mini_round).count() == 18
    people = Participant.objects.filter(round=mini_round)
    assert people.count() == 10 and not people.filter(is_simulated=True).exists()
    assert people.get(external_id="3").attributes == {
        "political_affiliation": "Republican",
        "age_band": "30-44",
    }
    assert people.get(external_id="7").attributes == {"age_band": "18-29"}
    assert list(mini_round.attributes.values_list("key", flat=True)) == ["political_affiliation", "age_band"]


@pytest.mark.django_db
def test_import_keeps_the_last_answer_and_the_history(mini_round):
    from moral_graph.models import WiserVote

    vote = WiserVote.objects.get(
        participant__external_id="2", story__external_id="501->503", story__round=mini_round
    )
    assert vote.answer == "not_sure" and vote.reason == "On second thought I am not sure"
    history = list(vote.revisions.order_by("id").values_list("answer", "created_at"))
    assert [a for a, _ in history] == ["wiser", "not_sure"]
    assert history[0][1] == datetime(2023, 9, 22, 8, 30, tzinfo=UTC)
    assert vote.created_at == datetime(2023, 9, 22, 8, 30, tzinfo=UTC)
    assert vote.story.text.startswith("I kept my son")


@pytest.mark.django_db
def test_import_without_cutoff_adds_the_later_votes_and_their_context():
    from moral_graph.importer import mai_dump_import
    from moral_graph.models import WiserVote

    summary = mai_dump_import(directory=MINI, slug="mini-all")
    assert (summary.votes, summary.revisions, summary.votes_after_cutoff) == (20, 21, 0)
    assert (summary.questions, summary.contexts) == (3, 4)
    assert WiserVote.objects.filter(story__context__name="When planning a city budget").count() == 1


@pytest.mark.django_db
def test_export_recomputes_to_a_match(mini_round):
    data = json.loads(json.dumps(_export(mini_round, "bt")))
    assert data["parameters"]["method"] == "bt" and data["parameters"]["bootstrapResamples"] == 200
    assert len(data["votes"]) == 18 and len(data["participants"]) == 10
    assert {r["context"] for r in data["rankings"]} == {
        "When feeling stuck",
        "When seeking motivation",
        "When grieving",
    }
    assert all(set(p["attributes"]) <= {"political_affiliation", "age_band"} for p in data["participants"])
    pooled = next(e for e in data["edges"] if len(e["contexts"]) == 2)
    assert pooled["counts"]["markedWiser"] == 4 and pooled["counts"]["markedLessWise"] == 1
    report = export_verify(data)
    assert report.mismatches == 0 and report.values_checked == 9 and report.edges_checked == 6


@pytest.mark.django_db
def test_verify_recomputes_with_the_posterior_root_a_ranking_names(mini_round, monkeypatch):
    # A ranking made before decision 47 names no posterior root: its draws were dense, so it is recomputed so.
    data = json.loads(json.dumps(_export(mini_round, "bt")))
    assert {r["parameters"]["posteriorRoot"] for r in data["rankings"]} == {"factor"}
    del data["rankings"][0]["parameters"]["posteriorRoot"]
    roots = []
    real = ranking.rank_context
    monkeypatch.setattr(
        ranking, "rank_context", lambda **kwargs: roots.append(kwargs["posterior_root"]) or real(**kwargs)
    )
    assert export_verify(data).mismatches == 0
    assert roots == ["dense"] + ["factor"] * (len(data["rankings"]) - 1)


@pytest.mark.django_db
def test_verify_recomputes_with_the_bootstrap_a_ranking_names(mini_round, monkeypatch):
    # Ranked with the multiplier bootstrap (decision 50; the threshold lowered so that this small round takes
    # it), then verified after the threshold is back: each ranking is recomputed with the bootstrap it names.
    monkeypatch.setattr(ranking, "MULTIPLIER_MIN_VOTERS", 1)
    data = json.loads(json.dumps(_export(mini_round, "bt")))
    monkeypatch.setattr(ranking, "MULTIPLIER_MIN_VOTERS", 10**9)
    assert {r["parameters"]["bootstrap"] for r in data["rankings"]} == {"multiplier"}
    assert export_verify(data).mismatches == 0
    # Without the name it would be recomputed by resampling voters: other intervals, found as mismatches.
    del data["rankings"][0]["parameters"]["bootstrap"]
    bootstraps = []
    real = ranking.rank_context
    monkeypatch.setattr(
        ranking, "rank_context", lambda **kwargs: bootstraps.append(kwargs["bootstrap"]) or real(**kwargs)
    )
    assert export_verify(data).mismatches > 0
    assert bootstraps == ["voters"] + ["multiplier"] * (len(data["rankings"]) - 1)


@pytest.mark.django_db
def test_verify_finds_a_tampered_score_and_count(mini_round):
    data = json.loads(json.dumps(_export(mini_round, "bt")))
    data["rankings"][0]["values"][0]["score"] += 1e-6
    data["edges"][0]["counts"]["markedWiser"] += 1
    report = export_verify(data)
    assert report.mismatches == 2
    assert sum(line.startswith("MISMATCH") for line in report.lines) == 2


@pytest.mark.django_db
def test_verify_finds_a_dropped_vote(mini_round):
    data = json.loads(json.dumps(_export(mini_round, "bt")))
    data["votes"].pop()
    assert export_verify(data).mismatches > 0


@pytest.mark.django_db
def test_mai_compatibility_mode_reproduces_the_mini_graph(mini_round):
    data = json.loads(json.dumps(_export(mini_round, "mai_pagerank")))
    theirs = json.loads((MINI / "moral_graph_all.json").read_text(encoding="utf-8"))
    result = mai_graph_compare(data, theirs)
    assert (result.compared, result.matched, result.differences) == (4, 4, [])
    assert (result.kept, result.kept_missing, result.kept_extra) == (4, [], [])
    assert export_verify(data).mismatches == 0
    recomputed = recompute_rankings(data)
    assert all(r["method"] == "mai_pagerank" for r in recomputed.values())

    theirs["edges"][1]["counts"]["markedUnsure"] = 0
    theirs["edges"][2]["summary"]["wiserLikelihood"] = 0.5
    result = mai_graph_compare(data, theirs)
    assert result.matched == 2 and len(result.differences) == 2
    assert "markedUnsure ours 1 theirs 0" in result.differences[0]
    del theirs["edges"][0]
    assert mai_graph_compare(data, theirs).kept_extra == ["501 -> 502"]


@pytest.mark.django_db
def test_export_follows_its_json_schema(mini_round):
    schema = json.loads((Path(__file__).resolve().parents[2] / "docs" / "exports.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    data = json.loads(json.dumps(_export(mini_round, "bt")))
    jsonschema.Draft202012Validator(schema).validate(data)
    del data["votes"][0]["answer"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(data)


@pytest.mark.django_db
def test_graph_has_the_pooled_edges(mini_round):
    data = _export(mini_round, "bt")
    graph = export_graph(data)
    assert graph.number_of_nodes() == len(data["values"]) and graph.number_of_edges() == 6
    pooled = next(e for e in data["edges"] if len(e["contexts"]) == 2)
    attrs = graph.edges[pooled["sourceValueId"], pooled["wiserValueId"]]
    assert json.loads(attrs["contexts"]) == ["When feeling stuck", "When seeking motivation"]
    assert attrs["markedWiser"] == 4 and abs(attrs["wiserLikelihood"] - 0.6) < 1e-12
    assert isinstance(graph, nx.DiGraph)
