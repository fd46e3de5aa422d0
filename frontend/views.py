"""Pages for participants and report readers, plus sign-in and sign-up: thin views over selectors and services."""

from __future__ import annotations

import re
from math import ceil
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse, reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from cards import selectors as card_selectors
from cards import services as card_services
from cards.coaching import HINTS as COACHING_HINTS
from cards.validation import FILLER_WORDS, POLICY_EXAMPLES
from core.errors import DomainError
from deliberation import selectors, services
from deliberation.selectors import Stage
from frontend import forms, session
from frontend.texts import reader_language
from frontend.translated import story_view, value_view
from llm.gateway import model_available
from moral_graph import selectors as graph_selectors
from moral_graph import services as graph_services
from moral_graph import translation as graph_translation

if TYPE_CHECKING:  # types only: pages read through selectors and write through services
    from cards.models import ValuesCard
    from deliberation.models import Participant, Round

MAX_POLICY_FIELDS = 7
VISIBLE_POLICY_FIELDS = 4
# An honest estimate: writing a card takes most people about eight minutes, each story about one.
CARD_MINUTES = 8
STORY_MINUTES = 1


def _round(slug: str) -> Round:
    round_ = selectors.round_get(slug=slug)
    if round_ is None:
        raise Http404("No such round.")
    return selectors.round_as_scheduled(round_)  # a pure read: the stage its dates call for


def _participant_or_redirect(request: HttpRequest, round_: Round):
    participant = session.current(request, round_)
    if participant is None:
        return None, _need_link(request, round_, status=403)
    return participant, None


def _need_link(request: HttpRequest, round_: Round, *, code: str = "", error: str = "", status: int = 200):
    """The page for someone without a link: what the round is, that it needs an invitation, a code field."""
    return render(
        request,
        "frontend/need_link.html",
        {"round": round_, "code": code, "errors": {"code": [error]} if error else {}},
        status=status,
    )


def _invite_refusal(round_: Round, code: str) -> tuple[str, int] | None:
    """Why a one-time code cannot be used (message and HTTP status), or None when it can."""
    state = selectors.invitation_state(round_=round_, code=code)
    if state == "unknown":
        return _("This invite code is not valid for this round. Check it and type it again."), 404
    if state == "used":
        return (
            _(
                "This invite code has already been used. If it was you, open your personal resume link; "
                "otherwise ask the organizer for a new code."
            ),
            409,
        )
    return None


def _error_dict(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return exc.message_dict
    return {"non_field_errors": exc.messages}


def _progress(round_: Round, participant: Participant, *, assign: bool = False) -> dict:
    """Where the participant stands. Only the vote page passes assign=True: it gives stories on purpose (a write,
    assignments_take) when it shows the next one; every other page only reads the stories already assigned."""
    cards = card_selectors.cards_of_author(participant=participant)
    if round_.stage != Stage.VOTING:
        stories = []
    elif assign:
        stories = graph_services.assignments_take(participant=participant)
    else:
        stories = graph_selectors.assignments_of(participant=participant)
    voted = len(graph_selectors.voted_story_ids(participant=participant))
    steps = [
        {"key": "question", "label": _("The question"), "done": True},
        {"key": "card", "label": _("Your value"), "done": bool(cards)},
        {
            "key": "confirm",
            "label": _("Is this your value?"),
            "done": bool(cards) and all(card_selectors.card_confirmed(card=card) for card in cards),
        },
        {"key": "vote", "label": _("Wiser votes"), "done": bool(stories) and voted >= len(stories)},
        {"key": "done", "label": _("Done"), "done": participant.finished_at is not None},
    ]
    hidden = [c for c in cards if c.status == card_selectors.CardStatus.HIDDEN]
    return {"steps": steps, "cards": cards, "hidden_cards": hidden, "stories": stories, "voted": voted}


def _minutes(round_: Round) -> int:
    return CARD_MINUTES + ceil(round_.stories_per_participant * STORY_MINUTES)


def _results_visible(round_: Round) -> bool:
    return round_.stage == Stage.PUBLISHED or (round_.report_live and round_.stage != Stage.DRAFT)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "frontend/home.html", {"public_rounds": selectors.rounds_public()[:20]})


