"""Results a policy team can trust, in a real browser: a revised published report, its earlier version, the
organizer's "publish this run", and a vote page that marks a template story as illustrative."""

import pytest

from deliberation.models import Participant, Round, Stage
from moral_graph import services as graph_services
from tests.browser.conftest import AXE, check_page
from tests.factories import join, make_round, submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _round(slug: str, stage: str) -> Round:
    round_ = make_round(slug=slug, stories_per_participant=3, min_votes_per_story=1, report_visibility="public")
    for party, family in zip(("Left", "Right", "Left", "Other"), ("autonomy", "safety", "honesty", "community"),
                             strict=True):
        submit(join(round_, party=party), family=family)
    Round.objects.filter(pk=round_.pk).update(stage=Stage.VOTING)
    graph_services.stories_generate(round_id=round_.pk)
    if stage == Stage.VOTING:
        return round_
    for person in Participant.objects.filter(round=round_).select_related("round"):
        for story in graph_services.assignments_take(participant=person):
            graph_services.vote_cast(participant=person, story_id=story.pk, answer="wiser")
    graph_services.ranking_compute(round_id=round_.pk)
    Round.objects.filter(pk=round_.pk).update(stage=Stage.CLOSED)
    round_.refresh_from_db()
    return round_


def test_an_organizer_publishes_a_revised_run_and_readers_see_why(live_server, desktop):
    round_ = _round("trust-report", Stage.CLOSED)
    owner = round_.roles.get(role="owner").user
    owner.set_password("pw-owner-123")
    owner.save()
    page = desktop
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(owner.username)
    page.get_by_label("Password").fill("pw-owner-123")
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server.url}/console/trust-report/")
    page.get_by_role("button", name="Publish the report").click()
    page.wait_for_load_state()
    first = Round.objects.get(pk=round_.pk).published_ranking_id
    assert first is not None
    Round.objects.filter(pk=round_.pk).update(ranking_method="mai_pagerank")
    page.get_by_role("button", name="Rank now").click()
    page.wait_for_load_state()
    assert page.get_by_text("Readers still see the published result").is_visible()
    assert page.get_by_text("is computed but not published").is_visible()
    page.get_by_label("Why readers should see this run instead").fill("The ranking method was changed to MAI's.")
    check_page(page, "trust-01-console-publish-this-run")
    page.get_by_role("button", name="Publish this run").click()
    page.wait_for_load_state()
    assert Round.objects.get(pk=round_.pk).published_ranking_id != first

    reading = page.context.browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-GB")
    reading.add_init_script(path=str(AXE))
    reader = reading.new_page()
    reader.goto(f"{live_server.url}/r/trust-report/report/")
    assert reader.get_by_text("The ranking method was changed to MAI's.").is_visible()
    reader.locator("#how-to-read > summary").click()  # the labels' meanings, collapsed under the summary
    assert reader.get_by_text("Too few voters to call").first.is_visible()
    assert reader.locator(".rank-label").first.is_visible()
    check_page(reader, "trust-02-report-revised")
    reader.get_by_role("link", name=f"Read the earlier version (run {first})").click()
    reader.wait_for_load_state()
    assert reader.get_by_text("You are reading an earlier version").is_visible()
    check_page(reader, "trust-03-report-earlier-version")
    reader.context.close()


def test_the_vote_page_marks_a_template_story_and_its_direction(live_server, phone):
    round_ = _round("trust-vote", Stage.VOTING)
    page = phone
    page.goto(f"{live_server.url}/r/trust-vote/join/{round_.join_token}/")
    page.get_by_label("I agree and want to take part.").check()
    page.get_by_label("Party").select_option("Left")
    page.get_by_role("button", name="Start").click()
    page.wait_for_load_state()
    page.goto(f"{live_server.url}/r/trust-vote/vote/")
    assert page.get_by_text("Illustrative story").is_visible()
    assert page.get_by_text("This story asks about one direction").is_visible()
    check_page(page, "trust-04-vote-illustrative")
