"""Who may do what in a round: the one place that maps organizer roles to actions."""
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from deliberation.models import OrganizerRole, ReportVisibility, Round, Stage

Role = OrganizerRole.Role
RANK = {Role.VIEWER: 1, Role.MODERATOR: 2, Role.OWNER: 3}

# The least role each organizer action needs.
ACTIONS = {
    "view_console": Role.VIEWER,
    "view_report": Role.VIEWER,
    "view_participants": Role.VIEWER,
    "export": Role.VIEWER,
    "moderate": Role.MODERATOR,
    "edit_stories": Role.MODERATOR,
    "rank": Role.MODERATOR,
    "edit_round": Role.OWNER,
    "advance_stage": Role.OWNER,
    "manage_roles": Role.OWNER,
    "invite": Role.OWNER,
}


def role_of(user: AbstractBaseUser | AnonymousUser | None, round_: Round) -> str | None:
    """The user's organizer role in the round, or None."""
    if user is None or not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.OWNER
    cache = getattr(user, "_wiser_roles", None)
    if cache is None:
        cache = {}
        user._wiser_roles = cache
    if round_.pk not in cache:
        cache[round_.pk] = (
            OrganizerRole.objects.filter(round=round_, user=user).values_list("role", flat=True).first()
        )
    return cache[round_.pk]


def can(user: AbstractBaseUser | AnonymousUser | None, round_: Round, action: str) -> bool:
    """Whether the user's role in the round allows the action."""
    needed = ACTIONS[action]
    role = role_of(user, round_)
    return role is not None and RANK[role] >= RANK[needed]


def can_read_report(user: AbstractBaseUser | AnonymousUser | None, round_: Round, *, via_link: bool = False) -> bool:
    """Published reports follow the round's visibility; organizers always see their round's report."""
    if can(user, round_, "view_report"):
        return True
    if round_.stage != Stage.PUBLISHED and not (round_.report_live and round_.stage != Stage.DRAFT):
        return False
    if round_.report_visibility == ReportVisibility.PUBLIC:
        return True
    return round_.report_visibility == ReportVisibility.UNLISTED and via_link
