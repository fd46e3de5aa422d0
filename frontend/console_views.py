"""The organizer console: create and edit rounds, stages, invitations, live dashboard, moderation, roles, audit."""

from __future__ import annotations

import csv
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from cards import selectors as card_selectors
from cards import services as card_services
from core.errors import DomainError
from deliberation import selectors, services
from deliberation.context_suggestions import MAX_SUGGESTIONS, contexts_suggest
from deliberation.permissions import can, role_of
from deliberation.selectors import STAGE_ORDER, ReportVisibility, RoleKind, Stage
from frontend import forms
from frontend.audit import audit_rows
from frontend.views import _error_dict, _round
from llm.gateway import model_available
from moral_graph import selectors as graph_selectors
from moral_graph import services as graph_services
from moral_graph.exports import ExportError
from moral_graph.ranking import METHODS
from moral_graph.selectors.dashboard import dashboard_figures, dashboard_jobs

if TYPE_CHECKING:
    from deliberation.models import Round

PAGE_SIZE = 50


def organizer_page(action: str = "view_console") -> Callable:
    """Sign-in required, then a role in the round that allows the action; the view receives the round."""

    def decorate(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, slug: str, *args, **kwargs) -> HttpResponse:
            round_ = _round(slug)
            if not can(request.user, round_, action):
                return render(
                    request,
                    "frontend/error.html",
                    {"round": round_, "message": _("Your role in this round does not allow this page.")},
                    status=403,
                )
            return view(request, round_, *args, **kwargs)

        return wrapped

    return decorate


def _act(request: HttpRequest, action: Callable[[], object], success: str) -> dict:
    """Run one service call; report success or the service's message; return field errors (empty on success)."""
    try:
        action()
    except ValidationError as exc:
        errors = _error_dict(exc)
        messages.error(request, " ".join(m for ms in errors.values() for m in ms))
        return errors
    except DomainError as exc:
        messages.error(request, exc.message)
        return {"non_field_errors": [exc.message]}
    messages.success(request, success)
    return {}


def _base(request: HttpRequest, round_: Round, section: str) -> dict:
    return {
        "round": round_,
        "role": role_of(request.user, round_),
        "section": section,
        "can_edit": can(request.user, round_, "edit_round"),
        "can_moderate": can(request.user, round_, "moderate"),
        "can_invite": can(request.user, round_, "invite"),
        "can_roles": can(request.user, round_, "manage_roles"),
    }


@login_required
def console(request: HttpRequest) -> HttpResponse:
    rounds = list(selectors.rounds_for_organizer(user=request.user))
    return render(
        request,
        "frontend/console.html",
        {
            "rounds": [r for r in rounds if r.archived_at is None],
            "archived": [r for r in rounds if r.archived_at is not None],
        },
    )


ROUND_TEXTS = ("title", "description", "consent_text")


def _round_text_labels() -> dict[str, str]:
    return {"title": _("Title"), "description": _("Description"), "consent_text": _("Consent text")}


def _form_context(values: dict, errors: dict, *, creating: bool, translations: dict) -> dict:
    return {
        "values": values,
        "errors": errors,
        "creating": creating,
        "visibilities": ReportVisibility.choices,
        "methods": METHODS,
        "translation_groups": forms.translation_rows(
            translations, _round_text_labels(), multiline=("description", "consent_text")
        ),
        "date_fields": [
            {
                "name": name,
                "label": label,
                "value": forms.date_value(values.get(name)),
                "invalid": name in errors,
            }
            for name, label in (
                ("articulation_opens_at", _("Articulation opens")),
                ("voting_opens_at", _("Voting opens")),
                ("closes_at", _("The round closes")),
            )
        ],
        "time_zone": settings.TIME_ZONE,
    }


DEFAULT_FORM = {
    "title": "",
    "slug": "",
    "description": "",
    "question": "",
    "contexts": "",
    "attributes": "",
    "consent_text": selectors.CONSENT_TEXT_DEFAULT,
    "stories_per_participant": "5",
    "min_votes_per_story": "5",
    "participant_cap": "",
    "token_budget": "",
    "report_visibility": ReportVisibility.UNLISTED,
    "ranking_method": "bt",
    "open_link_enabled": True,
    "report_live": False,
    "articulation_opens_at": "",
    "voting_opens_at": "",
    "closes_at": "",
}


