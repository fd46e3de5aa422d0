"""The console's texts per language, dates, contexts (typed or suggested), role removal, card editing, Spanish pages."""

import re
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.utils import translation
from django.utils.translation import gettext

from cards.models import ValuesCard
from cards.services import dedup_place_card
from deliberation.context_suggestions import ModelNeeded, contexts_suggest
from deliberation.models import AuditEvent, OrganizerRole, Round, Stage
from moral_graph import services as graph_services
from tests.factories import FAMILIES, UserFactory, grant, join, make_round, submit
from tests.fake_openai import json_reply

pytestmark = pytest.mark.django_db


def _organizer(round_: Round) -> Client:
    client = Client()
    client.force_login(round_.roles.get(role=OrganizerRole.Role.OWNER).user)
    return client


def _owner(round_: Round):
    return round_.roles.get(role=OrganizerRole.Role.OWNER).user


def _es(text: str) -> str:
    """The Spanish translation of an interface string; fails when the catalogue lacks it."""
    with translation.override("es"):
        translated = gettext(text)
    assert translated != text, f"no Spanish translation for {text!r}"
    return translated


def _participant_client(participant, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.get(f"/r/{participant.round.slug}/resume/{participant.resume_token}/")
    return client


SETTINGS_FORM = {
    "title": "How should an assistant answer?",
    "description": "",
    "consent_text": "We keep answers pseudonymous.",
    "stories_per_participant": "5",
    "min_votes_per_story": "5",
    "report_visibility": "unlisted",
    "ranking_method": "bt",
    "open_link_enabled": "on",
}


def test_round_settings_keep_spanish_texts_and_dates_and_both_audiences_see_them():
    round_ = make_round(slug="texts")
    client = _organizer(round_)
    page = client.get("/console/texts/edit/").content.decode()
    assert 'name="title__es"' in page and 'type="datetime-local"' in page and 'lang="es"' in page
    form = {
        **SETTINGS_FORM,
        "title__es": "¿Cómo debería responder un asistente?",
        "description__es": "",
        "consent_text__es": "Guardamos las respuestas con seudónimo.",
        "articulation_opens_at": "2036-12-01T09:00",
        "voting_opens_at": "2036-11-01T09:00",
        "closes_at": "",
    }
    refused = client.post("/console/texts/edit/", form)
    text = refused.content.decode()
    assert refused.status_code == 400 and "Must come after articulation opens at." in text
    assert 'value="2036-11-01T09:00"' in text and 'value="¿Cómo debería responder un asistente?"' in text
    assert 'href="#id_voting_opens_at"' in text
    saved = client.post("/console/texts/edit/", {**form, "voting_opens_at": "2036-12-08T09:00"})
    assert saved.status_code == 302
    round_.refresh_from_db()
    assert round_.translations == {
        "es": {
            "title": "¿Cómo debería responder un asistente?",
            "consent_text": "Guardamos las respuestas con seudónimo.",
        }
    }
    assert round_.voting_opens_at == datetime(2036, 12, 8, 9, 0, tzinfo=UTC) and round_.closes_at is None
    assert 'value="2036-12-08T09:00"' in client.get("/console/texts/edit/").content.decode()
    dashboard = client.get("/console/texts/").content.decode()
    assert '<time datetime="2036-12-08T09:00:00+00:00">' in dashboard and "moves on by itself" in dashboard
    spanish = Client(HTTP_ACCEPT_LANGUAGE="es").get(f"/r/texts/join/{round_.join_token}/").content.decode()
    assert "¿Cómo debería responder un asistente?" in spanish
    assert "Guardamos las respuestas con seudónimo." in spanish and _es("Voting opens") in spanish


def _all_fields(page) -> dict:
    """Every field of the page's one form, as the browser would send them back untouched."""
    text = page.content.decode()
    form = text[text.index('id="texts-form"') : text.index("</form>", text.index('id="texts-form"'))]
    fields = {"form": "all"}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form):
        fields[name] = value
    for name, value in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>([^<]*)</textarea>', form):
        fields[name] = value
    fields.pop("csrfmiddlewaretoken", None)
    return {k: v.replace("&#x27;", "'").replace("&quot;", '"').replace("&amp;", "&") for k, v in fields.items()}


