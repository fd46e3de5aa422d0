"""A participant reading in Spanish (issue 18 point 2), in a real browser at 375 px, each page checked with axe-core:
the organizer's Spanish texts on joining, the values and stories of others machine-translated in the background
(the page polls and offers the translation), the original one click away."""

import json
import re
import time

import pytest

from cards.models import CanonicalValue
from cards.services import card_reassign
from deliberation import services
from deliberation.models import Context, Question
from llm.models import CachedTranslation, LLMCall
from tests.browser.conftest import AXE, check_page
from tests.factories import FAMILIES, join, make_round, submit, voting_round

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DATA = re.compile(r"<data>\s*(.*?)\s*</data>", re.S)


def slow_spanish(body: dict) -> str | None:
    """The fake model's translation ("ES: " before each text), after a pause long enough to see the page wait."""
    if "target language" not in body["messages"][0]["content"]:
        return None
    time.sleep(1.5)
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    data = json.loads(DATA.search(user).group(1))
    return json.dumps({"translations": [{"index": t["index"], "text": f"ES: {t['text']}"} for t in data["texts"]]})


@pytest.fixture
def spanish_phone(browser):
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="es-ES")
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _translated_on_request(page, name: str) -> None:
    """The page says the translation is coming, then offers it; showing it reloads the page."""
    page.get_by_text("se están traduciendo automáticamente").wait_for()
    check_page(page, f"{name}-pending")
    page.get_by_role("link", name="Mostrarla").click(timeout=20_000)
    page.get_by_text("Traducción automática: ver el original").first.wait_for()


def test_a_spanish_participant_reads_the_round_in_spanish_and_others_words_translated(
    live_server, spanish_phone, fake_openai, settings
):
    fake_openai.responder = slow_spanish
    round_, _people = voting_round("es-flow", people=4)
    owner = round_.roles.get().user
    services.round_update(
        round_=round_,
        actor=owner,
        translations={"es": {"title": "¿Cómo debería responder un asistente?"}},
        attribute_translations={"party": {"es": {"label": "Partido", "choices": ["Izquierda", "Derecha", "Otro"]}}},
    )
    Question.objects.filter(round=round_).update(
        translations={"es": {"text": "¿Cómo debería responder un asistente de IA a una chica que piensa en abortar?"}}
    )
    first = Context.objects.filter(question__round=round_).order_by("order").first()
    Context.objects.filter(pk=first.pk).update(translations={"es": {"name": "Cuando ella está angustiada"}})

    settings.WISER_EAGER_SLOW_TASKS_IN_THREAD = True  # model work in the background, as without a worker
    page = spanish_phone
    page.goto(f"{live_server.url}/r/es-flow/join/{round_.join_token}/")
    page.get_by_role("heading", name="¿Cómo debería responder un asistente?").wait_for()
    assert page.locator("html").get_attribute("lang") == "es"
    page.get_by_text("Tus respuestas se guardan con un seudónimo").wait_for()  # the default consent, translated
    page.get_by_label("Partido").select_option(label="Derecha")
    check_page(page, "spanish-01-join")
    page.get_by_label("Acepto y quiero participar.").check()
    page.get_by_role("button", name="Empezar").click()
    page.wait_for_url(re.compile(r"/r/es-flow/card/$"))
    page.get_by_text("¿Cómo debería responder un asistente de IA a una chica que piensa en abortar?").wait_for()
    assert "Cuando ella está angustiada" in page.locator("#id_context").inner_text()
    check_page(page, "spanish-02-card-form")
    participant = round_.participants.order_by("-pk").first()
    assert participant.attributes == {"party": "Right"}  # stored as the default-language answer

    # Their card joins a value someone else worded (a moderator groups it): that wording is machine-translated.
    settings.WISER_EAGER_SLOW_TASKS_IN_THREAD = False
    card = submit(participant, family="autonomy", variant=1)
    others = CanonicalValue.objects.filter(round=round_, is_active=True).exclude(representative=card)
    card_reassign(actor=owner, card=card, target=others.filter(contexts=card.context).first() or others.first())
    settings.WISER_EAGER_SLOW_TASKS_IN_THREAD = True
    page.goto(f"{live_server.url}/r/es-flow/confirm/{card.pk}/")
    _translated_on_request(page, "spanish-03-confirm")
    assert page.locator("#value-title").inner_text().startswith("ES: ")
    page.get_by_text("Traducción automática: ver el original").click()
    page.locator("details.original .original-text").first.wait_for()
    assert not page.locator("details.original .original-text").first.inner_text().startswith("ES: ")
    check_page(page, "spanish-04-confirm-original")
    page.get_by_role("button", name="Sí, es mi valor").click()

    page.wait_for_url(re.compile(r"/r/es-flow/vote/$"))
    _translated_on_request(page, "spanish-05-vote")
    story = page.locator("blockquote.story")
    assert story.get_attribute("lang") == "es" and story.inner_text().startswith("ES: ")
    page.get_by_text("Traducción automática: ver el original").first.click()
    check_page(page, "spanish-06-vote-original")
    calls = LLMCall.objects.filter(purpose="translate", round_id=round_.pk).count()
    assert calls >= 2 and CachedTranslation.objects.filter(language="es").exists()
    page.get_by_label("Sí", exact=True).check()
    page.get_by_role("button", name="Siguiente").click()
    # Every story given was translated at once: the next one comes translated, with no wait and no new call.
    page.get_by_text("Traducción automática: ver el original").first.wait_for()
    assert page.locator("blockquote.story").inner_text().startswith("ES: ")
    assert page.locator("#translation-status").count() == 0
    check_page(page, "spanish-07-next-story")
    assert LLMCall.objects.filter(purpose="translate", round_id=round_.pk).count() == calls