@login_required
@require_http_methods(["GET", "POST"])
def round_new(request: HttpRequest) -> HttpResponse:
    """Create a round: its question, contexts typed in, optional attributes, dates, settings and translations."""
    values, errors, translations = dict(DEFAULT_FORM), {}, {}
    if request.method == "POST":
        values = {**{k: request.POST.get(k, "") for k in DEFAULT_FORM}, **forms.round_settings(request.POST)}
        translations = forms.translations_from_post(request.POST, ROUND_TEXTS)
        try:
            round_ = services.round_create(
                owner=request.user,
                title=values["title"],
                slug=values["slug"] or None,
                description=values["description"],
                question=values["question"],
                contexts=forms.parse_contexts(values["contexts"]),
                attributes=forms.parse_attributes(values["attributes"]),
                translations=translations,
                **forms.round_settings(request.POST),
            )
        except ValidationError as exc:
            errors = _error_dict(exc)
        else:
            messages.success(
                request, _("The round is created in draft. Open it for articulation when ready.")
            )
            return redirect("frontend:console-round", slug=round_.slug)
    return render(
        request,
        "frontend/console_round_form.html",
        _form_context(values, errors, creating=True, translations=translations),
        status=400 if errors else 200,
    )


@organizer_page("edit_round")
@require_http_methods(["GET", "POST"])
def round_edit(request: HttpRequest, round_: Round) -> HttpResponse:
    """Edit a round's title, description, consent text, dates, settings and their translations."""
    values = {
        "title": round_.title,
        "description": round_.description,
        "consent_text": round_.consent_text,
        "stories_per_participant": round_.stories_per_participant,
        "min_votes_per_story": round_.min_votes_per_story,
        "participant_cap": round_.participant_cap or "",
        "token_budget": round_.token_budget or "",
        "report_visibility": round_.report_visibility,
        "ranking_method": round_.ranking_method,
        "open_link_enabled": round_.open_link_enabled,
        "report_live": round_.report_live,
        "articulation_opens_at": round_.articulation_opens_at,
        "voting_opens_at": round_.voting_opens_at,
        "closes_at": round_.closes_at,
        "attributes": forms.attributes_text(selectors.round_attributes(round_=round_)),
    }
    translations = round_.translations or {}
    attributes = selectors.round_attributes(round_=round_)
    attribute_translations = None
    errors: dict = {}
    if request.method == "POST":
        translations = forms.translations_from_post(request.POST, ROUND_TEXTS)
        attribute_translations = forms.attribute_translations_from_post(request.POST, attributes)
        changes = {
            "title": request.POST.get("title", ""),
            "description": request.POST.get("description", ""),
            **forms.round_settings(request.POST),
        }
        values.update(changes)
        try:
            services.round_update(
                round_=round_,
                actor=request.user,
                translations=translations,
                attribute_translations=attribute_translations,
                **changes,
            )
        except ValidationError as exc:
            errors = _error_dict(exc)
        except DomainError as exc:
            errors = {"non_field_errors": [exc.message]}
        else:
            messages.success(request, _("The round is saved."))
            return redirect("frontend:console-round", slug=round_.slug)
    return render(
        request,
        "frontend/console_round_form.html",
        {
            **_base(request, round_, "edit"),
            **_form_context(values, errors, creating=False, translations=translations),
            "attribute_groups": forms.attribute_translation_rows(attributes, attribute_translations),
        },
        status=400 if errors else 200,
    )


CONTEXT_TEXTS = ("name", "description")


def _prefixed(errors: dict, prefix: str) -> dict:
    """Field errors renamed to a form's prefixed field names, so the summary links reach the right input."""
    return {key if key == "non_field_errors" else f"{prefix}{key}": value for key, value in errors.items()}


def _context_labels() -> dict[str, str]:
    return {"name": _("Name"), "description": _("Description")}


def _context_form(prefix: str, name: str, description: str, translations: dict) -> dict:
    return {
        "prefix": prefix,
        "name": name,
        "description": description,
        "translation_groups": forms.translation_rows(
            translations, _context_labels(), prefix=prefix, multiline=("description",)
        ),
    }


def _posted_context(request: HttpRequest, prefix: str) -> dict:
    return {
        "name": request.POST.get(f"{prefix}name", ""),
        "description": request.POST.get(f"{prefix}description", ""),
        "translations": forms.translations_from_post(request.POST, CONTEXT_TEXTS, prefix=prefix),
    }


