"""What a reader sees of other participants' words: the machine translation when there is one, with the original
kept beside it (moral_graph.translation produces the translations; pages only arrange them)."""

from __future__ import annotations

from typing import Any

from moral_graph.translation import ReadingTranslations


def value_view(value: Any, found: ReadingTranslations) -> dict[str, Any]:
    """A value's (or a similar value's) title, description and policies in the reader's language; `original`
    holds the author's words when any of them was translated (else None)."""
    texts = found.texts
    original = {"title": value.title, "description": value.description, "policies": list(value.policies or [])}
    shown = {
        "title": texts.get(value.title, value.title),
        "description": texts.get(value.description, value.description),
        "policies": [texts.get(p, p) for p in original["policies"]],
    }
    translated = shown != original
    return {**shown, "id": value.id, "original": original if translated else None,
            "language": found.language if translated else ""}


def story_view(story: Any, found: ReadingTranslations) -> dict[str, Any]:
    """A story's text in the reader's language, with the original when it was translated."""
    text = found.texts.get(story.text, story.text)
    translated = text != story.text
    return {"text": text, "original": {"text": story.text} if translated else None,
            "language": found.language if translated else ""}
