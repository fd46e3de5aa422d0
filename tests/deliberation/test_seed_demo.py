"""The demo seed gives a round with real content: 40+ participants, distinct cards, votes and a ranking."""
import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from cards.models import CanonicalValue, ValuesCard
from deliberation.models import Participant, Round
from moral_graph.models import RankingRun, WiserVote

pytestmark = pytest.mark.django_db(transaction=True)


def test_seed_demo_fills_the_report(capsys, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", "--password", "demo-pass-123")
    out = capsys.readouterr().out
    assert "Organizer login: organizer / demo-pass-123" in out and "Participant link:" in out
    round_ = Round.objects.get()
    assert Participant.objects.filter(round=round_).count() >= 40
    cards = ValuesCard.objects.filter(round=round_)
    assert cards.count() >= 40
    assert len(set(cards.values_list("title", flat=True))) == cards.count()
    values = CanonicalValue.objects.filter(round=round_, is_active=True).count()
    assert 8 <= values < cards.count()
    assert WiserVote.objects.filter(story__round=round_).count() >= 200
    run = RankingRun.objects.get(round=round_, status="published")
    assert run.snapshots.count() == 3
    page = Client().get(f"/r/{round_.slug}/report/")
    assert page.status_code == 200
    for context in round_.questions.first().contexts.all():
        assert context.name in page.content.decode()

    # The demo ships English and Spanish: its round, question, contexts and joining questions, and the report's
    # group tables name the organizer's labels, not the stored keys.
    spanish = Client(HTTP_ACCEPT_LANGUAGE="es")
    join_page = spanish.get(f"/r/{round_.slug}/join/{round_.join_token}/").content.decode()
    assert "Dejar una comunidad de fe" in join_page and "Afinidad política" in join_page
    assert ">Republicana</option>" in join_page and "Tus respuestas se guardan con un seudónimo" in join_page
    for context in round_.questions.first().contexts.all():
        assert context.translations["es"]["name"].startswith("Cuando ")
    report = spanish.get(f"/r/{round_.slug}/report/").content.decode()
    assert "age_band" not in report and "political_affiliation" not in report
    assert "Afinidad política" in report and "Cuando la persona está angustiada" in report
    assert ">When the user is in distress</a>" not in report  # the summary's context names too
    brief = spanish.get(f"/r/{round_.slug}/report/?layout=brief").content.decode()
    assert "Cuando la persona está angustiada" in brief and "¿Cómo debería responder un asistente de IA" in brief

    call_command("seed_demo", "--if-empty")
    assert Round.objects.count() == 1
    with pytest.raises(CommandError):
        call_command("seed_demo")
    assert "demo-pass-123" in (tmp_path / "demo-login.txt").read_text()
