"""The dedup_eval command: the real offline run on the labelled set, bad input, and the model-judge path."""

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from cards import dedup, judge
from cards.management.commands import dedup_eval
from tests.cards.test_dedup_pure import bow_embed
from tests.fake_openai import json_reply

PAIRS = Path(__file__).resolve().parents[1] / "data" / "dedup_pairs.jsonl"
CARD = {
    "title": "Listening first",
    "description": "Hear them out.",
    "policies": ["MOMENTS of pause", "WORDS used"],
}


def run(*args) -> list[str]:
    out = StringIO()
    call_command("dedup_eval", *[str(a) for a in args], stdout=out)
    return out.getvalue().strip().splitlines()


def write_lines(tmp_path, lines) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def some_pairs(count: int) -> list[str]:
    lines = PAIRS.read_text(encoding="utf-8").splitlines()
    same = [line for line in lines if json.loads(line)["same"]][: count // 2]
    different = [line for line in lines if not json.loads(line)["same"]][: count - count // 2]
    return same + different


def test_the_labelled_set_is_well_formed_and_balanced():
    rows = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 270
    assert all(isinstance(row["topic"], str) and row["topic"] for row in rows)
    # Hard negatives: same question, same framing, different value.
    framed = [r for r in rows if not r["same"] and r["a"]["description"].split()[:2] == r["b"]["description"].split()[:2]]
    assert len(framed) >= 40
    assert 0.45 <= sum(r["same"] for r in rows) / len(rows) <= 0.55
    for row in rows:
        for side in ("a", "b"):
            card = row[side]
            assert 3 <= len(card["policies"]) <= 7
            assert all(re.match(r"^[A-Z][A-Z'-]+\b", p) for p in card["policies"])
            assert not re.search(r"\b(meaningful|deep)\b", " ".join(card["policies"]).lower())


@pytest.mark.django_db
def test_offline_held_out_f1_on_the_labelled_set(capsys):
    lines = run(PAIRS)
    last = lines[-1]
    with capsys.disabled():
        print("\ndedup_eval tests/data/dedup_pairs.jsonl (offline, held-out half):\n  " + "\n  ".join(lines))
    assert re.fullmatch(r"F1 0\.\d\d", last)
    assert float(last.split()[1]) >= 0.80
    assert "provider offline" in lines[0] and ", topics 51," in lines[0]
    assert any(line == "model calls per card 0.00" for line in lines)
    held_out = next(line for line in lines if line.startswith("held-out pairs"))
    assert held_out.startswith("held-out pairs 136")
    # Each topic scored with thresholds calibrated on the others: the bar for pairs nobody tuned on is 0.75.
    loto = next(line for line in lines if line.startswith("leave-one-topic-out over 51 topics"))
    assert float(re.search(r"F1 (0\.\d\d)", loto).group(1)) >= 0.75


def test_calibrate_on_zero_uses_the_default_thresholds_on_every_pair(tmp_path, monkeypatch):
    monkeypatch.setattr(dedup_eval, "embedder", lambda round_id=None: bow_embed)
    path = write_lines(tmp_path, some_pairs(20))
    lines = run(path, "--calibrate-on", "0")
    default = dedup.DEFAULT_THRESHOLDS
    assert f"thresholds (default): same at {default.threshold:.3f}" in lines[1]
    assert lines[2].startswith("held-out pairs 20")
    assert re.fullmatch(r"F1 [01]\.\d\d", lines[-1])


def test_the_split_depends_on_the_seed(tmp_path, monkeypatch):
    monkeypatch.setattr(dedup_eval, "embedder", lambda round_id=None: bow_embed)
    path = write_lines(tmp_path, some_pairs(40))
    first, again, other = run(path, "--seed", "1"), run(path, "--seed", "1"), run(path, "--seed", "2")
    assert first == again
    assert first[1] != other[1] or first[2] != other[2]


def test_extra_keys_and_blank_lines_are_ignored(tmp_path, monkeypatch):
    monkeypatch.setattr(dedup_eval, "embedder", lambda round_id=None: bow_embed)
    rows = [json.loads(line) | {"note": "extra"} for line in some_pairs(8)]
    path = write_lines(tmp_path, [json.dumps(rows[0]), ""] + [json.dumps(r) for r in rows[1:]])
    assert run(path, "--calibrate-on", "0")[0].startswith("pairs 8 (4 same)")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run(tmp_path / "absent.jsonl")


def test_malformed_line_names_its_number(tmp_path):
    path = write_lines(tmp_path, [json.dumps({"a": CARD, "b": CARD, "same": True}), "{not json"])
    with pytest.raises(CommandError, match=r"line 2: not valid JSON"):
        run(path)


def test_card_without_policies_names_its_line_and_side(tmp_path):
    empty = dict(CARD, policies=[])
    path = write_lines(
        tmp_path,
        [json.dumps({"a": CARD, "b": CARD, "same": True})] * 2
        + [json.dumps({"a": CARD, "b": empty, "same": False})],
    )
    with pytest.raises(CommandError, match=r"line 3, card 'b': the card has no attentional policies"):
        run(path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('["a", "b"]', "expected an object"),
        (json.dumps({"a": CARD, "b": CARD, "same": "yes"}), "'same' must be true or false"),
        (json.dumps({"a": CARD, "same": True}), "card 'b'"),
    ],
)
def test_other_bad_lines(tmp_path, line, message):
    with pytest.raises(CommandError, match=message):
        run(write_lines(tmp_path, [line]))


def test_bad_fraction_and_empty_file(tmp_path):
    path = write_lines(tmp_path, [json.dumps({"a": CARD, "b": CARD, "same": True})])
    with pytest.raises(CommandError, match="--calibrate-on"):
        run(path, "--calibrate-on", "1.5")
    with pytest.raises(CommandError, match="no labelled pairs"):
        run(write_lines(tmp_path, [""]))


def test_leave_one_topic_out_calibrates_without_the_topic_it_scores(tmp_path, monkeypatch):
    monkeypatch.setattr(dedup_eval, "embedder", lambda round_id=None: bow_embed)
    calibrated_on = []
    real = dedup.calibrate

    def spy(scores, labels, **kwargs):
        calibrated_on.append(len(scores))
        return real(scores, labels, **kwargs)

    monkeypatch.setattr(dedup, "calibrate", spy)
    rows = [json.loads(line) for line in some_pairs(24)]
    for i, row in enumerate(rows):
        row["topic"] = f"topic {i % 3}"
    lines = run(write_lines(tmp_path, [json.dumps(r) for r in rows]), "--calibrate-on", "0")
    assert any(line.startswith("leave-one-topic-out over 3 topics, all 24 pairs") for line in lines)
    assert calibrated_on == [16, 16, 16]
    untagged = [json.dumps({k: v for k, v in r.items() if k != "topic"}) for r in rows]
    assert "leave-one-topic-out: the file has fewer than two topics" in run(
        write_lines(tmp_path, untagged), "--calibrate-on", "0"
    )


def test_a_topic_that_is_not_text_is_a_clear_error(tmp_path):
    path = write_lines(tmp_path, [json.dumps({"a": CARD, "b": CARD, "same": True, "topic": 3})])
    with pytest.raises(CommandError, match=r"line 1: 'topic' must be text"):
        run(path)


@pytest.mark.django_db
def test_with_a_model_every_doubtful_pair_is_judged_and_cards_travel_as_data(tmp_path, fake_openai):
    fake_openai.always(
        json_reply({"verdicts": [{"candidate": 1, "same_value": True, "differing_parts": [], "confidence": 0.9}]})
    )
    lines = run(write_lines(tmp_path, some_pairs(24)))
    assert "provider model judge" in lines[0]
    band = re.search(r"doubtful \(a judge would see them\) (\d+) \(\d+%\), judged by the model (\d+)", "\n".join(lines))
    in_band, judged = int(band.group(1)), int(band.group(2))
    chats = fake_openai.requests_to("/chat/completions")
    assert judged == in_band == len(chats) >= 1
    assert float(next(line for line in lines if line.startswith("model calls per card")).split()[-1]) <= 1
    system = next(m for m in chats[0].body["messages"] if m["role"] == "system")["content"]
    user = next(m for m in chats[0].body["messages"] if m["role"] == "user")["content"]
    assert '"candidates"' in user and "card_a" not in judge.JUDGE_INSTRUCTIONS
    assert all(json.loads(line)["a"]["title"] not in system for line in some_pairs(24))
    assert re.fullmatch(r"F1 [01]\.\d\d", lines[-1])


@pytest.mark.django_db
def test_judge_candidates_returns_one_verdict_per_candidate_in_one_call(fake_openai):
    fake_openai.enqueue(
        json_reply(
            {
                "verdicts": [
                    {"candidate": 2, "same_value": True, "differing_parts": [], "confidence": 0.7},
                    {"candidate": 1, "same_value": False, "differing_parts": ["DANGERS"], "confidence": 0.8},
                    {"candidate": 1, "same_value": True, "differing_parts": [], "confidence": 1.0},
                    {"candidate": 9, "same_value": True, "differing_parts": [], "confidence": 1.0},
                ]
            }
        )
    )
    a = dedup.CardText.from_mapping(CARD)
    verdicts = judge.judge_candidates(a, [a, a, a], round_id=None)
    assert verdicts == [
        dedup.Verdict(same=False, confidence=0.8, differing_parts=("DANGERS",)),
        dedup.Verdict(same=True, confidence=0.7),
        None,
    ]
    assert len(fake_openai.requests_to("/chat/completions")) == 1
    assert judge.judge_available()
    assert judge.judge_candidates(a, []) == []


@pytest.mark.django_db
def test_a_lone_candidates_lone_verdict_counts_whatever_its_number(fake_openai):
    verdict = {"candidate": 0, "same_value": True, "differing_parts": [], "confidence": 0.9}
    fake_openai.enqueue(json_reply({"verdicts": [verdict]}))
    a = dedup.CardText.from_mapping(CARD)
    assert judge.judge_candidates(a, [a]) == [dedup.Verdict(same=True, confidence=0.9)]
    # With two candidates a wrong number stays unknown rather than guessed.
    fake_openai.enqueue(json_reply({"verdicts": [verdict]}))
    assert judge.judge_candidates(a, [a, a]) == [None, None]


def test_judge_candidates_without_a_model_is_unavailable(settings):
    settings.OPENAI_API_KEY = ""
    a = dedup.CardText.from_mapping(CARD)
    assert not judge.judge_available()
    with pytest.raises(dedup.JudgeUnavailable):
        judge.judge_candidates(a, [a])


def test_judge_schema_bounds_confidence():
    with pytest.raises(ValueError):
        judge.CandidateJudgement(candidate=1, same_value=True, differing_parts=[], confidence=1.5)
