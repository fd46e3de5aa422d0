"""Writes for rounds, participants, invitations and the audit log."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from core import events
from core.errors import Conflict, Forbidden, NotFound, WrongStage
from core.text import clean_question, clean_text
from deliberation.models import (
    STAGE_ORDER,
    AuditEvent,
    Context,
    Invitation,
    OrganizerRole,
    Participant,
    ParticipantAttribute,
    Question,
    ReportVisibility,
    Round,
    Stage,
)
from deliberation.permissions import can
from deliberation.selectors import STAGE_DATES, scheduled_stage

# The ranking methods a round may name: moral_graph registers ranking.METHODS here in its AppConfig.ready, since
# deliberation sits below moral_graph and cannot import it.
RANKING_METHODS: list[str] = []


def ranking_methods_register(names) -> None:
    """Offer these ranking method names to rounds (called once by moral_graph's AppConfig.ready)."""
    RANKING_METHODS[:] = list(dict.fromkeys([*RANKING_METHODS, *names]))

JOINABLE_STAGES = (Stage.ARTICULATION, Stage.VOTING)


def audit_log(
    *, round_: Round | None, actor, action: str, target: Any = None, data: dict | None = None
) -> None:
    """Record one organizer action."""
    AuditEvent.objects.create(
        round=round_,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        target_type=type(target).__name__ if target is not None else "",
        target_id=str(getattr(target, "pk", "") or ""),
        data=data or {},
    )


def _require(user, round_: Round, action: str) -> None:
    if not can(user, round_, action):
        raise Forbidden(_("Your role in this round does not allow this."))


def _clean_contexts(contexts: Sequence[Any]) -> list[dict[str, str]]:
    if not isinstance(contexts, list | tuple) or not contexts:
        raise ValidationError({"contexts": "Give at least one context."})
    if len(contexts) > 50:
        raise ValidationError({"contexts": "At most 50 contexts."})
    cleaned = []
    for item in contexts:
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict):
            raise ValidationError({"contexts": "Each context is a name or {name, description}."})
        cleaned.append(
            {
                "name": clean_text(item.get("name"), field="contexts", max_length=200),
                "description": clean_text(
                    item.get("description", ""), field="contexts", max_length=2000, required=False
                ),
                "translations": clean_translations(item.get("translations"), kind="context", field="contexts"),
            }
        )
    names = [c["name"].lower() for c in cleaned]
    if len(set(names)) != len(names):
        raise ValidationError({"contexts": "Context names must be different."})
    return cleaned


def _clean_attributes(attributes: Sequence[Any]) -> list[dict[str, Any]]:
    if not isinstance(attributes, list | tuple):
        raise ValidationError({"attributes": "Give a list of attributes."})
    cleaned = []
    for item in attributes:
        if not isinstance(item, dict):
            raise ValidationError({"attributes": "Each attribute is {key, label, choices, grouping}."})
        label = clean_text(item.get("label"), field="attributes", max_length=200)
        key = slugify(item.get("key") or label).replace("-", "_")[:64]
        choices = item.get("choices") or []
        if not isinstance(choices, list) or not 2 <= len(choices) <= 30:
            raise ValidationError({"attributes": f"{label}: give 2 to 30 choices."})
        choices = [clean_text(c, field="attributes", max_length=100) for c in choices]
        cleaned.append(
            {
                "key": key,
                "label": label,
                "choices": choices,
                "grouping": bool(item.get("grouping", True)),
                "translations": clean_attribute_translations(
                    item.get("translations"), choices=choices, field="attributes"
                ),
            }
        )
    if len({a["key"] for a in cleaned}) != len(cleaned):
        raise ValidationError({"attributes": "Attribute keys must be different."})
    return cleaned


ROUND_SETTINGS = {
    "stories_per_participant": (1, 50),
    "min_votes_per_story": (1, 1000),
    "participant_cap": (1, 10_000_000),
    "token_budget": (0, 2_000_000_000),
}


ROUND_FLAGS = ("open_link_enabled", "report_live", "guidance_logging")
ROUND_DATES = ("articulation_opens_at", "voting_opens_at", "closes_at")
SETTING_KEYS = (
    set(ROUND_SETTINGS)
    | set(ROUND_FLAGS)
    | set(ROUND_DATES)
    | {"report_visibility", "ranking_method", "consent_text", "translations"}
)
TRANSLATABLE = {
    "round": {"title": 200, "description": 5000, "consent_text": 5000},
    "question": {"text": 2000},
    "context": {"name": 200, "description": 2000},
}


