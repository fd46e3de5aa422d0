"""The round's own texts in the reader's language: the organizer's translation when present, else the default."""

from typing import Any

from django.utils.translation import get_language

TRANSLATABLE = {
    "Round": ("title", "description", "consent_text"),
    "Question": ("text",),
    "Context": ("name", "description"),
}


def localized(obj: Any, field: str, language: str | None = None) -> str:
    """The object's field in the given (default: active) language, falling back to the stored text."""
    language = (language or get_language() or "").split("-")[0]
    translations = getattr(obj, "translations", None) or {}
    text = (translations.get(language) or {}).get(field) if isinstance(translations, dict) else None
    if isinstance(text, str) and text.strip():
        return text
    return getattr(obj, field, "") or ""
