"""Pages for participants, organizers and report readers: thin views over selectors and services."""
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from cards import services as card_services
from cards.models import CanonicalValue, CardMerge, ValuesCard
from cards.validation import POLICY_EXAMPLES
from deliberation import selectors, services
from deliberation.errors import DomainError
from deliberation.models import Context, Participant, Round, Stage
from deliberation.permissions import can, can_read_report, role_of
from frontend import session
from moral_graph import services as graph_services
from moral_graph.models import TransitionStory, WiserVote
from moral_graph.report import report_build

MAX_POLICY_FIELDS = 7


def _round(slug: str) -> Round:
    round_ = selectors.round_get(slug=slug)
    if round_ is None:
        raise Http404("No such round.")
    return round_


def _participant_or_redirect(request: HttpRequest, round_: Round):
    participant = session.current(request, round_)
    if participant is None:
        return None, render(request, "frontend/need_link.html", {"round": round_}, status=403)
    return participant, None


def _progress(round_: Round, participant: Participant) -> dict:
    cards = list(participant.cards.all())
    stories = graph_services.assignments_next(participant=participant) if round_.stage == Stage.VOTING else []
    voted = WiserVote.objects.filter(participant=participant).count()
    steps = [
        {"key": "question", "label": _("The question"), "done": True},
        {"key": "card", "label": _("Your value"), "done": bool(cards)},
        {"key": "confirm", "label": _("Is this your value?"), "done": bool(cards) and all(
            CardMerge.objects.filter(card=c, undone_at__isnull=True, confirmation__isnull=False).exists()
            or CardMerge.objects.filter(card=c, undone_at__isnull=True, origin=CardMerge.Origin.SPLIT).exists()
            for c in cards)},
        {"key": "vote", "label": _("Wiser votes"), "done": bool(stories) and voted >= len(stories)},
        {"key": "done", "label": _("Done"), "done": participant.finished_at is not None},
    ]
    return {"steps": steps, "cards": cards, "stories": stories, "voted": voted}


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "frontend/home.html", {"public_rounds": selectors.rounds_public()[:20]})


class LoginView(auth_views.LoginView):
    template_name = "frontend/login.html"


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("frontend:home")


def _join(request: HttpRequest, round_: Round, *, token: str = "", code: str = "") -> HttpResponse:
    existing = session.current(request, round_)
    if existing is not None:
        return redirect("frontend:round", slug=round_.slug)
    attributes = list(round_.attributes.all())
    errors: dict = {}
    if request.method == "POST":
        answers = {a.key: request.POST.get(f"attr_{a.key}", "") for a in attributes}
        try:
            participant = services.participant_join(
                round_=round_, consent=request.POST.get("consent") == "yes", attributes=answers,
                join_token=token, invite_code=code,
            )
        except ValidationError as exc:
            errors = exc.message_dict
        except DomainError as exc:
            return render(request, "frontend/error.html", {"round": round_, "message": exc.message}, status=exc.status)
        else:
            session.remember(request, participant)
            return redirect("frontend:round", slug=round_.slug)
    elif round_.stage not in (Stage.ARTICULATION, Stage.VOTING):
        return render(request, "frontend/error.html",
                      {"round": round_, "message": _("This round is not open for joining.")}, status=409)
    return render(request, "frontend/join.html", {"round": round_, "attributes": attributes, "errors": errors},
                  status=400 if errors else 200)


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    return _join(request, _round(slug), token=token)