def clean_translations(raw: Any, *, kind: str, field: str = "translations") -> dict[str, dict[str, str]]:
    """{"es": {"title": ...}}: known languages, known fields, plain text."""
    from django.conf import settings

    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise ValidationError({field: "Give translations as {language: {field: text}}."})
    languages = {code for code, _name in settings.LANGUAGES}
    allowed = TRANSLATABLE[kind]
    cleaned: dict[str, dict[str, str]] = {}
    for language, texts in raw.items():
        if language not in languages:
            raise ValidationError({field: f"Unknown language '{str(language)[:10]}'."})
        if not isinstance(texts, dict) or set(texts) - set(allowed):
            raise ValidationError({field: f"Translatable fields: {', '.join(allowed)}."})
        entry = {
            name: clean_text(value, field=field, max_length=allowed[name], required=False, multiline=True)
            for name, value in texts.items()
        }
        entry = {name: value for name, value in entry.items() if value}
        if entry:
            cleaned[language] = entry
    return cleaned


def clean_attribute_translations(
    raw: Any, *, choices: Sequence[str], field: str = "attribute_translations"
) -> dict[str, dict[str, Any]]:
    """{"es": {"label": ..., "choices": [...]}} for one joining question: known languages, plain text, and as many
    choices as the question has, in its order (an empty one falls back to the default language's)."""
    from django.conf import settings

    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise ValidationError({field: "Give translations as {language: {label, choices}}."})
    languages = {code for code, _name in settings.LANGUAGES}
    cleaned: dict[str, dict[str, Any]] = {}
    for language, texts in raw.items():
        if language not in languages:
            raise ValidationError({field: f"Unknown language '{str(language)[:10]}'."})
        if not isinstance(texts, dict) or set(texts) - {"label", "choices"}:
            raise ValidationError({field: "Translatable fields: label, choices."})
        entry: dict[str, Any] = {}
        label = clean_text(texts.get("label", ""), field=field, max_length=200, required=False)
        if label:
            entry["label"] = label
        translated = texts.get("choices") or []
        if not isinstance(translated, list | tuple):
            raise ValidationError({field: "Give the translated choices as a list."})
        if any(str(c).strip() for c in translated):
            if len(translated) != len(choices):
                raise ValidationError(
                    {field: f"Give {len(choices)} translated choices, one per choice, in the same order."}
                )
            entry["choices"] = [
                clean_text(c, field=field, max_length=100, required=False) or original
                for c, original in zip(translated, choices, strict=True)
            ]
        if entry:
            cleaned[language] = entry
    return cleaned


def _clean_attribute_translations_of(round_: Round, raw: Any) -> dict[int, dict[str, Any]]:
    """{attribute key: translations} for a round's joining questions -> {attribute id: cleaned translations}."""
    field = "attribute_translations"
    if not isinstance(raw, dict):
        raise ValidationError({field: "Give {attribute key: {language: {label, choices}}}."})
    attributes = {a.key: a for a in round_.attributes.all()}
    errors: list[str] = []
    cleaned: dict[int, dict[str, Any]] = {}
    for key, translations in raw.items():
        attribute = attributes.get(key)
        if attribute is None:
            errors.append(f"No joining question '{str(key)[:64]}' in this round.")
            continue
        try:
            cleaned[attribute.pk] = clean_attribute_translations(translations, choices=attribute.choices)
        except ValidationError as exc:
            errors.extend(f"{attribute.label}: {m}" for m in exc.message_dict.get(field, exc.messages))
    if errors:
        raise ValidationError({field: errors})
    return cleaned


def _clean_dates(values: dict[str, Any]) -> dict[str, Any]:
    from django.utils.dateparse import parse_datetime

    cleaned: dict[str, Any] = {}
    for name in ROUND_DATES:
        if name not in values:
            continue
        raw = values[name]
        if raw in (None, ""):
            cleaned[name] = None
            continue
        value = raw if hasattr(raw, "tzinfo") else parse_datetime(str(raw)) if isinstance(raw, str) else None
        if value is None:
            raise ValidationError({name: "Give a date and time, e.g. 2026-12-01T09:00:00Z."})
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
        cleaned[name] = value
    return cleaned


