"""The organizer console through Django's test client: sign-up, sign-in lockout, rounds, moderation, roles."""

import csv
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from cards.models import CanonicalValue, CardMerge, ValuesCard
from deliberation import services
from deliberation.models import AuditEvent, Invitation, Job, OrganizerRole, Round, Stage
from moral_graph import services as graph_services
from moral_graph.models import TransitionStory
from tests.factories import UserFactory, grant, join, make_round, submit

pytestmark = pytest.mark.django_db(transaction=True)


def _organizer(round_: Round) -> Client:
    client = Client()
    client.force_login(round_.roles.get(role=OrganizerRole.Role.OWNER).user)
    return client


@override_settings(WISER_ALLOW_SIGNUP=False)
def test_signup_is_closed_unless_the_setting_allows_it():
    assert Client().get("/signup/").status_code == 403
    assert "Create an account" not in Client().get("/login/").content.decode()


@override_settings(WISER_ALLOW_SIGNUP=True)
def test_a_new_organizer_signs_up_and_lands_in_the_console():
    client = Client()
    assert "Create an account" in client.get("/login/").content.decode()
    weak = client.post("/signup/", {"username": "ana", "password1": "short", "password2": "short"})
    assert weak.status_code == 400 and 'value="ana"' in weak.content.decode()
    ok = client.post(
        "/signup/",
        {
            "username": "ana",
            "email": "ana@example.org",
            "password1": "a long enough passphrase 42",
            "password2": "a long enough passphrase 42",
        },
    )
    assert ok.status_code == 302 and ok["Location"] == "/console/"
    assert client.get("/console/").status_code == 200
    assert get_user_model().objects.filter(username="ana", email="ana@example.org").exists()


@override_settings(AXES_LOCKOUT_CALLABLE="frontend.views.lockout")
def test_sign_in_explains_a_lockout_after_five_failures():
    UserFactory(username="org")
    client = Client()
    for _ in range(5):
        page = client.post("/login/", {"username": "org", "password": "wrong"})
        assert page.status_code in (200, 429)
    locked = client.post("/login/", {"username": "org", "password": "correct horse battery staple"})
    assert locked.status_code == 429
    assert "locked for now" in locked.content.decode()


def test_an_organizer_creates_a_round_and_keeps_what_was_typed_on_error():
    client = Client()
    client.force_login(UserFactory(username="creator"))
    form = {
        "title": "Care at night",
        "slug": "",
        "description": "",
        "question": "",
        "contexts": "When she is alone\nWhen she asks for advice | A hard decision",
        "attributes": "Region: North, South",
        "consent_text": "We keep answers pseudonymous.",
        "stories_per_participant": "4",
        "min_votes_per_story": "3",
        "report_visibility": "unlisted",
        "ranking_method": "bt",
        "open_link_enabled": "on",
    }
    refused = client.post("/console/new/", form)
    text = refused.content.decode()
    assert refused.status_code == 400 and "When she asks for advice | A hard decision" in text
    assert 'aria-invalid="true"' in text and "question-error" in text
    created = client.post("/console/new/", {**form, "question": "How should an assistant care?"})
    assert created.status_code == 302 and created["Location"] == "/console/care-at-night/"
    round_ = Round.objects.get(slug="care-at-night")
    assert round_.stories_per_participant == 4 and round_.report_visibility == "unlisted"
    contexts = list(round_.questions.get().contexts.order_by("order").values_list("name", "description"))
    assert contexts == [("When she is alone", ""), ("When she asks for advice", "A hard decision")]
    assert list(round_.attributes.values_list("label", "choices")) == [("Region", ["North", "South"])]
    edit = client.post(
        "/console/care-at-night/edit/",
        {**form, "title": "Care at night, again", "stories_per_participant": "99"},
    )
    assert edit.status_code == 400 and "Care at night, again" in edit.content.decode()
    saved = client.post("/console/care-at-night/edit/", {**form, "title": "Care at night, again"})
    assert saved.status_code == 302
    round_.refresh_from_db()
    assert round_.title == "Care at night, again"
    assert AuditEvent.objects.filter(round=round_, action="round.update").exists()


