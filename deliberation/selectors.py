"""Reads of rounds, participants, roles and the audit log, with the access rules built in.

The choices the pages show (stages, report visibilities, roles) are named here too, so frontend/ reads the
domain through this module and imports no models.
"""
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from core.errors import Forbidden
from deliberation.models import (
    STAGE_ORDER,
    AuditEvent,
    Context,
    Invitation,
    OrganizerRole,
    Participant,
    Question,
    ReportVisibility,
    Round,
    Stage,
)
from deliberation.permissions import can

__all__ = ["STAGE_ORDER", "ReportVisibility", "Stage", "RoleKind"]  # with every function below

RoleKind = OrganizerRole.Role
# The consent text a new round starts with (the form shows it).
CONSENT_TEXT_DEFAULT = Round._meta.get_field("consent_text").default


def round_get(*, slug: str) -> Round | None:
    return Round.objects.filter(slug=slug).first()


def rounds_public() -> QuerySet[Round]:
    """Rounds whose report anyone may read."""
    return Round.objects.filter(
        stage=Stage.PUBLISHED, report_visibility=ReportVisibility.PUBLIC, archived_at__isnull=True
    ).order_by("-id")


def rounds_open_for_joining() -> QuerySet[Round]:
    return Round.objects.filter(
        stage__in=[Stage.ARTICULATION, Stage.VOTING], open_link_enabled=True, archived_at__isnull=True
    )


def rounds_for_organizer(*, user) -> QuerySet[Round]:
    """Rounds in which the user holds any organizer role."""
    if user.is_superuser:
        return Round.objects.all().order_by("-id")
    ids = OrganizerRole.objects.filter(user=user).values("round_id")
    return Round.objects.filter(id__in=ids).order_by("-id")


def participant_get(*, round_: Round, participant_id: int) -> Participant | None:
    return Participant.objects.filter(round=round_, pk=participant_id).select_related("round").first()


def participant_by_resume_token(*, token: str) -> Participant | None:
    if not token or len(token) > 64:
        return None
    return Participant.objects.select_related("round").filter(resume_token=token).first()


def round_primary_question(round_: Round):
    return round_.questions.order_by("order", "id").first()


PARTICIPANT_STATUSES = ("finished", "unfinished")


def participants_for_organizer(*, user, round_: Round, status: str | None = None) -> QuerySet[Participant]:
    """The round's participants (pseudonyms, attributes, times; no account link) for a viewer or above."""
    if not can(user, round_, "view_participants"):
        raise Forbidden("Your role in this round does not allow this.")
    participants = Participant.objects.filter(round=round_)
    if status == "finished":
        participants = participants.filter(finished_at__isnull=False)
    elif status == "unfinished":
        participants = participants.filter(finished_at__isnull=True)
    return participants.annotate(
        n_cards=Count("cards", distinct=True), n_votes=Count("votes", distinct=True)
    ).order_by("id")


def contexts_of_round(*, round_: Round) -> QuerySet[Context]:
    """The round's contexts in their order."""
    return Context.objects.filter(question__round=round_).order_by("order", "id")


def invitation_counts(*, round_: Round) -> dict[str, int]:
    """How many one-time codes the round has and how many were used."""
    return round_.invitations.aggregate(total=Count("id"), used=Count("used_at"))


def role_holders(*, round_: Round) -> QuerySet[OrganizerRole]:
    """Who holds which role in the round, by username."""
    return OrganizerRole.objects.filter(round=round_).select_related("user").order_by("user__username")


def audit_events(*, round_: Round) -> QuerySet[AuditEvent]:
    """Every organizer action in the round, newest first."""
    return AuditEvent.objects.filter(round=round_).select_related("actor").order_by("-id")


def user_by_id(raw: str):
    """The account with this id (a string of digits), or None."""
    return get_user_model().objects.filter(pk=raw if raw.isdigit() else None).first()


def user_by_username(username: str):
    """The account with this username, or None."""
    return get_user_model().objects.filter(username=username).first()


def round_attributes(*, round_: Round) -> list:
    """The round's participant attributes (the optional questions asked on joining)."""
    return list(round_.attributes.all())


# The dates that move a round by themselves, latest stage first. Publishing is always an organizer's act.
STAGE_DATES = (
    (Stage.CLOSED, "closes_at"),
    (Stage.VOTING, "voting_opens_at"),
    (Stage.ARTICULATION, "articulation_opens_at"),
)


def scheduled_stage(round_: Round, *, now: datetime | None = None) -> str | None:
    """The later stage the round's dates call for now, or None.

    The latest date that has passed decides; it moves the round only forward, and only when the stage has not
    changed since that date (an organizer who moves a round by hand after a date has passed overrides it).
    """
    now = now or timezone.now()
    for stage, field in STAGE_DATES:
        when = getattr(round_, field)
        if when is None or when > now:
            continue
        settled = round_.stage_changed_at is not None and round_.stage_changed_at >= when
        later = STAGE_ORDER.index(stage) > STAGE_ORDER.index(Stage(round_.stage))
        return stage if later and not settled and round_.stage != Stage.PUBLISHED else None
    return None


def round_as_scheduled(round_: Round, *, now: datetime | None = None) -> Round:
    """The round as its dates say it is now: the stage a passed date calls for, set on this instance only.

    A pure read (nothing is saved): pages and the API show the right stage the moment a date passes, and the
    move itself is recorded by Celery beat within a minute or by the first write that needs it
    (`services.round_lock`, the vote statement's closing check)."""
    stage = scheduled_stage(round_, now=now)
    if stage is not None:
        round_.stage = stage
    return round_


def invitation_state(*, round_: Round, code: str) -> str:
    """Whether a one-time invite code can still be used in this round: "usable", "used" or "unknown"."""
    invitation = Invitation.objects.filter(round=round_, code=str(code)[:64]).only("used_at").first()
    if invitation is None:
        return "unknown"
    return "used" if invitation.used_at is not None else "usable"


def audit_names(*, round_: Round, kind: str, ids: set[int]) -> dict[int, str]:
    """Display names of a round's rounds, questions, contexts and roles named by audit events."""
    if kind == "Round":
        rows = Round.objects.filter(pk__in=ids, pk=round_.pk).values_list("pk", "title")
    elif kind == "Question":
        rows = Question.objects.filter(pk__in=ids, round=round_).values_list("pk", "text")
    elif kind == "Context":
        rows = Context.objects.filter(pk__in=ids, question__round=round_).values_list("pk", "name")
    elif kind == "OrganizerRole":
        rows = OrganizerRole.objects.filter(pk__in=ids, round=round_).values_list("pk", "user__username")
    else:
        return {}
    return dict(rows)


def usernames(*, ids: set[int]) -> dict[int, str]:
    """Usernames by user id (for the audit log's "granted to" and "removed")."""
    return dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))


def round_questions(*, round_: Round):
    """The round's questions in order, with their contexts."""
    return round_.questions.order_by("order", "id").prefetch_related(
        Prefetch("contexts", queryset=Context.objects.order_by("order", "id"))
    )


def context_of_round(*, round_: Round, context_id: int) -> Context | None:
    """One context of the round's questions, or None."""
    return Context.objects.select_related("question__round").filter(pk=context_id, question__round=round_).first()
