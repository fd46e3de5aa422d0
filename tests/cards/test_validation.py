"""The one card schema: the rules the form, the chat and the API share."""

import pytest
from django.core.exceptions import ValidationError

from cards.validation import validate_card

POLICIES = [
    "OPPORTUNITIES for her to hear her own inner voice",
    "CHOICES she can own without pressure from others",
    "QUESTIONS that help her notice what she already wants",
]


def _errors(**fields):
    card = {"title": "Room for her conscience", "description": "Helping a person choose freely.", "policies": POLICIES}
    card.update(fields)
    try:
        validate_card(**card)
    except ValidationError as exc:
        return exc.message_dict
    return {}


def test_a_good_card_passes():
    assert _errors() == {}


@pytest.mark.parametrize("description", ["][", "...", "12 34", "?!", "a"])
def test_a_description_of_signs_or_one_letter_is_refused(description):
    assert "description" in _errors(description=description)


def test_a_title_of_signs_is_refused():
    assert "title" in _errors(title="][ ][")


@pytest.mark.parametrize(
    "description",
    [
        'She said "stop." Then she left.',
        "She said “stop.” Then she left.",
        "It ends here (really.) Then more.",
        "Wait... And then more.",
        "She asked 'why?' and I said nothing. Then she left.",
    ],
)
def test_two_sentences_are_found_behind_closing_quotes_and_brackets(description):
    assert _errors(description=description) == {"description": ["Use one sentence."]}


@pytest.mark.parametrize(
    "description",
    ['Helping her hear "her own voice."', "Helping a person choose freely (not under pressure).", "Being there..."],
)
def test_one_sentence_ending_in_a_quote_or_bracket_passes(description):
    assert _errors(description=description) == {}
