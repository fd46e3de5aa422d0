"""Transition stories written from two canonical values, with no model: pure text templates."""

TEMPLATE_VERSION = "template-v1"


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


def template_story(
    *, context_name: str, from_title: str, from_policies: list[str], to_title: str, to_policies: list[str]
) -> str:
    """A first-person story of someone who moved from one value to another in a context."""
    situation = _lower_first(context_name)
    before = _policy_phrase(from_policies[0]) if from_policies else _lower_first(from_title)
    after = [_policy_phrase(p) for p in to_policies[:2]] or [_lower_first(to_title)]
    after_text = after[0] if len(after) == 1 else f"{after[0]}, and to {after[1]}"
    return (
        f"{situation[:1].upper()}{situation[1:]}, I used to be guided by “{from_title}”: what I watched for were "
        f"{before}. With time I saw that this was only part of what mattered. Now I am guided by “{to_title}”: "
        f"I pay attention to {after_text}."
    )