def _clean_settings(values: dict[str, Any]) -> dict[str, Any]:
    """Every setting checked, and every refusal reported together (one submit shows all of them)."""
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}

    def check(name: str, fn) -> None:
        try:
            fn()
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                errors.setdefault(key, []).extend(messages)

    for name, (low, high) in ROUND_SETTINGS.items():
        if name in values:
            check(name, lambda name=name, low=low, high=high: cleaned.update(
                {name: _clean_number(name, values[name], low, high)}
            ))
    if "report_visibility" in values:
        if values["report_visibility"] not in ReportVisibility.values:
            errors["report_visibility"] = [f"One of {', '.join(ReportVisibility.values)}."]
        else:
            cleaned["report_visibility"] = values["report_visibility"]
    if "ranking_method" in values:
        if values["ranking_method"] not in RANKING_METHODS:
            errors["ranking_method"] = [f"One of {', '.join(RANKING_METHODS)}."]
        else:
            cleaned["ranking_method"] = values["ranking_method"]
    for name in ROUND_DATES:
        if name in values:
            check(name, lambda name=name: cleaned.update(_clean_dates({name: values[name]})))
    if "translations" in values:
        check("translations", lambda: cleaned.update(
            {"translations": clean_translations(values["translations"], kind="round")}
        ))
    if "consent_text" in values:
        check("consent_text", lambda: cleaned.update({"consent_text": clean_text(
            values["consent_text"], field="consent_text", max_length=5000, multiline=True
        )}))
    for flag in ROUND_FLAGS:
        if flag in values:
            cleaned[flag] = bool(values[flag])
    if errors:
        raise ValidationError(errors)
    return cleaned


def _clean_number(name: str, raw: Any, low: int, high: int) -> int | None:
    if raw in (None, "") and name in ("participant_cap", "token_budget"):
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValidationError({name: "Must be a whole number."})
    try:
        number = int(raw)
    except ValueError as exc:
        raise ValidationError({name: "Must be a whole number."}) from exc
    if not low <= number <= high:
        raise ValidationError({name: f"Must be between {low} and {high}."})
    return number


def _check_date_order(values: dict[str, Any]) -> None:
    dates = [(name, values.get(name)) for name in ROUND_DATES if values.get(name) is not None]
    for (first, a), (second, b) in zip(dates, dates[1:], strict=False):
        if a > b:
            raise ValidationError({second: f"Must come after {first.replace('_', ' ')}."})


@transaction.atomic
def round_create(
    *,
    owner,
    title: str,
    question: str,
    contexts: Sequence[Any],
    slug: str | None = None,
    description: str = "",
    attributes: Sequence[Any] = (),
    question_translations: Any = None,
    **settings_values: Any,
) -> Round:
    """Create a round in draft with one question, its contexts and the owner's role.

    Contexts and attributes may carry their own "translations"; `question_translations` is {"es": {"text": ...}}."""
    errors: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    for name, fn in (
        ("title", lambda: clean_text(title, field="title", max_length=200)),
        (
            "description",
            lambda: clean_text(
                description, field="description", max_length=5000, required=False, multiline=True
            ),
        ),
        ("question", lambda: clean_question(question, field="question")),
        (
            "question_translations",
            lambda: clean_translations(question_translations, kind="question", field="question_translations"),
        ),
        ("contexts", lambda: _clean_contexts(contexts)),
        ("attributes", lambda: _clean_attributes(attributes)),
        ("settings", lambda: _clean_settings(settings_values)),
    ):
        try:
            fields[name] = fn()
        except ValidationError as exc:
            errors.update(exc.message_dict)
    unknown = set(settings_values) - SETTING_KEYS
    if unknown:
        errors["non_field_errors"] = [f"Unknown settings: {', '.join(sorted(unknown))}."]
    slug_value = slugify(slug or fields.get("title", ""))[:64]
    if not slug_value:
        errors.setdefault("slug", ["Give a slug made of letters, digits and hyphens."])
    elif Round.objects.filter(slug=slug_value).exists():
        errors.setdefault("slug", [f"The slug '{slug_value}' is taken."])
    if "settings" in fields:
        try:
            _check_date_order(fields["settings"])
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            round_ = Round.objects.create(
                slug=slug_value,
                title=fields["title"],
                description=fields["description"],
                **fields["settings"],
            )
    except IntegrityError as exc:
        raise ValidationError({"slug": [f"The slug '{slug_value}' is taken."]}) from exc
    q = Question.objects.create(
        round=round_, text=fields["question"], order=0, translations=fields["question_translations"]
    )
    for order, ctx in enumerate(fields["contexts"]):
        Context.objects.create(question=q, order=order, **ctx)
    for order, attr in enumerate(fields["attributes"]):
        ParticipantAttribute.objects.create(
            round=round_,
            key=attr["key"],
            label=attr["label"],
            choices=attr["choices"],
            is_grouping=attr["grouping"],
            order=order,
            translations=attr["translations"],
        )
    OrganizerRole.objects.create(round=round_, user=owner, role=OrganizerRole.Role.OWNER)
    audit_log(round_=round_, actor=owner, action="round.create", target=round_)
    return round_


