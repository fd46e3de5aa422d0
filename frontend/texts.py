"""The round's own texts in the reader's language: the organizer's translation when present, else the default."""

from typing import Any

from django.utils.translation import get_language
from django.utils.translation import gettext as _

from deliberation.selectors import CONSENT_TEXT_DEFAULT

TRANSLATABLE = {
    "Round": ("title", "description", "consent_text"),
    "Question": ("text",),
    "Context": ("name", "description"),
    "ParticipantAttribute": ("label", "choices"),
}


def reader_language(language: str | None = None) -> str:
    """The language code texts are chosen by: the given one, else the active one, without its region."""
    return (language or get_language() or "").split("-")[0]


def _translated(obj: Any, field: str, language: str) -> Any:
    translations = getattr(obj, "translations", None) or {}
    return (translations.get(language) or {}).get(field) if isinstance(translations, dict) else None


def localized(obj: Any, field: str, language: str | None = None) -> str:
    """The object's field in the given (default: active) language, falling back to the stored text.

    A round's consent text left at the default is the interface's own sentence, so it is shown translated by the
    catalogue (the organizer's translation still wins)."""
    language = reader_language(language)
    text = _translated(obj, field, language)
    if isinstance(text, str) and text.strip():
        return text
    stored = getattr(obj, field, "") or ""
    if field == "consent_text" and stored == CONSENT_TEXT_DEFAULT:
        return _(CONSENT_TEXT_DEFAULT)
    return stored


def localized_choices(attribute: Any, language: str | None = None) -> list[tuple[str, str]]:
    """A joining question's answers as (stored value, shown text) in the reader's language."""
    translated = _translated(attribute, "choices", reader_language(language))
    choices = list(attribute.choices or [])
    if not isinstance(translated, list) or len(translated) != len(choices):
        return [(choice, choice) for choice in choices]
    return [(choice, shown or choice) for choice, shown in zip(choices, translated, strict=True)]


def attribute_labels(attributes, language: str | None = None) -> dict[str, dict[str, Any]]:
    """{key: {"label": shown label, "choices": {stored answer: shown answer}}} for the report's group tables."""
    return {
        a.key: {"label": localized(a, "label", language), "choices": dict(localized_choices(a, language))}
        for a in attributes
    }
