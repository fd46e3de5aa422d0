"""Transition stories written from two canonical values, with no model: pure text templates.

Several templates, each built from the two values' own attentional policies; a story's template follows from the
pair (a stable hash), so the stories of one context read differently from each other. Voters are told that a
template story is an illustration written from the two cards, not someone's account (the vote page).
"""

import hashlib

TEMPLATE_VERSION = "template-v2"


def _lower_first(text: str) -> str:
    text = text.strip().rstrip(".")
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def _policy_phrase(policy: str) -> str:
    """'OPPORTUNITIES for her to grow' -> 'opportunities for her to grow'."""
    words = policy.strip().rstrip(".").split(" ", 1)
    head = words[0].lower() if words[0].isupper() else words[0]
    return head if len(words) == 1 else f"{head} {words[1]}"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _phrases(policies: list[str], title: str, n: int) -> list[str]:
    """The first n policies as phrases, repeating the last (or the title) when the card has fewer."""
    phrases = [_policy_phrase(p) for p in policies if p.strip()][:n] or [_lower_first(title)]
    return phrases + [phrases[-1]] * (n - len(phrases))


def _situation(context_name: str) -> str:
    """'When the user is in distress' -> 'when the user is in distress'; other names become 'in "<name>"'."""
    name = _lower_first(context_name)
    return name if name.split(" ", 1)[0] in {"when", "while", "if", "after", "before", "during"} else f"in “{name}”"


TEMPLATES = (
    "{Situation}, I used to be guided by “{from_title}”: what I watched for were {before1}. Then I noticed what "
    "that left out. Now I am guided by “{to_title}”: I pay attention to {after1}, and to {after2}.",
    "{Situation}, my first thought used to be {before1}, and {before2}. Over time I found that {after1} "
    "mattered more to me. I now follow “{to_title}” rather than “{from_title}”, and I also look for {after2}.",
    "I was someone who, {situation}, looked mostly at {before1} (“{from_title}”). A few experiences changed how "
    "I see it. Today I look at {after1} and at {after2}: that is “{to_title}”.",
    "{Situation}, “{from_title}” was enough for me: I cared about {before1}. I came to think it missed something. "
    "“{to_title}” guides me now, and what I attend to is {after1}, then {after2}.",
)


def template_index(*, context_name: str, from_title: str, to_title: str) -> int:
    """Which template a story uses: a stable hash of the pair and its context (not Python's salted hash)."""
    digest = hashlib.sha256(f"{context_name}\x1f{from_title}\x1f{to_title}".encode()).digest()
    return digest[0] % len(TEMPLATES)


def template_story(
    *, context_name: str, from_title: str, from_policies: list[str], to_title: str, to_policies: list[str]
) -> str:
    """A first-person story of someone who moved from one value to another in a context, from the two cards'
    own policies (illustrative: written by template, not by a person)."""
    situation = _situation(context_name)
    before1, before2 = _phrases(from_policies, from_title, 2)
    after1, after2 = _phrases(to_policies, to_title, 2)
    template = TEMPLATES[template_index(context_name=context_name, from_title=from_title, to_title=to_title)]
    return template.format(
        Situation=_capital(situation),
        situation=situation,
        from_title=from_title,
        to_title=to_title,
        before1=before1,
        before2=before2,
        after1=after1,
        after2=after2,
    )
