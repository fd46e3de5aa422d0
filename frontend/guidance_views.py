"""The "try it" page of a report: type a situation, see its context, the wisest values and the guidance block."""

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from core.errors import DomainError
from core.ratelimit import RateLimited, ratelimit_request
from core.text import clean_text
from deliberation import selectors
from deliberation.permissions import can_read_report
from frontend import session
from llm import gateway
from moral_graph.guidance_services import (
    SITUATION_MAX_LENGTH,
    assistant_answers,
    guidance_answer,
    guidance_available,
)

RATE_SCOPE = "guidance"


@require_http_methods(["GET", "POST"])
def guidance_try(request: HttpRequest, slug: str) -> HttpResponse:
    """Route a typed situation; with a model, also show an assistant's answer with and without the guidance."""
    round_ = selectors.round_get(slug=slug)
    if round_ is None:
        raise Http404("No such round.")
    if not can_read_report(request.user, round_, via_link=True):
        return render(
            request,
            "frontend/error.html",
            {"round": round_, "message": _("This report is not published yet.")},
            status=403,
        )
    if not guidance_available(round_=round_):
        return render(
            request,
            "frontend/error.html",
            {"round": round_, "message": _("Guidance is available once the results are published.")},
            status=409,
        )
    page = {
        "round": round_,
        "situation": "",
        "answer": None,
        "comparison": None,
        "errors": {},
        "model": gateway.model_available(round_.pk),
        "max_length": SITUATION_MAX_LENGTH,
    }
    status = 200
    if request.method == "POST":
        page["situation"] = request.POST.get("situation", "")[: SITUATION_MAX_LENGTH * 4]
        participant = session.current(request, round_)
        try:
            ratelimit_request(
                request, scope=RATE_SCOPE, participant_id=participant.pk if participant else None
            )
            text = clean_text(
                request.POST.get("situation"),
                field="situation",
                max_length=SITUATION_MAX_LENGTH,
                multiline=True,
            )
            page["answer"] = guidance_answer(round_=round_, situation=text)
        except ValidationError as exc:
            page["errors"] = exc.message_dict
            status = 400
        except RateLimited as exc:
            page["errors"] = {"situation": [exc.message]}
            response = render(request, "frontend/guidance.html", page, status=exc.status)
            response["Retry-After"] = str(exc.retry_after)
            return response
        except DomainError as exc:
            return render(
                request, "frontend/error.html", {"round": round_, "message": exc.message}, status=exc.status
            )
        if page["answer"] and page["answer"]["matched"] and page["model"]:
            page["comparison"] = assistant_answers(text, page["answer"]["guidance"], round_id=round_.pk)
    return render(request, "frontend/guidance.html", page, status=status)
