"""Similar values while a participant writes a card: suggestions as they type (htmx), and a step after submitting.

Readers of another language than the site's see the suggestions machine-translated like the confirm and vote pages
(`moral_graph.translation`): cached translations at once, the rest by a task while the originals are shown."""

import re

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from cards import selectors as card_selectors
from cards import services as card_services
from core.errors import DomainError
from frontend import session as page_session
from frontend.texts import reader_language
from frontend.translated import value_view
from frontend.views import MAX_POLICY_FIELDS, _error_dict, _own_card, _participant_or_redirect, _round
from moral_graph import translation as graph_translation

_TRANSLATION_KEY = re.compile(r"^[0-9a-f]{32}$")


def similar_for_card(card) -> list:
    """Values close to a submitted card, other than the one it is placed in."""
    own = card_selectors.value_of_card(card=card)
    return card_selectors.values_similar(
        round_id=card.round_id,
        title=card.title,
        description=card.description,
        policies=card.policies,
        exclude_ids=[own] if own else [],
    )


def _translated(round_id: int, similar: list) -> tuple[list[dict], graph_translation.ReadingTranslations]:
    """The suggestions as the reader reads them (translated when cached), and the state of their translation."""
    found = graph_translation.translations_request(round_id=round_id, language=reader_language(), values=similar)
    return [value_view(v, found) for v in similar], found


@require_POST
def similar_while_typing(request: HttpRequest, slug: str) -> HttpResponse:
    """The suggestions panel of the card form, for what is typed so far (htmx posts the form, debounced)."""
    round_ = _round(slug)
    participant = page_session.current(request, round_)
    if participant is None:
        return HttpResponse(status=403)
    dismissed = {int(v) for v in request.POST.getlist("dismissed") if v.isdigit()}
    if request.POST.get("dismiss", "").isdigit():
        dismissed.add(int(request.POST["dismiss"]))
    key = request.POST.get("translation_key")
    if key is not None:
        # The panel asks again while its suggestions are being translated: nothing to swap until the task is
        # done (204 keeps htmx polling), then the same suggestions, without comparing the text again.
        if not _TRANSLATION_KEY.match(key):
            return HttpResponseBadRequest("translation_key: not a translation key.")
        if graph_translation.translation_state(key=key) == "pending":
            return HttpResponse(status=204)
        shown_ids = [int(v) for v in request.POST.get("shown", "").split(",") if v.isdigit()]
        similar = card_selectors.values_active_by_ids(
            round_id=round_.pk, ids=[i for i in shown_ids if i not in dismissed][: card_selectors.SIMILAR_LIMIT]
        )
    else:
        similar = card_selectors.values_similar(
            round_id=round_.pk,
            title=request.POST.get("title", ""),
            description=request.POST.get("description", ""),
            policies=[request.POST.get(f"policy_{i}", "") for i in range(MAX_POLICY_FIELDS)],
            exclude_ids=dismissed,
        )
    shown, found = _translated(round_.pk, similar)
    return render(
        request,
        "frontend/_similar_values.html",
        {
            "round": round_,
            "similar": shown,
            "translation": found,
            "shown_ids": ",".join(str(v["id"]) for v in shown),
            "dismissed": sorted(dismissed),
            "form_id": "chat-card-form" if request.POST.get("form_id") == "chat-card-form" else "card-form",
        },
    )


@require_http_methods(["GET", "POST"])
def similar_after_submit(request: HttpRequest, slug: str, card_id: int) -> HttpResponse:
    """Without JavaScript, the step after submitting: "is one of these values yours?"."""
    round_ = _round(slug)
    participant, response = _participant_or_redirect(request, round_)
    if response:
        return response
    card = _own_card(participant, card_id)
    errors: dict = {}
    status = 200
    if request.method == "POST":
        if request.POST.get("action") == "mine":
            try:
                card_services.card_choose_value(participant=participant, card=card, value_id=request.POST.get("value"))
            except ValidationError as exc:
                errors, status = _error_dict(exc), 400
            except DomainError as exc:
                errors, status = {"non_field_errors": [exc.message]}, exc.status
            else:
                return redirect("frontend:round", slug=slug)
        else:
            return redirect("frontend:round", slug=slug)
    similar = similar_for_card(card)
    if not similar and not errors:
        return redirect("frontend:round", slug=slug)
    shown, found = _translated(round_.pk, similar)
    return render(
        request,
        "frontend/similar_step.html",
        {"round": round_, "card": card, "similar": shown, "translation": found, "errors": errors},
        status=status,
    )
