"""Coaching for articulation without a model: checks that tell a value from a rule, a goal or a norm.

A values card says what someone pays attention to when choosing well (MAI's attentional policies). Answers that
read as a rule ("should", "always", "never"), an instruction ("Be nice"), an outcome to reach ("so that…") or a
social norm ("what is expected") are common first drafts; each check names the pattern and shows a rewrite.
Pure: no ORM, no model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

RULE = re.compile(r"\b(should|shouldn't|must|mustn't|ought|have to|has to|always|never|need to|needs to)\b", re.I)
GOAL = re.compile(
    r"\b(so that|in order to|to make sure|to ensure|ensure that|make sure|achieve|maximi[sz]e|minimi[sz]e|"
    r"the goal|the outcome|the result|end up)\b",
    re.I,
)
NORM = re.compile(
    r"\b(supposed to|expected to|the right thing|appropriate|proper|polite|acceptable|normal|people think|"
    r"society|what others)\b",
    re.I,
)
# Verbs that open an instruction ("Be nice", "Tell them to stay", "Don't judge").
IMPERATIVES = frozenset(
    """be tell give make let do don't dont help avoid ask stop keep respect listen support encourage remind
    respond treat show try explain refer suggest warn protect accept allow offer say use stay leave""".split()
)


@dataclass(frozen=True)
class Hint:
    """One coaching note: what the answer reads like, why it matters, and an example rewrite."""

    kind: str
    message: str
    example: str


HINTS = {
    "rule": Hint(
        "rule",
        _("This reads like a rule (“should”, “always”, “never”). A value is not what must be done: it is what you "
          "pay attention to when you choose well."),
        _("Instead of “The AI should always tell them to stay”, try “MOMENTS when she can say what staying would "
          "mean to her”."),
    ),
    "instruction": Hint(
        "instruction",
        _("This reads like an instruction. Say what you notice or look for, not what someone should do."),
        _("Instead of “Be nice”, try “WARMTH in how she is spoken to, so she feels she can say anything”."),
    ),
    "goal": Hint(
        "goal",
        _("This reads like a goal or an outcome to reach. A value is about what you attend to along the way, "
          "the things that, when you notice them, tell you that you are choosing well."),
        _("Instead of “Make sure she ends up happy”, try “SIGNS that she is choosing from what she really wants”."),
    ),
    "norm": Hint(
        "norm",
        _("This reads like a social norm: what people expect. What do you yourself find worth attending to, "
          "whatever others expect?"),
        _("Instead of “Do what is appropriate”, try “CARE for how her family bonds can survive her choice”."),
    ),
}


def coach(text: str) -> list[Hint]:
    """The coaching hints an answer calls for, at most one per kind, in a fixed order."""
    found = []
    lines = [line.strip(" -•*\t") for line in text.splitlines() if line.strip()]
    if RULE.search(text):
        found.append(HINTS["rule"])
    if any(_starts_with_imperative(line) for line in lines):
        found.append(HINTS["instruction"])
    if GOAL.search(text):
        found.append(HINTS["goal"])
    if NORM.search(text):
        found.append(HINTS["norm"])
    return found


def _starts_with_imperative(line: str) -> bool:
    words = re.findall(r"[A-Za-z']+", line)
    if not words:
        return False
    first = words[0].lower()
    # "BE" in capitals opens a policy's kind of thing only rarely; a capitalised or lower-case verb opens an order.
    return first in IMPERATIVES and not (len(words) > 1 and words[1].lower() in {"of", "for", "when", "that"})