def test_the_question_and_contexts_are_edited_per_language_and_participants_read_them():
    round_ = make_round(slug="ctx")
    client = _organizer(round_)
    question = round_.questions.get()
    first = question.contexts.order_by("order").first()
    page = client.get("/console/ctx/contexts/")
    assert page.status_code == 200 and f'name="ctx{first.pk}_name__es"' in page.content.decode()
    fields = _all_fields(page)
    q = f"q{question.pk}_"
    prefix = f"ctx{first.pk}_"
    new = f"new{question.pk}_"
    typed = {
        **fields,
        f"{q}text": "How should an AI assistant answer her?",
        f"{q}text__es": "¿Cómo debería responderle un asistente de IA?",
        f"{prefix}description": "She says she feels alone.",
        f"{prefix}name__es": "Cuando el usuario está angustiado",
        f"{new}name": "when the user is in distress",
        f"{new}description": "Typed by hand.",
    }
    clash = client.post("/console/ctx/contexts/", typed)
    text = clash.content.decode()
    assert clash.status_code == 400 and f'href="#id_{new}name"' in text and "Typed by hand." in text
    assert re.search(rf'id="id_{new}name"[^>]*aria-invalid="true"', text)
    assert "She says she feels alone." in text and "¿Cómo debería responderle un asistente de IA?" in text
    question.refresh_from_db()
    assert question.text != "How should an AI assistant answer her?", "nothing is saved when one part is refused"
    saved = client.post("/console/ctx/contexts/", {**typed, f"{new}name": "When the user asks for facts", f"{new}description": ""})
    assert saved.status_code == 302
    question.refresh_from_db()
    assert question.text == "How should an AI assistant answer her?"
    assert question.translations == {"es": {"text": "¿Cómo debería responderle un asistente de IA?"}}
    first.refresh_from_db()
    assert first.description == "She says she feels alone."
    assert first.translations == {"es": {"name": "Cuando el usuario está angustiado"}}
    assert question.contexts.count() == 3
    actions = list(AuditEvent.objects.filter(round=round_).values_list("action", flat=True))
    assert {"question.update", "context.update", "context.create"} <= set(actions)
    assert actions.count("context.update") == 1, "only the context that changed is written"

    card_page = _participant_client(join(round_), "es").get("/r/ctx/card/").content.decode()
    assert "¿Cómo debería responderle un asistente de IA?" in card_page
    assert "Cuando el usuario está angustiado" in card_page and "When the user asks for facts" in card_page

    viewer = UserFactory(username="viewer-ctx")
    grant(round_, viewer, "viewer")
    other = Client()
    other.force_login(viewer)
    assert other.get("/console/ctx/contexts/").status_code == 403


def test_suggesting_contexts_offline_says_it_needs_a_model():
    round_ = make_round(slug="offline")
    client = _organizer(round_)
    page = client.get("/console/offline/contexts/").content.decode()
    assert "needs a language model" in page and "Suggest contexts" in page
    answer = client.post("/console/offline/contexts/", {"form": "suggest"}, follow=True).content.decode()
    assert "Suggesting contexts needs a language model" in answer
    assert round_.questions.get().contexts.count() == 2
    with pytest.raises(ModelNeeded) as refused:
        contexts_suggest(round_=round_, actor=_owner(round_))
    assert refused.value.status == 503


