"""Import a dump in the format of MAI's 2023 moral-graph release into a new, closed round.

The mapping, field by field, is described in docs/exports.md ("Importing MAI's dump").
"""

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.utils import timezone

from cards.models import DESCRIPTION_MAX, TITLE_MAX, CanonicalValue
from deliberation.models import (
    Context,
    Participant,
    ParticipantAttribute,
    Question,
    ReportVisibility,
    Round,
    Stage,
)
from deliberation.services import audit_log
from moral_graph.models import Answer, StoryAssignment, TransitionStory, WiserVote, WiserVoteRevision

ANSWERS = {"upgrade": Answer.WISER, "no_upgrade": Answer.NOT_WISER, "not_sure": Answer.NOT_SURE}
REQUIRED_FILES = (
    "cases.json",
    "contexts.json",
    "contexts_on_cases.json",
    "canonical_cards.json",
    "users.json",
    "demographics.json",
    "wiser_votes.json",
)
OPTIONAL_FILES = ("edge_hypotheses.json", "values_cards.json", "impressions.json", "wise_selections.json")
MISSING_ANSWERS = {"", "DATA_EXPIRED", "CONSENT_REVOKED", "CONSENT_EXPIRED"}
AGE_BANDS = ((18, 29, "18-29"), (30, 44, "30-44"), (45, 59, "45-59"), (60, 200, "60+"))
OTHER_CONTEXTS_QUESTION = "Contexts the dump attaches to no case"
MISSING_STORY = "The dump does not record the story shown for this transition."
STORY_MAX = 4000
REASON_MAX = 500
QUESTION_MAX = 2000
CONTEXT_MAX = 200


class MaiDumpError(Exception):
    """The dump is missing or malformed, or the round it should go into cannot be created."""


@dataclass(frozen=True)
class MaiVote:
    """One row of wiser_votes.json, checked."""

    index: int
    user: int
    context: str
    src: int
    dst: int
    answer: str
    story: str
    comment: str
    created_at: datetime


@dataclass
class MaiDump:
    """The parts of a dump the import uses, checked and typed."""

    cases: list[dict[str, str]]
    contexts: list[str]
    context_cases: dict[str, list[str]]
    cards: list[dict[str, Any]]
    users: list[int]
    demographics: dict[int, dict[str, Any]]
    votes: list[MaiVote]
    hypotheses: dict[tuple[str, int, int], str] = field(default_factory=dict)
    card_cases: dict[int, Counter] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportSummary:
    """What one import wrote."""

    round_id: int
    slug: str
    questions: int
    contexts: int
    values: int
    participants: int
    stories: int
    votes: int
    revisions: int
    votes_after_cutoff: int
    replaced_answers: int


def _read(directory: Path, name: str) -> list[dict[str, Any]]:
    path = directory / name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MaiDumpError(f"{name} is missing from {directory}.") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MaiDumpError(f"{name} is not readable JSON: {exc}") from exc
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise MaiDumpError(f"{name} must be a JSON list of objects.")
    return data


def _get(row: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str, *, optional: bool = False):
    value = row.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise MaiDumpError(f"{where}: '{key}' is missing or has the wrong type.")
    return value


