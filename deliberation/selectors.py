"""Reads of rounds and participants, with the access rules built in."""
from django.db.models import QuerySet

from deliberation.models import Invitation, OrganizerRole, Participant, ReportVisibility, Round, Stage


def round_get(*, slug: str) -> Round | None:
    return Round.objects.filter(slug=slug).first()


def rounds_public() -> QuerySet[Round]:
    """Rounds whose report anyone may read."""
    return Round.objects.filter(stage=Stage.PUBLISHED, report_visibility=ReportVisibility.PUBLIC).order_by("-id")


def rounds_open_for_joining() -> QuerySet[Round]:
    return Round.objects.filter(stage__in=[Stage.ARTICULATION, Stage.VOTING], open_link_enabled=True)


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
