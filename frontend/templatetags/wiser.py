"""Template helpers for the pages: translated round texts and accessible field errors."""

from django import template

from frontend.texts import localized, localized_choices

register = template.Library()


@register.filter
def tr(obj, field: str) -> str:
    """The round's own text in the active language, e.g. {{ round|tr:"title" }}."""
    return localized(obj, field)


@register.filter
def choices_tr(attribute) -> list[tuple[str, str]]:
    """A joining question's answers as (stored value, text in the active language) pairs."""
    return localized_choices(attribute)


@register.filter
def field_errors(errors, name: str) -> list:
    """The messages of one field in an errors dict (empty when none)."""
    if not errors:
        return []
    return list(errors.get(name) or [])


@register.simple_tag
def describedby(errors, name: str, *ids: str) -> str:
    """The ids an input is described by: its help texts, then its error text when it has one."""
    parts = [i for i in ids if i]
    if errors and errors.get(name):
        parts.append(f"{name}-error")
    return " ".join(parts)


@register.filter
def get_item(mapping, key):
    """One entry of a dict by a variable key (None when absent), e.g. {{ targets|get_item:card.id }}."""
    return (mapping or {}).get(key)