def test_stages_ranking_and_publication_from_the_dashboard():
    round_ = make_round(slug="dash", stage=Stage.DRAFT, stories_per_participant=2, min_votes_per_story=1)
    client = _organizer(round_)
    page = client.get("/console/dash/")
    assert page.status_code == 200 and "Open articulation" in page.content.decode()
    refused = client.post("/console/dash/", {"action": "stage", "stage": "published"}, follow=True)
    assert "Rank the round before publishing it." in refused.content.decode()
    assert client.post("/console/dash/", {"action": "stage", "stage": "articulation"}).status_code == 302
    round_.refresh_from_db()
    people = [join(round_) for _ in range(3)]
    for person, family in zip(people, ["autonomy", "safety", "honesty"], strict=True):
        submit(person, family=family)
    client.post("/console/dash/", {"action": "stage", "stage": "voting"})
    round_.refresh_from_db()
    assert round_.stage == Stage.VOTING
    graph_services.stories_generate(round_id=round_.pk)
    for person in people:
        for story in graph_services.assignments_take(participant=person):
            graph_services.vote_cast(participant=person, story_id=story.pk, answer="wiser")
    live = client.get("/console/dash/live/", HTTP_HX_REQUEST="true")
    assert live.status_code == 200 and "<html" not in live.content.decode()
    assert "Votes per story" in live.content.decode()
    client.post("/console/dash/", {"action": "stage", "stage": "closed"})
    client.post("/console/dash/", {"action": "rank"})
    published = client.post("/console/dash/", {"action": "stage", "stage": "published"}, follow=True)
    round_.refresh_from_db()
    assert round_.stage == Stage.PUBLISHED and "The stage is changed." in published.content.decode()
    assert client.get("/r/dash/report/").status_code == 200


def test_a_failed_job_shows_its_error_on_the_dashboard():
    round_ = make_round(slug="failing")
    Job.objects.create(
        round=round_,
        kind="ranking",
        key="round",
        status=Job.Status.FAILED,
        attempts=2,
        error="ValueError: no votes to rank",
    )
    live = _organizer(round_).get("/console/failing/live/").content.decode()
    assert "ValueError: no votes to rank" in live and 'role="alert"' in live


def test_invitation_codes_are_made_and_downloaded_as_csv():
    round_ = make_round(slug="codes")
    client = _organizer(round_)
    assert client.post("/console/codes/invitations/", {"action": "codes", "count": "0"}).status_code == 400
    assert client.post("/console/codes/invitations/", {"action": "codes", "count": "3"}).status_code == 302
    response = client.get("/console/codes/invitations.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 3 and {r["code"] for r in rows} == set(
        Invitation.objects.values_list("code", flat=True)
    )
    participant_client = Client()
    assert participant_client.get(rows[0]["link"].replace("http://testserver", "")).status_code == 200
    client.post("/console/codes/invitations/", {"action": "open_link"})
    round_.refresh_from_db()
    assert round_.open_link_enabled is False
    viewer = UserFactory(username="viewer-codes")
    grant(round_, viewer, "viewer")
    other = Client()
    other.force_login(viewer)
    assert other.get("/console/codes/invitations.csv").status_code == 403


