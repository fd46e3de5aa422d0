"""Whole journeys in a real browser: a participant on a 375 px phone, an organizer from sign-in to publication."""

import re

import pytest

from deliberation import services
from deliberation.models import Participant, Round, Stage
from moral_graph import services as graph_services
from moral_graph.models import WiserVote
from tests.browser.conftest import AXE, check_page
from tests.factories import FAMILIES, UserFactory, join, make_round, submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_participant_finishes_the_whole_journey_on_a_phone(live_server, phone):
    round_ = make_round(slug="phone", stories_per_participant=2, min_votes_per_story=1)
    for family in ("safety", "honesty", "community"):
        submit(join(round_), family=family)
    page = phone
    page.goto(f"{live_server.url}/r/phone/join/{round_.join_token}/")
    check_page(page, "participant-01-join")
    page.get_by_role("button", name="Start").click()
    page.wait_for_load_state()
    assert page.locator("#error-summary").is_visible() or page.locator("#id_consent:invalid").count() == 1
    page.get_by_label("I agree and want to take part.").check()
    page.get_by_label("Party").select_option("Left")
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(re.compile(r"/r/phone/card/$"))
    check_page(page, "participant-02-card")

    title, description, policies = FAMILIES["autonomy"][0]
    page.get_by_label("In which situation does this value guide you?").select_option(index=1)
    page.get_by_label("Title (2 to 5 words)").fill("Choice")
    page.get_by_label("One sentence that describes it").click()
    assert "Use 2 to 5 words" in page.locator("#title-error").inner_text(), (
        "live validation speaks up on leaving"
    )
    assert page.get_by_label("Title (2 to 5 words)").get_attribute("aria-invalid") == "true"
    page.get_by_label("Title (2 to 5 words)").fill(title)
    page.get_by_label("One sentence that describes it").fill(description)
    for i, policy in enumerate(policies[:2]):
        page.locator(f"#id_policy_{i}").fill(policy)
    page.locator("#id_policy_2").fill("the deep stuff")
    page.get_by_role("button", name="Submit my card").click()
    assert page.url.endswith("/r/phone/card/"), "the browser check stops a card the server would refuse"
    assert "filler" in page.locator("#policy-2-msg").inner_text()
    check_page(page, "participant-03-card-live-errors")
    page.locator("#id_policy_2").fill(policies[2])
    page.get_by_role("button", name="Submit my card").click()
    page.wait_for_url(re.compile(r"/r/phone/(confirm|card)/\d+/(similar/)?$"))
    if "/similar/" in page.url:
        # Submitted before the suggestions loaded while typing: they come as a step after submitting.
        check_page(page, "participant-03b-similar-step")
        page.get_by_role("button", name="Mine is different").click()
    page.wait_for_url(re.compile(r"/r/phone/confirm/\d+/$"))
    check_page(page, "participant-04-confirm")
    page.get_by_role("button", name=re.compile("^Yes, (this is|it stands as) my value")).click()
    page.wait_for_url(re.compile(r"/r/phone/$"))
    check_page(page, "participant-05-waiting")
    page.get_by_role("link", name=re.compile("^Edit")).first.click()
    page.wait_for_url(re.compile(r"/r/phone/card/\d+/edit/$"))
    check_page(page, "participant-05b-edit-card")
    page.get_by_label("Title (2 to 5 words)").fill(f"{title} always")
    page.get_by_role("button", name="Save my card").click()
    page.wait_for_url(re.compile(r"/r/phone/(confirm/\d+/)?$"))
    if "/confirm/" in page.url:
        page.get_by_role("button", name=re.compile("^Yes, (this is|it stands as) my value")).click()
        page.wait_for_url(re.compile(r"/r/phone/$"))
    assert Participant.objects.latest("id").cards.get().title == f"{title} always"

    services.round_set_stage(round_=round_, actor=round_.roles.get().user, stage=Stage.VOTING)
    page.goto(f"{live_server.url}/r/phone/")
    page.wait_for_url(re.compile(r"/r/phone/vote/$"))
    check_page(page, "participant-06-vote")
    participant = Participant.objects.latest("id")
    total = len(graph_services.assignments_take(participant=participant))
    assert total >= 1
    page.get_by_role("button", name="Next").click()
    assert page.url.endswith("/vote/") and WiserVote.objects.filter(participant=participant).count() == 0
    for number in range(total):
        page.get_by_label("Why? (optional)").fill("She listens to herself now.")
        page.get_by_label("Yes", exact=True).check()
        page.get_by_role("button", name="Next").click()
        page.wait_for_load_state()
        if number == 0:
            check_page(page, "participant-07-after-first-vote")
    page.wait_for_url(re.compile(r"/r/phone/done/$"))
    check_page(page, "participant-08-done")
    page.get_by_role("group", name=re.compile("represent you")).get_by_label("4").check()
    page.get_by_role("group", name=re.compile("fair")).get_by_label("5").check()
    page.get_by_role("button", name="Finish").click()
    page.get_by_text("Your evaluation is saved.").wait_for()
    check_page(page, "participant-09-finished")
    participant.refresh_from_db()
    assert (participant.eval_represented, participant.eval_fair) == (4, 5)
    assert WiserVote.objects.filter(participant=participant).count() == total

    page.get_by_label("Language", exact=True).select_option("es")
    page.get_by_role("button", name="Change language").click()
    page.get_by_text("Tu evaluación está guardada.").wait_for()
    assert page.locator("html").get_attribute("lang") == "es"
    check_page(page, "participant-10-done-es")


