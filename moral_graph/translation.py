"""Machine translation of what participants read of each other: canonical values and transition stories.

Pages never wait for a model: `translations_request` answers the cached translations at once and, for texts not
yet translated, enqueues `tasks.translate_for_reader` (a worker, or a background thread in the embedded mode)
while the page polls `translation_state`. Translations are cached per (text, language) by
`llm.translation`; the calls count in the round's token budget. Without a model, or when the call fails, the
originals are shown.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings
from django.core.cache import cache

from cards.models import CanonicalValue
from core.queue import enqueue_slow_on_commit
from llm.gateway import LLMUnavailable, model_available
from llm.translation import translate, translations_cached
from moral_graph.models import TransitionStory

log = logging.getLogger(__name__)

# A request waits this long for its task before it may enqueue another (a lost task is asked again).
PENDING_SECONDS = 120
# After a failed translation the originals are shown, and the same texts are not asked again for this long.
FAILED_SECONDS = 600


class ValueWords(Protocol):
    """What a reader reads of a value: a canonical value, or a suggestion carrying its id and words
    (`cards.selectors.SimilarValue`)."""

    id: int
    title: str
    description: str
    policies: list


@dataclass
class ReadingTranslations:
    """What a page shows: translations by original text, and whether more are on their way."""

    language: str = ""
    texts: dict[str, str] = field(default_factory=dict)
    state: str = "none"  # none (nothing to translate), done, pending or failed
    key: str = ""


def wants_translation(language: str) -> bool:
    """True for a reader whose language is one of the site's, other than the default one."""
    default = settings.LANGUAGE_CODE.split("-")[0]
    return language != default and language in {code for code, _name in settings.LANGUAGES}


def value_texts(value: ValueWords) -> list[str]:
    """The texts of a value a reader reads: title, description, attentional policies."""
    return [value.title, value.description, *[p for p in value.policies or [] if isinstance(p, str)]]


def _texts(values: Iterable[ValueWords], stories: Iterable[TransitionStory]) -> list[str]:
    texts: list[str] = []
    for value in values:
        texts.extend(value_texts(value))
    texts.extend(story.text for story in stories)
    return list(dict.fromkeys(t for t in texts if t and t.strip()))


def _key(round_id: int, language: str, value_ids: list[int], story_ids: list[int]) -> str:
    raw = f"{round_id}|{language}|{','.join(map(str, value_ids))}|{','.join(map(str, story_ids))}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _pending_key(key: str) -> str:
    return f"translate:pending:{key}"


def _failed_key(key: str) -> str:
    return f"translate:failed:{key}"


def translations_request(
    *, round_id: int, language: str, values: Iterable[ValueWords], stories: Iterable[TransitionStory] = ()
) -> ReadingTranslations:
    """The cached translations of these values and stories into `language`; for the rest, when a model can
    answer, one translation task is enqueued (a write, like `assignments_take` on the vote page)."""
    values, stories = list(values), list(stories)
    if not wants_translation(language):
        return ReadingTranslations(language=language)
    texts = _texts(values, stories)
    cached = translations_cached(texts, language=language)
    if all(t in cached for t in texts):
        return ReadingTranslations(language=language, texts=cached, state="done")
    value_ids = sorted({v.id for v in values})
    story_ids = sorted({s.pk for s in stories})
    key = _key(round_id, language, value_ids, story_ids)
    if not model_available(round_id):  # no model, or the round's budget is spent: the originals, quietly
        return ReadingTranslations(language=language, texts=cached, state="none")
    if cache.get(_failed_key(key)) is not None:
        return ReadingTranslations(language=language, texts=cached, state="failed", key=key)
    if cache.add(_pending_key(key), 1, PENDING_SECONDS):
        from moral_graph.tasks import translate_for_reader  # tasks import this module

        enqueue_slow_on_commit(translate_for_reader, round_id, language, value_ids, story_ids, key)
    state = translation_state(key=key)
    if state != "pending":  # the task has already run (inline, without a worker): read what it cached
        cached = translations_cached(texts, language=language)
    return ReadingTranslations(language=language, texts=cached, state=state, key=key)


def translation_state(*, key: str) -> str:
    """ "pending" while the task for `key` runs, "failed" when it could not translate everything, else "done"."""
    if cache.get(_pending_key(key)) is not None:
        return "pending"
    return "failed" if cache.get(_failed_key(key)) is not None else "done"


def translate_reading(*, round_id: int, language: str, value_ids: list[int], story_ids: list[int], key: str) -> int:
    """Translate these values and stories of the round (the task's body); returns how many texts are translated.

    Idempotent: cached texts cost nothing. Anything left untranslated marks the key failed for FAILED_SECONDS, so
    the page shows the originals instead of polling, and asking again waits."""
    try:
        values = CanonicalValue.objects.filter(round_id=round_id, pk__in=value_ids)
        stories = TransitionStory.objects.filter(round_id=round_id, pk__in=story_ids)
        texts = _texts(values, stories)
        try:
            done = translate(texts, language=language, round_id=round_id)
        except LLMUnavailable as exc:
            log.warning("translation into %s for round %s failed: %s", language, round_id, exc)
            done = translations_cached(texts, language=language)
        if any(t not in done for t in texts):
            cache.set(_failed_key(key), 1, FAILED_SECONDS)
        return len(done)
    finally:
        cache.delete(_pending_key(key))
