"""manage.py dedup_cards: a file of cards placed with live placement in a scratch round; and MAI's real cards."""

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from bench.dedup_mai import agreement, cluster_all, load_cards, to_card_text
from cards import dedup, services
from cards.models import CanonicalValue, ValuesCard
from deliberation.models import Round
from llm.offline import embed_texts
from tests.factories import FAMILIES

ROOT = Path(__file__).resolve().parents[2]
MAI = ROOT.parent / "shared" / "eval" / "mai-dft-2023"


def wiser_cards() -> list[dict]:
    """Two questions: every family's three variants in the first, and one verbatim copy in the second."""
    cards = []
    for family, variants in FAMILIES.items():
        for variant, (title, description, policies) in enumerate(variants):
            cards.append(
                {"id": f"{family}-{variant}", "title": title, "description": description, "policies": policies,
                 "question": "q1"}
            )
    copy = dict(cards[0], id="copy-in-q2", question="q2")
    return cards + [dict(cards[0], id="copy-in-q1"), copy]


def run(tmp_path: Path, cards, *args) -> dict:
    source, out = tmp_path / "cards.json", tmp_path / "out.json"
    source.write_text(cards if isinstance(cards, str) else json.dumps(cards), encoding="utf-8")
    call_command("dedup_cards", str(source), "--out", str(out), *args, stdout=StringIO())
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.django_db
def test_wiser_cards_are_placed_in_file_order_with_live_placement_and_the_scratch_round_is_removed(
    tmp_path, monkeypatch
):
    placed = []
    real = services.dedup_place_card

    def spy(*, card_id, on_settled=None):
        placed.append(ValuesCard.objects.get(pk=card_id).title)
        return real(card_id=card_id, on_settled=on_settled)

    monkeypatch.setattr(services, "dedup_place_card", spy)
    cards = wiser_cards()
    rounds = Round.objects.count()
    result = run(tmp_path, cards)
    assert placed == [c["title"] for c in cards]
    assert set(result["assignments"]) == {c["id"] for c in cards}
    assert result["values"] == len(set(result["assignments"].values())) and result["cards"] == len(cards)
    assert result["model"] is False and result["judged"] == 0
    assignments = result["assignments"]
    # A verbatim copy joins its value; the same text under another question does not.
    assert assignments["copy-in-q1"] == assignments[cards[0]["id"]]
    assert assignments["copy-in-q2"] != assignments[cards[0]["id"]]
    # A value's key is one of its own cards.
    assert all(assignments[key] == key for key in assignments.values())
    assert Round.objects.count() == rounds
    assert not ValuesCard.objects.exists() and not CanonicalValue.objects.exists()


@pytest.mark.django_db
def test_mai_cards_are_read_in_their_shape_and_long_texts_are_embedded_in_full(tmp_path):
    cards = load_cards(MAI)
    long = next(c for c in cards if len(c["instructionsShort"]) > 400)
    chosen = [long, *cards[:5], dict(long, id="copy-of-long")]
    result = run(tmp_path, chosen)
    assert set(result["assignments"]) == {str(c["id"]) for c in chosen}
    assert result["assignments"]["copy-of-long"] == result["assignments"][str(long["id"])]
    assert not Round.objects.exists()


@pytest.mark.django_db
def test_the_scratch_round_is_removed_when_placement_fails(tmp_path, monkeypatch):
    def broken(*, card_id, on_settled=None):
        raise RuntimeError("placement failed")

    monkeypatch.setattr(services, "dedup_place_card", broken)
    with pytest.raises(RuntimeError):
        run(tmp_path, wiser_cards()[:2])
    assert not Round.objects.exists() and not ValuesCard.objects.exists()


CARD = {"id": 1, "title": "Listening first", "description": "Hear them out.", "policies": ["MOMENTS of pause"]}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"cards": []}), "expected a JSON list of cards"),
        ("[]", "the list holds no cards"),
        (json.dumps([CARD, "x"]), "card 2: expected an object"),
        (json.dumps([{k: v for k, v in CARD.items() if k != "id"}]), "card 1: 'id' must be a number or a text"),
        (json.dumps([CARD, CARD]), r"card 2 \(id 1\): the id is used by an earlier card"),
        (json.dumps([{"id": 1, "title": "T"}]), "no 'policies' .* or 'evaluationCriteria'"),
        (json.dumps([dict(CARD, policies=[])]), "the card has no attentional policies"),
        (json.dumps([dict(CARD, title="")]), "the card has no title"),
        (json.dumps([dict(CARD, question=["q"])]), "'question' must be a number or a text"),
        (
            json.dumps([{"id": 2, "title": "T", "instructionsShort": "S", "evaluationCriteria": "NOT A LIST"}]),
            "policies must be a list of texts",
        ),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path, content, message):
    with pytest.raises(CommandError, match=message):
        run(tmp_path, content)


def test_missing_file_bad_out_folder_and_bad_threshold(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("dedup_cards", str(tmp_path / "absent.json"), "--out", str(tmp_path / "o.json"))
    with pytest.raises(CommandError, match="no such folder"):
        call_command("dedup_cards", str(tmp_path / "absent.json"), "--out", str(tmp_path / "none" / "o.json"))
    with pytest.raises(CommandError, match="--threshold"):
        call_command("dedup_cards", str(tmp_path / "a.json"), "--out", str(tmp_path / "o.json"), "--threshold", "2")


def test_bad_input_exits_non_zero_from_the_command_line(tmp_path):
    source = tmp_path / "cards.json"
    source.write_text("[]", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "manage.py", "dedup_cards", str(source), "--out", str(tmp_path / "out.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode != 0
    assert "the list holds no cards" in done.stderr
    assert not (tmp_path / "out.json").exists()


def test_mai_cards_keep_between_70_and_180_values_at_pairwise_precision_060(monkeypatch):
    # MAI's 630 real cards, with the rules of live placement (the pure cluster_cards; bench/dedup_mai.py runs the
    # database placement itself and finds the same count): their framing no longer collapses unrelated values.
    cards = load_cards(MAI)
    texts = [to_card_text(c) for c in cards]
    vectors = dedup.embed_cards(texts, embed_texts)
    labels = cluster_all(cards, texts, vectors, dedup.DEFAULT_THRESHOLDS)
    result = agreement(cards, labels)
    assert 70 <= len(set(labels)) <= 180
    assert result["precision"] >= 0.60
    # Without centring, the same rules collapse them (the failure of issue #14: 23 values, precision 0.10).
    monkeypatch.setattr(dedup, "CENTRING", 0.0)
    assert len(set(cluster_all(cards, texts, vectors, dedup.DEFAULT_THRESHOLDS))) < 70
