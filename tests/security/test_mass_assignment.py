"""Mass assignment: fields a client must never set are ignored by every write endpoint of the schema.

For each POST/PUT/PATCH operation the role that may write it sends the role matrix's valid body twice, each
time in a savepoint that is rolled back: once as it is, once with fields added that only the server sets
(authorship, round, stage, status, deduplication, ids, timestamps, pseudonym, tokens, ...) pointing at real
objects of another participant, value, round or ranking run. Every row of the database must come out the
same both times (columns that the server fills at random — new ids, timestamps, pseudonyms, tokens — are
compared only for not having taken the injected value), and the injected values appear in no row.
"""

import datetime as dt

from django.apps import apps
from django.core.cache import cache
from django.db import models, transaction
from rest_framework.test import APIClient

from cards.models import CanonicalValue
from deliberation.models import Participant, Round, Stage
from moral_graph.models import RankingRun
from tests.test_api_roles import MATRIX, ROLES, _fill, schema_operations, world  # noqa: F401

APPS = ("deliberation", "cards", "moral_graph", "llm", "authtoken", "auth")
INJECTED_TEXT = "injected-by-client"
INJECTED_TIME = "2001-02-03T04:05:06Z"
WRITES = ("post", "put", "patch")

# Writes that succeed only in another state of the round: set it up inside the savepoint.
SETUP = {
    ("put", "/api/v1/cards/{card_id}/"): {"stage": Stage.ARTICULATION},
    ("post", "/api/v1/rounds/{slug}/questions/"): {"stage": Stage.ARTICULATION},
    ("post", "/api/v1/rounds/{slug}/guidance/"): {
        "report_live": True,
        "report_visibility": "public",
        "guidance_logging": True,
    },
}


def _forbidden(values: dict, *, participant_endpoint: bool) -> dict:
    """The fields a client must never set, each with a plausible value that the server would not choose."""
    other_participant = (
        Participant.objects.filter(round__slug=values["slug"]).exclude(pk=values["me"]).first()
    )
    other_value = CanonicalValue.objects.exclude(pk=values["value_id"]).first()
    other_round = Round.objects.exclude(slug=values["slug"]).first()
    fields = {
        "participant": other_participant.pk,
        "author": other_participant.pk,
        "round": other_round.pk,
        "round_id": other_round.pk,
        "stage": Stage.PUBLISHED,
        "status": "hidden",
        "dedup_status": "review",
        "weight": 97.5,
        "value": other_value.pk,
        "canonical_value": other_value.pk,
        "value_id": other_value.pk,
        "created_at": INJECTED_TIME,
        "updated_at": INJECTED_TIME,
        "is_hidden": True,
        "is_simulated": True,
        "pseudonym": INJECTED_TEXT,
        "resume_token": INJECTED_TEXT,
        "external_id": INJECTED_TEXT,
        "origin": "import",
        "merged_into": other_value.pk,
        "current_ranking": RankingRun.objects.order_by("pk").first().pk,
        "id": 987_654,
        "pk": 987_654,
    }
    if participant_endpoint:
        fields["token_budget"] = 1
    return fields


TIMING_COLUMNS = {"latency_ms"}


def _snapshot() -> dict[str, dict]:
    """Every row of the project's tables, by model and primary key."""
    rows = {}
    for model in apps.get_models():
        if model._meta.app_label in APPS:
            fields = [f.attname for f in model._meta.concrete_fields]
            rows[model._meta.label] = {row["pk"]: row for row in model.objects.values("pk", *fields)}
    return rows


def _new_ids(before: dict, after: dict) -> dict[tuple[str, object], str]:
    labels = {}
    for table, rows in after.items():
        for n, pk in enumerate(sorted(pk for pk in rows if pk not in before[table])):
            labels[(table, pk)] = f"new#{n}"
    return labels


def _normalized(before: dict, after: dict) -> dict[str, dict]:
    """New rows renamed in creation order (ids are the server's), foreign keys to them likewise."""
    labels = _new_ids(before, after)
    relations = {
        model._meta.label: {
            f.attname: f.related_model._meta.label
            for f in model._meta.concrete_fields
            if isinstance(f, models.ForeignKey)
        }
        for model in apps.get_models()
        if model._meta.app_label in APPS
    }
    out = {}
    for table, rows in after.items():
        out[table] = {}
        for pk, row in rows.items():
            row = dict(row)
            for column, target in relations[table].items():
                row[column] = labels.get((target, row[column]), row[column])
            key = labels.get((table, pk), pk)
            row["pk"] = row[model_pk(table)] = key
            out[table][key] = row
    return out