class LoginForm(AuthenticationForm):
    """Django's sign-in form, enforcing the username's length (Django only sets the input's maxlength)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["username"]
        field.validators.append(MaxLengthValidator(field.max_length))


class LoginView(auth_views.LoginView):
    template_name = "frontend/login.html"
    form_class = LoginForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.has_error("username") or form.has_error("password"):
            response.status_code = 400  # malformed input, not merely a wrong password
        return response

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "signup_allowed": _signup_allowed()}


class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset with the console's templates; the mail goes through settings.EMAIL_BACKEND."""

    template_name = "frontend/password_reset_form.html"
    email_template_name = "frontend/password_reset_email.txt"
    subject_template_name = "frontend/password_reset_subject.txt"
    success_url = reverse_lazy("frontend:password-reset-done")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "frontend/password_reset_confirm.html"
    success_url = reverse_lazy("frontend:password-reset-complete")


def lockout(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' lockout page (AXES_LOCKOUT_CALLABLE): the sign-in form with a plain explanation."""
    return render(
        request, "frontend/login.html", {"locked_out": True, "signup_allowed": _signup_allowed()}, status=429
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("frontend:home")


def _signup_allowed() -> bool:
    return bool(getattr(settings, "WISER_ALLOW_SIGNUP", False))


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Create an organizer account (only when WISER_ALLOW_SIGNUP is on); the new organizer is signed in."""
    if not _signup_allowed():
        return render(
            request,
            "frontend/error.html",
            {"message": _("Sign-up is closed on this server. Ask its administrator for an account.")},
            status=403,
        )
    form = forms.SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Your organizer account is ready. Create your first round."))
        return redirect("frontend:console")
    return render(request, "frontend/signup.html", {"form": form}, status=400 if form.errors else 200)


def _join(request: HttpRequest, round_: Round, *, token: str = "", code: str = "") -> HttpResponse:
    existing = session.current(request, round_)
    if existing is not None:
        return redirect("frontend:round", slug=round_.slug)
    if code and round_.stage in (Stage.ARTICULATION, Stage.VOTING):
        refusal = _invite_refusal(round_, code)
        if refusal is not None:
            return _need_link(request, round_, code=code, error=refusal[0], status=refusal[1])
    attributes = selectors.round_attributes(round_=round_)
    errors: dict = {}
    answers = {a.key: "" for a in attributes}
    consent = False
    if request.method == "POST":
        answers = {a.key: request.POST.get(f"attr_{a.key}", "") for a in attributes}
        consent = request.POST.get("consent") == "yes"
        try:
            participant = services.participant_join(
                round_=round_,
                consent=consent,
                attributes=answers,
                join_token=token,
                invite_code=code,
            )
        except ValidationError as exc:
            errors = _error_dict(exc)
        except DomainError as exc:
            return render(
                request, "frontend/error.html", {"round": round_, "message": exc.message}, status=exc.status
            )
        else:
            session.remember(request, participant)
            return redirect("frontend:round", slug=round_.slug)
    elif round_.stage not in (Stage.ARTICULATION, Stage.VOTING):
        return render(
            request,
            "frontend/error.html",
            {"round": round_, "message": _("This round is not open for joining.")},
            status=409,
        )
    fields = [{"attribute": a, "value": answers.get(a.key, "")} for a in attributes]
    return render(
        request,
        "frontend/join.html",
        {
            "round": round_,
            "fields": fields,
            "errors": errors,
            "consent": consent,
            "minutes": _minutes(round_),
        },
        status=400 if errors else 200,
    )


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    return _join(request, _round(slug), token=token)


@require_http_methods(["GET", "POST"])
def join_invite(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    return _join(request, _round(slug), code=code)


@require_POST
def invite_code_entry(request: HttpRequest, slug: str) -> HttpResponse:
    """A typed invite code leads to that code's join page."""
    round_ = _round(slug)
    code = request.POST.get("code", "").strip()
    if not code or len(code) > 64:
        return _need_link(request, round_, code=code[:64], error=_("Type the invite code you were given."), status=400)
    refusal = _invite_refusal(round_, code)
    if refusal is not None:
        return _need_link(request, round_, code=code, error=refusal[0], status=refusal[1])
    return redirect("frontend:join-invite", slug=round_.slug, code=code)


def resume(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    participant = selectors.participant_by_resume_token(token=token)
    if participant is None or participant.round.slug != slug:
        raise Http404("This resume link is not valid.")
    session.remember(request, participant)
    return redirect("frontend:round", slug=slug)


def participant_home(request: HttpRequest, slug: str) -> HttpResponse:
    round_ = _round(slug)
    participant = session.current(request, round_)
    if participant is None:
        return _need_link(request, round_)
    progress = _progress(round_, participant)
    if round_.stage in card_services.CARD_STAGES and not progress["cards"]:
        return redirect("frontend:card", slug=slug)
    unconfirmed = card_selectors.cards_unconfirmed(cards=progress["cards"])
    if unconfirmed:
        return redirect("frontend:confirm", slug=slug, card_id=unconfirmed[0].pk)
    if round_.stage == Stage.VOTING:
        # The vote page gives the stories (and tops them up when new ones appear); with none left it sends the
        # participant on to the done page.
        return redirect("frontend:vote", slug=slug)
    if round_.stage in (Stage.CLOSED, Stage.PUBLISHED):
        return redirect("frontend:done", slug=slug)
    return render(
        request,
        "frontend/waiting.html",
        {
            "round": round_,
            "participant": participant,
            "progress": progress,
            "pending": [c for c in progress["cards"] if c.dedup_status == card_selectors.DedupStatus.PENDING],
            "resume_url": _resume_url(request, participant),
        },
    )


def _resume_url(request: HttpRequest, participant: Participant) -> str:
    return request.build_absolute_uri(
        reverse("frontend:resume", args=[participant.round.slug, participant.resume_token])
    )


def _chat_url(round_: Round) -> str | None:
    """The chat path to a card: with the assistant when a model can answer, else the guided questions."""
    try:
        return reverse("frontend:chat", args=[round_.slug])
    except NoReverseMatch:
        return None


_POLICY_NUMBER = re.compile(r"^[^\d:]*?(\d+)\s*:")


def _policy_error_positions(messages_: list[str]) -> set[int]:
    """The policy fields a message names ("Policy 2: …", "Política 2: …"), counted from zero."""
    positions = set()
    for message in messages_:
        match = _POLICY_NUMBER.match(message)
        if match:
            positions.add(int(match.group(1)) - 1)
    return positions


def _card_values(request: HttpRequest) -> dict:
    return {
        "title": request.POST.get("title", ""),
        "description": request.POST.get("description", ""),
        "context": request.POST.get("context", ""),
        "policies": [request.POST.get(f"policy_{i}", "") for i in range(MAX_POLICY_FIELDS)],
    }


def _card_page(
    request: HttpRequest,
    round_: Round,
    participant: Participant,
    *,
    values: dict,
    errors: dict,
    status: int,
    card: ValuesCard | None = None,
) -> HttpResponse:
    """The card form, new or editing, with what was typed and the errors per field."""
    contexts = list(selectors.contexts_of_round(round_=round_))
    if not values["context"] and len(contexts) == 1:
        values["context"] = str(contexts[0].pk)
    bad = _policy_error_positions(errors.get("policies", []))
    policy_fields = [
        {"index": i, "number": i + 1, "value": v, "invalid": i in bad}
        for i, v in enumerate(values["policies"])
    ]
    extra_open = any(f["value"].strip() for f in policy_fields[VISIBLE_POLICY_FIELDS:])
    editable = round_.stage == Stage.ARTICULATION if card else round_.stage in card_services.CARD_STAGES
    return render(
        request,
        "frontend/card_form.html",
        {
            "round": round_,
            "question": selectors.round_primary_question(round_),
            "contexts": contexts,
            "values": values,
            "errors": errors,
            "policy_fields": policy_fields[:VISIBLE_POLICY_FIELDS],
            "extra_policy_fields": policy_fields[VISIBLE_POLICY_FIELDS:],
            "extra_open": extra_open,
            "examples": [_(example) for example in POLICY_EXAMPLES],
            "coaching": list(COACHING_HINTS.values()),
            "filler_words": ",".join(FILLER_WORDS),
            "progress": _progress(round_, participant),
            "open": editable,
            "card": card,
            "chat_url": None if card else _chat_url(round_),
            "chat_with_model": model_available(round_.pk),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
def card_form(request: HttpRequest, slug: str) -> HttpResponse:
    round_ = _round(slug)
    participant, response = _participant_or_redirect(request, round_)
    if response:
        return response
    values = {"title": "", "description": "", "context": "", "policies": [""] * MAX_POLICY_FIELDS}
    errors: dict = {}
    status = 200
    if request.method == "POST":
        values = _card_values(request)
        chosen = request.POST.get("same_as", "")
        try:
            if chosen:
                card = card_services.card_choose_value(
                    participant=participant, value_id=chosen, context_id=values["context"]
                )
            else:
                card = card_services.card_submit(
                    participant=participant,
                    context_id=values["context"],
                    title=values["title"],
                    description=values["description"],
                    policies=values["policies"],
                )
        except ValidationError as exc:
            errors, status = _error_dict(exc), 400
        except DomainError as exc:
            errors, status = {"non_field_errors": [exc.message]}, exc.status
        else:
            messages.success(request, _("Thank you: your values card is saved."))
            if not chosen and not request.POST.get("similar_seen"):
                # Without JavaScript nobody saw the suggestions while typing: offer them as a step now.
                return redirect("frontend:card-similar-step", slug=slug, card_id=card.pk)
            return redirect("frontend:round", slug=slug)
    return _card_page(request, round_, participant, values=values, errors=errors, status=status)


def _own_card(participant: Participant, card_id: int) -> ValuesCard:
    """One of the participant's own cards, or 404."""
    card = card_selectors.card_of_author(participant=participant, card_id=card_id)
    if card is None:
        raise Http404("No such card of yours.")
    return card


@require_http_methods(["GET", "POST"])
def card_edit(request: HttpRequest, slug: str, card_id: int) -> HttpResponse:
    """The author edits their card until voting starts; the card is then compared with the others again."""
    round_ = _round(slug)
    participant, response = _participant_or_redirect(request, round_)
    if response:
        return response
    card = _own_card(participant, card_id)
    policies = list(card.policies) + [""] * (MAX_POLICY_FIELDS - len(card.policies))
    values = {
        "title": card.title,
        "description": card.description,
        "context": str(card.context_id),
        "policies": policies[:MAX_POLICY_FIELDS],
    }
    errors: dict = {}
    status = 200
    if request.method == "POST":
        values = _card_values(request)
        try:
            card_services.card_update(
                participant=participant,
                card=card,
                title=values["title"],
                description=values["description"],
                policies=values["policies"],
                context_id=values["context"] or None,
            )
        except ValidationError as exc:
            errors, status = _error_dict(exc), 400
        except DomainError as exc:
            errors, status = {"non_field_errors": [exc.message]}, exc.status
        else:
            messages.success(request, _("Your card is saved. We compare it with the other cards again."))
            return redirect("frontend:round", slug=slug)
    return _card_page(request, round_, participant, values=values, errors=errors, status=status, card=card)


@require_http_methods(["GET", "POST"])
def confirm_value(request: HttpRequest, slug: str, card_id: int) -> HttpResponse:
    round_ = _round(slug)
    participant, response = _participant_or_redirect(request, round_)
    if response:
        return response
    card = _own_card(participant, card_id)
    merge = card_selectors.card_merge_current(card=card)
    same_card = merge is not None and merge.value.representative_id == card.pk
    if request.method == "POST" and same_card and request.POST.get("answer") == "different":
        # Nothing to split: the card is grouped with no one. Say what can be done instead of recording "different".
        messages.info(
            request,
            _(
                "Your card is not grouped with anyone else's, so there is nothing to separate. If it does not say "
                "what you mean, change it; otherwise confirm that it stands as your value."
            ),
        )
        return redirect("frontend:confirm", slug=slug, card_id=card.pk)
    if request.method == "POST":
        try:
            card_services.merge_confirm(
                participant=participant, card=card, answer=request.POST.get("answer", "")
            )
        except ValidationError as exc:
            messages.error(request, " ".join(m for ms in _error_dict(exc).values() for m in ms))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            if request.POST.get("answer") == "different":
                messages.success(request, _("Thank you: your card now stands as a value of its own."))
        return redirect("frontend:round", slug=slug)
    found = graph_translation.ReadingTranslations()
    if merge is not None and not same_card:
        found = graph_translation.translations_request(
            round_id=round_.pk, language=reader_language(), values=[merge.value]
        )
    return render(
        request,
        "frontend/confirm.html",
        {
            "round": round_,
            "card": card,
            "merge": merge,
            "translation": found,
            "shown_value": value_view(merge.value, found) if merge is not None else None,
            "same_card": same_card,
            "progress": _progress(round_, participant),
        },
    )


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
    posted = {"answer": "", "reason": ""}
    existing = None
    if request.method == "POST":
        posted = {"answer": request.POST.get("answer", ""), "reason": request.POST.get("reason", "")}
        try:
            if request.POST.get("vote"):
                graph_services.vote_update(
                    participant=participant,
                    vote_id=request.POST.get("vote"),
                    answer=posted["answer"],
                    reason=posted["reason"],
                )
            else:
                graph_services.vote_cast(
                    participant=participant,
                    story_id=request.POST.get("story"),
                    answer=posted["answer"],
                    reason=posted["reason"],
                )
        except ValidationError as exc:
            errors, status = _error_dict(exc), 400
            if "answer" in errors:
                errors["answer"] = [_("Choose Yes, No or Not sure.")]
        except DomainError as exc:
            errors, status = {"non_field_errors": [exc.message]}, exc.status
            if exc.code == "already_voted" or request.POST.get("vote"):
                # Another tab answered this story first: show that answer, and let this page change it.
                existing = graph_selectors.participant_vote(
                    participant_id=participant.pk, story_id=request.POST.get("story")
                )
                if existing is not None and exc.code == "already_voted":
                    errors = {
                        "non_field_errors": [
                            _("You already answered this story (perhaps in another tab). Change your answer below, or go on.")
                        ]
                    }
        else:
            if request.POST.get("vote"):
                messages.success(request, _("Your answer is changed."))
            return redirect("frontend:vote", slug=slug)
    progress = _progress(round_, participant, assign=True)
    voted_ids = graph_selectors.voted_story_ids(participant=participant)
    story = next((s for s in progress["stories"] if s.pk not in voted_ids), None)
    if existing is not None:
        story = next((s for s in progress["stories"] if s.pk == existing.story_id), story)
    if story is None and status == 200:
        return redirect("frontend:done", slug=slug)
    # Every story given to the participant (and its two values) is asked for at once, so after the first one the
    # next stories are already translated when they come.
    found = graph_translation.translations_request(
        round_id=round_.pk,
        language=reader_language(),
        values=[v for s in progress["stories"] for v in (s.from_value, s.to_value)],
        stories=progress["stories"],
    )
    return render(
        request,
        "frontend/vote.html",
        {
            "round": round_,
            "story": story,
            "translation": found,
            "shown": story and {
                "story": story_view(story, found),
                "from": value_view(story.from_value, found),
                "to": value_view(story.to_value, found),
            },
            "existing": existing,
            "progress": progress,
            "errors": errors,
            "posted": posted,
            "position": len(voted_ids) + (0 if existing is not None else 1),
            "total": len(progress["stories"]),
        },
        status=status,
    )


_TRANSLATION_KEY = re.compile(r"^[0-9a-f]{32}$")


def translation_status(request: HttpRequest, slug: str, key: str) -> HttpResponse:
    """Whether the machine translation a page asked for is ready (htmx polls it); ready, it offers to show it, and
    does not reload by itself, so nothing the participant is typing is lost."""
    round_ = _round(slug)
    if session.current(request, round_) is None:
        return HttpResponse(status=403)
    if not _TRANSLATION_KEY.match(key):
        raise Http404("No such translation.")
    state = graph_translation.translation_state(key=key)
    found = {"state": "ready" if state == "done" else state, "key": key}
    return render(request, "frontend/_translation_status.html", {"round": round_, "translation": found})


@require_http_methods(["GET", "POST"])
def done(request: HttpRequest, slug: str) -> HttpResponse:
    round_ = _round(slug)
    participant, response = _participant_or_redirect(request, round_)
    if response:
        return response
    errors: dict = {}
    posted = {"represented": "", "fair": ""}
    if request.method == "POST":
        posted = {"represented": request.POST.get("represented", ""), "fair": request.POST.get("fair", "")}
        try:
            participant = services.participant_finish(
                participant=participant, represented=posted["represented"], fair=posted["fair"]
            )
        except ValidationError as exc:
            errors = _error_dict(exc)
        else:
            messages.success(request, _("Thank you for taking part."))
            return redirect("frontend:done", slug=slug)
    return render(
        request,
        "frontend/done.html",
        {
            "round": round_,
            "participant": participant,
            "progress": _progress(round_, participant),
            "resume_url": _resume_url(request, participant),
            "errors": errors,
            "posted": posted,
            "scale": [str(n) for n in range(1, 6)],
            "results_visible": _results_visible(round_),
        },
        status=400 if errors else 200,
    )
