"""The report page for policy readers: a thin view over moral_graph.selectors.report."""

import hashlib
import logging
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from deliberation import selectors
from deliberation.permissions import can, can_read_report
from frontend.texts import attribute_labels, localized
from moral_graph import selectors as graph_selectors
from moral_graph.selectors.report import report_build, report_content_key, values_per_context_param

log = logging.getLogger(__name__)

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


# The page's rendered parts (docs/ranking.md, "Fast reads"): what each layout shows of the questions and contexts.
PAGE_PARTS = {
    "brief": {"summary": "frontend/_report_summary_contexts.html"},
    "full": {
        "summary": "frontend/_report_summary_contexts.html",
        "toc": "frontend/_report_toc.html",
        "contexts": "frontend/_report_contexts.html",
        "options": "frontend/_report_graph_options.html",
        "graphs": "frontend/_report_graphs.html",
    },
}
# A run's rendered parts stay this long; a new run, edit or translation is a new key, old keys expire.
PAGE_PARTS_SECONDS = 3600


def page_parts_key(*, round_, run_id: int, limit: int, layout: str, expand: bool, detail_url: str) -> str:
    """Everything the rendered parts depend on: the run, the values limit and the content fingerprint (story and
    value edits, the organizers' question and context texts and translations), the reader's language, the layout,
    whether the value lists open, the summary's link target and the group tables' labels (organizer-written, per
    language). Not whether the reader organizes the round: the parts are the same for everyone (an organizer's
    preview is another run, and its notice is in the header, rendered every time)."""
    labels = attribute_labels(selectors.round_attributes(round_=round_))
    varying = hashlib.sha256(repr((sorted(labels.items()), detail_url)).encode()).hexdigest()[:16]
    content = report_content_key(round_=round_, run_id=run_id, values_per_context=limit)
    return f"wiser:report-page:v1:{content}:{get_language()}:{layout}:{int(expand)}:{varying}"


def page_parts(
    *, round_, run, report_frame: dict[str, Any], limit: int | None, layout: str, expand: bool, detail_url: str
) -> dict[str, str]:
    """The page's rendered summary and detail (contexts, their values and stories, graphs) for `report_frame`'s
    run: from the cache, or rendered from the whole report and cached. `?values=all` is rendered every time."""
    key = None
    if limit is not None:
        key = page_parts_key(
            round_=round_, run_id=report_frame["ranking"]["runId"], limit=limit, layout=layout, expand=expand,
            detail_url=detail_url,
        )
        try:
            cached = cache.get(key)
        except Exception:
            cached = None
        if cached is not None:
            # Reviewed (docs/security.md): the HTML of our own templates, rendered with autoescape, then cached.
            return {name: mark_safe(html) for name, html in cached.items()}  # noqa: S308  # nosec B308 B703
    data = localized_report(report_build(round_=round_, values_per_context=limit, run=run), round_)
    context = {
        "round": round_,
        "report": data,
        "graph_data": graph_data(data) if layout == "full" else {},
        "expand": expand,
        "detail_url": detail_url,
    }
    parts = {name: render_to_string(template, context) for name, template in PAGE_PARTS[layout].items()}
    # A run published between the frame's read and this one: shown once, not cached under the frame's run.
    if key is not None and data["ranking"] and data["ranking"]["runId"] == report_frame["ranking"]["runId"]:
        try:
            cache.set(key, {name: str(html) for name, html in parts.items()}, timeout=PAGE_PARTS_SECONDS)
        except Exception:  # served uncached
            log.warning("report page of round %s not cached", round_.pk, exc_info=True)
    # Reviewed (docs/security.md): the HTML of our own templates, rendered with autoescape.
    return {name: mark_safe(html) for name, html in parts.items()}  # noqa: S308  # nosec B308 B703


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
    # The layout's parts with the questions are cached rendered: the frame around them (version notices, head
    # counts, participation, methodology) is read every time, without the questions.
    values = 1 if layout == "brief" else limit  # the brief shows the summary, whatever number of values is asked
    data = report_build(round_=round_, values_per_context=values, run=run, questions=False)
    detail_url = request.build_absolute_uri(full_url) if layout == "brief" else ""
    parts = {}
    if data["ranking"] is not None:
        parts = page_parts(
            round_=round_, run=run, report_frame=data, limit=values, layout=layout,
            expand="values" in request.GET, detail_url=detail_url,
        )
    if layout == "brief":
        return render(
            request,
            "frontend/report_brief.html",
            {"round": round_, "report": data, "parts": parts, "full_url": detail_url},
        )
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
            "parts": parts,
            "exports": exports,
            "brief_url": brief_url,
        },
    )
