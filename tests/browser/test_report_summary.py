"""The report's summary in a real browser (issue 18, point 3): the answer on the first screen at desktop width and
at 375 px, axe-clean, and a brief that prints on at most two A4 pages, for the demo round and for MAI's 2023 round
(13 contexts in 4 questions, imported from ../shared)."""

import re
from pathlib import Path

import pytest
from django.core.management import call_command

from deliberation.models import Round, Stage
from moral_graph.importer import mai_dump_import
from moral_graph.selectors.report import report_build
from moral_graph.services import ranking_compute
from tests.browser.conftest import check_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MAI = Path(__file__).resolve().parents[2].parent / "shared" / "eval" / "mai-dft-2023"
BRIEF_MAX_PAGES = 2
PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?!s)")


def pdf_pages(pdf: bytes) -> int:
    """The pages of a PDF: its page objects (`/Type /Page`, not the `/Pages` tree)."""
    return len(PAGE_OBJECT.findall(pdf))


def _summary_shows_the_winners(page, round_: Round) -> None:
    summary = report_build(round_=round_, values_per_context=1)["summary"]
    rows = page.locator("#summary .summary-row")
    contexts = [c for q in summary["questions"] for c in q["contexts"]]
    assert rows.count() == len(contexts)
    for row, context in zip(rows.all(), contexts, strict=True):
        text = row.inner_text()
        assert context["name"] in text
        for winner in context["winners"]:
            assert winner["title"] in text and f"Rank {winner['rankLabel']}" in text
        badge = {"broadly supported": "Broadly supported", "some support": "Some support",
                 "contested": "Contested", "too few voters to call": "Too few voters to call"}[context["support"]]
        assert badge in text


def _brief_pages(page, url: str) -> int:
    page.goto(url + "?layout=brief")
    page.get_by_role("heading", name="Which values won").wait_for()
    return pdf_pages(page.pdf(format="A4"))


def test_the_demo_report_answers_on_the_first_screen_and_its_brief_prints_on_two_pages(
    live_server, desktop, phone, settings, tmp_path
):
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", "--password", "demo-pass-123")
    round_ = Round.objects.get(slug="ai-distress")
    url = f"{live_server.url}/r/ai-distress/report/"

    desktop.goto(url)
    _summary_shows_the_winners(desktop, round_)
    last = desktop.locator("#summary .summary-row").last.bounding_box()
    assert last["y"] + last["height"] <= desktop.viewport_size["height"], "every context's answer on one screen"
    assert not desktop.locator(".ranked-values .value-card").first.is_visible(), "the detail waits below, collapsed"
    check_page(desktop, "report-summary-desktop")

    phone.goto(url)
    _summary_shows_the_winners(phone, round_)
    first = phone.locator("#summary .summary-winner").first.bounding_box()
    assert first["y"] + first["height"] <= phone.viewport_size["height"], "the first answer on the first screen"
    check_page(phone, "report-summary-phone")
    phone.get_by_role("link", name="A two-page brief for printing").click()
    phone.wait_for_url(re.compile(r"layout=brief$"))
    check_page(phone, "report-brief-phone")

    assert _brief_pages(desktop, url) <= BRIEF_MAX_PAGES
    check_page(desktop, "report-brief-desktop")
    full = desktop.context.new_page()
    full.goto(url)
    assert pdf_pages(full.pdf(format="A4")) > BRIEF_MAX_PAGES, "the full report still prints in full"
    full.close()


def test_mai_s_thirteen_contexts_fit_the_summary_and_a_two_page_brief(live_server, desktop):
    summary = mai_dump_import(directory=str(MAI), slug="mai", votes_before=None)
    assert summary.contexts == 13
    round_ = Round.objects.get(slug="mai")
    run = ranking_compute(round_id=round_.pk)
    Round.objects.filter(pk=round_.pk).update(
        stage=Stage.PUBLISHED, report_visibility="public", published_ranking=run
    )
    round_.refresh_from_db()
    url = f"{live_server.url}/r/mai/report/"

    desktop.goto(url)
    _summary_shows_the_winners(desktop, round_)
    assert desktop.locator("#summary").get_by_text("Tied for first:").count() >= 1, "MAI has a tie at the top"
    desktop.set_viewport_size({"width": 1280, "height": 900})
    height = desktop.locator("#summary").bounding_box()["height"]
    assert height <= 900, f"MAI's 13 contexts on one 1280 x 900 screen (the summary is {height:.0f} px)"
    desktop.set_viewport_size({"width": 1100, "height": 900})
    check_page(desktop, "report-summary-mai")
    assert _brief_pages(desktop, url) <= BRIEF_MAX_PAGES
    check_page(desktop, "report-brief-mai")
