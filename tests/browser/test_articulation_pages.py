"""Articulation pages in a real browser: guided questions without a model, similar values while typing, and a chat
reply written in the background while the page waits."""

import re

import pytest

from cards.models import ArticulationSession, CardMerge, ValuesCard
from tests.browser.conftest import check_page
from tests.factories import FAMILIES, join, make_round, submit
from tests.fake_openai import json_reply, slow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _enter(page, live_server, round_):
    page.goto(f"{live_server.url}/r/{round_.slug}/join/{round_.join_token}/")
    page.get_by_label("I agree and want to take part.").check()
    page.get_by_label("Party").select_option("Left")
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(re.compile(rf"/r/{round_.slug}/card/$"))


def test_guided_questions_lead_to_a_card_without_a_model(live_server, phone):
    round_ = make_round(slug="guided")
    page = phone
    _enter(page, live_server, round_)
    page.get_by_role("link", name="Answer questions instead").click()
    page.wait_for_url(re.compile(r"/r/guided/chat/$"))
    assert "Question 1 of 4" in page.content()
    check_page(page, "articulation-01-guided-start")
    page.get_by_label("Your answer").fill("My cousin asked me whether she should leave her church.")
    page.get_by_role("button", name="Send").click()
    page.wait_for_selector("text=Question 2 of 4")
    page.get_by_label("Your answer").fill("The AI should always tell them to stay")
    page.get_by_role("button", name="Send").click()
    page.wait_for_selector("text=reads like a rule")
    check_page(page, "articulation-02-guided-coaching")
    page.get_by_label("Your answer").fill("\n".join(FAMILIES["autonomy"][0][2]))
    page.get_by_role("button", name="Send").click()
    page.wait_for_selector("text=Question 3 of 4")
    page.get_by_label("Your answer").fill("Helping a person reach a choice that is truly their own.")
    page.get_by_role("button", name="Send").click()
    page.wait_for_selector("text=Question 4 of 4")
    page.get_by_label("Your answer").fill("Her own decision")
    page.get_by_role("button", name="Send").click()
    page.wait_for_selector("text=All questions are answered")
    assert page.get_by_label("Title (2 to 5 words)").input_value() == "Her own decision"
    check_page(page, "articulation-03-guided-draft")
    page.get_by_label("In which situation does this value guide you?").select_option(index=1)
    page.get_by_role("button", name="Submit my card").click()
    page.wait_for_url(re.compile(r"/r/guided/"))
    card = ValuesCard.objects.get()
    assert card.source == "chat" and card.policies == FAMILIES["autonomy"][0][2]


def test_similar_values_show_while_typing_and_one_can_be_chosen(live_server, phone):
    round_ = make_round(slug="typing")
    for family in ("autonomy", "safety", "honesty"):
        submit(join(round_), family=family)
    page = phone
    _enter(page, live_server, round_)
    title, description, policies = FAMILIES["autonomy"][1]
    page.get_by_label("Title (2 to 5 words)").fill(title)
    page.get_by_label("One sentence that describes it").fill(description)
    page.locator("#id_policy_0").fill(policies[0])
    page.wait_for_selector("text=Values others wrote that look close to yours")
    check_page(page, "articulation-04-similar-while-typing")
    autonomy = FAMILIES["autonomy"][0][0]
    page.get_by_role("button", name=f"This is mine: use it “{autonomy}”").click()
    page.wait_for_url(re.compile(r"/r/typing/$"))
    card = ValuesCard.objects.get(author__round=round_, title=autonomy, author__attributes__party="Left")
    merge = CardMerge.objects.get(card=card, undone_at__isnull=True)
    assert merge.value.title == autonomy and merge.confirmation.answer == "same"


def test_a_chat_reply_written_in_the_background_appears_without_a_reload(live_server, phone, fake_openai, settings):
    settings.WISER_EAGER_SLOW_TASKS_IN_THREAD = True
    round_ = make_round(slug="waiting")
    page = phone
    _enter(page, live_server, round_)
    page.goto(f"{live_server.url}/r/waiting/chat/")
    assert ArticulationSession.objects.get().mode == "model"
    fake_openai.enqueue(_slow_reply())
    page.get_by_label("Your answer").fill("That she decides for herself.")
    page.get_by_role("button", name="Send").click()
    page.wait_for_selector("#chat-pending")
    check_page(page, "articulation-05-chat-pending")
    page.wait_for_selector("text=What did you watch for?", timeout=20_000)
    assert page.locator("#chat-pending").count() == 0


def _slow_reply():
    """The model's next question, after a wait (shorter than the client's timeout in tests)."""
    reply = json_reply({"reply": "What did you watch for?", "ready_for_draft": False})
    return type(reply)(content=reply.content, delay=slow(1.2).delay)