@transaction.atomic
def round_update(*, round_: Round, actor, **values: Any) -> Round:
    """Change a round's title, description or settings."""
    _require(actor, round_, "edit_round")
    errors: dict[str, Any] = {}
    changes: dict[str, Any] = {}
    try:
        changes.update(_clean_settings(values))
    except ValidationError as exc:
        errors.update(exc.message_dict)
    for name, limit in (("title", 200), ("description", 5000)):
        if name in values:
            try:
                changes[name] = clean_text(
                    values[name],
                    field=name,
                    max_length=limit,
                    required=name == "title",
                    multiline=name == "description",
                )
            except ValidationError as exc:
                errors.update(exc.message_dict)
    attribute_translations: dict[int, dict[str, Any]] = {}
    if values.get("attribute_translations") is not None:
        try:
            attribute_translations = _clean_attribute_translations_of(round_, values["attribute_translations"])
        except ValidationError as exc:
            errors.update(exc.message_dict)
    unknown = set(values) - SETTING_KEYS - {"title", "description", "attribute_translations"}
    if unknown:
        errors["non_field_errors"] = [f"Unknown fields: {', '.join(sorted(unknown))}."]
    if errors:
        raise ValidationError(errors)
    locked = Round.objects.select_for_update().get(pk=round_.pk)
    previous = {name: getattr(locked, name) for name in changes}
    changed = sorted(name for name, value in changes.items() if previous[name] != value)
    for name, value in changes.items():
        setattr(locked, name, value)
    _check_date_order({name: getattr(locked, name) for name in ROUND_DATES})
    translated = [
        attribute
        for attribute in ParticipantAttribute.objects.filter(round=locked, pk__in=attribute_translations)
        if attribute.translations != attribute_translations[attribute.pk]
    ]
    for attribute in translated:
        attribute.translations = attribute_translations[attribute.pk]
        attribute.save(update_fields=["translations"])
    if translated:
        previous["attribute_translations"] = ""
        changes["attribute_translations"] = ", ".join(a.key for a in translated)
        changed.append("attribute_translations")
    if not changed:
        return locked
    locked.save(update_fields=[*(c for c in changed if c != "attribute_translations"), "updated_at"])
    audit_log(
        round_=locked,
        actor=actor,
        action="round.update",
        target=locked,
        data={
            "fields": changed,
            "changes": {name: _audit_value(previous[name], changes[name]) for name in changed},
        },
    )
    return locked


def _audit_value(before: Any, after: Any) -> dict[str, Any]:
    """A setting's change as the audit log keeps it: JSON-safe before and after."""

    def plain(value: Any) -> Any:
        return value if value is None or isinstance(value, bool | int | float | str) else str(value)

    return {"from": plain(before), "to": plain(after)}


@transaction.atomic
def round_set_stage(*, round_: Round, actor, stage: str) -> Round:
    """Move a round to another stage (forward, or back one step to correct a mistake)."""
    _require(actor, round_, "advance_stage")
    if stage not in Stage.values:
        raise ValidationError({"stage": f"One of {', '.join(Stage.values)}."})
    locked = Round.objects.select_for_update().get(pk=round_.pk)
    current, target = STAGE_ORDER.index(Stage(locked.stage)), STAGE_ORDER.index(Stage(stage))
    if target == current:
        return locked
    if target < current - 1:
        raise Conflict(_("A round can move back only one stage."), code="stage_order")
    if target == STAGE_ORDER.index(Stage.PUBLISHED) and locked.current_ranking_id is None:
        raise Conflict(_("Rank the round before publishing it."), code="not_ranked")
    return _move_stage(locked, stage, actor=actor, action="round.stage")


