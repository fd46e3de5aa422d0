"""Validation of text that people type: one place for the rules every form and endpoint shares."""
import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# Control characters other than tab and newline, and the bidirectional overrides/isolates that can
# make text read differently from how it is stored.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_MARKUP = re.compile(r"<\s*[a-zA-Z/!?]|javascript\s*:", re.IGNORECASE)
_ZERO_WIDTH = re.compile(r"[\u200b-\u200d\u2060\ufeff]")


def clean_text(
    value: object, *, field: str, max_length: int, required: bool = True, multiline: bool = False
) -> str:
    """Normalise and check one text field; raise ValidationError({field: message}) when it is unusable."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError({field: _("Must be text.")})
    if "\x00" in value:
        raise ValidationError({field: _("Contains a NUL byte.")})
    if len(value) > max_length * 4:
        raise ValidationError({field: _("Is far too long: at most %(max)s characters.") % {"max": max_length}})
    text = unicodedata.normalize("NFC", value)
    text = _ZERO_WIDTH.sub("", text).strip()
    if not multiline:
        text = re.sub(r"\s+", " ", text)
    if _FORBIDDEN.search(text):
        raise ValidationError({field: _("Contains control or direction-override characters.")})
    if _MARKUP.search(text):
        raise ValidationError({field: _("Plain text only: HTML tags and script links are not allowed.")})
    if required and not text:
        raise ValidationError({field: _("This field is required.")})
    if len(text) > max_length:
        raise ValidationError({field: _("At most %(max)s characters (this has %(n)s).") % {"max": max_length, "n": len(text)}})
    return text


QUESTION_MIN_LETTERS = 8
QUESTION_MIN_WORDS = 2
_WORD = re.compile(r"[^\W\d_]{2,}")


def clean_question(value: object, *, field: str, max_length: int = 2000) -> str:
    """A question people can answer: plain text with at least two words and eight letters ("?" is not one)."""
    text = clean_text(value, field=field, max_length=max_length, multiline=True)
    letters = sum(ch.isalpha() for ch in text)
    if letters < QUESTION_MIN_LETTERS or len(_WORD.findall(text)) < QUESTION_MIN_WORDS:
        raise ValidationError(
            {field: _("Write the question in words: at least two words and eight letters.")}
        )
    return text
