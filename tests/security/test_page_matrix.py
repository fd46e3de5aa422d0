"""Who may open which page: every page of frontend.urls, for every role, in a round that is voting with a
private report (the matrix is documented in docs/security.md)."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from cards.models import ValuesCard
from deliberation.models import AuditEvent, Invitation, OrganizerRole, Round
from tests.factories import UserFactory
from tests.security.conftest import build_world

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "participant", "other_participant", "viewer", "moderator", "owner")
# GET status per role, in the order of ROLES. 302 on console pages sends the visitor to sign in; 302 on a
# participant page moves the participant to their next step; 403 on participant pages asks for the link (the
# round's own page explains the invitation with 200).
EXPECTED = {
    "home": (200, 200, 200, 200, 200, 200),
    "login": (200, 200, 200, 200, 200, 200),
    "logout": (405, 405, 405, 405, 405, 405),
    "signup": (403, 403, 403, 403, 403, 403),
    "password-reset": (200, 200, 200, 200, 200, 200),
    "password-reset-done": (200, 200, 200, 200, 200, 200),
    "password-reset-confirm": (200, 200, 200, 200, 200, 200),
    "password-reset-complete": (200, 200, 200, 200, 200, 200),
    "console": (302, 302, 302, 200, 200, 200),
    "console-new": (302, 302, 302, 200, 200, 200),
    "console-round": (302, 302, 302, 200, 200, 200),
    "console-live": (302, 302, 302, 200, 200, 200),
    "console-edit": (302, 302, 302, 403, 403, 200),
    "console-invitations": (302, 302, 302, 403, 403, 200),
    "console-invitations-csv": (302, 302, 302, 403, 403, 200),
    "console-moderation": (302, 302, 302, 200, 200, 200),
    "console-roles": (302, 302, 302, 200, 200, 200),
    "console-audit": (302, 302, 302, 200, 200, 200),
    "console-contexts": (302, 302, 302, 403, 403, 200),
    "console-verify": (302, 302, 302, 200, 200, 200),
    "join": (200, 302, 200, 200, 200, 200),
    "invite-entry": (405, 405, 405, 405, 405, 405),
    "join-invite": (200, 302, 200, 200, 200, 200),
    "resume": (302, 302, 302, 302, 302, 302),
    "round": (200, 302, 200, 200, 200, 200),
    "card": (403, 200, 403, 403, 403, 403),
    "confirm": (403, 200, 403, 403, 403, 403),
    "card-edit": (403, 200, 403, 403, 403, 403),
    "chat": (403, 200, 403, 403, 403, 403),
    "chat-status": (403, 200, 403, 403, 403, 403),
    "translation-status": (403, 200, 403, 403, 403, 403),
    "card-similar": (405, 405, 405, 405, 405, 405),
    "card-similar-step": (403, 302, 403, 403, 403, 403),
    "vote": (403, 302, 403, 403, 403, 403),
    "done": (403, 200, 403, 403, 403, 403),
    "report": (403, 403, 403, 200, 200, 200),
    "guidance": (403, 403, 403, 409, 409, 409),
    "privacy": (403, 200, 403, 403, 403, 403),
    "privacy-download": (403, 200, 403, 403, 403, 403),
    "privacy-delete": (405, 405, 405, 405, 405, 405),
}


def _page_names() -> set[str]:
    pages = next(
        r for r in get_resolver().url_patterns if isinstance(r, URLResolver) and r.app_name == "frontend"
    )
    return {p.name for p in pages.url_patterns if isinstance(p, URLPattern)}


def _urls(world) -> dict[str, str]:
    slug = world.round.slug
    card = ValuesCard.objects.filter(author=world.participants[0]).first()
    invitation = Invitation.objects.create(round=world.round)
    console = {
        "console-round": "",
        "console-live": "live/",
        "console-edit": "edit/",
        "console-invitations": "invitations/",
        "console-moderation": "moderation/",
        "console-roles": "roles/",
        "console-audit": "audit/",
        "console-contexts": "contexts/",
        "console-verify": "verify/",
    }
    return {
        "home": "/",
        "login": "/login/",
        "logout": "/logout/",
        "signup": "/signup/",
        "password-reset": "/password-reset/",
        "password-reset-done": "/password-reset/sent/",
        "password-reset-confirm": "/password-reset/MQ/not-a-token/",
        "password-reset-complete": "/password-reset/complete/",
        "console": "/console/",
        "console-new": "/console/new/",
        **{name: f"/console/{slug}/{tail}" for name, tail in console.items()},
        "console-invitations-csv": f"/console/{slug}/invitations.csv",
        "join": f"/r/{slug}/join/{world.round.join_token}/",
        "invite-entry": f"/r/{slug}/invite/",
        "join-invite": f"/r/{slug}/invite/{invitation.code}/",
        "resume": f"/r/{slug}/resume/{world.participants[0].resume_token}/",
        "round": f"/r/{slug}/",
        "card": f"/r/{slug}/card/",
        "confirm": f"/r/{slug}/confirm/{card.pk}/",
        "card-edit": f"/r/{slug}/card/{card.pk}/edit/",
        "chat": f"/r/{slug}/chat/",
        "chat-status": f"/r/{slug}/chat/status/",
        "translation-status": f"/r/{slug}/translation/{'0' * 32}/",
        "card-similar": f"/r/{slug}/card/similar/",
        "card-similar-step": f"/r/{slug}/card/{card.pk}/similar/",
        "vote": f"/r/{slug}/vote/",
        "done": f"/r/{slug}/done/",
        "report": f"/r/{slug}/report/",
        "guidance": f"/r/{slug}/report/guidance/",
        "privacy": f"/r/{slug}/privacy/",
        "privacy-download": f"/r/{slug}/privacy/data.json",
        "privacy-delete": f"/r/{slug}/privacy/delete/",
    }


def test_the_matrix_covers_every_page():
    assert _page_names() == set(EXPECTED)


def test_every_page_answers_each_role_as_the_matrix_says():
    world = build_world(slug="matrix")
    urls = _urls(world)
    # A fresh browser per request: the resume link would otherwise make the anonymous browser a participant.
    found = {
        name: tuple(world.page_client(role).get(urls[name]).status_code for role in ROLES)
        for name in EXPECTED
    }
    assert found == EXPECTED
    # Signing in goes to the login page and keeps the destination.
    assert world.page_client("anonymous").get(urls["console-edit"])["Location"].startswith("/login/?next=")


def test_console_writes_follow_the_role_ranks():
    world = build_world(slug="matrixw", ranked=False)
    slug = world.round.slug
    card = ValuesCard.objects.filter(round=world.round).first()
    stranger = UserFactory(username="stranger-matrixw")
    for role in ("viewer", "moderator"):
        client = world.page_client(role)
        client.post(f"/console/{slug}/", {"action": "stage", "stage": "closed"})
        client.post(f"/console/{slug}/roles/", {"username": stranger.username, "role": "owner"})
        client.post(f"/console/{slug}/invitations/", {"action": "codes", "count": "3"})
        client.post(f"/console/{slug}/edit/", {"title": "Taken over"})
    assert Round.objects.get(pk=world.round.pk).stage == "voting"
    assert Round.objects.get(pk=world.round.pk).title != "Taken over"
    assert not OrganizerRole.objects.filter(user=stranger).exists()
    assert not Invitation.objects.filter(round=world.round).exists()
    # Hiding a card needs a moderator: the viewer cannot, the moderator can.
    world.page_client("viewer").post(
        f"/console/{slug}/moderation/", {"action": "card_hide", "card": card.pk, "reason": "Off topic here"}
    )
    assert ValuesCard.objects.get(pk=card.pk).status == "submitted"
    world.page_client("moderator").post(
        f"/console/{slug}/moderation/", {"action": "card_hide", "card": card.pk, "reason": "Off topic here"}
    )
    assert ValuesCard.objects.get(pk=card.pk).status == "hidden"
    # Someone else's round stays shut to this round's owner.
    other_owner = world.page_client("owner")
    assert other_owner.get(f"/console/{world.other_round.slug}/").status_code == 403
    assert AuditEvent.objects.filter(round=world.round, action__icontains="stage").count() == 0
