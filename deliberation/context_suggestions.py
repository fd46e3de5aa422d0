"""Model-suggested contexts for a round's question: candidate "When …" situations the organizer edits before saving.

Nothing is saved here: the console shows the suggestions in an editable form and saves the ones the organizer
keeps through `context_save`. The organizer's question and contexts reach the model only as data.
"""

from __future__ import annotations

import pydantic
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from core.errors import DomainError, Forbidden
from core.text import clean_text
from deliberation import selectors
from deliberation.models import Context, Round
from deliberation.permissions import can
from llm import gateway

MAX_SUGGESTIONS = 8
NAME_MAX = 200
DESCRIPTION_MAX = 2000

SUGGEST_INSTRUCTIONS = """\
The data holds a question that a group of people will answer by saying what they value, and the contexts the
organizer already has. A context is a kind of situation in which the question comes up and in which
different values may be wiser: for example "When the user is in distress" or "When the user is making a big
decision".

Suggest up to "max_contexts" new contexts for this question. Each has:
- name: starts with "When", at most 12 words, names a recognisable situation, not a value or an answer.
- description: one plain sentence on what sets this situation apart.
Make the contexts differ from each other and from the existing ones; cover situations where thoughtful people
would attend to different things. Write in the language of the question.
"""


class SuggestedContext(pydantic.BaseModel):
    name: str
    description: str = ""


class SuggestedContexts(pydantic.BaseModel):
    contexts: list[SuggestedContext]


class ModelNeeded(DomainError):
    """Suggesting needs a language model and none can answer now."""

    status = 503
    code = "no_model"


def _needs_model_message() -> str:
    return _(
        "Suggesting contexts needs a language model, and none can answer on this server now (no model is "
        "configured, or the round's token budget is spent). Type the contexts yourself."
    )


def _clean(item: SuggestedContext) -> dict[str, str] | None:
    try:
        name = clean_text(item.name, field="name", max_length=NAME_MAX)
        description = clean_text(
            item.description, field="description", max_length=DESCRIPTION_MAX, required=False
        )
    except ValidationError:
        return None
    return {"name": name.rstrip("."), "description": description}


def contexts_suggest(*, round_: Round, actor) -> list[dict[str, str]]:
    """Up to MAX_SUGGESTIONS new contexts ({name, description}) for the round's question; raises ModelNeeded offline."""
    if not can(actor, round_, "edit_round"):
        raise Forbidden(_("Your role in this round does not allow this."))
    if not gateway.model_available(round_.pk):
        raise ModelNeeded(_needs_model_message())
    question = selectors.round_primary_question(round_)
    existing = list(Context.objects.filter(question__round=round_).order_by("order", "id"))
    data = {
        "question": question.text if question else "",
        "round_title": round_.title,
        "round_description": round_.description,
        "existing_contexts": [{"name": c.name, "description": c.description} for c in existing],
        "max_contexts": MAX_SUGGESTIONS,
    }
    try:
        reply = gateway.complete_structured(
            purpose="contexts.suggest",
            instructions=SUGGEST_INSTRUCTIONS,
            data=data,
            schema=SuggestedContexts,
            round_id=round_.pk,
            temperature=0.7,
            timeout=gateway.web_timeout(),  # an organizer waits on the page
        )
    except gateway.LLMUnavailable as exc:
        if exc.reason == gateway.CALL_FAILED:
            raise ModelNeeded(
                _("The model did not answer usefully just now. Try again, or type the contexts yourself.")
            ) from exc
        raise ModelNeeded(_needs_model_message()) from exc
    seen = {c.name.strip().lower() for c in existing}
    suggestions: list[dict[str, str]] = []
    for item in reply.contexts:
        cleaned = _clean(item)
        if cleaned is None or cleaned["name"].lower() in seen:
            continue
        seen.add(cleaned["name"].lower())
        suggestions.append(cleaned)
        if len(suggestions) == MAX_SUGGESTIONS:
            break
    return suggestions