def _timestamp(text: str, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MaiDumpError(f"{where}: '{text}' is not an ISO 8601 time.") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_cutoff(text: str) -> datetime:
    """A --votes-before argument (a date or an ISO time; UTC when no zone is given) as an aware datetime."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return _timestamp(text, "--votes-before")
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def mai_dump_load(directory: Path | str) -> MaiDump:
    """Read and check a dump directory; raises MaiDumpError naming the first problem found."""
    directory = Path(directory)
    if not directory.is_dir():
        raise MaiDumpError(f"{directory} is not a directory.")
    raw = {name: _read(directory, name) for name in REQUIRED_FILES}
    optional = {name: _read(directory, name) for name in OPTIONAL_FILES if (directory / name).exists()}

    cases = []
    for i, row in enumerate(raw["cases.json"]):
        where = f"cases.json[{i}]"
        cases.append(
            {"id": _get(row, "id", str, where), "question": _get(row, "question", str, where).strip()}
        )
        if not cases[-1]["question"]:
            raise MaiDumpError(f"{where}: the question is empty.")
    case_ids = [c["id"] for c in cases]
    if not cases:
        raise MaiDumpError("cases.json lists no case.")
    if len(set(case_ids)) != len(case_ids):
        raise MaiDumpError("cases.json: case ids must be different.")

    contexts = [
        _get(row, "id", str, f"contexts.json[{i}]").strip() for i, row in enumerate(raw["contexts.json"])
    ]
    if len(set(contexts)) != len(contexts) or not all(0 < len(c) <= CONTEXT_MAX for c in contexts):
        raise MaiDumpError(
            f"contexts.json: context ids must be different, non-empty, at most {CONTEXT_MAX} characters."
        )
    context_cases: dict[str, list[str]] = defaultdict(list)
    for i, row in enumerate(raw["contexts_on_cases.json"]):
        where = f"contexts_on_cases.json[{i}]"
        context, case = _get(row, "contextId", str, where).strip(), _get(row, "caseId", str, where)
        if context not in contexts or case not in case_ids:
            raise MaiDumpError(f"{where}: unknown context '{context}' or case '{case}'.")
        if case not in context_cases[context]:
            context_cases[context].append(case)

    cards = []
    for i, row in enumerate(raw["canonical_cards.json"]):
        where = f"canonical_cards.json[{i}]"
        policies = _get(row, "evaluationCriteria", list, where)
        if not all(isinstance(p, str) for p in policies):
            raise MaiDumpError(f"{where}: 'evaluationCriteria' must be a list of strings.")
        card = {
            "id": _get(row, "id", int, where),
            "title": _get(row, "title", str, where).strip(),
            "description": _get(row, "instructionsShort", str, where).strip(),
            "policies": [p.strip() for p in policies if p.strip()],
        }
        if not card["title"] or not card["description"]:
            raise MaiDumpError(f"{where}: the title and instructionsShort must not be empty.")
        cards.append(card)
    card_ids = {c["id"] for c in cards}
    if len(card_ids) != len(cards):
        raise MaiDumpError("canonical_cards.json: card ids must be different.")

    users = [_get(row, "id", int, f"users.json[{i}]") for i, row in enumerate(raw["users.json"])]
    demographics = {}
    for i, row in enumerate(raw["demographics.json"]):
        where = f"demographics.json[{i}]"
        demographics[_get(row, "userId", int, where)] = {
            "usPoliticalAffiliation": _get(row, "usPoliticalAffiliation", str, where, optional=True),
            "age": _get(row, "age", int, where, optional=True),
        }

    votes = []
    for i, row in enumerate(raw["wiser_votes.json"]):
        where = f"wiser_votes.json[{i}]"
        vote = MaiVote(
            index=i,
            user=_get(row, "userId", int, where),
            context=_get(row, "contextId", str, where).strip(),
            src=_get(row, "fromId", int, where),
            dst=_get(row, "toId", int, where),
            answer=ANSWERS.get(_get(row, "relationship", str, where), ""),
            story=(_get(row, "story", str, where, optional=True) or "").strip(),
            comment=(_get(row, "comment", str, where, optional=True) or "").strip(),
            created_at=_timestamp(_get(row, "createdAt", str, where), where),
        )
        if not vote.answer:
            raise MaiDumpError(f"{where}: relationship must be one of {', '.join(ANSWERS)}.")
        if vote.context not in contexts:
            raise MaiDumpError(f"{where}: unknown context '{vote.context}'.")
        if vote.src not in card_ids or vote.dst not in card_ids or vote.src == vote.dst:
            raise MaiDumpError(f"{where}: fromId and toId must be two different canonical cards.")
        votes.append(vote)

    hypotheses = {}
    for i, row in enumerate(optional.get("edge_hypotheses.json", [])):
        where = f"edge_hypotheses.json[{i}]"
        key = (
            _get(row, "contextId", str, where).strip(),
            _get(row, "fromId", int, where),
            _get(row, "toId", int, where),
        )
        hypotheses[key] = _get(row, "story", str, where).strip()

    canonical_of = {}
    for i, row in enumerate(optional.get("values_cards.json", [])):
        where = f"values_cards.json[{i}]"
        canonical = _get(row, "canonicalCardId", int, where, optional=True)
        if canonical is not None:
            canonical_of[_get(row, "id", int, where)] = canonical
    card_cases: dict[int, Counter] = defaultdict(Counter)
    for name in ("impressions.json", "wise_selections.json"):
        for i, row in enumerate(optional.get(name, [])):
            where = f"{name}[{i}]"
            canonical = canonical_of.get(_get(row, "valuesCardId", int, where))
            case = _get(row, "caseId", str, where, optional=True)
            if canonical is not None and case in case_ids:
                card_cases[canonical][case] += 1

    return MaiDump(
        cases=cases,
        contexts=contexts,
        context_cases=dict(context_cases),
        cards=cards,
        users=users,
        demographics=demographics,
        votes=votes,
        hypotheses=hypotheses,
        card_cases=dict(card_cases),
    )


def _shorten(text: str, limit: int) -> str:
    """Cut at a word boundary with an ellipsis, so a too-long source text still fits its column."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:")
    return cut + "…"