def test_suggested_contexts_come_from_the_model_and_are_edited_before_saving(fake_openai):
    round_ = make_round(slug="suggest")
    client = _organizer(round_)
    fake_openai.enqueue(
        json_reply(
            {
                "contexts": [
                    {"name": "When the user is in distress", "description": "Already there."},
                    {"name": "When she asks what others would do", "description": "She wants a comparison."},
                    {"name": "When <b>shouting</b>", "description": ""},
                    {"name": "When the user is grieving.", "description": "A loss is recent."},
                ]
            }
        )
    )
    page = client.post("/console/suggest/contexts/", {"form": "suggest"})
    text = page.content.decode()
    assert page.status_code == 200
    assert (
        'value="When she asks what others would do"' in text and 'value="When the user is grieving"' in text
    )
    assert "shouting" not in text and "Already there." not in text
    sent = fake_openai.requests_to("/chat/completions")[-1]
    assert round_.questions.get().text in sent.message_text("user")
    assert round_.questions.get().text not in sent.message_text("system")

    clash = client.post(
        "/console/suggest/contexts/",
        {
            "form": "suggestions",
            "suggestion_count": "2",
            "sug0_keep": "on",
            "sug0_name": "When she asks what others would do",
            "sug0_description": "She wants a comparison.",
            "sug1_keep": "on",
            "sug1_name": "When the user is making a big decision",
            "sug1_description": "",
        },
    )
    assert clash.status_code == 400 and 'href="#id_sug1_name"' in clash.content.decode()
    assert round_.questions.get().contexts.count() == 2, "nothing is saved when one suggestion is refused"
    saved = client.post(
        "/console/suggest/contexts/",
        {
            "form": "suggestions",
            "suggestion_count": "2",
            "sug0_keep": "on",
            "sug0_name": "When she asks what other people would do",
            "sug0_description": "She wants a comparison.",
            "sug1_name": "When the user is grieving",
            "sug1_description": "A loss is recent.",
        },
    )
    assert saved.status_code == 302
    names = list(round_.questions.get().contexts.order_by("order").values_list("name", flat=True))
    assert (
        names[-1] == "When she asks what other people would do" and "When the user is grieving" not in names
    )


def test_an_owner_removes_roles_but_never_the_last_owner():
    round_ = make_round(slug="revoke")
    client = _organizer(round_)
    helper = UserFactory(username="helper-revoke")
    grant(round_, helper, "moderator")
    assert "Remove" in client.get("/console/revoke/roles/").content.decode()
    assert client.post("/console/revoke/roles/", {"action": "revoke", "user": helper.pk}).status_code == 302
    assert not OrganizerRole.objects.filter(round=round_, user=helper).exists()
    assert AuditEvent.objects.filter(round=round_, action="role.revoke").exists()
    last = client.post("/console/revoke/roles/", {"action": "revoke", "user": _owner(round_).pk}, follow=True)
    assert "A round needs at least one owner." in last.content.decode()
    assert OrganizerRole.objects.filter(round=round_, role=OrganizerRole.Role.OWNER).count() == 1
    viewer = UserFactory(username="viewer-revoke")
    grant(round_, viewer, "viewer")
    other = Client()
    other.force_login(viewer)
    refused = other.post(
        "/console/revoke/roles/", {"action": "revoke", "user": _owner(round_).pk}, follow=True
    )
    assert "does not allow" in refused.content.decode() and "Remove" not in refused.content.decode()


def _card_form(card_title: str, family: str = "honesty") -> dict:
    _title, description, policies = FAMILIES[family][0]
    return {
        "context": "",
        "title": card_title,
        "description": description,
        **{f"policy_{i}": p for i, p in enumerate(policies)},
    }


