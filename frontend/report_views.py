"""The report page for policy readers: a thin view over moral_graph.selectors.report."""

from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from deliberation import selectors
from deliberation.permissions import can, can_read_report
from frontend.texts import attribute_labels, localized
from moral_graph import selectors as graph_selectors
from moral_graph.selectors.report import report_build, report_content_key, values_per_context_param

EXPORT_KINDS = ("json", "csv", "graphml")
# `?layout=`: the whole report (default) or the brief, its summary laid out for at most two printed A4 pages.
LAYOUTS = ("full", "brief")


def graph_data(report: dict[str, Any]) -> dict[str, Any]:
    """What the page's graph script needs per context: its values' cards and its edges with their stories."""
    contexts = {}
    for question in report["questions"]:
        for context in question["contexts"]:
            contexts[str(context["id"])] = {
                "name": context["name"],
                "values": {
                    str(v["valueId"]): {
                        "title": v["title"],
                        "description": v["description"],
                        "policies": v["policies"],
                        "rank": v["rank"],
                        "rankInterval": v["rankInterval"],
                        "score": v["score"],
                        "scoreInterval": v["scoreInterval"],
                        "pTop": v["pTop"],
                    }
                    for v in context["values"]
                },
                "edges": context["graph"]["edges"],
            }
    return contexts


def with_round_texts(report: dict[str, Any], *, questions, contexts) -> dict[str, Any]:
    """The report's questions and context names in the reader's language (the organizer's translations)."""
    question_of = {q.pk: q for q in questions}
    context_of = {c.pk: c for c in contexts}
    summary = (report.get("summary") or {}).get("questions") or []
    for question in [*report["questions"], *summary]:
        if question.get("id") in question_of:
            question["text"] = localized(question_of[question["id"]], "text")
        for context in question["contexts"]:
            if context.get("id") in context_of:
                context["name"] = localized(context_of[context["id"]], "name")
    return report


def localized_report(report: dict[str, Any], round_) -> dict[str, Any]:
    """The report in the reader's language: questions, contexts and the group tables' labels."""
    report = with_group_labels(report, attribute_labels(selectors.round_attributes(round_=round_)))
    return with_round_texts(
        report, questions=selectors.round_questions(round_=round_), contexts=selectors.contexts_of_round(round_=round_)
    )


def with_group_labels(report: dict[str, Any], labels: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The report with each endorsement table named by the organizer's label and answers (in the reader's
    language) instead of the stored keys ("age_band", "18-29")."""
    for question in report["questions"]:
        for context in question["contexts"]:
            summary = []
            for item in context.get("bridgingSummary") or []:
                names = labels.get(item["attribute"], {})
                shown = names.get("choices", {})
                groups = [{**g, "label": shown.get(g["name"], g["name"])} for g in item["groups"]]
                summary.append({**item, "label": names.get("label", item["attribute"]), "groups": groups})
            context["bridgingSummary"] = summary
    return report


def report(request: HttpRequest, slug: str) -> HttpResponse:
    """The ranked values of each context, the moral graph, participation, methodology and downloads."""
    round_ = selectors.round_get(slug=slug[:64])
    if round_ is None:
        raise Http404("No such round.")
    if not can_read_report(request.user, round_, via_link=True):
        return render(
            request,
            "frontend/error.html",
            {"round": round_, "message": _("This report is not published yet.")},
            status=403,
        )
    layout = request.GET.get("layout") or "full"
    if layout not in LAYOUTS:
        message = _("The layout is either 'full' or 'brief'.")
        return render(request, "frontend/error.html", {"round": round_, "message": message}, status=400)
    try:
        limit = values_per_context_param(request.GET.get("values"))
    except ValidationError as exc:
        message = " ".join(exc.message_dict["values"])
        return render(request, "frontend/error.html", {"round": round_, "message": message}, status=400)
    run = None
    if request.GET.get("run"):
        run = graph_selectors.run_for_reader(
            round_=round_, run_id=request.GET["run"], organizer=can(request.user, round_, "view_report")
        )
        if run is None:
            message = _("There is no such version of this report for you to read.")
            return render(request, "frontend/error.html", {"round": round_, "message": message}, status=404)
    query = f"?run={run.pk}" if run is not None else ""
    full_url = reverse("frontend:report", kwargs={"slug": round_.slug}) + query
    brief_url = full_url + ("&" if query else "?") + "layout=brief"
    if layout == "brief":
        # The brief shows the summary only, which does not depend on how many values are detailed.
        data = localized_report(report_build(round_=round_, values_per_context=1, run=run), round_)
        return render(
            request,
            "frontend/report_brief.html",
            {"round": round_, "report": data, "full_url": request.build_absolute_uri(full_url)},
        )
    data = localized_report(report_build(round_=round_, values_per_context=limit, run=run), round_)
    exports = []
    if data["ranking"] is not None:
        exports = [
            {"kind": kind, "url": reverse("api:round-export", kwargs={"slug": round_.slug, "kind": kind}) + query}
            for kind in EXPORT_KINDS
        ]
    return render(
        request,
        "frontend/report.html",
        {
            "round": round_,
            "report": data,
            "graph_data": graph_data(data),
            "exports": exports,
            "brief_url": brief_url,
            "detail_url": "",
            # A reader who asked for a number of values wants to see them: their lists open.
            "expand": "values" in request.GET,
            # The rendered graphs (most of the page's rendering at a million votes) are cached under this key.
            "report_content_key": report_content_key(
                round_=round_, run_id=data["ranking"]["runId"] if data["ranking"] else None, values_per_context=limit
            ),
        },
    )
