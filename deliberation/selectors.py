"""Reads of rounds and participants, with the access rules built in."""
from django.db.models import Prefetch, QuerySet

from deliberation.models import (
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
    return Participant.objects.filter(round=round_, pk=participant_id).first()


def participant_by_resume_token(*, token: str) -> Participant | None:
    if not token or len(token) > 64:
        return None
    return Participant.objects.select_related("round").filter(resume_token=token).first()


def round_primary_question(round_: Round):
    return round_.questions.order_by("order", "id").first()


def invitation_state(*, round_: Round, code: str) -> str:
    """Whether a one-time invite code can still be used in this round: "usable", "used" or "unknown"."""
    invitation = Invitation.objects.filter(round=round_, code=str(code)[:64]).only("used_at").first()
    if invitation is None:
        return "unknown"
    return "used" if invitation.used_at is not None else "usable"


def audit_events(*, round_: Round):
    """A round's audit events, newest first, with their actors."""
    return AuditEvent.objects.filter(round=round_).select_related("actor").order_by("-id")


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
    from django.contrib.auth import get_user_model

    return dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))


def round_questions(*, round_: Round):
    """The round's questions in order, with their contexts."""
    return round_.questions.order_by("order", "id").prefetch_related(
        Prefetch("contexts", queryset=Context.objects.order_by("order", "id"))
    )


def context_of_round(*, round_: Round, context_id: int) -> Context | None:
    """One context of the round's questions, or None."""
    return Context.objects.select_related("question__round").filter(pk=context_id, question__round=round_).first()