def _save_suggestions(request: HttpRequest, round_: Round, question) -> tuple[list[dict], dict]:
    """Save the kept suggestions all together; on any refusal nothing is saved and the rows come back."""
    raw = request.POST.get("suggestion_count", "")
    rows = []
    for index in range(min(int(raw), MAX_SUGGESTIONS) if raw.isdigit() else 0):
        prefix = f"sug{index}_"
        rows.append(
            {
                "prefix": prefix,
                "keep": request.POST.get(f"{prefix}keep") == "on",
                "name": request.POST.get(f"{prefix}name", ""),
                "description": request.POST.get(f"{prefix}description", ""),
            }
        )
    kept = [row for row in rows if row["keep"]]
    if not kept:
        return rows, {"non_field_errors": [_("Tick at least one suggested context to add.")]}
    try:
        with transaction.atomic():
            for row in kept:
                try:
                    services.context_save(
                        actor=request.user,
                        question=question,
                        name=row["name"],
                        description=row["description"],
                    )
                except ValidationError as exc:
                    raise ValidationError(_prefixed(_error_dict(exc), row["prefix"])) from exc
    except ValidationError as exc:
        return rows, _error_dict(exc)
    except DomainError as exc:
        return rows, {"non_field_errors": [exc.message]}
    return [], {}


def _question_sections(request: HttpRequest, questions: list, posted: bool) -> list[dict]:
    """Each question with its contexts and an empty "add a context" row: as stored, or as just typed."""
    sections = []
    for question in questions:
        qp = f"q{question.pk}_"
        contexts_ = []
        for context in question.contexts.all():
            prefix = f"ctx{context.pk}_"
            source = _posted_context(request, prefix) if posted else {
                "name": context.name,
                "description": context.description,
                "translations": context.translations,
            }
            contexts_.append(
                {
                    "context": context,
                    **_context_form(prefix, source["name"], source["description"], source["translations"]),
                    "source": source,
                    "remove": posted and request.POST.get(f"{prefix}remove") == "on",
                }
            )
        new_prefix = f"new{question.pk}_"
        new = _posted_context(request, new_prefix) if posted else {"name": "", "description": "", "translations": {}}
        text = request.POST.get(f"{qp}text", "") if posted else question.text
        translations = (
            forms.translations_from_post(request.POST, ("text",), prefix=qp) if posted else question.translations
        )
        sections.append(
            {
                "question": question,
                "prefix": qp,
                "text": text,
                "translations": translations,
                "groups": forms.translation_rows(translations, {"text": _("Question")}, prefix=qp, multiline=("text",)),
                "contexts": contexts_,
                "new": {**_context_form(new_prefix, new["name"], new["description"], new["translations"]), **{
                    "source": new
                }},
            }
        )
    return sections


@organizer_page("edit_round")
@require_http_methods(["GET", "POST"])
def contexts(request: HttpRequest, round_: Round) -> HttpResponse:
    """The questions and their contexts with their translations, saved with one button; suggested contexts apart."""
    question = selectors.round_primary_question(round_)
    if question is None:
        raise Http404("This round has no question.")
    questions = list(selectors.round_questions(round_=round_))
    errors: dict = {}
    suggestions: list[dict] = []
    form = request.POST.get("form", "") if request.method == "POST" else ""
    new_question = {"prefix": "newq_", "text": "", "contexts_text": ""}
    if form == "suggest":
        try:
            suggestions = [
                {"prefix": f"sug{i}_", "keep": True, **s}
                for i, s in enumerate(contexts_suggest(round_=round_, actor=request.user))
            ]
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("frontend:console-contexts", slug=round_.slug)
        if not suggestions:
            messages.error(request, _("The model suggested nothing new. Try again, or type a context below."))
            return redirect("frontend:console-contexts", slug=round_.slug)
    elif form == "suggestions":
        suggestions, errors = _save_suggestions(request, round_, question)
        if not errors:
            messages.success(request, _("The contexts are added."))
            return redirect("frontend:console-contexts", slug=round_.slug)
    posted = request.method == "POST" and form == "all"
    sections = _question_sections(request, questions, posted)
    if posted:
        new_question = {
            "prefix": "newq_",
            "text": request.POST.get("newq_text", ""),
            "contexts_text": request.POST.get("newq_contexts", ""),
        }
        errors = _act(
            request,
            lambda: services.round_texts_save(
                actor=request.user,
                round_=round_,
                questions=[
                    {
                        "question": section["question"],
                        "prefix": section["prefix"],
                        "text": section["text"],
                        "translations": section["translations"],
                        "contexts": [
                            {
                                "context": c["context"],
                                "prefix": c["prefix"],
                                "remove": c["remove"],
                                **c["source"],
                            }
                            for c in section["contexts"]
                        ],
                        "new": {"prefix": section["new"]["prefix"], **section["new"]["source"]},
                    }
                    for section in sections
                ],
                new_question={
                    "prefix": "newq_",
                    "text": new_question["text"],
                    "contexts": forms.parse_contexts(new_question["contexts_text"]),
                },
            ),
            _("Everything on this page is saved."),
        )
        if not errors:
            return redirect("frontend:console-contexts", slug=round_.slug)
    return render(
        request,
        "frontend/console_contexts.html",
        {
            **_base(request, round_, "contexts"),
            "sections": sections,
            "new_question": new_question,
            "can_add_question": round_.stage in ("draft", "articulation"),
            "suggestions": suggestions,
            "model_available": model_available(round_.pk),
            "errors": errors,
        },
        status=400 if errors else 200,
    )