def model_pk(table: str) -> str:
    """The attribute name of a model's primary key."""
    return apps.get_model(table)._meta.pk.attname


class _Rollback(Exception):
    pass


def _write(client: APIClient, method: str, url: str, body, setup: dict | None, slug: str):
    """Send one write in a savepoint that is rolled back; the response and the database as it was after it."""
    result = None
    # Cached model answers would make the second call log fewer model calls than the first.
    cache.clear()
    try:
        with transaction.atomic():
            if setup:
                Round.objects.filter(slug=slug).update(**setup)
            response = getattr(client, method)(url, body, format="json")
            result = response, _snapshot()
            raise _Rollback
    except _Rollback:
        pass
    return result


def _writer(expected: dict[str, int], setup: dict | None) -> str:
    for role in ("participant", "owner", "moderator", "viewer", "anonymous"):
        if expected[role] < 300 or (setup and expected[role] == 409):
            return role
    return next(role for role in ROLES if expected[role] < 500 and role != "other_participant")


def _differences(control: dict, injected: dict, volatile: set[tuple[str, str]]) -> list[str]:
    found = []
    for table in control:
        if set(control[table]) != set(injected[table]):
            found.append(
                f"{table}: rows {sorted(map(str, control[table]))} vs {sorted(map(str, injected[table]))}"
            )
            continue
        for pk, row in control[table].items():
            for column, value in row.items():
                if (table, column) not in volatile and injected[table][pk][column] != value:
                    found.append(f"{table}[{pk}].{column}: {value!r} became {injected[table][pk][column]!r}")
    return found


def _injected_anywhere(snapshot: dict, forbidden: dict, before: dict) -> list[str]:
    """Rows holding the injected text or time, or an injected id as their own id."""
    found = []
    injected_time = dt.datetime.fromisoformat(INJECTED_TIME)
    for table, rows in snapshot.items():
        for pk, row in rows.items():
            if pk == forbidden["id"] and pk not in before[table]:
                found.append(f"{table}[{pk}] took the injected id")
            for column, value in row.items():
                if value == INJECTED_TEXT or value == injected_time:
                    found.append(f"{table}[{pk}].{column} = {value!r}")
    return found


def test_every_write_of_the_schema_is_checked_for_mass_assignment():
    writes = [(method, path) for method, path in schema_operations() if method in WRITES]
    assert len(writes) >= 17, writes
    assert all(MATRIX[op][0] is not None for op in writes), "every write has a valid body in the role matrix"


def test_no_write_endpoint_stores_fields_the_client_must_never_set(world):  # noqa: F811
    clients, values = world
    values = {
        **values,
        "me": Participant.objects.get(round__slug=values["slug"], cards__pk=values["card_id"]).pk,
    }
    before = _snapshot()
    problems, checked = [], []
    for method, path in schema_operations():
        if method not in WRITES:
            continue
        body, expected = MATRIX[(method, path)]
        setup = SETUP.get((method, path))
        role = _writer(expected, setup)
        url = _fill(path, values)
        valid = _fill(body, values)
        forbidden = _forbidden(values, participant_endpoint=role == "participant")
        extra = {k: v for k, v in forbidden.items() if k not in valid}
        first = _write(clients[role], method, url, valid, setup, values["slug"])
        second = _write(clients[role], method, url, valid, setup, values["slug"])
        injected = _write(clients[role], method, url, {**valid, **extra}, setup, values["slug"])
        label = f"{method.upper()} {path} as {role}"
        statuses = (first[0].status_code, second[0].status_code, injected[0].status_code)
        if len(set(statuses)) != 1:
            problems.append(f"{label}: statuses {statuses}")
            continue
        checked.append((label, statuses[0]))
        controls = [_normalized(before, first[1]), _normalized(before, second[1])]
        # Columns that differ between two identical requests, and measured durations, which two controls may
        # happen to share to the millisecond while the third request takes one more.
        volatile = {
            (table, column)
            for table in controls[0]
            for pk, row in controls[0][table].items()
            for column, value in row.items()
            if controls[1][table].get(pk, {}).get(column) != value or column in TIMING_COLUMNS
        }
        problems += [
            f"{label}: {d}" for d in _differences(controls[0], _normalized(before, injected[1]), volatile)
        ]
        problems += [f"{label}: {d}" for d in _injected_anywhere(injected[1], forbidden, before)]
    assert not problems, "\n".join(problems)
    succeeded = [label for label, status in checked if status < 300]
    assert len(succeeded) >= 15, checked
