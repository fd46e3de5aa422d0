"""The management commands: import_mai_dump, rank_round, export_round and verify_export."""

import csv
import json
import shutil
from io import StringIO
from pathlib import Path

import networkx as nx
import pytest
from django.core.management import CommandError, call_command

MINI = Path(__file__).resolve().parent.parent / "data" / "mai_mini"

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _row_counts():
    from cards.models import CanonicalValue
    from deliberation.models import Context, Participant, Question, Round
    from moral_graph.models import StoryAssignment, TransitionStory, WiserVote, WiserVoteRevision

    models = (
        Round,
        Question,
        Context,
        Participant,
        CanonicalValue,
        TransitionStory,
        StoryAssignment,
        WiserVote,
        WiserVoteRevision,
    )
    return {m.__name__: m.objects.count() for m in models}


@pytest.fixture
def ranked(tmp_path):
    run("import_mai_dump", str(MINI), "--slug", "mini", "--votes-before", "2023-10-18")
    output = run("rank_round", "mini")
    return output


def test_import_reports_what_it_wrote():
    output = run("import_mai_dump", str(MINI), "--slug", "mini", "--votes-before", "2023-10-18")
    assert "7 values" in output and "18 votes" in output and "2 left out by --votes-before" in output
    counts = _row_counts()
    assert counts["WiserVote"] == 18 and counts["TransitionStory"] == 7 and counts["Round"] == 1


@pytest.mark.parametrize(
    "args",
    [
        ["/nonexistent/mai", "--slug", "x"],
        [str(MINI), "--slug", "not a slug"],
        [str(MINI), "--slug", "x", "--votes-before", "soon"],
    ],
)
def test_import_refuses_bad_arguments_and_writes_nothing(args):
    before = _row_counts()
    with pytest.raises(CommandError):
        run("import_mai_dump", *args)
    assert _row_counts() == before


def test_import_refuses_bad_json_and_writes_nothing(tmp_path):
    shutil.copytree(MINI, tmp_path / "dump")
    (tmp_path / "dump" / "demographics.json").write_text("[1, 2", encoding="utf-8")
    before = _row_counts()
    with pytest.raises(CommandError, match="demographics.json"):
        run("import_mai_dump", str(tmp_path / "dump"), "--slug", "broken")
    assert _row_counts() == before


def test_import_refuses_an_existing_slug_and_writes_nothing():
    run("import_mai_dump", str(MINI), "--slug", "mini")
    before = _row_counts()
    with pytest.raises(CommandError, match="already exists"):
        run("import_mai_dump", str(MINI), "--slug", "mini")
    assert _row_counts() == before


def test_rank_round_names_the_contexts_and_top_values(ranked):
    for name in ("When feeling stuck", "When seeking motivation", "When grieving"):
        assert name in ranked
    assert "[3/3] published run" in ranked
    assert "1. Room To Grieve" in ranked or "1. Gentle Reconnection" in ranked


def test_rank_round_refuses_a_bad_slug_or_method():
    run("import_mai_dump", str(MINI), "--slug", "mini")
    with pytest.raises(CommandError, match="No round"):
        run("rank_round", "nope")
    with pytest.raises(CommandError, match="Unknown ranking method"):
        run("rank_round", "mini", "--method", "elo")


def test_export_json_then_verify_matches(ranked, tmp_path):
    path = tmp_path / "mini.json"
    assert "18 votes" in run("export_round", "mini", "--format", "json", "--out", str(path))
    output = run("verify_export", str(path))
    assert output.strip().splitlines()[-1] == "MATCH"
    assert "MISMATCH" not in output


def test_verify_reports_a_tampered_score_and_exits_non_zero(ranked, tmp_path):
    path = tmp_path / "mini.json"
    run("export_round", "mini", "--format", "json", "--out", str(path))
    data = json.loads(path.read_text(encoding="utf-8"))
    data["rankings"][2]["values"][1]["score"] = 0.5
    path.write_text(json.dumps(data), encoding="utf-8")
    out = StringIO()
    with pytest.raises(SystemExit) as stop:
        call_command("verify_export", str(path), stdout=out)
    assert stop.value.code == 1
    assert out.getvalue().strip().splitlines()[-1] == "MISMATCH 1"


def test_verify_refuses_a_file_that_is_not_an_export(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"values": []}', encoding="utf-8")
    with pytest.raises(CommandError, match="not a wiser.moral-graph export"):
        run("verify_export", str(path))


def test_export_csv_writes_a_directory_of_tables(ranked, tmp_path):
    out = tmp_path / "csv"
    run("export_round", "mini", "--format", "csv", "--out", str(out))
    assert sorted(p.name for p in out.iterdir()) == [
        "edges.csv",
        "impressions.csv",
        "participants.csv",
        "rankings.csv",
        "values.csv",
        "votes.csv",
    ]
    with (out / "votes.csv").open(encoding="utf-8") as handle:
        votes = list(csv.DictReader(handle))
    assert len(votes) == 18 and {v["answer"] for v in votes} == {"wiser", "not_wiser", "not_sure"}
    with (out / "values.csv").open(encoding="utf-8") as handle:
        values = list(csv.DictReader(handle))
    assert {v["externalId"] for v in values} == {"501", "502", "503", "504", "505", "506"}
    assert json.loads(values[0]["policies"])


def test_export_graphml_loads_back(ranked, tmp_path):
    path = tmp_path / "mini.graphml"
    run("export_round", "mini", "--format", "graphml", "--out", str(path))
    graph = nx.read_graphml(path)
    assert graph.number_of_nodes() == 6 and graph.number_of_edges() == 6
    titles = {data["title"] for _, data in graph.nodes(data=True)}
    assert "Room To Grieve" in titles
    contexts = [json.loads(d["contexts"]) for _, _, d in graph.edges(data=True)]
    assert ["When feeling stuck", "When seeking motivation"] in contexts


def test_export_needs_a_published_ranking(tmp_path):
    run("import_mai_dump", str(MINI), "--slug", "mini")
    with pytest.raises(CommandError, match="no published ranking"):
        run("export_round", "mini", "--format", "json", "--out", str(tmp_path / "x.json"))
    with pytest.raises(CommandError, match="No round"):
        run("export_round", "nope", "--format", "json", "--out", str(tmp_path / "x.json"))