def _stage_steps(round_: Round) -> dict:
    index = STAGE_ORDER.index(Stage(round_.stage))
    forward = STAGE_ORDER[index + 1] if index + 1 < len(STAGE_ORDER) else None
    back = STAGE_ORDER[index - 1] if index > 0 else None
    labels = {
        Stage.ARTICULATION: _("Open articulation (participants write cards)"),
        Stage.VOTING: _("Open voting (stories are written, participants vote)"),
        Stage.CLOSED: _("Close the round (a final ranking is computed)"),
        Stage.PUBLISHED: _("Publish the report"),
    }
    return {
        "forward": forward,
        "forward_label": labels.get(forward, ""),
        "back": back,
        "back_label": Stage(back).label if back else "",
        "order": [
            {"value": s.value, "label": s.label, "done": i < index, "current": i == index}
            for i, s in enumerate(STAGE_ORDER)
        ],
    }


@organizer_page()
@require_http_methods(["GET", "POST"])
def console_round(request: HttpRequest, round_: Round) -> HttpResponse:
    """The round's dashboard: stage controls, ranking, live figures and jobs."""
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "stage":
            _act(
                request,
                lambda: services.round_set_stage(
                    round_=round_, actor=request.user, stage=request.POST.get("stage", "")
                ),
                _("The stage is changed."),
            )
        elif action == "rank":
            _act(
                request,
                lambda: graph_services.ranking_request(actor=request.user, round_=round_, now=True),
                _("The ranking is computed.")
                if round_.stage != Stage.PUBLISHED
                else _("The ranking is computed. Readers still see the published result until you publish this run."),
            )
        elif action == "publish_run":
            _act(
                request,
                lambda: graph_services.ranking_release(
                    actor=request.user,
                    round_=round_,
                    run_id=request.POST.get("run"),
                    reason=request.POST.get("reason", ""),
                ),
                _("This run is now the published result; the report says it was revised, when and why."),
            )
        elif action in ("archive", "unarchive"):
            _act(
                request,
                lambda: services.round_archive(round_=round_, actor=request.user, archived=action == "archive"),
                _("The round is archived.") if action == "archive" else _("The round is out of the archive."),
            )
        elif action == "delete":
            errors = _act(
                request,
                lambda: services.round_delete(
                    round_=round_, actor=request.user, confirm=request.POST.get("confirm", "").strip()
                ),
                _("The round “%(title)s” is deleted.") % {"title": round_.title},
            )
            if not errors:
                return redirect("frontend:console")
        return redirect("frontend:console-round", slug=round_.slug)
    round_.refresh_from_db()
    return render(
        request,
        "frontend/console_round.html",
        {
            **_base(request, round_, "dashboard"),
            **_live_context(round_),
            "steps": _stage_steps(round_),
            "versions": graph_selectors.ranking_versions(round_=round_),
            "join_url": request.build_absolute_uri(
                reverse("frontend:join", args=[round_.slug, round_.join_token])
            ),
        },
    )


def _live_context(round_: Round) -> dict:
    return {"figures": dashboard_figures(round_), "jobs": dashboard_jobs(round_), "round": round_}


@organizer_page()
@require_GET
def console_live(request: HttpRequest, round_: Round) -> HttpResponse:
    """The dashboard's live part, polled by htmx."""
    return render(request, "frontend/_dashboard_live.html", _live_context(round_))


