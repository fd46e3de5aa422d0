"""Organizers verify an export from the console: upload, recompute, MATCH or MISMATCH with the first differences."""

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from deliberation.models import Round
from moral_graph.exports import export_build
from moral_graph.importer import mai_dump_import
from moral_graph.services import ranking_compute
from tests.factories import UserFactory, grant

pytestmark = pytest.mark.django_db

MINI = Path(__file__).resolve().parent.parent / "data" / "mai_mini"


def _upload(data, name="export.json"):
    return SimpleUploadedFile(name, json.dumps(data).encode(), content_type="application/json")


def test_an_organizer_uploads_an_export_and_sees_match_then_mismatch():
    summary = mai_dump_import(directory=MINI, slug="verify-me", votes_before=None)
    round_ = Round.objects.get(pk=summary.round_id)
    assert ranking_compute(round_id=round_.pk, method="bt") is not None
    round_.refresh_from_db()
    data = json.loads(json.dumps(export_build(round_=round_)))
    viewer = UserFactory(username="verifier")
    grant(round_, viewer, "viewer")
    client = Client()
    client.force_login(viewer)
    url = "/console/verify-me/verify/"
    assert client.get(url).status_code == 200
    match = client.post(url, {"export": _upload(data)})
    text = match.content.decode()
    assert match.status_code == 200 and "MATCH" in text and "MISMATCH" not in text
    data["rankings"][0]["values"][0]["score"] += 0.01
    data["edges"][0]["counts"]["markedWiser"] += 1
    mismatch = client.post(url, {"export": _upload(data, "tampered.json")})
    text = mismatch.content.decode()
    assert mismatch.status_code == 200 and "MISMATCH 2" in text and "markedWiser" in text and "score" in text
    broken = client.post(url, {"export": SimpleUploadedFile("x.json", b"{not json")})
    assert broken.status_code == 400 and "not readable JSON" in broken.content.decode()
    assert client.post(url, {}).status_code == 400
    with override_settings(WISER_VERIFY_MAX_BYTES=10):
        assert client.post(url, {"export": _upload(data)}).status_code == 400
    stranger = Client()
    stranger.force_login(UserFactory(username="stranger"))
    assert stranger.post(url, {"export": _upload(data)}).status_code == 403