def test_moderation_hides_merges_splits_and_the_author_sees_the_reason():
    round_ = make_round(slug="mod")
    client = _organizer(round_)
    author = join(round_)
    card = submit(author, family="autonomy")
    other = submit(join(round_), family="safety")
    author_client = Client()
    author_client.get(f"/r/mod/resume/{author.resume_token}/")
    hidden = client.post(
        "/console/mod/moderation/",
        {"tab": "cards", "action": "card_hide", "card": card.pk, "reason": "It names a real person."},
    )
    assert hidden.status_code == 302
    assert ValuesCard.objects.get(pk=card.pk).status == ValuesCard.Status.HIDDEN
    assert "It names a real person." in author_client.get("/r/mod/", follow=True).content.decode()
    no_reason = client.post(
        "/console/mod/moderation/", {"tab": "cards", "action": "card_hide", "card": other.pk, "reason": ""}
    )
    assert no_reason.status_code == 400
    source = CardMerge.objects.get(card=card, undone_at__isnull=True).value
    target = CardMerge.objects.get(card=other, undone_at__isnull=True).value
    assert "Canonical values" in client.get("/console/mod/moderation/?tab=values").content.decode()
    client.post(
        "/console/mod/moderation/",
        {"tab": "values", "action": "value_merge", "value": source.pk, "target": target.pk},
    )
    assert CanonicalValue.objects.get(pk=source.pk).is_active is False
    client.post(
        "/console/mod/moderation/",
        {"tab": "values", "action": "card_reassign", "card": card.pk, "target": "new"},
    )
    split = CardMerge.objects.get(card=card, undone_at__isnull=True)
    assert split.value_id not in (source.pk, target.pk)
    context = round_.questions.get().contexts.first()
    wrote = client.post(
        "/console/mod/moderation/",
        {
            "tab": "stories",
            "action": "story_write",
            "context": context.pk,
            "from_value": target.pk,
            "to_value": split.value_id,
            "text": "She used to watch for danger; now she asks what he wants.",
        },
    )
    assert wrote.status_code == 302
    story = TransitionStory.objects.get(round=round_)
    client.post(
        "/console/mod/moderation/",
        {"tab": "stories", "action": "story_hide", "story": story.pk, "reason": "Confusing."},
    )
    assert TransitionStory.objects.get(pk=story.pk).is_hidden
    actions = set(AuditEvent.objects.filter(round=round_).values_list("action", flat=True))
    assert {"card.hide", "value.merge", "card.reassign", "story.write", "story.hide"} <= actions
    log = client.get("/console/mod/audit/").content.decode()
    assert "merged two values" in log and "hid a story from voting" in log
    assert "ValuesCard" not in log and "CanonicalValue" not in log and "Reason: “Confusing.”" in log
    assert f"story “{story.from_value.title} → {story.to_value.title}”" in log


def test_roles_are_granted_by_username_and_limit_what_a_viewer_can_do():
    round_ = make_round(slug="roles")
    client = _organizer(round_)
    UserFactory(username="helper")
    unknown = client.post("/console/roles/roles/", {"username": "nobody", "role": "moderator"})
    assert unknown.status_code == 400 and 'value="nobody"' in unknown.content.decode()
    assert client.post("/console/roles/roles/", {"username": "helper", "role": "viewer"}).status_code == 302
    viewer = Client()
    viewer.force_login(get_user_model().objects.get(username="helper"))
    assert viewer.get("/console/roles/").status_code == 200
    assert viewer.get("/console/roles/edit/").status_code == 403
    card = submit(join(round_))
    refused = viewer.post(
        "/console/roles/moderation/", {"action": "card_hide", "card": card.pk, "reason": "x"}
    )
    assert refused.status_code == 400
    assert ValuesCard.objects.get(pk=card.pk).status == ValuesCard.Status.SUBMITTED
    refused_stage = viewer.post("/console/roles/", {"action": "stage", "stage": "voting"}, follow=True)
    assert "does not allow" in refused_stage.content.decode()


def test_participant_pages_speak_spanish_with_the_rounds_own_translations():
    round_ = make_round(slug="es")
    Round.objects.filter(pk=round_.pk).update(
        translations={
            "es": {"title": "¿Cómo debería responder?", "consent_text": "Tus respuestas son seudónimas."}
        }
    )
    client = Client(HTTP_ACCEPT_LANGUAGE="es")
    page = client.get(f"/r/es/join/{round_.join_token}/").content.decode()
    assert "¿Cómo debería responder?" in page and "Tus respuestas son seudónimas." in page
    assert "Acepto y quiero participar." in page and 'lang="es"' in page
    english = Client(HTTP_ACCEPT_LANGUAGE="en").get(f"/r/es/join/{round_.join_token}/").content.decode()
    assert "How should an assistant answer?" in english and "I agree and want to take part." in english


