"""Structure of the demo round and of the labelled guidance situations (pure data, no database)."""

import json
import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO_ROUND = ROOT / "operations" / "demo" / "demo_round.json"
GUIDANCE = ROOT / "tests" / "data" / "guidance_situations.jsonl"

ONE_SENTENCE = re.compile(r"[^.!?]+[.!?]")
SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
BANNED_WORDS = re.compile(r"\b(meaningful|deep)\b", re.IGNORECASE)
CAPITALISED_START = re.compile(r"[A-Z][A-Z'-]*[A-Z]\b")


@pytest.fixture(scope="module")
def demo():
    return json.loads(DEMO_ROUND.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def guidance():
    lines = GUIDANCE.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def context_names(demo):
    return [c["name"] for c in demo["contexts"]]


@pytest.fixture(scope="module")
def cards(demo):
    return [p["card"] for p in demo["participants"]]


@pytest.fixture(scope="module")
def families(demo):
    return {v["key"]: v for v in demo["values"]}


def test_round_header_is_filled_in(demo):
    for field in ("slug", "title", "description", "question"):
        assert isinstance(demo[field], str) and demo[field].strip(), field
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", demo["slug"])
    assert demo["question"].endswith("?")


def test_exactly_three_distinct_when_contexts(demo, context_names):
    assert len(context_names) == 3
    assert len(set(context_names)) == 3
    for context in demo["contexts"]:
        assert context["name"].startswith("When ")
        assert context["description"].strip()


def test_attributes_are_grouping_choices(demo):
    keys = [a["key"] for a in demo["attributes"]]
    assert keys == ["political_affiliation", "age_band"]
    for attribute in demo["attributes"]:
        assert attribute["label"].strip()
        assert len(attribute["choices"]) == len(set(attribute["choices"])) >= 2
        assert attribute["grouping"] is True


def test_participants_are_many_with_unique_pseudonyms(demo):
    pseudonyms = [p["pseudonym"] for p in demo["participants"]]
    assert len(pseudonyms) >= 48
    assert len(set(pseudonyms)) == len(pseudonyms)


def test_participant_attributes_are_among_the_choices(demo):
    choices = {a["key"]: set(a["choices"]) for a in demo["attributes"]}
    for participant in demo["participants"]:
        assert set(participant["attributes"]) == set(choices), participant["pseudonym"]
        for key, value in participant["attributes"].items():
            assert value in choices[key], (participant["pseudonym"], key, value)


def test_every_attribute_choice_is_used(demo):
    for attribute in demo["attributes"]:
        used = {p["attributes"][attribute["key"]] for p in demo["participants"]}
        assert used == set(attribute["choices"]), attribute["key"]


def test_card_titles_have_two_to_five_words(cards):
    for card in cards:
        assert 2 <= len(card["title"].split()) <= 5, card["title"]


def test_card_descriptions_are_one_sentence(cards):
    for card in cards:
        assert ONE_SENTENCE.fullmatch(card["description"]), card["description"]


def test_cards_have_three_to_seven_capitalised_policies(cards):
    for card in cards:
        assert 3 <= len(card["policies"]) <= 7, card["title"]
        for policy in card["policies"]:
            assert CAPITALISED_START.match(policy), policy
            assert len(policy.split()) >= 3, policy


def test_cards_avoid_filler_words(cards):
    for card in cards:
        for text in (card["title"], card["description"], *card["policies"]):
            assert not BANNED_WORDS.search(text), text


def test_titles_and_policies_are_distinct_across_cards(cards):
    titles = Counter(card["title"].casefold() for card in cards)
    assert [t for t, n in titles.items() if n > 1] == []
    policies = Counter(p.casefold() for card in cards for p in card["policies"])
    assert [p for p, n in policies.items() if n > 1] == []


def test_value_families_are_twelve_to_fifteen_with_known_contexts(demo, context_names):
    keys = [v["key"] for v in demo["values"]]
    assert 12 <= len(keys) <= 15
    assert len(set(keys)) == len(keys)
    for value in demo["values"]:
        assert value["contexts"], value["key"]
        assert set(value["contexts"]) <= set(context_names), value["key"]


def test_each_family_has_three_to_five_cards(cards, families):
    per_family = Counter(card["value"] for card in cards)
    assert set(per_family) == set(families)
    for key, count in per_family.items():
        assert 3 <= count <= 5, (key, count)


def test_cards_sit_in_their_family_contexts_and_cover_them(cards, families):
    covered = {key: set() for key in families}
    for card in cards:
        assert card["context"] in families[card["value"]]["contexts"], card["title"]
        covered[card["value"]].add(card["context"])
    for key, family in families.items():
        assert covered[key] == set(family["contexts"]), key


def test_families_are_not_single_party(demo):
    parties: dict[str, set[str]] = {}
    for participant in demo["participants"]:
        family = participant["card"]["value"]
        parties.setdefault(family, set()).add(participant["attributes"]["political_affiliation"])
    for family, seen in parties.items():
        assert len(seen) >= 2, family


def test_each_context_has_six_to_nine_values(demo, context_names):
    for name in context_names:
        relevant = [v["key"] for v in demo["values"] if name in v["contexts"]]
        assert 6 <= len(relevant) <= 9, (name, len(relevant))


def test_wisdom_order_is_a_permutation_of_the_context_values(demo, context_names):
    assert set(demo["wisdom_order"]) == set(context_names)
    for name in context_names:
        relevant = {v["key"] for v in demo["values"] if name in v["contexts"]}
        order = demo["wisdom_order"][name]
        assert len(order) == len(set(order)), name
        assert set(order) == relevant, name


def test_guidance_labels_are_contexts_or_null(guidance, context_names):
    for item in guidance:
        assert set(item) == {"situation", "context"}
        assert item["context"] is None or item["context"] in context_names, item["context"]


def test_guidance_has_enough_situations_per_label(guidance, context_names):
    counts = Counter(item["context"] for item in guidance)
    for name in context_names:
        assert counts[name] >= 20, name
    assert counts[None] >= 20


def test_guidance_situations_are_unique_and_two_to_three_sentences(guidance):
    situations = [item["situation"].strip() for item in guidance]
    assert len({s.casefold() for s in situations}) == len(situations)
    for situation in situations:
        assert situation.endswith((".", "?", "!")), situation
        assert 2 <= len(SENTENCE_END.findall(situation)) <= 3, situation


def test_guidance_situations_do_not_just_repeat_the_context_name(guidance, context_names):
    for item in guidance:
        for name in context_names:
            assert name.casefold() not in item["situation"].casefold()


def test_the_demo_promises_only_what_a_round_without_a_model_offers():
    """The demo runs offline by default: its text must not promise a conversation with an assistant only."""
    import json

    description = json.loads(
        DEMO_ROUND.read_text()
    )["description"]
    assert "guided questions" in description and "form" in description
