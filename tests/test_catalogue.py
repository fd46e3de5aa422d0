"""The Spanish catalogue: every entry translated and reviewed (none empty, none fuzzy), placeholders and markup kept,
every plural form given, and the compiled .mo built from this .po (pure files, no database)."""

import ast
import gettext
import re
from collections import Counter
from pathlib import Path

import pytest

LOCALE = Path(__file__).resolve().parents[1] / "locale" / "es" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%(?:\([a-zA-Z_]\w*\))?[sdif]|%%")
TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)")


def _entries(text: str) -> list[dict]:
    """The catalogue's entries: flags, msgid, msgid_plural and msgstr (or msgstr[i]) with their strings unquoted."""
    entries = []
    for block in text.split("\n\n"):
        entry: dict = {"flags": set()}
        key = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] |= {f.strip() for f in line[2:].split(",")}
            elif line.startswith("#") or not line.strip():
                continue
            elif line.startswith('"'):
                entry[key] += ast.literal_eval(line)
            else:
                key, _, rest = line.partition(" ")
                entry[key] = ast.literal_eval(rest)
        if entry.get("msgid"):
            entries.append(entry)
    return entries


def _plural_count(text: str) -> int:
    return int(re.search(r"nplurals=(\d+)", text).group(1))


@pytest.fixture(scope="module")
def catalogue():
    text = (LOCALE / "django.po").read_text(encoding="utf-8")
    return text, _entries(text)


def test_every_entry_is_translated_and_none_is_fuzzy(catalogue):
    text, entries = catalogue
    assert len(entries) > 500
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    assert fuzzy == []
    plurals = _plural_count(text)
    empty = []
    for e in entries:
        forms = [e.get(f"msgstr[{i}]", "") for i in range(plurals)] if "msgid_plural" in e else [e["msgstr"]]
        if not all(f.strip() for f in forms):
            empty.append(e["msgid"])
    assert empty == []


def test_placeholders_and_markup_survive_translation(catalogue):
    _text, entries = catalogue
    wrong = []
    for e in entries:
        translations = [v for k, v in e.items() if k.startswith("msgstr")]
        originals = [e["msgid"], e.get("msgid_plural", e["msgid"])]
        for translated in translations:
            if "python-format" in e["flags"]:
                wanted = set(PLACEHOLDER.findall(originals[0])) | set(PLACEHOLDER.findall(originals[1]))
                if not set(PLACEHOLDER.findall(translated)) <= wanted or (
                    "msgid_plural" not in e and set(PLACEHOLDER.findall(translated)) != wanted
                ):
                    wrong.append((e["msgid"], translated))
            if Counter(TAG.findall(translated)) != Counter(TAG.findall(originals[0])):
                wrong.append((e["msgid"], translated))
    assert wrong == []


def test_the_compiled_catalogue_is_built_from_the_source(catalogue):
    _text, entries = catalogue
    with (LOCALE / "django.mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    stale = [
        e["msgid"]
        for e in entries
        if "msgid_plural" not in e and "msgctxt" not in e and compiled.gettext(e["msgid"]) != e["msgstr"]
    ]
    assert stale == []
