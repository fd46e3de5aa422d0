"""Similar values while a participant writes a card: suggestions as they type (htmx), and a step after submitting."""

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from cards import selectors as card_selectors
from cards import services as card_services
from core.errors import DomainError
from frontend import session as page_session
from frontend.views import MAX_POLICY_FIELDS, _error_dict, _own_card, _participant_or_redirect, _round


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
    similar = card_selectors.values_similar(
        round_id=round_.pk,
        title=request.POST.get("title", ""),
        description=request.POST.get("description", ""),
        policies=[request.POST.get(f"policy_{i}", "") for i in range(MAX_POLICY_FIELDS)],
        exclude_ids=dismissed,
    )
    return render(
        request,
        "frontend/_similar_values.html",
        {
            "round": round_,
            "similar": similar,
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
    return render(
        request,
        "frontend/similar_step.html",
        {"round": round_, "card": card, "similar": similar, "errors": errors},
        status=status,
    )
