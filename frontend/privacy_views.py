"""The participant's privacy page: download their data as JSON, or delete it after a confirmation."""

import json

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from frontend import session
from frontend.views import _participant_or_redirect, _round
from operations.privacy import participant_delete, participant_export


@require_GET
def privacy(request: HttpRequest, slug: str) -> HttpResponse:
    """What the round keeps about the participant, with the download link and the delete form."""
    round_ = _round(slug)
    participant, response = _participant_or_redirect(request, round_)
    if response:
        return response
    return render(
        request, "frontend/privacy.html", {"round": round_, "participant": participant, "errors": {}}
    )


@require_GET
def privacy_download(request: HttpRequest, slug: str) -> HttpResponse:
    """The participant's data as a JSON file."""
    round_ = _round(slug)
    participant, response = _participant_or_redirect(request, round_)
    if response:
        return response
    data = participant_export(participant=participant)
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=1), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{round_.slug}-my-data.json"'
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["POST"])
def privacy_delete(request: HttpRequest, slug: str) -> HttpResponse:
    """Delete the participant's data once they ticked the confirmation; the browser forgets them."""
    round_ = _round(slug)
    participant, response = _participant_or_redirect(request, round_)
    if response:
        return response
    if request.POST.get("confirm") != "yes":
        errors = {"confirm": [_("Tick the box to confirm that you want your data deleted.")]}
        return render(
            request,
            "frontend/privacy.html",
            {"round": round_, "participant": participant, "errors": errors},
            status=400,
        )
    participant_delete(participant=participant)
    remembered = dict(request.session.get(session.KEY, {}))
    remembered.pop(str(round_.pk), None)
    request.session[session.KEY] = remembered
    request.session.cycle_key()
    return render(request, "frontend/privacy_deleted.html", {"round": round_})