def _age_band(age: int | None) -> str:
    for low, high, label in AGE_BANDS:
        if age is not None and low <= age <= high:
            return label
    return ""


def _answer(value: str | None) -> str:
    return "" if value is None or value.strip() in MISSING_ANSWERS else value.strip()


@dataclass
class _Plan:
    kept: list[MaiVote]
    after_cutoff: int
    questions: list[dict[str, Any]]
    context_question: dict[str, int]
    context_order: list[str]
    value_question: dict[int, int]
    value_contexts: dict[int, list[str]]
    stories: dict[tuple[str, int, int], str]
    ballots: dict[tuple[int, tuple[str, int, int]], list[MaiVote]]
    users: list[int]


def _plan(dump: MaiDump, votes_before: datetime | None) -> _Plan:
    """Everything the import writes, worked out without the database."""
    ordered = sorted(dump.votes, key=lambda v: (v.created_at, v.index))
    kept = [v for v in ordered if votes_before is None or v.created_at < votes_before]
    questions = [{"key": c["id"], "text": _shorten(c["question"], QUESTION_MAX)} for c in dump.cases]
    position = {c["id"]: i for i, c in enumerate(dump.cases)}
    used_contexts = {v.context for v in kept}
    context_question = {}
    for context in dump.contexts:
        cases = dump.context_cases.get(context, [])
        if cases:
            context_question[context] = position[cases[0]]
        elif context in used_contexts:
            if len(questions) == len(dump.cases):
                questions.append({"key": None, "text": OTHER_CONTEXTS_QUESTION})
            context_question[context] = len(dump.cases)
    context_order = [c for c in dump.contexts if c in context_question]

    ballots: dict[tuple[int, tuple[str, int, int]], list[MaiVote]] = defaultdict(list)
    texts: dict[tuple[str, int, int], str] = {}
    value_uses: dict[int, Counter] = defaultdict(Counter)
    value_contexts: dict[int, list[str]] = defaultdict(list)
    for vote in kept:
        story = (vote.context, vote.src, vote.dst)
        ballots[(vote.user, story)].append(vote)
        if vote.story and vote.story != "OLD":
            texts[story] = vote.story
        for value in (vote.src, vote.dst):
            value_uses[value][context_question[vote.context]] += 1
            if vote.context not in value_contexts[value]:
                value_contexts[value].append(vote.context)
    stories = {}
    for vote in kept:
        story = (vote.context, vote.src, vote.dst)
        if story not in stories:
            text = texts.get(story) or dump.hypotheses.get(story) or MISSING_STORY
            stories[story] = _shorten(text, STORY_MAX)

    value_question = {}
    for card in dump.cards:
        uses = value_uses.get(card["id"])
        evidence = dump.card_cases.get(card["id"])
        if uses:
            value_question[card["id"]] = min(uses, key=lambda q: (-uses[q], q))
        elif evidence:
            value_question[card["id"]] = min(
                (position[c] for c in evidence), key=lambda q: (-evidence[dump.cases[q]["id"]], q)
            )
        else:
            value_question[card["id"]] = 0
    users = sorted(set(dump.users) | set(dump.demographics) | {v.user for v in kept})
    return _Plan(
        kept=kept,
        after_cutoff=len(ordered) - len(kept),
        questions=questions,
        context_question=context_question,
        context_order=context_order,
        value_question=value_question,
        value_contexts=dict(value_contexts),
        stories=stories,
        ballots=dict(ballots),
        users=users,
    )