@organizer_page("invite")
@require_http_methods(["GET", "POST"])
def invitations(request: HttpRequest, round_: Round) -> HttpResponse:
    """The open link (on or off) and batches of one-time codes."""
    errors: dict = {}
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "codes":
            raw = request.POST.get("count", "")
            count = int(raw) if raw.strip().isdigit() else raw
            errors = _act(
                request,
                lambda: services.invitations_create(round_=round_, actor=request.user, count=count),
                _("The codes are ready: download them as CSV."),
            )
        elif action == "open_link":
            enabled = request.POST.get("enabled") == "on"
            _act(
                request,
                lambda: services.round_update(round_=round_, actor=request.user, open_link_enabled=enabled),
                _("The open link is on.") if enabled else _("The open link is off."),
            )
        if not errors:
            return redirect("frontend:console-invitations", slug=round_.slug)
    round_.refresh_from_db()
    counts = selectors.invitation_counts(round_=round_)
    return render(
        request,
        "frontend/console_invitations.html",
        {
            **_base(request, round_, "invitations"),
            "errors": errors,
            "counts": counts,
            "join_url": request.build_absolute_uri(
                reverse("frontend:join", args=[round_.slug, round_.join_token])
            ),
        },
        status=400 if errors else 200,
    )


@organizer_page("invite")
@require_GET
def invitations_csv(request: HttpRequest, round_: Round) -> HttpResponse:
    """Every one-time code of the round with its personal link, as CSV."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{round_.slug}-invitations.csv"'
    writer = csv.writer(response)
    writer.writerow(["code", "link", "used_at", "created_at"])
    for invitation in round_.invitations.order_by("id"):
        link = request.build_absolute_uri(
            reverse("frontend:join-invite", args=[round_.slug, invitation.code])
        )
        writer.writerow(
            [
                invitation.code,
                link,
                invitation.used_at.isoformat() if invitation.used_at else "",
                invitation.created_at.isoformat(),
            ]
        )
    return response


def _moderation_post(request: HttpRequest, round_: Round) -> dict:
    action = request.POST.get("action", "")
    user = request.user
    cards = card_selectors.cards_of_round(round_=round_)
    values = card_selectors.values_of_round(round_=round_)
    stories = graph_selectors.stories_of_round(round_=round_)

    def one(queryset, key):
        obj = queryset.filter(
            pk=request.POST.get(key) if str(request.POST.get(key, "")).isdigit() else None
        ).first()
        if obj is None:
            raise ValidationError({key: _("Choose an item of this round.")})
        return obj

    reason = request.POST.get("reason", "")
    handlers = {
        "card_hide": (
            lambda: card_services.card_hide(actor=user, card=one(cards, "card"), reason=reason),
            _("The card is hidden; its author sees your reason."),
        ),
        "card_show": (
            lambda: card_services.card_hide(actor=user, card=one(cards, "card"), reason="", hidden=False),
            _("The card is shown again."),
        ),
        "card_reassign": (
            lambda: card_services.card_reassign(
                actor=user,
                card=one(cards, "card"),
                target=None if request.POST.get("target") == "new" else one(values, "target"),
            ),
            _("The card is moved."),
        ),
        "card_review_keep": (
            lambda: card_services.card_review_keep(actor=user, card=one(cards, "card")),
            _("The card keeps a value of its own."),
        ),
        "value_merge": (
            lambda: card_services.value_merge(
                actor=user, source=one(values, "value"), target=one(values, "target")
            ),
            _("The values are merged."),
        ),
        "story_hide": (
            lambda: graph_services.story_hide(actor=user, story=one(stories, "story"), reason=reason),
            _("The story is hidden from voting."),
        ),
        "story_show": (
            lambda: graph_services.story_hide(
                actor=user, story=one(stories, "story"), reason="", hidden=False
            ),
            _("The story is shown again."),
        ),
        "story_write": (
            lambda: graph_services.story_write(
                actor=user,
                context=one(selectors.contexts_of_round(round_=round_), "context"),
                from_value_id=one(values, "from_value").pk,
                to_value_id=one(values, "to_value").pk,
                text=request.POST.get("text", ""),
            ),
            _("The story is saved."),
        ),
    }
    if action not in handlers:
        return {"non_field_errors": [_("Unknown action.")]}
    call, success = handlers[action]
    return _act(request, call, success)


@organizer_page()
@require_http_methods(["GET", "POST"])
def moderation(request: HttpRequest, round_: Round) -> HttpResponse:
    """Cards, canonical values and stories: hide with a reason, merge, split, reassign, write or edit stories."""
    tab = request.GET.get("tab") or request.POST.get("tab") or "cards"
    errors: dict = {}
    posted = request.POST if request.method == "POST" else {}
    if request.method == "POST":
        errors = _moderation_post(request, round_)
        if not errors:
            return redirect(
                f"{reverse('frontend:console-moderation', args=[round_.slug])}?tab={tab}"
                f"&page={request.POST.get('page', 1)}"
            )
    active_values = card_selectors.values_active(round_=round_)
    context = {
        **_base(request, round_, "moderation"),
        "tab": tab,
        "errors": errors,
        "posted": posted,
        "active_values": active_values,
        "contexts": list(selectors.contexts_of_round(round_=round_)),
    }
    if tab == "values":
        queryset = card_selectors.values_for_moderation(round_=round_)
    elif tab == "stories":
        queryset = graph_selectors.stories_for_moderation(round_=round_)
    else:
        tab = context["tab"] = "cards"
        context["review_only"] = request.GET.get("review") == "1"
        queryset, context["in_review"] = card_selectors.cards_for_moderation(
            round_=round_, review_only=context["review_only"]
        )
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page") or request.POST.get("page"))
    context["page"] = page
    if tab == "cards":
        context["review_targets"] = card_selectors.review_targets(round_id=round_.pk, cards=page.object_list)
    return render(request, "frontend/console_moderation.html", context, status=400 if errors else 200)


@organizer_page()
@require_http_methods(["GET", "POST"])
def roles(request: HttpRequest, round_: Round) -> HttpResponse:
    """Who holds which role; owners grant roles by username and remove them (never the last owner)."""
    errors: dict = {}
    posted = {"username": "", "role": RoleKind.VIEWER}
    if request.method == "POST" and request.POST.get("action") == "revoke":
        raw = request.POST.get("user", "")

        def revoke():
            user = selectors.user_by_id(raw)
            if user is None:
                raise ValidationError({"user": _("Choose someone who holds a role in this round.")})
            services.role_revoke(round_=round_, actor=request.user, user=user)

        _act(request, revoke, _("The role is removed."))
        return redirect("frontend:console-roles", slug=round_.slug)
    if request.method == "POST":
        posted = {"username": request.POST.get("username", "").strip(), "role": request.POST.get("role", "")}

        def grant():
            user = selectors.user_by_username(posted["username"])
            if user is None:
                raise ValidationError({"username": _("No account has this username.")})
            services.role_grant(round_=round_, actor=request.user, user=user, role=posted["role"])

        errors = _act(request, grant, _("The role is granted."))
        if not errors:
            return redirect("frontend:console-roles", slug=round_.slug)
    holders = selectors.role_holders(round_=round_)
    return render(
        request,
        "frontend/console_roles.html",
        {
            **_base(request, round_, "roles"),
            "holders": holders,
            "errors": errors,
            "posted": posted,
            "role_choices": RoleKind.choices,
        },
        status=400 if errors else 200,
    )


@organizer_page()
@require_GET
def audit(request: HttpRequest, round_: Round) -> HttpResponse:
    """Every organizer action in the round, newest first."""
    page = Paginator(selectors.audit_events(round_=round_), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "frontend/console_audit.html",
        {**_base(request, round_, "audit"), "page": page, "rows": audit_rows(round_, page.object_list)},
    )


VERIFY_SHOWN_LINES = 20


@organizer_page()
@require_http_methods(["GET", "POST"])
def verify_export(request: HttpRequest, round_: Round) -> HttpResponse:
    """Upload a JSON export and recompute it from its own votes: MATCH, or MISMATCH with the first differences."""
    errors: dict = {}
    result = None
    if request.method == "POST":
        upload = request.FILES.get("export")
        limit = settings.WISER_VERIFY_MAX_BYTES
        if upload is None:
            errors = {"export": [_("Choose the JSON export file to verify.")]}
        elif upload.size > limit:
            errors = {"export": [_("The file is larger than %(mb)s MB.") % {"mb": limit // (1024 * 1024)}]}
        else:
            try:
                report = graph_selectors.export_verification(content=upload.read(), name=upload.name)
            except ExportError as exc:
                errors = {"export": [str(exc)]}
            else:
                mismatches = [line for line in report.lines if line.startswith("MISMATCH")]
                result = {
                    "name": upload.name,
                    "match": report.mismatches == 0,
                    "mismatches": report.mismatches,
                    "values_checked": report.values_checked,
                    "edges_checked": report.edges_checked,
                    "first": mismatches[:VERIFY_SHOWN_LINES],
                }
    return render(
        request,
        "frontend/console_verify.html",
        {**_base(request, round_, "verify"), "errors": errors, "result": result},
        status=400 if errors else 200,
    )