def test_a_spanish_writer_sees_similar_values_translated_while_typing(live_server, spanish_phone, fake_openai, settings):
    """The suggestions panel of the card form: originals at once, then the translation swapped in by the panel
    itself (nothing typed is lost), the original one click away; choosing a suggestion chooses the value."""
    fake_openai.responder = slow_spanish
    settings.WISER_EMBEDDINGS = "offline"  # the fake server's vectors are random; the bundled model finds the family
    round_ = make_round(slug="es-similar")
    for family in ("autonomy", "safety", "honesty", "community"):
        submit(join(round_), family=family)
    autonomy = CanonicalValue.objects.get(round=round_, title=FAMILIES["autonomy"][0][0])
    person = join(round_)
    settings.WISER_EAGER_SLOW_TASKS_IN_THREAD = True
    page = spanish_phone
    page.goto(f"{live_server.url}/r/es-similar/resume/{person.resume_token}/")
    page.goto(f"{live_server.url}/r/es-similar/card/")
    title, description, policies = FAMILIES["autonomy"][1]
    page.get_by_label("Título (de 2 a 5 palabras)").fill(title)
    page.get_by_label("Una frase que lo describa").fill(description)
    for i, policy in enumerate(policies[:3]):
        page.locator(f"#id_policy_{i}").fill(policy)
    panel = page.locator("#similar-values")
    panel.get_by_text("Estos valores se están traduciendo automáticamente").wait_for()
    assert panel.locator("strong").first.inner_text() == autonomy.title  # the original meanwhile
    check_page(page, "spanish-similar-01-pending")
    panel.locator("strong", has_text=f"ES: {autonomy.title}").wait_for(timeout=20_000)
    assert panel.locator("div[lang='es'] strong").first.inner_text() == f"ES: {autonomy.title}"
    assert page.get_by_label("Título (de 2 a 5 palabras)").input_value() == title, "nothing typed is lost"
    panel.get_by_text("Traducción automática: ver el original").first.click()
    original = panel.locator("details.original .original-text").first
    original.wait_for()
    assert original.inner_text().startswith(autonomy.title)
    check_page(page, "spanish-similar-02-translated-original")
    panel.get_by_role("button", name=f"Este es el mío: usarlo “ES: {autonomy.title}”").click()
    page.wait_for_url(re.compile(r"/r/es-similar/$"))
    assert person.cards.get().merges.get(undone_at__isnull=True).value_id == autonomy.pk
