"""Turn the organizer's typed text (one context or attribute per line, dates, translations) into service arguments."""

from datetime import datetime
from typing import Any

from django import forms as django_forms
from django.conf import settings
from django.contrib.auth.forms import UserCreationForm
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

SETTING_FIELDS = ("stories_per_participant", "min_votes_per_story", "participant_cap", "token_budget")
CHOICE_FIELDS = ("report_visibility", "ranking_method")
FLAG_FIELDS = ("open_link_enabled", "report_live")
DATE_FIELDS = ("articulation_opens_at", "voting_opens_at", "closes_at")


def parse_contexts(text: str) -> list[dict[str, str]]:
    """One context per line, optionally "name | description"."""
    contexts = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        name, _, description = line.partition("|")
        contexts.append({"name": name.strip(), "description": description.strip()})
    return contexts


def parse_attributes(text: str) -> list[dict[str, Any]]:
    """One attribute per line: "label: choice, choice, choice"."""
    attributes = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        label, _, choices = line.partition(":")
        attributes.append(
            {
                "label": label.strip(),
                "choices": [c.strip() for c in choices.split(",") if c.strip()],
                "grouping": True,
            }
        )
    return attributes


def contexts_text(contexts) -> str:
    """The contexts as the organizer typed them, for a form to show again."""
    return "\n".join(f"{c.name} | {c.description}" if c.description else c.name for c in contexts)


def attributes_text(attributes) -> str:
    """The joining questions as the organizer typed them."""
    return "\n".join(f"{a.label}: {', '.join(a.choices)}" for a in attributes)


def round_settings(post: QueryDict) -> dict[str, Any]:
    """The settings fields of the round form, as round_create and round_update take them."""
    values: dict[str, Any] = {name: post.get(name, "").strip() for name in SETTING_FIELDS}
    for name in CHOICE_FIELDS:
        if name in post:
            values[name] = post.get(name)
    for name in FLAG_FIELDS:
        values[name] = post.get(name) == "on"
    for name in DATE_FIELDS:
        if name in post:
            values[name] = post.get(name, "").strip()
    values["consent_text"] = post.get("consent_text", "")
    return values


def date_value(value: datetime | str | None) -> str:
    """A stored date as a datetime-local input shows it (in the server's time zone); typed text as typed."""
    if value is None or isinstance(value, str):
        return value or ""
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def other_languages() -> list[tuple[str, str]]:
    """The languages besides the default one, in which organizers may translate the round's own texts."""
    return [(code, name) for code, name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]


def translation_field(prefix: str, field: str, language: str) -> str:
    """The form name of one translated text, e.g. "title__es" or "ctx4_name__es"."""
    return f"{prefix}{field}__{language}"


def translations_from_post(
    post: QueryDict, fields: tuple[str, ...], prefix: str = ""
) -> dict[str, dict[str, str]]:
    """{"es": {field: text}} from the translated fields of a form; empty texts are left out by the services."""
    return {
        code: {field: post.get(translation_field(prefix, field, code), "") for field in fields}
        for code, _name in other_languages()
    }


def translation_rows(
    translations: dict, fields: dict[str, str], prefix: str = "", multiline: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """One group per other language, each with its fields' form name, label, current text and shape."""
    groups = []
    for code, language in other_languages():
        texts = (translations or {}).get(code) or {}
        groups.append(
            {
                "code": code,
                "language": language,
                "fields": [
                    {
                        "name": translation_field(prefix, field, code),
                        "label": _("%(field)s in %(language)s") % {"field": label, "language": language},
                        "value": texts.get(field, ""),
                        "multiline": field in multiline,
                    }
                    for field, label in fields.items()
                ],
            }
        )
    return groups


def attribute_translation_field(key: str, field: str, language: str) -> str:
    """The form name of one joining question's translated label or answers, e.g. "attr_age_band_label__es"."""
    return f"attr_{key}_{field}__{language}"


def attribute_translations_from_post(post: QueryDict, attributes) -> dict[str, dict[str, dict[str, Any]]]:
    """{key: {"es": {"label": ..., "choices": [...]}}} from the settings form; answers are typed comma-separated."""
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for attribute in attributes:
        result[attribute.key] = {}
        for code, _name in other_languages():
            typed = post.get(attribute_translation_field(attribute.key, "choices", code), "")
            result[attribute.key][code] = {
                "label": post.get(attribute_translation_field(attribute.key, "label", code), ""),
                "choices": [c.strip() for c in typed.split(",")] if typed.strip() else [],
            }
    return result


def attribute_translation_rows(attributes, translations_by_key: dict | None = None) -> list[dict[str, Any]]:
    """One group per other language, each with two fields per joining question: its label and its answers."""
    groups = []
    for code, language in other_languages():
        rows = []
        for attribute in attributes:
            source = (translations_by_key or {}).get(attribute.key, attribute.translations) or {}
            texts = source.get(code) or {}
            rows.append(
                {
                    "attribute": attribute,
                    "label_name": attribute_translation_field(attribute.key, "label", code),
                    "label_value": texts.get("label", ""),
                    "choices_name": attribute_translation_field(attribute.key, "choices", code),
                    "choices_value": ", ".join(c for c in texts.get("choices") or [] if c),
                    "original_choices": ", ".join(attribute.choices),
                }
            )
        groups.append({"code": code, "language": language, "rows": rows})
    return groups


class SignupForm(UserCreationForm):
    """An organizer account with an email address, so the password can be reset."""

    email = django_forms.EmailField(
        label=gettext_lazy("Email address"),
        help_text=gettext_lazy("Used only to send you a password reset link."),
        max_length=254,
    )

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")
