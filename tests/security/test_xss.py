"""Participant text cannot run as code: validation refuses markup, and whatever reaches a page or an export
(even text written past validation, straight into the database) is escaped or stays inert data."""

import csv
import json
import re

import networkx as nx
import pytest
from django.core.exceptions import ValidationError
from django.utils.html import escape

from cards.models import CanonicalValue, ValuesCard
from core.text import clean_text
from deliberation.models import Context, Participant, Round
from moral_graph import services as graph_services
from moral_graph.exports import export_build, export_write_csv, export_write_graphml, export_write_json
from moral_graph.models import TransitionStory, WiserVote
from tests.security.conftest import build_world

PAYLOADS = [
    "<script>alert('xss')</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    "javascript:alert(document.cookie)",
    '" onmouseover="alert(1)',
    "' onfocus='alert(1)' autofocus='",
    "</textarea><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    "<iframe src=//evil.example></iframe>",
    "<body onload=alert(1)>",
    "<style>*{background:url(javascript:alert(1))}</style>",
    "width: expression(alert(1))",
    "{{7*7}}",
    "{% debug %}",
    "${7*7} #{7*7}",
    "Right\u202eto\u202cleft override",
    "zero\u200bwidth\u200djoiner",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<!-- comment --> <![CDATA[x]]>",
    '=HYPERLINK("http://evil.example","x")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    '<math><mi xlink:href="data:x,<script>alert(4)</script>">',
]
SPECIAL = set("<>\"'&")


def _dangerous(payload: str) -> bool:
    return "<" in payload


JSON_BLOCK = re.compile(r'<script[^>]*type="application/json"[^>]*>(.*?)</script>', re.DOTALL)
ATTRIBUTE_BREAKOUTS = ('onmouseover="alert', "onfocus='alert", "autofocus='")


def test_validation_refuses_markup_and_keeps_plain_text_plain():
    refused, accepted = [], {}
    for payload in PAYLOADS:
        try:
            accepted[payload] = clean_text(payload, field="f", max_length=400)
        except ValidationError:
            refused.append(payload)
    assert len(refused) >= 12
    assert all("<" not in text or "&lt;" in text for text in accepted.values())
    assert accepted["{{7*7}}"] == "{{7*7}}"
    assert accepted["zero\u200bwidth\u200djoiner"] == "zerowidthjoiner"
    assert "Right\u202eto\u202cleft override" in refused
    assert "<script>alert('xss')</script>" in refused and "javascript:alert(document.cookie)" in refused


@pytest.fixture
def world(db):
    world = build_world(slug="xss")
    round_ = world.round
    Round.objects.filter(pk=round_.pk).update(report_visibility="public", report_live=True)
    # Written past validation, as a bug or an import might: output escaping must still hold.
    for card in ValuesCard.objects.filter(round=round_):
        ValuesCard.objects.filter(pk=card.pk).update(
            title=PAYLOADS[0][:80], description=PAYLOADS[7], policies=PAYLOADS, hidden_reason=PAYLOADS[2]
        )
    for i, value in enumerate(CanonicalValue.objects.filter(round=round_).order_by("id")):
        CanonicalValue.objects.filter(pk=value.pk).update(
            title=PAYLOADS[i % len(PAYLOADS)][:80],
            description=PAYLOADS[(i + 5) % len(PAYLOADS)],
            policies=PAYLOADS,
        )
    TransitionStory.objects.filter(round=round_).update(text=" | ".join(PAYLOADS))
    WiserVote.objects.filter(story__round=round_).update(reason=PAYLOADS[5])
    Context.objects.filter(question__round=round_).update(description=PAYLOADS[1])
    Participant.objects.filter(round=round_).update(attributes={"party": PAYLOADS[3]})
    graph_services.ranking_compute(round_id=round_.pk)
    return world