def _restamp(model, objects: list, stamps: list[datetime]) -> None:
    """Give bulk-created rows their original times (auto_now_add would keep the import time)."""
    for obj, stamp in zip(objects, stamps, strict=True):
        obj.created_at = stamp
    model.objects.bulk_update(objects, ["created_at"], batch_size=400)


def mai_dump_import(
    *, directory: Path | str, slug: str, votes_before: datetime | None = None, title: str = ""
) -> ImportSummary:
    """Load a MAI dump into a new round, closed and private, in one transaction; raises MaiDumpError."""
    if not slug:
        raise MaiDumpError("Give a slug for the new round.")
    try:
        validate_slug(slug)
    except ValidationError as exc:
        raise MaiDumpError(f"'{slug}' is not a valid slug (letters, digits, hyphens, underscores).") from exc
    if len(slug) > Round._meta.get_field("slug").max_length:
        raise MaiDumpError("The slug is too long.")
    directory = Path(directory)
    dump = mai_dump_load(directory)
    plan = _plan(dump, votes_before)
    if Round.objects.filter(slug=slug).exists():
        raise MaiDumpError(f"A round with the slug '{slug}' already exists.")
    now = timezone.now()
    cutoff = f", votes before {votes_before.isoformat()}" if votes_before else ""
    try:
        with transaction.atomic():
            round_ = Round.objects.create(
                slug=slug,
                title=(title or f"MAI import: {directory.resolve().name}")[:200],
                description=f"Imported from a dump in MAI's 2023 moral-graph format ({directory.resolve().name}{cutoff}).",
                stage=Stage.CLOSED,
                report_visibility=ReportVisibility.PRIVATE,
            )
            return _write(round_, dump, plan, now)
    except IntegrityError as exc:
        raise MaiDumpError(f"The import could not be written: {exc}") from exc