def check_desktop_and_phone(page, name: str) -> None:
    """Check a console page at its desktop width and again 375 px wide."""
    size = page.viewport_size
    check_page(page, name)
    page.set_viewport_size({"width": 375, "height": 740})
    check_page(page, f"{name}-phone")
    page.set_viewport_size(size)


def test_an_organizer_runs_a_round_from_sign_in_to_the_published_report(live_server, desktop):
    UserFactory(username="organizer")
    UserFactory(username="helper")
    page = desktop
    page.goto(f"{live_server.url}/console/")
    page.wait_for_url(re.compile(r"/login/"))
    page.get_by_label("Username").fill("organizer")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    check_page(page, "organizer-01-login-error")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/console/$"))
    check_page(page, "organizer-02-console")

    page.get_by_role("link", name="Create a round").click()
    page.get_by_label("Title", exact=True).fill("Advice at night")
    page.get_by_label("The question").fill(
        "How should an AI assistant answer a girl who is considering an abortion?"
    )
    page.get_by_label(re.compile("^Contexts")).fill(
        "When the user is in distress\nWhen the user is making a big decision"
    )
    page.get_by_label(re.compile("^Questions asked on joining")).fill("Party: Left, Right, Other")
    page.get_by_label("Stories per participant").fill("3")
    page.get_by_label(re.compile("^Votes wanted per story")).fill("1")
    page.get_by_label("Public: listed on the home page").check()
    check_page(page, "organizer-03-new-round")
    page.get_by_role("button", name="Create the round").click()
    page.wait_for_url(re.compile(r"/console/advice-at-night/$"))
    check_page(page, "organizer-04-dashboard-draft")
    page.get_by_role("link", name="Question and contexts").click()
    assert page.get_by_role("button", name="Suggest contexts").is_disabled()
    page.get_by_text("Suggesting contexts needs a language model").first.wait_for()
    page.locator("input[name^='new'][name$='_name']").first.fill("When the user asks for plain facts")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("Everything on this page is saved.").wait_for()
    check_desktop_and_phone(page, "organizer-04b-contexts")
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Title in Español").fill("Consejo de noche")
    page.get_by_label("Voting opens").fill("2030-12-08T09:00")
    check_desktop_and_phone(page, "organizer-04c-settings")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("The round is saved.").wait_for()
    assert page.locator("time").first.get_attribute("datetime") == "2030-12-08T09:00:00+00:00"
    page.get_by_role("button", name=re.compile("^Open articulation")).click()
    page.get_by_text("The stage is changed.").wait_for()

    round_ = Round.objects.get(slug="advice-at-night")
    people = [join(round_) for _ in range(4)]
    for person, family in zip(people, ["autonomy", "safety", "honesty", "community"], strict=True):
        submit(person, family=family)
    page.get_by_role("link", name="Invitations").click()
    page.get_by_label("How many new codes?").fill("5")
    page.get_by_role("button", name="Make codes").click()
    page.get_by_role("link", name="Download all codes as CSV").wait_for()
    check_page(page, "organizer-05-invitations")
    page.get_by_role("link", name="Moderation").click()
    check_page(page, "organizer-06-moderation-cards")
    page.get_by_role("link", name="Canonical values").click()
    check_page(page, "organizer-07-moderation-values")

    page.get_by_role("link", name="Dashboard").click()
    page.get_by_role("button", name=re.compile("^Open voting")).click()
    page.get_by_text("The stage is changed.").wait_for()
    round_.refresh_from_db()
    for person in people:
        for story in graph_services.assignments_take(participant=person):
            graph_services.vote_cast(participant=person, story_id=story.pk, answer="wiser")
    page.get_by_role("link", name="Moderation").click()
    page.get_by_role("link", name="Stories").click()
    check_page(page, "organizer-08-moderation-stories")
    page.get_by_role("link", name="Dashboard").click()
    page.wait_for_function(
        "document.querySelector('#live') && document.querySelector('#live').textContent.includes('Votes per story')"
    )
    check_page(page, "organizer-09-dashboard-voting")
    page.get_by_role("button", name=re.compile("^Close the round")).click()
    page.get_by_text("The stage is changed.").wait_for()
    page.get_by_role("button", name="Rank now").click()
    page.get_by_text("The ranking is computed.").wait_for()
    page.get_by_role("button", name="Publish the report").click()
    page.get_by_text("The stage is changed.").wait_for()
    round_.refresh_from_db()
    assert round_.stage == Stage.PUBLISHED
    page.get_by_role("link", name="Roles").click()
    page.get_by_label("Username of an existing account").fill("helper")
    page.get_by_role("button", name="Grant").click()
    page.get_by_text("The role is granted.").wait_for()
    page.get_by_role("button", name="Remove the role of helper").click()
    page.get_by_text("The role is removed.").wait_for()
    page.get_by_role("button", name="Remove the role of organizer").click()
    page.get_by_text("A round needs at least one owner.").wait_for()
    check_desktop_and_phone(page, "organizer-10-roles")
    page.get_by_role("link", name="Audit log").click()
    page.get_by_text("moved the round to another stage").first.wait_for()
    check_page(page, "organizer-11-audit")

    reader_context = page.context.browser.new_context(viewport={"width": 375, "height": 740})
    reader_context.add_init_script(path=str(AXE))
    reader = reader_context.new_page()
    reader.goto(f"{live_server.url}/")
    reader.get_by_role("link", name="Advice at night").click()
    reader.wait_for_url(re.compile(r"/r/advice-at-night/report/$"))
    assert reader.get_by_role("heading", name="When the user is in distress").is_visible()
    check_page(reader, "report-01-phone")
    reader.context.close()