def test_round_creation_shows_every_error_at_once_and_refuses_a_question_mark():
    client = Client()
    client.force_login(UserFactory(username="all-errors"))
    refused = client.post(
        "/console/new/",
        {
            "title": "",
            "question": "?",
            "contexts": "",
            "stories_per_participant": "0",
            "min_votes_per_story": "many",
            "consent_text": "",
            "report_visibility": "unlisted",
            "ranking_method": "bt",
        },
    )
    text = refused.content.decode()
    assert refused.status_code == 400
    for field in ("title", "question", "contexts", "stories_per_participant", "min_votes_per_story", "consent_text"):
        assert f'id="{field}-error"' in text or f"{field}-error" in text, field
    assert "at least two words" in text


def test_the_api_refuses_a_question_that_is_not_one():
    client = Client()
    client.force_login(UserFactory(username="api-question"))
    response = client.post(
        "/api/v1/rounds/", {"title": "T", "question": "?", "contexts": ["Anywhere"]}, content_type="application/json"
    )
    assert response.status_code == 400 and "question" in response.json()["error"]["fields"]


def test_round_update_audits_only_the_fields_that_changed():
    client = Client()
    owner = UserFactory(username="changes")
    client.force_login(owner)
    round_ = make_round(owner=owner, slug="changes", stage="draft")
    services.round_update(round_=round_, actor=owner, title="A new title", stories_per_participant=5, report_live=False)
    event = AuditEvent.objects.filter(round=round_, action="round.update").get()
    assert event.data["fields"] == ["title"]


def test_the_audit_log_reads_as_sentences_with_names():
    round_ = make_round(slug="readable-audit")
    owner = round_.roles.get().user
    helper = UserFactory(username="helper-person")
    services.round_update(round_=round_, actor=owner, title="A clearer title", description="", report_live=True)
    services.role_grant(round_=round_, actor=owner, user=helper, role="viewer")
    client = Client()
    client.force_login(owner)
    log = client.get("/console/readable-audit/audit/").content.decode()
    assert "changed the round&#x27;s settings" in log or "changed the round's settings" in log
    assert "Changed: live report and title" in log and "round “A clearer title”" in log
    assert "Person: helper-person" in log and "['" not in log and "Round " + str(round_.pk) not in log


def test_a_forgotten_password_is_reset_through_a_mailed_link():
    from django.core import mail

    user = UserFactory(username="forgetful", email="forgetful@example.org")
    client = Client()
    assert "Forgot your password?" in client.get("/login/").content.decode()
    sent = client.post("/password-reset/", {"email": "forgetful@example.org"})
    assert sent.status_code == 302 and sent["Location"] == "/password-reset/sent/"
    assert client.post("/password-reset/", {"email": "nobody@example.org"}).status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["forgetful@example.org"]
    link = re.search(r"https?://[^/]+(/password-reset/[^/]+/[^/\s]+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert form.status_code == 200 and 'name="new_password1"' in form.content.decode()
    url = form.redirect_chain[-1][0] if form.redirect_chain else link
    weak = client.post(url, {"new_password1": "123", "new_password2": "123"})
    assert weak.status_code == 200 and 'aria-invalid="true"' in weak.content.decode()
    done = client.post(url, {"new_password1": "a fresh long passphrase 7", "new_password2": "a fresh long passphrase 7"})
    assert done.status_code == 302 and done["Location"] == "/password-reset/complete/"
    user.refresh_from_db()
    assert user.check_password("a fresh long passphrase 7")
    assert "used already" in client.get(link, follow=True).content.decode()