def _assert_inert(html: str, where: str) -> None:
    # Data for page scripts travels in json_script blocks: inert as long as nothing in them can close the tag.
    for block in JSON_BLOCK.findall(html):
        assert "<" not in block, f"{where}: markup inside a JSON block"
    html = JSON_BLOCK.sub("", html)
    for breakout in ATTRIBUTE_BREAKOUTS:
        assert breakout not in html, f"{where}: {breakout}"
    for payload in PAYLOADS:
        if _dangerous(payload):
            assert payload not in html, f"{where}: {payload!r} is not escaped"
    for marker in (
        "<script>alert",
        "<img src=x",
        "<svg onload",
        "<iframe",
        "<body onload",
        '<a href="javascript:',
        "<style>*",
        "<math>",
    ):
        assert marker not in html, f"{where}: {marker}"


def test_every_page_escapes_participant_text(world):
    slug = world.round.slug
    person = world.participants[0]
    card = ValuesCard.objects.filter(author=person).first()
    pages = {
        ("participant", f"/r/{slug}/confirm/{card.pk}/"),
        ("participant", f"/r/{slug}/done/"),
        ("participant", f"/r/{slug}/privacy/"),
        ("participant", f"/r/{slug}/card/"),
        ("anonymous", f"/r/{slug}/report/"),
        ("owner", f"/r/{slug}/report/"),
        ("owner", f"/console/{slug}/"),
        ("owner", f"/console/{slug}/moderation/?tab=cards"),
        ("owner", f"/console/{slug}/moderation/?tab=values"),
        ("owner", f"/console/{slug}/moderation/?tab=stories"),
        ("moderator", f"/console/{slug}/audit/"),
    }
    shown = 0
    for role, url in sorted(pages):
        response = world.page_client(role).get(url)
        assert response.status_code == 200, (role, url)
        html = response.content.decode()
        _assert_inert(html, url)
        shown += sum(escape(p) in html for p in PAYLOADS if _dangerous(p))
    assert shown >= 20, "the payloads were rendered (escaped), not left out"


def test_the_vote_page_escapes_the_story_and_values(world):
    person = world.participants[0]
    WiserVote.objects.filter(participant=person).delete()
    response = world.page_client("participant").get(f"/r/{world.round.slug}/vote/")
    assert response.status_code == 200
    html = response.content.decode()
    _assert_inert(html, "vote")
    assert escape(PAYLOADS[0]) in html and "{{7*7}}" in html


def test_the_api_returns_the_text_as_json_data(world):
    person = world.participants[0]
    response = world.api_client(person).get(f"/api/v1/rounds/{world.round.slug}/cards/")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    body = response.json()
    cards = body["results"] if isinstance(body, dict) else body
    assert cards[0]["policies"] == PAYLOADS
    report = world.api_client().get(f"/api/v1/rounds/{world.round.slug}/report/")
    assert report.status_code == 200 and report["Content-Type"].startswith("application/json")


def test_exports_keep_the_text_literal_and_inert(world, tmp_path):
    data = export_build(round_=world.round)
    path = export_write_json(data, tmp_path / "round.json")
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(json.dumps(data))
    titles = {v["title"] for v in data["values"]}
    assert PAYLOADS[0][:80] in titles
    files = export_write_csv(data, tmp_path / "csv")
    values_csv = next(f for f in files if f.name == "values.csv")
    with values_csv.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    cells = [cell for row in rows for cell in row.values()]
    # Spreadsheet formulas are neutralised with a leading apostrophe; everything else is the literal text.
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    assert any(cell == "'" + PAYLOADS[20] for cell in cells) or any(
        cell == PAYLOADS[0][:80] for cell in cells
    )
    graphml = export_write_graphml(data, tmp_path / "graph.graphml")
    text = graphml.read_text(encoding="utf-8")
    assert "<script>" not in text and "&lt;script&gt;" in text
    graph = nx.read_graphml(graphml)
    assert {attrs["title"] for _, attrs in graph.nodes(data=True)} == titles