def test_an_author_edits_their_card_until_voting_starts():
    round_ = make_round(slug="edit-card")
    author = join(round_)
    card = submit(author)
    client = _participant_client(author)
    edit_url = f"/r/edit-card/card/{card.pk}/edit/"
    confirm = client.get("/r/edit-card/", follow=True).content.decode()
    assert edit_url in confirm
    form = client.get(edit_url).content.decode()
    assert f'value="{card.title}"' in form and "Save my card" in form
    bad = client.post(edit_url, _card_form("One"))
    assert bad.status_code == 400 and "Use 2 to 5 words (this has 1)." in bad.content.decode()
    assert 'value="One"' in bad.content.decode()
    assert client.post(edit_url, _card_form("Plain facts first")).status_code == 302
    card.refresh_from_db()
    assert card.title == "Plain facts first" and card.policies == FAMILIES["honesty"][0][2]
    assert card.dedup_status == ValuesCard.DedupStatus.PENDING
    assert edit_url in client.get("/r/edit-card/").content.decode(), "the waiting page links to the edit page"
    assert _participant_client(join(round_)).get(edit_url).status_code == 404

    Round.objects.filter(pk=round_.pk).update(stage=Stage.VOTING)
    closed = client.get(edit_url).content.decode()
    assert "Cards can be edited only until voting starts." in closed and "Save my card" not in closed
    late = client.post(edit_url, _card_form("Too late now"))
    assert late.status_code == 400 and "voting has started" in late.content.decode()
    card.refresh_from_db()
    assert card.title == "Plain facts first"


def test_every_participant_page_speaks_spanish():
    round_ = make_round(slug="es-pages", stories_per_participant=2, min_votes_per_story=1)
    for family in ("safety", "honesty"):
        submit(join(round_), family=family)
    client = Client(HTTP_ACCEPT_LANGUAGE="es")
    assert _es(
        "Taking part in this round needs an invitation: open the link your organizer shared, type the one-time "
        "invite code you were given, or open your personal resume link if you started already."
    ) in (client.get("/r/es-pages/").content.decode())
    join_url = f"/r/es-pages/join/{round_.join_token}/"
    join_page = client.get(join_url).content.decode()
    assert _es("I agree and want to take part.") in join_page and 'lang="es"' in join_page
    refused = client.post(join_url, {})
    assert refused.status_code == 400 and _es("Please check what you entered") in refused.content.decode()
    assert client.post(join_url, {"consent": "yes"}).status_code == 302

    card_page = client.get("/r/es-pages/card/").content.decode()
    assert _es("What matters to you?") in card_page
    assert _es("OPPORTUNITIES for her to hear her own inner voice") in card_page
    title, description, policies = FAMILIES["autonomy"][0]
    context_id = round_.questions.get().contexts.order_by("order").first().pk
    bad = client.post(
        "/r/es-pages/card/",
        {
            "context": context_id,
            "title": "Elección",
            "description": description,
            "policy_0": policies[0],
            "policy_1": policies[1],
            "policy_2": "the deep stuff here",
        },
    ).content.decode()
    assert "Usa de 2 a 5 palabras (ahora hay 1)." in bad
    assert "Criterio 3: evita palabras de relleno como deep." in bad
    assert re.search(r'id="id_policy_2"[^>]*aria-invalid="true"', bad), (
        "a Spanish message still marks its field"
    )
    data = {"context": context_id, "title": title, "description": description}
    data.update({f"policy_{i}": p for i, p in enumerate(policies)})
    assert client.post("/r/es-pages/card/", data).status_code == 302
    card = ValuesCard.objects.latest("id")
    dedup_place_card(card_id=card.pk)

    confirm = client.get("/r/es-pages/", follow=True).content.decode()
    assert _es("Is this your value?") in confirm and _es("No, let me change my card") in confirm
    edit = client.get(f"/r/es-pages/card/{card.pk}/edit/").content.decode()
    assert _es("Save my card") in edit
    assert client.post(f"/r/es-pages/confirm/{card.pk}/", {"answer": "same"}).status_code == 302
    waiting = client.get("/r/es-pages/").content.decode()
    assert _es("You can edit your cards until voting starts.") in waiting

    Round.objects.filter(pk=round_.pk).update(stage=Stage.VOTING)
    graph_services.stories_generate(round_id=round_.pk)
    vote = client.get("/r/es-pages/vote/").content.decode()
    assert _es("Did this person become wiser?") in vote and _es("Not sure") in vote
    no_answer = client.post(
        "/r/es-pages/vote/", {"story": re.search(r'name="story" value="(\d+)"', vote).group(1)}
    )
    assert _es("Choose Yes, No or Not sure.") in no_answer.content.decode()
    done = client.get("/r/es-pages/done/").content.decode()
    assert _es("Two last questions") in done and _es("Finish") in done


