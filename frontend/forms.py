"""Turn the organizer's typed text (one context or attribute per line) into what the services take."""

from typing import Any

from django.http import QueryDict

SETTING_FIELDS = ("stories_per_participant", "min_votes_per_story", "participant_cap", "token_budget")
CHOICE_FIELDS = ("report_visibility", "ranking_method")
FLAG_FIELDS = ("open_link_enabled", "report_live")


def parse_contexts(text: str) -> list[dict[str, str]]:
    """One context per line, optionally "name | description"."""
    contexts = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        name, _, description = line.partition("|")
        contexts.append({"name": name.strip(), "description": description.strip()})
    return contexts


def parse_attributes(text: str) -> list[dict[str, Any]]:
    """One attribute per line: "label: choice, choice, choice"."""
    attributes = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        label, _, choices = line.partition(":")
        attributes.append(
            {
                "label": label.strip(),
                "choices": [c.strip() for c in choices.split(",") if c.strip()],
                "grouping": True,
            }
        )
    return attributes


def contexts_text(contexts) -> str:
    """The contexts as the organizer typed them, for a form to show again."""
    return "\n".join(f"{c.name} | {c.description}" if c.description else c.name for c in contexts)


def attributes_text(attributes) -> str:
    return "\n".join(f"{a.label}: {', '.join(a.choices)}" for a in attributes)


def round_settings(post: QueryDict) -> dict[str, Any]:
    """The settings fields of the round form, as round_create and round_update take them."""
    values: dict[str, Any] = {name: post.get(name, "").strip() for name in SETTING_FIELDS}
    for name in CHOICE_FIELDS:
        if name in post:
            values[name] = post.get(name)
    for name in FLAG_FIELDS:
        values[name] = post.get(name) == "on"
    values["consent_text"] = post.get("consent_text", "")
    return values
