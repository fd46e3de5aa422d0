"""The articulation chat page: plain form posts (a small script only adds a "thinking" notice), the card form always below."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from cards import articulation
from cards import selectors as card_selectors
from cards.selectors import MAX_POLICIES
from cards.services import CARD_STAGES
from core.errors import DomainError
from core.ratelimit import ratelimit_request
from deliberation import selectors
from frontend import session as page_session
from frontend.views import _error_dict, _round

if TYPE_CHECKING:
    from cards.models import ArticulationSession
    from deliberation.models import Round

RATE_SCOPE = "articulation"
MODEL_ACTIONS = ("send", "retry", "draft")


@require_http_methods(["GET", "POST"])
def chat(request: HttpRequest, slug: str) -> HttpResponse:
    """Talk a values card through with the assistant; the card form below it is the fallback at every step."""
    round_ = _round(slug)
    participant = page_session.current(request, round_)
    if participant is None:
        return render(request, "frontend/need_link.html", {"round": round_}, status=403)
    if round_.stage not in CARD_STAGES:
        return redirect("frontend:round", slug=slug)
    try:
        chat_session = articulation.articulation_start(participant=participant, guided_ok=True)
    except articulation.ArticulationUnavailable as exc:
        messages.info(request, exc.message)
        return redirect("frontend:card", slug=slug)
    if request.method == "GET":
        return _render(request, round_, chat_session)

    action = "confirm" if request.POST.get("same_as") else request.POST.get("action", "")
    typed = request.POST.get("message", "")
    try:
        if action in MODEL_ACTIONS:
            ratelimit_request(request, scope=RATE_SCOPE, participant_id=participant.pk)
        if action == "send":
            articulation.articulation_turn(session=chat_session, message=typed)
        elif action == "keep":
            articulation.guided_answer(session=chat_session, keep=True)
        elif action == "retry":
            articulation.articulation_turn(session=chat_session, message="")
        elif action == "draft":
            articulation.articulation_request_draft(session=chat_session)
        elif action == "restart":
            articulation.articulation_abandon(session=chat_session)
        elif action == "confirm":
            return _confirm(request, round_, chat_session)
        else:
            return _render(
                request, round_, chat_session, errors={"non_field_errors": [_("Unknown action.")]}, status=400
            )
    except ValidationError as exc:
        return _render(
            request, round_, _fresh(chat_session), errors=_error_dict(exc), typed=typed, status=400
        )
    except DomainError as exc:
        return _render(
            request,
            round_,
            _fresh(chat_session),
            errors={"non_field_errors": [exc.message]},
            typed=typed,
            status=exc.status,
        )
    return redirect(f"{request.path}#latest")


@require_http_methods(["GET"])
def chat_status(request: HttpRequest, slug: str) -> HttpResponse:
    """What the assistant is doing now (htmx polls it); once the reply or draft is written, the page reloads."""
    round_ = _round(slug)
    participant = page_session.current(request, round_)
    if participant is None:
        return HttpResponse(status=403)
    chat_session = card_selectors.articulation_session_open(participant=participant)
    if chat_session is None or not chat_session.pending or articulation.pending_stale(chat_session):
        response = HttpResponse("")
        response["HX-Refresh"] = "true"
        return response
    return render(request, "frontend/_chat_pending.html", {"round": round_, "chat": chat_session})


def _confirm(request: HttpRequest, round_: Round, chat_session: ArticulationSession) -> HttpResponse:
    policies = [request.POST.get(f"policy_{i}", "") for i in range(MAX_POLICIES)]
    chosen = request.POST.get("same_as", "")
    try:
        if chosen:
            card = articulation.articulation_choose_value(
                session=chat_session, value_id=chosen, context_id=request.POST.get("context", "")
            )
        else:
            card = articulation.articulation_confirm(
                session=chat_session,
                title=request.POST.get("title", ""),
                description=request.POST.get("description", ""),
                policies=policies,
                context_id=request.POST.get("context", ""),
            )
    except ValidationError as exc:
        return _render(request, round_, _fresh(chat_session), errors=_error_dict(exc), status=400)
    except DomainError as exc:
        return _render(
            request,
            round_,
            _fresh(chat_session),
            errors={"non_field_errors": [exc.message]},
            status=exc.status,
        )
    messages.success(request, _("Thank you: your values card is saved."))
    if not chosen and not request.POST.get("similar_seen"):
        return redirect("frontend:card-similar-step", slug=round_.slug, card_id=card.pk)
    return redirect("frontend:round", slug=round_.slug)


def _fresh(chat_session: ArticulationSession) -> ArticulationSession:
    chat_session.refresh_from_db()
    return chat_session


def _render(
    request: HttpRequest,
    round_: Round,
    chat_session: ArticulationSession,
    *,
    errors: dict | None = None,
    typed: str = "",
    status: int = 200,
) -> HttpResponse:
    errors = errors or {}
    draft = chat_session.draft or {}
    policies = [p for p in draft.get("policies", []) if isinstance(p, str)][:MAX_POLICIES]
    policies += [""] * (MAX_POLICIES - len(policies))
    context_id = draft.get("context_id") or chat_session.context_id
    problems = articulation.draft_problems(draft) if draft.get("origin") in ("model", "guided") else {}
    low, high = articulation.time_estimate(chat_session)
    guided = chat_session.mode == card_selectors.ArticulationMode.GUIDED
    step = articulation.guided_step(chat_session) if guided else ""
    left = (1 if step else 0) if guided else articulation.turns_left(chat_session)
    stale = articulation.pending_stale(chat_session)
    pending = bool(chat_session.pending) and not stale
    transcript = articulation.transcript(chat_session)
    awaiting = bool(transcript) and transcript[-1]["role"] == "user"
    return render(
        request,
        "frontend/articulation_chat.html",
        {
            "round": round_,
            "chat": chat_session,
            "transcript": transcript,
            "fault": articulation.fault_message(chat_session.fault),
            "awaiting_reply": awaiting and not pending and not guided,
            "pending": pending,
            "guided": guided,
            "guided_step": step,
            "guided_number": articulation.GUIDED_STEPS.index(step) + 1 if step else 0,
            "guided_total": len(articulation.GUIDED_STEPS),
            "coached": guided and articulation.guided_state(chat_session)["coached"],
            "errors": errors,
            "problems": problems,
            "typed": typed,
            "turns_left": left,
            "turn_cap": articulation.turn_cap(),
            "minutes_low": low,
            "minutes_high": high,
            "can_draft": chat_session.turns > 0 and not guided and not pending,
            "values": {
                "title": draft.get("title", ""),
                "description": draft.get("description", ""),
                "context": str(context_id or ""),
            },
            "policy_fields": [{"index": i, "number": i + 1, "value": v} for i, v in enumerate(policies)],
            "contexts": list(selectors.contexts_of_round(round_=round_)),
            "form_open": any(draft.get(k) for k in ("title", "description", "policies"))
            or bool(chat_session.fault)
            or left == 0
            or bool(errors),
        },
        status=status,
    )