@require_http_methods(["GET", "POST"])
def join_invite(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    return _join(request, _round(slug), code=code)


def resume(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    participant = selectors.participant_by_resume_token(token=token)
    if participant is None or participant.round.slug != slug:
        raise Http404("This resume link is not valid.")
    session.remember(request, participant)
    return redirect("frontend:round", slug=slug)


def participant_home(request: HttpRequest, slug: str) -> HttpResponse:
    round_ = _round(slug)
    participant, response = _participant_or_redirect(request, round_)
    if response:
        return response
    progress = _progress(round_, participant)
    if round_.stage in (Stage.ARTICULATION, Stage.VOTING) and not progress["cards"]:
        return redirect("frontend:card", slug=slug)
    unconfirmed = [
        c for c in progress["cards"]
        if CardMerge.objects.filter(card=c, undone_at__isnull=True, confirmation__isnull=True)
        .exclude(origin=CardMerge.Origin.SPLIT).exists()
    ]
    if unconfirmed:
        return redirect("frontend:confirm", slug=slug, card_id=unconfirmed[0].pk)
    if round_.stage == Stage.VOTING:
        if progress["stories"] and progress["voted"] < len(progress["stories"]):
            return redirect("frontend:vote", slug=slug)
        return redirect("frontend:done", slug=slug)
    if round_.stage in (Stage.CLOSED, Stage.PUBLISHED):
        return redirect("frontend:done", slug=slug)
    return render(request, "frontend/waiting.html", {"round": round_, "participant": participant, **progress})


@require_http_methods(["GET", "POST"])
def card_form(request: HttpRequest, slug: str) -> HttpResponse:
    round_ = _round(slug)
    participant, response = _participant_or_redirect(request, round_)
    if response:
        return response
    question = selectors.round_primary_question(round_)
    contexts = list(Context.objects.filter(question__round=round_).order_by("order", "id"))
    values = {"title": "", "description": "", "policies": [""] * 3, "context": ""}
    errors: dict = {}
    status = 200
    if request.method == "POST":
        policies = [request.POST.get(f"policy_{i}", "") for i in range(MAX_POLICY_FIELDS)]
        values = {
            "title": request.POST.get("title", ""),
            "description": request.POST.get("description", ""),
            "policies": [p for p in policies if p.strip()] or [""] * 3,
            "context": request.POST.get("context", ""),
        }
        try:
            card_services.card_submit(
                participant=participant, context_id=values["context"], title=values["title"],
                description=values["description"], policies=policies,
            )
        except ValidationError as exc:
            errors, status = exc.message_dict, 400
        except DomainError as exc:
            errors, status = {"non_field_errors": [exc.message]}, exc.status
        else:
            messages.success(request, _("Thank you: your values card is saved."))
            return redirect("frontend:round", slug=slug)
    policies = values["policies"] + [""] * (MAX_POLICY_FIELDS - len(values["policies"]))
    return render(
        request,
        "frontend/card_form.html",
        {"round": round_, "question": question, "contexts": contexts, "values": values,
         "policy_fields": list(enumerate(policies)), "errors": errors, "examples": POLICY_EXAMPLES,
         "progress": _progress(round_, participant), "open": round_.stage in card_services.CARD_STAGES},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def confirm_value(request: HttpRequest, slug: str, card_id: int) -> HttpResponse:
    round_ = _round(slug)
    participant, response = _participant_or_redirect(request, round_)
    if response:
        return response
    card = ValuesCard.objects.filter(pk=card_id, author=participant).first()
    if card is None:
        raise Http404("No such card of yours.")
    merge = CardMerge.objects.filter(card=card, undone_at__isnull=True).select_related("value").first()
    if request.method == "POST":
        try:
            card_services.merge_confirm(participant=participant, card=card, answer=request.POST.get("answer", ""))
        except ValidationError as exc:
            messages.error(request, "; ".join(m for ms in exc.message_dict.values() for m in ms))
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("frontend:round", slug=slug)
    return render(request, "frontend/confirm.html",
                  {"round": round_, "card": card, "merge": merge, "progress": _progress(round_, participant)})


@require_http_methods(["GET", "POST"])
def vote(request: HttpRequest, slug: str) -> HttpResponse:
    round_ = _round(slug)
    participant, response = _participant_or_redirect(request, round_)
    if response:
        return response
    if round_.stage != Stage.VOTING:
        return redirect("frontend:round", slug=slug)
    errors: dict = {}
    status = 200
    if request.method == "POST":
        try:
            graph_services.vote_cast(participant=participant, story_id=request.POST.get("story"),
                                     answer=request.POST.get("answer"), reason=request.POST.get("reason", ""))
        except ValidationError as exc:
            errors, status = exc.message_dict, 400
        except DomainError as exc:
            errors, status = {"non_field_errors": [exc.message]}, exc.status
        else:
            return redirect("frontend:vote", slug=slug)
    progress = _progress(round_, participant)
    voted_ids = set(WiserVote.objects.filter(participant=participant).values_list("story_id", flat=True))
    story = next((s for s in progress["stories"] if s.pk not in voted_ids), None)
    if story is None and status == 200:
        return redirect("frontend:done", slug=slug)
    return render(request, "frontend/vote.html",
                  {"round": round_, "story": story, "progress": progress, "errors": errors,
                   "position": len(voted_ids) + 1, "total": len(progress["stories"])}, status=status)


@require_http_methods(["GET", "POST"])
def done(request: HttpRequest, slug: str) -> HttpResponse:
    round_ = _round(slug)
    participant, response = _participant_or_redirect(request, round_)
    if response:
        return response
    errors: dict = {}
    if request.method == "POST":
        try:
            participant = services.participant_finish(
                participant=participant, represented=request.POST.get("represented"), fair=request.POST.get("fair")
            )
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            messages.success(request, _("Thank you for taking part."))
            return redirect("frontend:done", slug=slug)
    resume_url = request.build_absolute_uri(reverse("frontend:resume", args=[slug, participant.resume_token]))
    return render(request, "frontend/done.html",
                  {"round": round_, "participant": participant, "progress": _progress(round_, participant),
                   "resume_url": resume_url, "errors": errors, "scale": range(1, 6)},
                  status=400 if errors else 200)


def report(request: HttpRequest, slug: str) -> HttpResponse:
    round_ = _round(slug)
    if not can_read_report(request.user, round_, via_link=True):
        return render(request, "frontend/error.html",
                      {"round": round_, "message": _("This report is not published yet.")}, status=403)
    return render(request, "frontend/report.html", {"round": round_, "report": report_build(round_=round_)})


@login_required
def console(request: HttpRequest) -> HttpResponse:
    rounds = selectors.rounds_for_organizer(user=request.user)
    return render(request, "frontend/console.html", {"rounds": rounds})


@login_required
@require_http_methods(["GET", "POST"])
def console_round(request: HttpRequest, slug: str) -> HttpResponse:
    round_ = _round(slug)
    if not can(request.user, round_, "view_console"):
        return HttpResponseForbidden("Your account has no role in this round.")
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "stage":
                services.round_set_stage(round_=round_, actor=request.user, stage=request.POST.get("stage", ""))
            elif action == "rank":
                if not can(request.user, round_, "rank"):
                    raise DomainError("Your role does not allow ranking.")
                graph_services.ranking_compute(round_id=round_.pk)
            messages.success(request, _("Done."))
        except ValidationError as exc:
            messages.error(request, "; ".join(m for ms in exc.message_dict.values() for m in ms))
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("frontend:console-round", slug=slug)
    join_url = request.build_absolute_uri(reverse("frontend:join", args=[slug, round_.join_token]))
    stats = {
        "participants": round_.participants.count(),
        "finished": round_.participants.filter(finished_at__isnull=False).count(),
        "cards": ValuesCard.objects.filter(round=round_).count(),
        "values": CanonicalValue.objects.filter(round=round_, is_active=True).count(),
        "stories": TransitionStory.objects.filter(round=round_).count(),
        "votes": WiserVote.objects.filter(story__round=round_).count(),
    }
    jobs = round_.jobs.all()[:20]
    stories = TransitionStory.objects.filter(round=round_).annotate(n=Count("votes")).order_by("n")[:10]
    return render(request, "frontend/console_round.html",
                  {"round": round_, "stats": stats, "jobs": jobs, "join_url": join_url, "role": role_of(request.user, round_),
                   "stages": Stage.choices, "least_voted": stories})
