"""The audit log as people read it: names instead of "ValuesCard 57", sentences instead of raw data."""

from collections import defaultdict
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cards import selectors as card_selectors
from deliberation import selectors
from moral_graph import selectors as graph_selectors

ACTIONS = {
    "round.create": gettext_lazy("created the round"),
    "round.update": gettext_lazy("changed the round's settings"),
    "round.stage": gettext_lazy("moved the round to another stage"),
    "round.stage.scheduled": gettext_lazy("the round moved on at its date"),
    "round.archive": gettext_lazy("archived the round"),
    "round.unarchive": gettext_lazy("took the round out of the archive"),
    "round.import": gettext_lazy("imported the round"),
    "invitations.create": gettext_lazy("made invite codes"),
    "role.grant": gettext_lazy("granted a role"),
    "role.revoke": gettext_lazy("removed a role"),
    "question.create": gettext_lazy("added a question"),
    "question.update": gettext_lazy("edited a question"),
    "context.create": gettext_lazy("added a context"),
    "context.update": gettext_lazy("edited a context"),
    "context.delete": gettext_lazy("removed a context"),
    "card.hide": gettext_lazy("hid a card"),
    "card.show": gettext_lazy("showed a card again"),
    "card.reassign": gettext_lazy("moved a card to another value"),
    "card.review_keep": gettext_lazy("kept a card as a value of its own"),
    "value.merge": gettext_lazy("merged two values"),
    "story.write": gettext_lazy("wrote or edited a story"),
    "story.hide": gettext_lazy("hid a story from voting"),
    "story.show": gettext_lazy("showed a story again"),
}
KINDS = {
    "Round": gettext_lazy("round"),
    "Question": gettext_lazy("question"),
    "Context": gettext_lazy("context"),
    "OrganizerRole": gettext_lazy("role of"),
    "ValuesCard": gettext_lazy("card"),
    "CanonicalValue": gettext_lazy("value"),
    "TransitionStory": gettext_lazy("story"),
}
FIELDS = {
    "title": gettext_lazy("title"),
    "description": gettext_lazy("description"),
    "consent_text": gettext_lazy("consent text"),
    "translations": gettext_lazy("translations"),
    "attribute_translations": gettext_lazy("translations of the joining questions"),
    "text": gettext_lazy("text"),
    "name": gettext_lazy("name"),
    "stories_per_participant": gettext_lazy("stories per participant"),
    "min_votes_per_story": gettext_lazy("votes wanted per story"),
    "participant_cap": gettext_lazy("participant cap"),
    "token_budget": gettext_lazy("token budget"),
    "report_visibility": gettext_lazy("report visibility"),
    "ranking_method": gettext_lazy("ranking method"),
    "open_link_enabled": gettext_lazy("open link"),
    "report_live": gettext_lazy("live report"),
    "guidance_logging": gettext_lazy("guidance logging"),
    "articulation_opens_at": gettext_lazy("articulation date"),
    "voting_opens_at": gettext_lazy("voting date"),
    "closes_at": gettext_lazy("closing date"),
}
VALUE_KEYS = ("into", "from", "to")


def _int(raw: Any) -> int | None:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def _names(round_, events) -> dict[tuple[str, int], str]:
    """Every name the page needs, one query per kind."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for event in events:
        target = _int(event.target_id)
        if event.target_type and target is not None:
            wanted[event.target_type].add(target)
        if event.action.startswith("card.") or event.action == "value.merge":
            for key in VALUE_KEYS:
                if _int(event.data.get(key)) is not None:
                    wanted["CanonicalValue"].add(_int(event.data[key]))
        if _int(event.data.get("user")) is not None:
            wanted["User"].add(_int(event.data["user"]))
    names: dict[tuple[str, int], str] = {}
    for kind, ids in wanted.items():
        if kind == "ValuesCard":
            found = card_selectors.card_titles(round_id=round_.pk, ids=ids)
        elif kind == "CanonicalValue":
            found = card_selectors.value_titles(round_id=round_.pk, ids=ids)
        elif kind == "TransitionStory":
            found = graph_selectors.story_names(round_id=round_.pk, ids=ids)
        elif kind == "User":
            found = selectors.usernames(ids=ids)
        else:
            found = selectors.audit_names(round_=round_, kind=kind, ids=ids)
        names.update({(kind, pk): name for pk, name in found.items()})
    return names


def _human_list(items: list[str]) -> str:
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return _("%(most)s and %(last)s") % {"most": ", ".join(items[:-1]), "last": items[-1]}


def _details(event, names: dict) -> list[str]:
    data, lines = event.data or {}, []
    if "fields" in data:
        changed = [str(FIELDS.get(f, f.replace("_", " "))) for f in data["fields"]]
        lines.append(_("Changed: %(fields)s") % {"fields": _human_list(changed)} if changed else _("No change"))
    for key, value in data.items():
        if key == "fields":
            continue
        if key in VALUE_KEYS and (event.action.startswith("card.") or event.action == "value.merge"):
            label = {"into": _("Into"), "from": _("From"), "to": _("To")}[key]
            if value is None:
                lines.append(_("%(label)s: a value of its own") % {"label": label})
            else:
                title = names.get(("CanonicalValue", _int(value)), f"#{value}")
                lines.append(f"{label}: “{title}”")
        elif key == "user":
            lines.append(_("Person: %(name)s") % {"name": names.get(("User", _int(value)), f"#{value}")})
        elif key == "reason":
            lines.append(_("Reason: “%(reason)s”") % {"reason": value} if value else _("No reason given"))
        elif isinstance(value, bool):
            lines.append(f"{key.replace('_', ' ').capitalize()}: {_('yes') if value else _('no')}")
        elif isinstance(value, list):
            lines.append(f"{key.replace('_', ' ').capitalize()}: {_human_list(value)}")
        else:
            lines.append(f"{key.replace('_', ' ').capitalize()}: {value}")
    return lines


def audit_rows(round_, events) -> list[dict[str, Any]]:
    """One readable row per audit event: who, what, on which named thing, with details as short sentences."""
    events = list(events)
    names = _names(round_, events)
    rows = []
    for event in events:
        target_id = _int(event.target_id)
        kind = KINDS.get(event.target_type, event.target_type)
        name = names.get((event.target_type, target_id))
        if not event.target_type:
            target = ""
        elif name is not None:
            target = f"{kind} “{name}”"
        else:
            target = _("%(kind)s (deleted)") % {"kind": kind}
        rows.append(
            {
                "created_at": event.created_at,
                "actor": event.actor.username if event.actor else "",
                "action": event.action,
                "summary": str(ACTIONS.get(event.action, event.action)),
                "target": target,
                "details": _details(event, names),
            }
        )
    return rows
