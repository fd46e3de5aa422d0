"""The page flows changed for issue 18, in a real browser at desktop width and 375 px, each checked with axe-core."""

import json
import re

import pytest

from cards.models import CardMerge, ValuesCard
from deliberation.services import invitations_create
from moral_graph import services as graph_services
from moral_graph.exports import export_build
from moral_graph.models import WiserVote
from tests.browser.conftest import check_page
from tests.factories import UserFactory, join, make_round, submit, voting_round

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _both(page, name: str) -> None:
    """Check a page at its width, then again 375 px wide."""
    size = page.viewport_size
    check_page(page, name)
    page.set_viewport_size({"width": 375, "height": 740})
    check_page(page, f"{name}-phone")
    page.set_viewport_size(size)


def _sign_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/console/$"))


def test_a_newcomer_joins_with_a_code_and_finds_a_way_at_each_dead_end(live_server, phone):
    round_ = make_round(slug="newcomer")
    owner = round_.roles.get().user
    (code,) = invitations_create(round_=round_, actor=owner, count=1)
    page = phone
    page.goto(f"{live_server.url}/r/newcomer/")
    page.get_by_text("needs an invitation").wait_for()
    check_page(page, "newcomer-01-round-page")
    page.get_by_label("Your one-time invite code").fill("WRONG-CODE")
    page.get_by_role("button", name="Continue").click()
    page.get_by_text("This invite code is not valid for this round").first.wait_for()
    assert page.locator("#id_code").get_attribute("aria-invalid") == "true"
    check_page(page, "newcomer-02-wrong-code")
    page.get_by_label("Your one-time invite code").fill(code.code)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("I agree and want to take part.").check()
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(re.compile(r"/r/newcomer/card/$"))
    participant = round_.participants.get()
    card = submit(participant, family="autonomy")
    page.goto(f"{live_server.url}/r/newcomer/")
    page.wait_for_url(re.compile(rf"/confirm/{card.pk}/$"))
    assert page.get_by_role("link", name="No, let me change my card").is_visible()
    check_page(page, "newcomer-03-confirm-alone")
    page.get_by_role("button", name="Yes, it stands as my value").click()
    page.get_by_text("Voting on stories opens").wait_for()
    assert page.locator("[aria-current=step]").count() == 0
    check_page(page, "newcomer-04-waiting")
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/r/newcomer/invite/{code.code}/")
    page.get_by_text("already been used").first.wait_for()
    assert page.get_by_label("I agree and want to take part.").count() == 0


def test_a_stale_tab_changes_its_answer_instead_of_hitting_a_wall(live_server, desktop):
    round_, people = voting_round("stale-browser", people=4)
    person = people[0]
    page = desktop
    page.goto(f"{live_server.url}/r/stale-browser/resume/{person.resume_token}/")
    page.goto(f"{live_server.url}/r/stale-browser/vote/")
    story_id = int(page.locator("input[name=story]").get_attribute("value"))
    graph_services.vote_cast(participant=person, story_id=story_id, answer="wiser")  # the other tab
    page.get_by_label("No", exact=True).check()
    page.get_by_role("button", name="Next").click()
    page.get_by_text("You already answered this story").wait_for()
    _both(page, "stale-01-vote-conflict")
    page.get_by_role("button", name="Change my answer").click()
    page.get_by_text("Your answer is changed.").wait_for()
    assert WiserVote.objects.get(participant=person, story_id=story_id).answer == "not_wiser"