def _move_stage(locked: Round, stage: str, *, actor, action: str) -> Round:
    """Record the move of a locked round to `stage` and start what the new stage needs."""
    previous = locked.stage
    locked.stage = stage
    locked.stage_changed_at = timezone.now()
    fields = ["stage", "stage_changed_at", "updated_at"]
    data = {"from": previous, "to": stage}
    if stage == Stage.PUBLISHED:
        # Published means frozen: readers see this run until an organizer publishes another one explicitly
        # (moral_graph.services.ranking_release). Publishing again after a step back keeps what was public.
        if locked.published_ranking_id is None:
            locked.published_ranking_id = locked.current_ranking_id
            fields.append("published_ranking")
        data["run"] = locked.published_ranking_id
    locked.save(update_fields=fields)
    audit_log(round_=locked, actor=actor, action=action, target=locked, data=data)
    # moral_graph starts what the new stage needs (stories for voting, the final ranking on closing).
    events.emit(events.ROUND_STAGE_CHANGED, round_id=locked.pk, stage=stage, previous=previous)
    return locked


def round_apply_schedule(*, round_: Round, now: datetime | None = None) -> Round:
    """Move the round to the stage its dates call for, if any, and start what that stage needs; idempotent.

    A write, called explicitly: by Celery beat (`rounds_apply_schedules`), by the writes that depend on the stage
    (`round_lock`, the vote statement's closing check) and never by a read: pages and the API show the stage the
    dates call for with the pure `selectors.round_as_scheduled` (decision 20).
    """
    if scheduled_stage(round_, now=now) is None:
        return round_
    with transaction.atomic():
        locked = Round.objects.select_for_update().get(pk=round_.pk)
        stage = scheduled_stage(locked, now=now)
        if stage is None:
            return locked
        return _move_stage(locked, stage, actor=None, action="round.stage.scheduled")


def round_lock(*, round_id: int) -> Round:
    """Lock the round's row for a write that depends on its stage, after applying its due stage dates."""
    round_ = Round.objects.select_for_update().get(pk=round_id)
    if scheduled_stage(round_) is not None:
        round_ = round_apply_schedule(round_=round_)
    return round_


def rounds_apply_schedules(*, now: datetime | None = None) -> list[int]:
    """Apply every round's due dates (the periodic task); returns the ids of the rounds moved."""
    now = now or timezone.now()
    due = Q()
    for _stage, field in STAGE_DATES:
        due |= Q(**{f"{field}__lte": now})
    moved = []
    candidates = Round.objects.filter(due).exclude(stage__in=[Stage.CLOSED, Stage.PUBLISHED]).order_by("pk")
    for round_ in candidates.iterator():
        if scheduled_stage(round_, now=now) is not None:
            round_apply_schedule(round_=round_, now=now)
            moved.append(round_.pk)
    return moved


def _clean_participant_attributes(round_: Round, attributes: Any) -> dict[str, str]:
    if attributes in (None, ""):
        attributes = {}
    if not isinstance(attributes, dict):
        raise ValidationError({"attributes": "Give the answers as an object."})
    defined = {a.key: a for a in round_.attributes.all()}
    unknown = set(attributes) - set(defined)
    if unknown:
        raise ValidationError({"attributes": f"Unknown attributes: {', '.join(sorted(map(str, unknown)))}."})
    cleaned = {}
    for key, value in attributes.items():
        if value in (None, ""):
            continue
        if value not in defined[key].choices:
            raise ValidationError({"attributes": f"{defined[key].label}: choose one of the listed answers."})
        cleaned[key] = value
    return cleaned


