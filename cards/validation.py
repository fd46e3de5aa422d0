"""The one card schema shared by the form, the chat and the API."""
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from cards.models import DESCRIPTION_MAX, MAX_POLICIES, MIN_POLICIES, POLICY_MAX, TITLE_MAX
from core.text import clean_text

FILLER_WORDS = ("meaningful", "deep", "deeply")
# A sentence ends at . ! or ? (repeated, as in "..."), possibly followed by closing quotes or brackets.
SENTENCE_END = re.compile(r"[.!?]+[\"'”’»)\]]*(?:\s|$)")
LETTER = re.compile(r"[^\W\d_]")
POLICY_EXAMPLES = [
    gettext_noop("OPPORTUNITIES for her to hear her own inner voice"),
    gettext_noop("MOMENTS when a person realises a choice is really theirs to make"),
    gettext_noop("SIGNS that someone feels safe enough to say what they actually think"),
]


@dataclass(frozen=True)
class CardFields:
    title: str
    description: str
    policies: list[str]


def validate_card(*, title: object, description: object, policies: object) -> CardFields:
    """Check a card's fields; raise ValidationError with a message per field."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, object] = {}
    for name, raw, limit in (("title", title, TITLE_MAX), ("description", description, DESCRIPTION_MAX)):
        try:
            clean[name] = clean_text(raw, field=name, max_length=limit)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if "title" in clean:
        words = len(str(clean["title"]).split())
        if not 2 <= words <= 5:
            errors["title"] = [_("Use 2 to 5 words (this has %(n)s).") % {"n": words}]
        elif len(LETTER.findall(str(clean["title"]))) < 3:
            errors["title"] = [_("Use words, not only signs or numbers.")]
    if "description" in clean:
        description = str(clean["description"])
        if len(LETTER.findall(description)) < 3 or len(description.split()) < 2:
            errors["description"] = [_("Describe the value in a sentence of words.")]
        elif len(SENTENCE_END.findall(description)) > 1:
            errors["description"] = [_("Use one sentence.")]

    policy_errors: list[str] = []
    cleaned_policies: list[str] = []
    if not isinstance(policies, list | tuple):
        policy_errors.append(_("Give a list of attentional policies."))
    else:
        for index, raw in enumerate(policies, start=1):
            if isinstance(raw, str) and not raw.strip():
                continue
            try:
                text = clean_text(raw, field="policies", max_length=POLICY_MAX)
            except ValidationError as exc:
                policy_errors.append(_("Policy %(n)s: %(message)s") % {"n": index, "message": exc.message_dict["policies"][0]})
                continue
            if len(text.split()) < 3 or not re.search(r"[^\W\d_]", text):
                policy_errors.append(
                    _("Policy %(n)s: say what you attend to in a few words, e.g. \"%(example)s\".")
                    % {"n": index, "example": _(POLICY_EXAMPLES[0])}
                )
                continue
            lowered = text.lower()
            filler = [w for w in FILLER_WORDS if re.search(rf"\b{w}\b", lowered)]
            if filler:
                policy_errors.append(_("Policy %(n)s: avoid filler words such as %(words)s.") % {"n": index, "words": ", ".join(filler)})
            cleaned_policies.append(text)
        if not policy_errors and not MIN_POLICIES <= len(cleaned_policies) <= MAX_POLICIES:
            policy_errors.append(
                _("Give %(min)s to %(max)s attentional policies (this has %(n)s).")
                % {"min": MIN_POLICIES, "max": MAX_POLICIES, "n": len(cleaned_policies)}
            )
        if len({p.lower() for p in cleaned_policies}) != len(cleaned_policies):
            policy_errors.append(_("Each policy must be different."))
    if policy_errors:
        errors["policies"] = policy_errors
    if errors:
        raise ValidationError(errors)
    return CardFields(title=str(clean["title"]), description=str(clean["description"]), policies=cleaned_policies)
