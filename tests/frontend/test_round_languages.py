"""Organizer-given texts per language (issue 18 point 2): the console and the API write them, participants read
them in their language, and a missing translation falls back to the default language."""

import pytest
from django.test import Client

from deliberation.models import OrganizerRole, ParticipantAttribute, Round
from frontend.report_views import with_group_labels
from frontend.texts import attribute_labels
from tests.factories import join, make_round

pytestmark = pytest.mark.django_db(transaction=True)


def _owner(round_: Round) -> Client:
    client = Client()
    client.force_login(round_.roles.get(role=OrganizerRole.Role.OWNER).user)
    return client


def _settings_post(round_: Round, **extra) -> dict:
    return {
        "title": round_.title,
        "description": round_.description,
        "consent_text": round_.consent_text,
        "stories_per_participant": "5",
        "min_votes_per_story": "5",
        "report_visibility": "unlisted",
        "ranking_method": "bt",
        "open_link_enabled": "on",
        **extra,
    }


def test_organizer_sets_spanish_texts_and_a_spanish_participant_sees_them():
    round_ = make_round(slug="langs")
    owner = _owner(round_)
    saved = owner.post(
        "/console/langs/edit/",
        _settings_post(
            round_,
            title__es="¿Cómo debería responder un asistente?",
            consent_text__es="Tus respuestas se guardan con un seudónimo.",
            attr_party_label__es="Partido",
            attr_party_choices__es="Izquierda, Derecha, Otro",
        ),
    )
    assert saved.status_code == 302, saved.content.decode()[:2000]
    attribute = ParticipantAttribute.objects.get(round=round_, key="party")
    assert attribute.translations == {"es": {"label": "Partido", "choices": ["Izquierda", "Derecha", "Otro"]}}
    page = Client(HTTP_ACCEPT_LANGUAGE="es").get(f"/r/langs/join/{round_.join_token}/").content.decode()
    assert "¿Cómo debería responder un asistente?" in page
    assert "Tus respuestas se guardan con un seudónimo." in page
    assert ">Partido</label>" in page
    # The answer shown is Spanish; the value stored stays the default-language choice, so groups do not split.
    assert '<option value="Left">Izquierda</option>' in page
    english = Client(HTTP_ACCEPT_LANGUAGE="en").get(f"/r/langs/join/{round_.join_token}/").content.decode()
    assert ">Party</label>" in english and '<option value="Left">Left</option>' in english
    joined = Client(HTTP_ACCEPT_LANGUAGE="es")
    joined.post(f"/r/langs/join/{round_.join_token}/", {"consent": "yes", "attr_party": "Left"})
    assert round_.participants.get().attributes == {"party": "Left"}


def test_a_missing_translation_falls_back_to_the_default_language_and_the_default_consent_is_translated():
    round_ = make_round(slug="fallback")
    Round.objects.filter(pk=round_.pk).update(translations={"es": {"title": "Solo el título"}})
    page = Client(HTTP_ACCEPT_LANGUAGE="es").get(f"/r/fallback/join/{round_.join_token}/").content.decode()
    assert "Solo el título" in page
    assert ">Party</label>" in page  # no Spanish label given: the organizer's own
    # The consent text left at its default is the interface's sentence, translated by the catalogue.
    assert "Tus respuestas se guardan con un seudónimo" in page
    assert "Your answers are stored under a pseudonym" not in page


def test_wrong_attribute_translations_are_refused_with_field_messages_and_nothing_is_saved():
    round_ = make_round(slug="bad-langs")
    owner = _owner(round_)
    refused = owner.post(
        "/console/bad-langs/edit/",
        _settings_post(round_, title="A new title", attr_party_choices__es="Izquierda, Derecha"),
    )
    text = refused.content.decode()
    assert refused.status_code == 400
    assert 'href="#id_attribute_translations"' in text and "Give 3 translated choices" in text
    assert 'value="Izquierda, Derecha"' in text  # what was typed comes back
    round_.refresh_from_db()
    assert round_.title != "A new title"


def test_the_api_writes_and_refuses_translations_with_field_errors():
    round_ = make_round(slug="api-langs")
    owner = _owner(round_)
    url = "/api/v1/rounds/api-langs/"
    bad = owner.patch(
        url,
        {"translations": {"xx": {"title": "?"}}, "attribute_translations": {"nope": {"es": {"label": "No"}}}},
        content_type="application/json",
    )
    assert bad.status_code == 400
    fields = bad.json()["error"]["fields"]
    assert "translations" in fields and "attribute_translations" in fields
    ok = owner.patch(
        url,
        {
            "translations": {"es": {"title": "Título"}},
            "attribute_translations": {"party": {"es": {"label": "Partido", "choices": ["Izq.", "", "Otro"]}}},
        },
        content_type="application/json",
    )
    assert ok.status_code == 200, ok.content
    body = owner.get(url).json()
    assert body["translations"] == {"es": {"title": "Título"}}
    # An empty translated answer falls back to the default one.
    assert body["attributes"][0]["translations"] == {
        "es": {"label": "Partido", "choices": ["Izq.", "Right", "Otro"]}
    }
    created = owner.post(
        "/api/v1/rounds/",
        {
            "title": "Con traducciones",
            "question": "How should an assistant answer a worried parent?",
            "question_translations": {"es": {"text": "¿Cómo debería responder un asistente?"}},
            "contexts": [{"name": "When it is urgent", "translations": {"es": {"name": "Cuando es urgente"}}}],
            "attributes": [
                {"label": "Age", "choices": ["Young", "Old"], "translations": {"es": {"choices": ["Joven", "Mayor"]}}}
            ],
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    question = created.json()["questions"][0]
    assert question["translations"] == {"es": {"text": "¿Cómo debería responder un asistente?"}}
    assert question["contexts"][0]["translations"] == {"es": {"name": "Cuando es urgente"}}
    assert created.json()["attributes"][0]["translations"] == {"es": {"choices": ["Joven", "Mayor"]}}


def test_report_tables_name_groups_by_the_organizers_labels_in_the_readers_language():
    round_ = make_round(slug="report-labels")
    ParticipantAttribute.objects.filter(round=round_).update(
        translations={"es": {"label": "Partido", "choices": ["Izquierda", "Derecha", "Otro"]}}
    )
    report = {
        "questions": [
            {
                "contexts": [
                    {
                        "bridgingSummary": [
                            {"attribute": "party", "groups": [{"name": "Left"}, {"name": "Right"}]},
                            {"attribute": "gone", "groups": [{"name": "x"}]},
                        ]
                    }
                ]
            }
        ]
    }
    attributes = list(round_.attributes.all())
    spanish = with_group_labels(report, attribute_labels(attributes, "es"))
    rows = spanish["questions"][0]["contexts"][0]["bridgingSummary"]
    assert rows[0]["label"] == "Partido" and [g["label"] for g in rows[0]["groups"]] == ["Izquierda", "Derecha"]
    assert rows[1]["label"] == "gone"  # an attribute no longer asked keeps its key rather than vanishing
    english = attribute_labels(attributes, "en")
    assert english["party"]["label"] == "Party" and english["party"]["choices"]["Left"] == "Left"
    join(round_, party="Left")
