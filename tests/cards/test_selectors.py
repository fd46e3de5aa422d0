"""cards.selectors.values_similar: the existing values a card being written looks close to."""

import pytest

from cards import dedup
from cards.models import CanonicalValue
from cards.selectors import values_similar
from tests.factories import FAMILIES, join, make_round, submit

pytestmark = pytest.mark.django_db


def test_values_similar_names_the_value_a_new_articulation_expresses_first():
    round_ = make_round(slug="similar")
    question = round_.questions.first()
    for family in FAMILIES:
        submit(join(round_), family=family)
    autonomy = CanonicalValue.objects.get(round=round_, title=FAMILIES["autonomy"][0][0])
    title, description, policies = FAMILIES["autonomy"][1]
    found = values_similar(question.pk, dedup.CardText(title, description, tuple(policies)))
    assert found and found[0].id == autonomy.pk and len(found) <= 3
    assert [v.similarity for v in found] == sorted((v.similarity for v in found), reverse=True)
    assert len(values_similar(question.pk, dedup.CardText(title, description, tuple(policies)), limit=1)) <= 1
    # A draft still without policies is compared too (it scores lower than a whole card: a lower floor).
    draft = values_similar(question.pk, f"{title}. {description}", floor=0.2)
    assert draft and draft[0].id == autonomy.pk
    assert values_similar(question.pk, "   ") == []
    # Another question's values are never offered.
    other = make_round(slug="similar-other").questions.first()
    assert values_similar(other.pk, f"{title}. {description}", floor=-1.0) == []
