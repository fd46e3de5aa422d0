"""Archive and delete a round, add a question, remove a context: through the API, with its unhappy paths."""

import pytest
from rest_framework.test import APIClient

from deliberation.models import AuditEvent, Context, Round
from tests.factories import UserFactory, grant, join, make_round, submit

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _owner(round_):
    return round_.roles.get().user


def test_archive_hides_the_round_from_joining_and_the_lists():
    round_ = make_round(slug="api-archive")
    owner, viewer = _owner(round_), UserFactory(username="api-viewer")
    grant(round_, viewer, "viewer")
    assert _client(viewer).post("/api/v1/rounds/api-archive/archive/", {"archived": True}, format="json").status_code == 403
    assert APIClient().post("/api/v1/rounds/api-archive/archive/", {"archived": True}, format="json").status_code in (401, 403)
    assert _client(owner).post("/api/v1/rounds/nope/archive/", {"archived": True}, format="json").status_code == 404
    bad = _client(owner).post("/api/v1/rounds/api-archive/archive/", {"archived": "maybe"}, format="json")
    assert bad.status_code == 400 and "archived" in bad.json()["error"]["fields"]
    assert _client(owner).post("/api/v1/rounds/api-archive/archive/", {"archived": True}, format="json").status_code == 200
    round_.refresh_from_db()
    assert round_.archived_at is not None
    refused = APIClient().post(
        "/api/v1/rounds/api-archive/join/", {"consent": True, "join_token": round_.join_token}, format="json"
    )
    assert refused.status_code == 409
    assert _client(owner).post("/api/v1/rounds/api-archive/archive/", {"archived": False}, format="json").status_code == 200
    round_.refresh_from_db()
    assert round_.archived_at is None
    assert list(AuditEvent.objects.filter(round=round_, action__startswith="round.").values_list("action", flat=True))[:2] == [
        "round.unarchive",
        "round.archive",
    ]


def test_delete_needs_the_slug_and_an_empty_round():
    empty = make_round(slug="api-empty", stage="draft")
    owner = _owner(empty)
    stranger = UserFactory(username="api-stranger")
    assert _client(stranger).delete("/api/v1/rounds/api-empty/?confirm=api-empty").status_code == 403
    assert _client(owner).delete("/api/v1/rounds/api-missing/?confirm=api-missing").status_code == 404
    unconfirmed = _client(owner).delete("/api/v1/rounds/api-empty/?confirm=wrong")
    assert unconfirmed.status_code == 400 and "confirm" in unconfirmed.json()["error"]["fields"]
    assert _client(owner).delete("/api/v1/rounds/api-empty/?confirm=api-empty").status_code == 204
    assert not Round.objects.filter(slug="api-empty").exists()
    assert AuditEvent.objects.filter(action="round.delete", data__slug="api-empty").exists()

    used = make_round(slug="api-used")
    join(used)
    kept = _client(_owner(used)).delete("/api/v1/rounds/api-used/?confirm=api-used")
    assert kept.status_code == 409 and Round.objects.filter(slug="api-used").exists()


def test_a_second_question_is_added_with_its_contexts():
    round_ = make_round(slug="api-questions")
    owner = _owner(round_)
    url = "/api/v1/rounds/api-questions/questions/"
    viewer = UserFactory(username="api-q-viewer")
    grant(round_, viewer, "viewer")
    assert _client(viewer).post(url, {"text": "What else matters here?", "contexts": ["Later"]}, format="json").status_code == 403
    assert _client(owner).post("/api/v1/rounds/none/questions/", {"text": "x", "contexts": []}, format="json").status_code == 404
    bad = _client(owner).post(url, {"text": "?", "contexts": []}, format="json")
    assert bad.status_code == 400 and {"text", "contexts"} <= set(bad.json()["error"]["fields"])
    made = _client(owner).post(url, {"text": "What else matters here?", "contexts": ["Later", "Much later"]}, format="json")
    assert made.status_code == 201
    second = round_.questions.order_by("order").last()
    assert second.text == "What else matters here?" and second.contexts.count() == 2
    assert round_.questions.count() == 2


def test_a_context_without_cards_is_removed_and_one_with_cards_is_kept():
    round_ = make_round(slug="api-contexts")
    owner = _owner(round_)
    written = submit(join(round_), context_index=0).context
    empty = round_.questions.get().contexts.exclude(pk=written.pk).first()
    other = make_round(slug="api-other")
    foreign = other.questions.get().contexts.first()
    stranger = UserFactory(username="api-ctx-stranger")
    url = "/api/v1/rounds/api-contexts/contexts/"
    assert _client(stranger).delete(f"{url}{empty.pk}/").status_code == 403
    assert _client(owner).delete(f"{url}{foreign.pk}/").status_code == 404
    refused = _client(owner).delete(f"{url}{written.pk}/")
    assert refused.status_code == 409 and Context.objects.filter(pk=written.pk).exists()
    assert _client(owner).delete(f"{url}{empty.pk}/").status_code == 204
    assert not Context.objects.filter(pk=empty.pk).exists()
    last = _client(owner).delete(f"{url}{written.pk}/")
    assert last.status_code == 409