@transaction.atomic
def participant_join(
    *,
    round_: Round,
    consent: bool,
    attributes: Any = None,
    join_token: str = "",
    invite_code: str = "",
    user=None,
) -> Participant:
    """Join a round by its open link or a one-time invite code; consent is required."""
    if round_.stage not in JOINABLE_STAGES:
        raise WrongStage(_("This round is not open for joining."))
    if round_.archived_at is not None:
        raise WrongStage(_("This round is archived and takes no new participants."))
    if consent is not True:
        raise ValidationError({"consent": "Please agree to the consent text to take part."})
    cleaned = _clean_participant_attributes(round_, attributes)
    invitation = None
    if invite_code:
        invitation = (
            Invitation.objects.select_for_update().filter(round=round_, code=str(invite_code)[:64]).first()
        )
        if invitation is None:
            raise NotFound(_("This invite code is not valid for this round."))
        if invitation.used_at is not None:
            raise Conflict(_("This invite code has already been used."), code="invite_used")
    elif not (round_.open_link_enabled and join_token and join_token == round_.join_token):
        raise Forbidden(_("This round needs a valid link or invite code."))
    if user is not None and user.is_authenticated:
        existing = Participant.objects.filter(round=round_, user=user).first()
        if existing is not None:
            return existing
    if round_.participant_cap is not None:
        locked = Round.objects.select_for_update().get(pk=round_.pk)
        if locked.participants.count() >= locked.participant_cap:
            raise Conflict(_("This round is full."), code="round_full")
    participant = Participant.objects.create(
        round=round_,
        attributes=cleaned,
        consent_at=timezone.now(),
        invitation=invitation,
        user=user if user is not None and user.is_authenticated else None,
    )
    if invitation is not None:
        Invitation.objects.filter(pk=invitation.pk).update(used_at=timezone.now())
    return participant


@transaction.atomic
def participant_finish(*, participant: Participant, represented: Any = None, fair: Any = None) -> Participant:
    """Record the end-of-round evaluation (1–5 each, optional) and mark the participant finished."""
    values = {}
    for name, raw in (("eval_represented", represented), ("eval_fair", fair)):
        if raw in (None, ""):
            continue
        try:
            number = int(raw)
        except (TypeError, ValueError) as exc:
            raise ValidationError({name: "Choose 1 to 5."}) from exc
        if not 1 <= number <= 5 or isinstance(raw, bool):
            raise ValidationError({name: "Choose 1 to 5."})
        values[name] = number
    Participant.objects.filter(pk=participant.pk).update(
        finished_at=F("finished_at") if participant.finished_at else timezone.now(), **values
    )
    participant.refresh_from_db()
    return participant


@transaction.atomic
def invitations_create(*, round_: Round, actor, count: int) -> list[Invitation]:
    """Make a batch of one-time invite codes."""
    _require(actor, round_, "invite")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10_000:
        raise ValidationError({"count": "Between 1 and 10000."})
    invitations = Invitation.objects.bulk_create([Invitation(round=round_) for _i in range(count)])
    audit_log(round_=round_, actor=actor, action="invitations.create", target=round_, data={"count": count})
    return invitations


@transaction.atomic
def role_grant(*, round_: Round, actor, user, role: str) -> OrganizerRole:
    """Give a user a role in the round (owner only)."""
    _require(actor, round_, "manage_roles")
    if role not in OrganizerRole.Role.values:
        raise ValidationError({"role": f"One of {', '.join(OrganizerRole.Role.values)}."})
    obj, _created = OrganizerRole.objects.update_or_create(round=round_, user=user, defaults={"role": role})
    audit_log(
        round_=round_, actor=actor, action="role.grant", target=obj, data={"user": user.pk, "role": role}
    )
    return obj


@transaction.atomic
def question_update(*, actor, question: Question, text: Any = None, translations: Any = None) -> Question:
    """Change a question's text or its translations (owner only)."""
    _require(actor, question.round, "edit_round")
    changes: dict[str, Any] = {}
    if text is not None:
        changes["text"] = clean_question(text, field="text")
    if translations is not None:
        changes["translations"] = clean_translations(translations, kind="question")
    changed = sorted(name for name, value in changes.items() if getattr(question, name) != value)
    if not changed:
        return question
    Question.objects.filter(pk=question.pk).update(**changes)
    audit_log(
        round_=question.round,
        actor=actor,
        action="question.update",
        target=question,
        data={"fields": changed},
    )
    question.refresh_from_db()
    return question


