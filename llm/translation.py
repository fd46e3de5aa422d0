"""Machine translation of participants' texts (values cards, transition stories) into a reader's language.

One cached translation per (sha256 of the text, target language) in `CachedTranslation`: a text is paid for once
per language, whichever round or reader asks again. Calls go through `gateway.complete_structured` with the round's
id, so their tokens count in the round's budget like every other call; without a model (or with the budget spent)
`translate` raises `LLMUnavailable` and readers see the original.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pydantic
from django.conf import settings
from django.db import IntegrityError, transaction

from llm import gateway
from llm.config import remote_config
from llm.models import CachedTranslation
from llm.prompts import sha256_hex

PURPOSE = "translate"
# A batch stays well inside the purpose's output cap (3,000 tokens): about 4,000 characters of text in.
BATCH_TEXTS = 40
BATCH_CHARACTERS = 4000
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

TRANSLATE_INSTRUCTIONS = """You translate short texts written by participants of a deliberation into the target
language given in the data. Each text is a values card's title, its one-sentence description, one of the things
its author attends to, or a first-person story about how someone's values changed.

Rules:
- Translate each text faithfully: keep its meaning, its tone and its person (a first-person story stays first
  person). Do not add, explain, soften or summarise.
- A text that starts with a word in CAPITALS (for example "MOMENTS when she feels heard") keeps a capitalised
  first word in the translation ("MOMENTOS en los que se siente escuchada").
- Keep quotation marks, and translate what they quote.
- A text already written in the target language is returned unchanged.
- Reply with one entry per text, with the same index."""


class TranslatedText(pydantic.BaseModel):
    index: int
    text: str


class Translations(pydantic.BaseModel):
    translations: list[TranslatedText]


def text_hash(text: str) -> str:
    """The cache key's text part: the sha256 of the original text."""
    return sha256_hex(text)


def language_name(code: str) -> str:
    """The language's name as settings.LANGUAGES gives it, with its code (e.g. "Español (es)")."""
    names = dict(settings.LANGUAGES)
    return f"{names.get(code, code)} ({code})"


def translations_cached(texts: Iterable[str], *, language: str) -> dict[str, str]:
    """{original: translation} for the texts already translated into `language`; no model call."""
    by_hash = {text_hash(t): t for t in texts if t and t.strip()}
    rows = CachedTranslation.objects.filter(language=language, text_hash__in=list(by_hash)).values_list(
        "text_hash", "text"
    )
    return {by_hash[h]: translated for h, translated in rows}


def _batches(texts: list[str]) -> list[list[str]]:
    batches: list[list[str]] = [[]]
    size = 0
    for text in texts:
        if batches[-1] and (len(batches[-1]) >= BATCH_TEXTS or size + len(text) > BATCH_CHARACTERS):
            batches.append([])
            size = 0
        batches[-1].append(text)
        size += len(text)
    return [b for b in batches if b]


def _usable(original: str, translated: str) -> bool:
    """A translation is kept when it is plain text of a plausible length."""
    translated = translated.strip()
    return bool(translated) and not CONTROL.search(translated) and len(translated) <= 3 * len(original) + 200


def translate(
    texts: Iterable[str], *, language: str, round_id: int | None = None, timeout: float | None = None
) -> dict[str, str]:
    """{original: translation} for every text, asking the model only for texts never translated into `language`.

    Batches that succeed are cached even when a later one fails; then LLMUnavailable is raised (the caller shows
    the originals it has no translation for). A reply that leaves a text out, or answers it with something that is
    not a plausible translation, leaves that text untranslated."""
    wanted = list(dict.fromkeys(t for t in texts if t and t.strip()))
    result = translations_cached(wanted, language=language)
    missing = [t for t in wanted if t not in result]
    if not missing:
        return result
    config = remote_config()
    model = f"{config.base_url}#{config.chat_model}"
    failure: gateway.LLMUnavailable | None = None
    for batch in _batches(missing):
        try:
            reply = gateway.complete_structured(
                purpose=PURPOSE,
                instructions=TRANSLATE_INSTRUCTIONS,
                data={
                    "target_language": language_name(language),
                    "texts": [{"index": i, "text": t} for i, t in enumerate(batch)],
                },
                schema=Translations,
                round_id=round_id,
                timeout=timeout,
            )
        except gateway.LLMUnavailable as exc:
            failure = exc
            if exc.reason != gateway.CALL_FAILED:
                break  # no model, or the budget is spent: the next batch would be refused too
            continue
        answered = {item.index: item.text.strip() for item in reply.translations if 0 <= item.index < len(batch)}
        for index, original in enumerate(batch):
            translated = answered.get(index, "")
            if not _usable(original, translated):
                continue
            try:
                with transaction.atomic():
                    CachedTranslation.objects.get_or_create(
                        text_hash=text_hash(original), language=language, defaults={"text": translated, "model": model}
                    )
            except IntegrityError:  # another worker cached it first: theirs is as good
                pass
            result[original] = translated
    if failure is not None:
        raise failure
    return result
