"""Coaching without a model: a value is told from a rule, an instruction, a goal and a norm, with examples."""

import pytest

from cards.articulation import assemble_draft, draft_problems
from cards.coaching import HINTS, coach


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("The AI should always tell them to stay", "rule"),
        ("Never judge her", "rule"),
        ("be nice", "instruction"),
        ("Tell her the truth about the risks", "instruction"),
        ("- Respect her choice\n- Listen", "instruction"),
        ("So that she ends up happy with her life", "goal"),
        ("To make sure she is safe", "goal"),
        ("What is appropriate for a girl her age", "norm"),
    ],
)
def test_rules_instructions_goals_and_norms_are_named(text, kind):
    assert kind in [hint.kind for hint in coach(text)]


@pytest.mark.parametrize(
    "text",
    [
        "OPPORTUNITIES for her to hear her own inner voice",
        "MOMENTS when she can say what staying would mean to her\nSIGNS that she feels safe enough to speak",
        "That the choice was really hers and nobody pressed her.",
        "CARE for how her family bonds can survive her choice",
    ],
)
def test_values_written_as_attention_pass_without_a_hint(text):
    assert coach(text) == []


def test_every_hint_carries_an_example_rewrite_that_passes_its_own_checks():
    for hint in HINTS.values():
        rewrite = str(hint.example).split("try “", 1)[1].rstrip("”.")
        assert hint.message and coach(rewrite) == [], rewrite


def test_guided_answers_assemble_into_a_valid_card():
    draft = assemble_draft(
        {
            "choice": "My cousin asked me whether to leave her church.",
            "attention": "- OPPORTUNITIES for her to hear her own inner voice\n"
            "CHOICES she can own without pressure from others;\n"
            "QUESTIONS that help her notice what she already wants.\n\n",
            "meaningful": "Helping a person reach a choice that is truly her own. It matters a lot",
            "title": "“Her own decision.”",
        },
        context_id=7,
    )
    assert draft["title"] == "Her own decision" and draft["context_id"] == 7
    assert draft["description"] == "Helping a person reach a choice that is truly her own."
    assert draft["policies"][0] == "OPPORTUNITIES for her to hear her own inner voice" and len(draft["policies"]) == 3
    assert draft_problems(draft) == {}