def _write(round_: Round, dump: MaiDump, plan: _Plan, now: datetime) -> ImportSummary:
    questions = Question.objects.bulk_create(
        [Question(round=round_, text=q["text"], order=i) for i, q in enumerate(plan.questions)]
    )
    case_of_question = {i: c["id"] for i, c in enumerate(dump.cases)}
    contexts = {}
    per_question: Counter = Counter()
    for name in plan.context_order:
        q = plan.context_question[name]
        others = [c for c in dump.context_cases.get(name, []) if c != case_of_question.get(q)]
        contexts[name] = Context(
            question=questions[q],
            name=name,
            description=f"Also asked under the cases: {', '.join(others)}." if others else "",
            order=per_question[q],
        )
        per_question[q] += 1
    Context.objects.bulk_create(list(contexts.values()))

    affiliations = sorted(
        {a for d in dump.demographics.values() if (a := _answer(d["usPoliticalAffiliation"]))}
    )
    ParticipantAttribute.objects.bulk_create(
        [
            ParticipantAttribute(
                round=round_,
                key="political_affiliation",
                label="US political affiliation",
                choices=affiliations,
                is_grouping=True,
                order=0,
            ),
            ParticipantAttribute(
                round=round_,
                key="age_band",
                label="Age",
                choices=[label for _, _, label in AGE_BANDS],
                is_grouping=True,
                order=1,
            ),
        ]
    )
    participants = {}
    for user in plan.users:
        info = dump.demographics.get(user, {})
        attributes = {
            "political_affiliation": _answer(info.get("usPoliticalAffiliation")),
            "age_band": _age_band(info.get("age")),
        }
        participants[user] = Participant(
            round=round_,
            attributes={k: v for k, v in attributes.items() if v},
            consent_at=now,
            is_simulated=False,
            external_id=str(user),
        )
    Participant.objects.bulk_create(list(participants.values()))

    values = {
        card["id"]: CanonicalValue(
            round=round_,
            question=questions[plan.value_question[card["id"]]],
            title=_shorten(card["title"], TITLE_MAX),
            description=_shorten(card["description"], DESCRIPTION_MAX),
            policies=card["policies"],
            external_id=str(card["id"]),
        )
        for card in dump.cards
    }
    CanonicalValue.objects.bulk_create(list(values.values()))
    through = CanonicalValue.contexts.through
    through.objects.bulk_create(
        [
            through(canonicalvalue_id=values[value].pk, context_id=contexts[name].pk)
            for value, names in plan.value_contexts.items()
            for name in names
        ]
    )

    stories = {
        key: TransitionStory(
            round=round_,
            context=contexts[key[0]],
            from_value=values[key[1]],
            to_value=values[key[2]],
            text=text,
            origin=TransitionStory.Origin.IMPORT,
            external_id=f"{key[1]}->{key[2]}",
        )
        for key, text in plan.stories.items()
    }
    TransitionStory.objects.bulk_create(list(stories.values()))

    ballots = list(plan.ballots.items())
    votes = [
        WiserVote(
            participant=participants[user],
            story=stories[story],
            answer=answers[-1].answer,
            reason=_shorten(answers[-1].comment, REASON_MAX),
        )
        for (user, story), answers in ballots
    ]
    WiserVote.objects.bulk_create(votes)
    assignments = [StoryAssignment(participant=v.participant, story=v.story) for v in votes]
    StoryAssignment.objects.bulk_create(assignments)
    vote_of = {key: vote for (key, _), vote in zip(ballots, votes, strict=True)}
    revisions = []
    for v in plan.kept:
        vote = vote_of[(v.user, (v.context, v.src, v.dst))]
        revisions.append(
            WiserVoteRevision(
                vote=vote,
                round=round_,
                answer=v.answer,
                story_id=vote.story.pk,
                participant_id=vote.participant.pk,
                context_id=vote.story.context_id,
            )
        )
    WiserVoteRevision.objects.bulk_create(revisions)
    first_answer = [answers[0].created_at for _, answers in ballots]
    _restamp(WiserVote, votes, first_answer)
    _restamp(StoryAssignment, assignments, first_answer)
    _restamp(WiserVoteRevision, revisions, [v.created_at for v in plan.kept])

    summary = ImportSummary(
        round_id=round_.pk,
        slug=round_.slug,
        questions=len(questions),
        contexts=len(contexts),
        values=len(values),
        participants=len(participants),
        stories=len(stories),
        votes=len(votes),
        revisions=len(revisions),
        votes_after_cutoff=plan.after_cutoff,
        replaced_answers=len(revisions) - len(votes),
    )
    audit_log(
        round_=round_,
        actor=None,
        action="round.import",
        target=round_,
        data={"format": "mai-2023", **{k: v for k, v in summary.__dict__.items() if isinstance(v, int)}},
    )
    return summary