def test_the_chat_and_guidance_pages_speak_spanish(fake_openai):
    round_ = make_round(slug="es-chat", stories_per_participant=2, min_votes_per_story=1)
    people = [join(round_) for _ in range(3)]
    for person, family in zip(people, ["autonomy", "safety", "honesty"], strict=True):
        submit(person, family=family)
    client = _participant_client(join(round_), "es")
    card_page = client.get("/r/es-chat/card/").content.decode()
    assert "/r/es-chat/chat/" in card_page
    chat = client.get("/r/es-chat/chat/")
    assert chat.status_code == 200 and _es("Send") in chat.content.decode()
    assert _es("Prefer the form? Write your card yourself.") in chat.content.decode()

    Round.objects.filter(pk=round_.pk).update(stage=Stage.VOTING)
    graph_services.stories_generate(round_id=round_.pk)
    for person in people:
        for story in graph_services.assignments_take(participant=person):
            graph_services.vote_cast(participant=person, story_id=story.pk, answer="wiser")
    graph_services.ranking_compute(round_id=round_.pk)
    Round.objects.filter(pk=round_.pk).update(stage=Stage.PUBLISHED, report_visibility="public")
    guidance = Client(HTTP_ACCEPT_LANGUAGE="es").get("/r/es-chat/report/guidance/")
    assert guidance.status_code == 200 and _es("Find guidance") in guidance.content.decode()


def test_contexts_are_removed_and_a_second_question_added_with_the_one_save():
    round_ = make_round(slug="ctx-more")
    client = _organizer(round_)
    question = round_.questions.get()
    written = submit(join(round_), context_index=0).context
    empty = question.contexts.exclude(pk=written.pk).first()
    fields = _all_fields(client.get("/console/ctx-more/contexts/"))
    refused = client.post(
        "/console/ctx-more/contexts/",
        {**fields, f"ctx{written.pk}_remove": "on", "newq_text": "What else matters?", "newq_contexts": "Later"},
    )
    text = refused.content.decode()
    assert refused.status_code == 400 and "cannot be removed" in text
    assert f'href="#id_ctx{written.pk}_remove"' in text and "What else matters?" in text
    assert round_.questions.count() == 1
    saved = client.post(
        "/console/ctx-more/contexts/",
        {**fields, f"ctx{empty.pk}_remove": "on", "newq_text": "What else matters here?", "newq_contexts": "Later\nMuch later"},
    )
    assert saved.status_code == 302
    assert not question.contexts.filter(pk=empty.pk).exists()
    second = round_.questions.order_by("order").last()
    assert second.text == "What else matters here?" and second.contexts.count() == 2
    page = client.get("/console/ctx-more/contexts/").content.decode()
    assert "Question 2" in page and f'name="q{second.pk}_text"' in page


def test_a_round_is_archived_from_the_dashboard_and_an_empty_one_deleted():
    round_ = make_round(slug="to-archive")
    join(round_)
    client = _organizer(round_)
    dashboard = client.get("/console/to-archive/").content.decode()
    assert "Archive this round" in dashboard and "Delete this round" not in dashboard
    assert client.post("/console/to-archive/", {"action": "archive"}).status_code == 302
    listing = client.get("/console/").content.decode()
    assert "1 archived round" in listing
    assert client.post("/console/to-archive/", {"action": "unarchive"}).status_code == 302
    round_.refresh_from_db()
    assert round_.archived_at is None

    empty = make_round(slug="to-delete", owner=_owner(round_), stage="draft")
    assert "Delete this round" in client.get("/console/to-delete/").content.decode()
    client.post("/console/to-delete/", {"action": "delete", "confirm": "wrong"})
    assert Round.objects.filter(pk=empty.pk).exists()
    gone = client.post("/console/to-delete/", {"action": "delete", "confirm": "to-delete"})
    assert gone.status_code == 302 and gone["Location"] == "/console/"
    assert not Round.objects.filter(pk=empty.pk).exists()