@transaction.atomic
def context_save(
    *,
    actor,
    question: Question,
    context: Context | None = None,
    name: Any = None,
    description: Any = None,
    translations: Any = None,
) -> Context:
    """Add a context to a question, or change one's name, description or translations (owner only)."""
    _require(actor, question.round, "edit_round")
    if context is not None and context.question_id != question.pk:
        raise NotFound(_("No such context in this question."))
    changes: dict[str, Any] = {}
    if name is not None or context is None:
        changes["name"] = clean_text(name, field="name", max_length=200)
        clash = Context.objects.filter(question=question, name__iexact=changes["name"])
        if context is not None:
            clash = clash.exclude(pk=context.pk)
        if clash.exists():
            raise ValidationError({"name": "Another context of this question has that name."})
    if description is not None:
        changes["description"] = clean_text(
            description, field="description", max_length=2000, required=False, multiline=True
        )
    if translations is not None:
        changes["translations"] = clean_translations(translations, kind="context")
    if context is None:
        order = (question.contexts.order_by("-order").values_list("order", flat=True).first() or 0) + 1
        context = Context.objects.create(question=question, order=order, **changes)
        audit_log(round_=question.round, actor=actor, action="context.create", target=context)
        return context
    changed = sorted(name for name, value in changes.items() if getattr(context, name) != value)
    if not changed:
        return context
    Context.objects.filter(pk=context.pk).update(**changes)
    context.refresh_from_db()
    audit_log(round_=question.round, actor=actor, action="context.update", target=context, data={"fields": changed})
    return context


@transaction.atomic
def role_revoke(*, round_: Round, actor, user) -> None:
    """Take a user's role in the round away; the last owner cannot be removed."""
    _require(actor, round_, "manage_roles")
    role = OrganizerRole.objects.select_for_update().filter(round=round_, user=user).first()
    if role is None:
        raise NotFound(_("That user has no role in this round."))
    owners = OrganizerRole.objects.filter(round=round_, role=OrganizerRole.Role.OWNER)
    if role.role == OrganizerRole.Role.OWNER and owners.count() == 1:
        raise Conflict(_("A round needs at least one owner."), code="last_owner")
    role.delete()
    audit_log(round_=round_, actor=actor, action="role.revoke", target=round_, data={"user": user.pk})


@transaction.atomic
def round_archive(*, round_: Round, actor, archived: bool = True) -> Round:
    """Archive a round (it leaves the current lists and takes no one new) or take it out of the archive (owner)."""
    _require(actor, round_, "edit_round")
    if not isinstance(archived, bool):
        raise ValidationError({"archived": "true or false."})
    locked = Round.objects.select_for_update().get(pk=round_.pk)
    if (locked.archived_at is not None) == archived:
        return locked
    locked.archived_at = timezone.now() if archived else None
    locked.save(update_fields=["archived_at", "updated_at"])
    audit_log(round_=locked, actor=actor, action="round.archive" if archived else "round.unarchive", target=locked)
    return locked


@transaction.atomic
def round_delete(*, round_: Round, actor, confirm: Any) -> None:
    """Delete a round nobody has joined yet (owner; the slug typed again as confirmation); otherwise archive it."""
    _require(actor, round_, "edit_round")
    if confirm != round_.slug:
        raise ValidationError({"confirm": _("Type the round's address (%(slug)s) to confirm.") % {"slug": round_.slug}})
    locked = Round.objects.select_for_update().get(pk=round_.pk)
    if locked.participants.exists():
        raise Conflict(
            _("People have joined this round, so it cannot be deleted: archive it instead."), code="round_has_data"
        )
    audit_log(
        round_=None, actor=actor, action="round.delete", target=locked, data={"slug": locked.slug, "title": locked.title}
    )
    AuditEvent.objects.filter(round=locked).update(round=None)
    locked.delete()


@transaction.atomic
def question_add(*, actor, round_: Round, text: Any, contexts: Sequence[Any], translations: Any = None) -> Question:
    """Add another question to a round, with its contexts (owner; before voting opens)."""
    _require(actor, round_, "edit_round")
    if round_.stage not in (Stage.DRAFT, Stage.ARTICULATION):
        raise WrongStage(_("Questions can be added only before voting opens."))
    errors: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    for name, fn in (
        ("text", lambda: clean_question(text, field="text")),
        ("contexts", lambda: _clean_contexts(contexts)),
        ("translations", lambda: clean_translations(translations, kind="question")),
    ):
        try:
            fields[name] = fn()
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    Round.objects.select_for_update().get(pk=round_.pk)
    order = (round_.questions.order_by("-order").values_list("order", flat=True).first() or 0) + 1
    question = Question.objects.create(
        round=round_, text=fields["text"], order=order, translations=fields["translations"]
    )
    for index, ctx in enumerate(fields["contexts"]):
        Context.objects.create(question=question, order=index, **ctx)
    audit_log(
        round_=round_,
        actor=actor,
        action="question.create",
        target=question,
        data={"contexts": [c["name"] for c in fields["contexts"]]},
    )
    return question