def test_an_organizer_uses_the_review_queue_contexts_audit_and_verify_pages(live_server, desktop, tmp_path):
    UserFactory(username="org-newcomer")
    page = desktop
    _sign_in(page, live_server, "org-newcomer")

    page.get_by_role("link", name="Create a round").click()
    page.get_by_label("The question").fill("?")
    page.get_by_label("Stories per participant").fill("0")
    page.get_by_role("button", name="Create the round").click()
    summary = page.locator("#error-summary")
    summary.wait_for()
    for text in ("at least two words", "This field is required.", "Give at least one context.", "between 1 and 50"):
        assert text.lower() in summary.inner_text().lower(), text
    _both(page, "organizer-new-all-errors")

    from django.contrib.auth import get_user_model

    round_ = make_round(slug="queue", owner=get_user_model().objects.get(username="org-newcomer"))
    same = submit(join(round_), family="safety")
    waiting = submit(join(round_), family="community")
    ValuesCard.objects.filter(pk=waiting.pk).update(dedup_status=ValuesCard.DedupStatus.REVIEW)
    for family in ("honesty", "autonomy"):
        submit(join(round_), family=family)
    target = CardMerge.objects.get(card=same, undone_at__isnull=True).value
    page.goto(f"{live_server.url}/console/queue/moderation/?tab=cards")
    in_review = ValuesCard.objects.filter(round=round_, dedup_status=ValuesCard.DedupStatus.REVIEW).count()
    page.get_by_role("link", name=re.compile(rf"^{in_review} cards? waits? for review$")).click()
    page.wait_for_url(re.compile(r"review=1"))
    assert page.locator("article.card").count() == in_review
    select = page.locator(f"#review-{waiting.pk}")
    assert select.input_value() == ""
    own = CardMerge.objects.filter(card=waiting, undone_at__isnull=True).values_list("value_id", flat=True).first()
    assert own is None or select.locator(f"option[value='{own}']").count() == 0  # never the card's own value
    _both(page, "organizer-review-queue")
    select.select_option(str(target.pk))
    page.locator(f"article:has(#review-{waiting.pk})").get_by_role("button", name="Merge into it").click()
    page.get_by_text("The card is moved.").wait_for()
    assert CardMerge.objects.get(card=waiting, undone_at__isnull=True).value_id == target.pk

    page.goto(f"{live_server.url}/console/queue/contexts/")
    question = round_.questions.get()
    page.locator(f"#id_q{question.pk}_text").fill("How should an AI assistant answer her, now?")
    page.locator(f"#id_new{question.pk}_name").fill("When the user is in distress")
    page.get_by_label("The new question").fill("What else should the assistant weigh?")
    page.get_by_label("Its contexts, one per line").fill("When time is short")
    page.get_by_role("button", name="Save", exact=True).click()
    page.locator("#error-summary").wait_for()
    assert page.locator(f"#id_q{question.pk}_text").input_value() == "How should an AI assistant answer her, now?"
    assert page.get_by_label("The new question").input_value() == "What else should the assistant weigh?"
    _both(page, "organizer-contexts-refused")
    page.locator(f"#id_new{question.pk}_name").fill("When the user asks for facts")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("Everything on this page is saved.").wait_for()
    assert round_.questions.count() == 2
    question.refresh_from_db()
    assert question.text == "How should an AI assistant answer her, now?"

    page.get_by_role("link", name="Audit log").click()
    page.get_by_text("moved a card to another value").wait_for()
    assert "ValuesCard" not in page.content() and f"“{target.title}”" in page.content()
    _both(page, "organizer-audit")

    graph_services.ranking_compute(round_id=round_.pk)
    round_.refresh_from_db()
    export = tmp_path / "queue.json"
    export.write_text(json.dumps(export_build(round_=round_)))
    page.get_by_role("link", name="Verify an export").click()
    page.get_by_label("The export file (JSON)").set_input_files(str(export))
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("heading", name="MATCH").wait_for()
    _both(page, "organizer-verify")

    page.get_by_role("link", name="Dashboard").click()
    page.get_by_role("button", name="Archive this round").click()
    page.get_by_text("The round is archived.").wait_for()
    page.get_by_role("link", name="Your rounds").click()
    page.get_by_text("1 archived round").wait_for()


def test_a_forgotten_password_page_and_the_layered_graph_with_its_keys(live_server, desktop):
    page = desktop
    page.goto(f"{live_server.url}/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email address").fill("someone@example.org")
    _both(page, "password-reset-form")
    page.get_by_role("button", name="Send the link").click()
    page.get_by_role("heading", name="Check your email").wait_for()

    round_, people = voting_round("graph-keys", people=8)
    for person in people:
        for story in graph_services.assignments_take(participant=person):
            graph_services.vote_cast(participant=person, story_id=story.pk, answer="wiser")
    graph_services.ranking_compute(round_id=round_.pk)
    round_.refresh_from_db()
    round_.report_visibility = "public"
    round_.stage = "published"
    round_.save()
    page.goto(f"{live_server.url}/r/graph-keys/report/#graph")
    figure = page.locator("figure.graph:not([hidden])").first
    nodes = figure.locator(".node")
    assert nodes.count() >= 2
    nodes.first.focus()
    page.keyboard.press("ArrowRight")
    focused = page.evaluate("document.activeElement.getAttribute('data-value')")
    assert focused == nodes.nth(1).get_attribute("data-value")
    page.keyboard.press("Enter")
    page.locator("#graph-details").wait_for()
    figure.locator("summary").first.click()
    assert figure.locator("table tbody tr").count() == nodes.count()
    _both(page, "report-layered-graph")