@transaction.atomic
def context_delete(*, actor, context: Context) -> None:
    """Remove a context in which nothing was written yet; a question keeps at least one context (owner)."""
    round_ = context.question.round
    _require(actor, round_, "edit_round")
    Question.objects.select_for_update().get(pk=context.question_id)
    if context.cards.exists():
        raise Conflict(
            _("Cards were written in the context “%(name)s”, so it cannot be removed: rename it instead.")
            % {"name": context.name},
            code="context_has_cards",
        )
    if Context.objects.filter(question_id=context.question_id).count() <= 1:
        raise Conflict(_("A question needs at least one context."), code="last_context")
    audit_log(round_=round_, actor=actor, action="context.delete", target=context, data={"name": context.name})
    context.delete()


def _collect(errors: dict[str, list[str]], prefix: str, call, *, domain_field: str = "") -> Any:
    """Run one write in a savepoint; its refusal goes into `errors` under the form's prefixed names."""
    try:
        with transaction.atomic():
            return call()
    except ValidationError as exc:
        messages = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        for key, value in messages.items():
            name = key if key == "non_field_errors" else f"{prefix}{key}"
            errors.setdefault(name, []).extend(value)
    except (Conflict, NotFound, WrongStage) as exc:
        errors.setdefault(f"{prefix}{domain_field}" if domain_field else "non_field_errors", []).append(exc.message)
    return None


@transaction.atomic
def round_texts_save(
    *, actor, round_: Round, questions: Sequence[dict], new_question: dict | None = None
) -> None:
    """Save the question-and-contexts page in one go, all or nothing; every refusal is reported, by field.

    Each entry of `questions`: {"question", "prefix", "text", "translations", "contexts": [{"context",
    "prefix", "name", "description", "translations", "remove"}], "new": {"prefix", "name", "description",
    "translations"}}; only what changed is written (and audited). `new_question`: {"prefix", "text",
    "contexts"} adds a question when its text is not empty.
    """
    _require(actor, round_, "edit_round")
    errors: dict[str, list[str]] = {}
    for entry in questions:
        question = entry["question"]
        if question.round_id != round_.pk:
            raise NotFound(_("No such question in this round."))
        for item in entry["contexts"]:
            if item.get("remove"):
                _collect(
                    errors,
                    item["prefix"],
                    lambda c=item["context"]: context_delete(actor=actor, context=c),
                    domain_field="remove",
                )
        if entry["text"] != question.text or _filled(entry["translations"]) != _filled(question.translations):
            _collect(
                errors,
                entry["prefix"],
                lambda q=question, e=entry: question_update(
                    actor=actor, question=q, text=e["text"], translations=e["translations"]
                ),
            )
        for item in entry["contexts"]:
            context = item["context"]
            if item.get("remove"):
                continue
            if (
                item["name"] != context.name
                or item["description"] != context.description
                or _filled(item["translations"]) != _filled(context.translations)
            ):
                _collect(
                    errors,
                    item["prefix"],
                    lambda q=question, c=context, i=item: context_save(
                        actor=actor,
                        question=q,
                        context=c,
                        name=i["name"],
                        description=i["description"],
                        translations=i["translations"],
                    ),
                )
        new = entry.get("new")
        if new and (new["name"].strip() or new["description"].strip()):
            _collect(
                errors,
                new["prefix"],
                lambda q=question, n=new: context_save(
                    actor=actor,
                    question=q,
                    name=n["name"],
                    description=n["description"],
                    translations=n["translations"],
                ),
            )
    if new_question and (new_question["text"].strip() or new_question["contexts"]):
        _collect(
            errors,
            new_question["prefix"],
            lambda: question_add(
                actor=actor, round_=round_, text=new_question["text"], contexts=new_question["contexts"]
            ),
        )
    if errors:
        raise ValidationError(errors)


def _filled(translations: Any) -> dict:
    """Translations without their empty texts, as stored, for comparing what was typed with what is saved."""
    if not isinstance(translations, dict):
        return {}
    return {
        language: {k: v.strip() for k, v in texts.items() if isinstance(v, str) and v.strip()}
        for language, texts in translations.items()
        if isinstance(texts, dict) and any(isinstance(v, str) and v.strip() for v in texts.values())
    }
