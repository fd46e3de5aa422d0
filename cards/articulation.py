"""The chat path of articulation: a conversation with the model that drafts a values card the participant edits.

The form is always the fallback: every fault (no model, budget spent, a failed or garbled call) is stored on
the session as a code, the participant's words stay in the transcript, and the best draft so far prefills
the card form. Nothing becomes a card until the participant confirms it (`articulation_confirm`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from math import ceil

import pydantic
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cards import coaching
from cards.models import MAX_POLICIES, ArticulationSession, ValuesCard
from cards.prompts import CHAT_INSTRUCTIONS, CHAT_VERSION, DRAFT_INSTRUCTIONS
from cards.services import CARD_STAGES, _context_for, card_choose_value, card_submit
from cards.validation import SENTENCE_END, validate_card
from core.errors import Conflict, DomainError, WrongStage
from core.queue import enqueue_slow_on_commit
from core.text import clean_text
from deliberation.models import Context, Participant, Round
from llm import gateway
from llm.gateway import LLMUnavailable

DEFAULT_TURN_CAP = 12
MESSAGE_MAX = 2000
REPLY_MAX = 1200
# Honest estimate: most chats reach a draft after about six answers; each answer takes a minute and a half to
# read and write, and reviewing the draft about three minutes (MAI's median chat took 21 minutes).
TYPICAL_TURNS = 6
MINUTES_PER_TURN = 1.5
REVIEW_MINUTES = 3
# The server, not the model, decides when to draft: MAI's method needs at least a concrete choice the person
# faced, what they paid attention to in it, and what about that mattered (three answers); before that the
# model's `ready_for_draft` is ignored, after it the model's flag is advice the server follows.
MIN_ANSWERS_BEFORE_DRAFT = 3
# A reply still pending after this long is taken as lost (a worker died): the page offers to ask again.
PENDING_STALE_SECONDS = 120
CHAT_TEMPERATURE = 0.5
REDRAFT_TEMPERATURE = 0.4

NO_MODEL = gateway.NO_MODEL
BUDGET_EXCEEDED = gateway.BUDGET_EXCEEDED
CALL_FAILED = gateway.CALL_FAILED
DRAFT_INVALID = "draft_invalid"


class ChatTurn(pydantic.BaseModel):
    reply: str
    ready_for_draft: bool


class DraftCard(pydantic.BaseModel):
    title: str
    description: str
    policies: list[str]
    context_id: int


class ArticulationUnavailable(DomainError):
    """The chat cannot start: no model is available for this round."""

    status = 503
    code = NO_MODEL


@dataclass
class TurnResult:
    """What one call of the chat produced: the session after it, the reply and draft if any, and a fault code."""

    session: ArticulationSession
    reply: str | None = None
    draft: dict | None = None
    fault: str = ""
    problems: dict[str, list[str]] = field(default_factory=dict)


def turn_cap() -> int:
    """How many answers a participant may give in one chat (settings.WISER_CHAT_TURN_CAP, default 12)."""
    return int(getattr(settings, "WISER_CHAT_TURN_CAP", DEFAULT_TURN_CAP) or DEFAULT_TURN_CAP)


def turns_left(session: ArticulationSession) -> int:
    """Answers the participant can still give in this chat."""
    return max(0, turn_cap() - session.turns)


def time_estimate(session: ArticulationSession) -> tuple[int, int]:
    """Minutes still needed (low, high): a typical chat, and one that uses every answer, plus reviewing the card."""
    cap = turn_cap()
    low_turns = max(0, min(TYPICAL_TURNS, cap) - session.turns)
    high_turns = max(0, cap - session.turns)
    return (
        ceil(low_turns * MINUTES_PER_TURN + REVIEW_MINUTES),
        ceil(high_turns * MINUTES_PER_TURN + REVIEW_MINUTES),
    )


def fault_message(code: str) -> str:
    """What to tell the participant about a fault code; '' when there is none."""
    messages = {
        NO_MODEL: _(
            "The assistant is not available in this round. Please write your card with the form below; "
            "your conversation so far is kept."
        ),
        BUDGET_EXCEEDED: _(
            "The assistant has reached this round's usage limit. Please finish your card with the form below; "
            "your conversation so far is kept."
        ),
        CALL_FAILED: _(
            "The assistant did not answer because of a technical problem. Your words are saved: try again, "
            "or finish your card with the form below."
        ),
        DRAFT_INVALID: _(
            "The assistant's draft does not yet follow the card rules. Please fix the fields marked below."
        ),
    }
    return messages.get(code, "")


def draft_problems(draft: dict) -> dict[str, list[str]]:
    """The card rules a draft breaks, per field ({} when it is a valid card or still empty)."""
    if not any(draft.get(key) for key in ("title", "description", "policies")):
        return {}
    try:
        validate_card(
            title=draft.get("title", ""),
            description=draft.get("description", ""),
            policies=draft.get("policies", []),
        )
    except ValidationError as exc:
        return exc.message_dict
    return {}


def transcript(session: ArticulationSession) -> list[dict[str, str]]:
    """The conversation as stored with the card: role and text of each turn."""
    return [{"role": m["role"], "content": m["content"]} for m in session.messages]


def articulation_start(*, participant: Participant, context_id=None, guided_ok: bool = False) -> ArticulationSession:
    """Resume the participant's open chat, or start one with the round's question.

    Without a model: 503, or with `guided_ok` (the page) a guided chat of fixed questions with coaching.
    """
    round_ = Round.objects.get(pk=participant.round_id)
    _require_card_stage(round_)
    context = _context_for(participant, context_id) if context_id not in (None, "") else None
    session = ArticulationSession.objects.filter(
        participant=participant, status=ArticulationSession.Status.OPEN
    ).first()
    if session is not None:
        if context is not None and session.context_id != context.pk:
            session.context = context
            session.save(update_fields=["context", "updated_at"])
        return session
    guided = not gateway.model_available(round_.pk)
    if guided and not guided_ok:
        raise ArticulationUnavailable(fault_message(NO_MODEL))
    if context is None:
        contexts = list(Context.objects.filter(question__round=round_)[:2])
        context = contexts[0] if len(contexts) == 1 else None
    opening = _opening(round_, context, guided=guided)
    try:
        with transaction.atomic():
            return ArticulationSession.objects.create(
                participant=participant,
                context=context,
                messages=[{"role": "assistant", "content": opening}],
                prompt_version=GUIDED_VERSION if guided else CHAT_VERSION,
                mode=ArticulationSession.Mode.GUIDED if guided else ArticulationSession.Mode.MODEL,
            )
    except IntegrityError:
        # A second tab started the chat at the same moment: both continue the same session.
        return ArticulationSession.objects.get(
            participant=participant, status=ArticulationSession.Status.OPEN
        )


def articulation_abandon(*, session: ArticulationSession) -> ArticulationSession:
    """Close an open chat without a card (the participant starts over or uses the form); its transcript is kept."""
    ArticulationSession.objects.filter(pk=session.pk, status=ArticulationSession.Status.OPEN).update(
        status=ArticulationSession.Status.ABANDONED
    )
    session.refresh_from_db()
    return session


def articulation_turn(*, session: ArticulationSession, message: str) -> TurnResult:
    """Store the participant's answer and have a task ask the model for the next question (or a draft).

    The model is never called inside the request: `articulation_reply` writes the reply in a task, and the page
    polls the session until it is there. An empty message asks again after a fault or a lost reply.
    """
    if session.mode == ArticulationSession.Mode.GUIDED:
        return guided_answer(session=session, message=message)
    _require_open(session)
    _require_card_stage(Round.objects.get(pk=session.participant.round_id))
    if session.pending and not pending_stale(session):
        raise Conflict(_("The assistant is still writing: wait a moment, then reload the page."), code="pending")
    text = clean_text(message, field="message", max_length=MESSAGE_MAX, required=False, multiline=True)
    if text:
        if session.turns >= turn_cap():
            raise Conflict(
                _("You have given all %(n)d answers of this chat: edit the draft card and submit it.")
                % {"n": turn_cap()},
                code="turn_cap",
            )
        session = _append(
            session, {"role": "user", "content": text}, count_turn=True, pending=ArticulationSession.Pending.REPLY
        )
    elif not _awaiting_reply(session):
        raise ValidationError({"message": _("Write your answer first.")})
    else:
        session = _set_pending(session, ArticulationSession.Pending.REPLY)
    before = len(session.messages), session.drafts
    _enqueue("articulation_reply_task", session, session.turns)
    return _result_since(session, *before)


def articulation_request_draft(*, session: ArticulationSession) -> TurnResult:
    """Have a task draft the card from the conversation now (the participant asked for it)."""
    _require_open(session)
    if session.turns == 0:
        raise ValidationError({"message": _("Answer at least one question first.")})
    session = _set_pending(session, ArticulationSession.Pending.DRAFT)
    before = len(session.messages), session.drafts
    _enqueue("articulation_draft_task", session, session.drafts)
    return _result_since(session, *before)


def articulation_reply(*, session_id: int, turn: int) -> None:
    """The task body: the model's next question for answer number `turn`, or a draft when the server decides.

    Returns quietly when the chat is gone, closed, or has moved on (a newer answer, a reply already written).
    """
    session = ArticulationSession.objects.select_related("participant").filter(pk=session_id).first()
    if session is None or session.status != ArticulationSession.Status.OPEN:
        return
    if session.turns != turn or not _awaiting_reply(session):
        _clear_pending(session, ArticulationSession.Pending.REPLY)
        return
    if session.turns >= turn_cap():
        closing = _(
            "That was your last answer in this chat. Here is a draft of your card: change anything that is not right."
        )
        try:
            session = _append(session, {"role": "assistant", "content": closing}, expect_turn=turn)
        except Conflict:
            return
        articulation_draft(session=session)
        return
    try:
        reply_turn = gateway.complete_structured(
            purpose="articulation.turn",
            instructions=CHAT_INSTRUCTIONS,
            data=_chat_data(session),
            schema=ChatTurn,
            round_id=session.participant.round_id,
            temperature=CHAT_TEMPERATURE,
        )
    except LLMUnavailable as failure:
        _set_fault(session, failure.reason)
        return
    reply = _clean_reply(reply_turn.reply)
    if not reply:
        _set_fault(session, CALL_FAILED)
        return
    try:
        session = _append(session, {"role": "assistant", "content": reply}, expect_turn=turn)
    except Conflict:
        return  # the chat moved on while the model was answering
    if should_draft(turns=session.turns, model_ready=reply_turn.ready_for_draft):
        articulation_draft(session=session, ask_when_invalid=True)


def articulation_draft_pending(*, session_id: int, drafts: int) -> None:
    """The task body of a draft the participant asked for; quiet when the chat closed or was drafted since."""
    session = ArticulationSession.objects.select_related("participant").filter(pk=session_id).first()
    if session is None or session.status != ArticulationSession.Status.OPEN:
        return
    if session.drafts != drafts:
        _clear_pending(session, ArticulationSession.Pending.DRAFT)
        return
    articulation_draft(session=session)


def should_draft(*, turns: int, model_ready: bool) -> bool:
    """The server's decision: draft once enough answers are in and the model agrees (or no answers are left)."""
    return turns >= turn_cap() or (turns >= MIN_ANSWERS_BEFORE_DRAFT and model_ready)


def articulation_draft(*, session: ArticulationSession, ask_when_invalid: bool = False) -> TurnResult:
    """Ask the model for a draft card from the conversation, checked by validate_card and repaired once.

    A draft that still breaks the card rules is kept for the form; with `ask_when_invalid` and answers left, the
    chat goes on with a question about what is missing instead of showing a broken card.
    """
    _require_open(session)
    if session.turns == 0:
        raise ValidationError({"message": _("Answer at least one question first.")})
    round_id = session.participant.round_id
    data = _chat_data(session)
    # Asking again must not return the cached draft of the same conversation: the attempt number is data.
    data["attempt"] = session.drafts + 1
    data["contexts"] = [
        {"id": c.pk, "name": c.name, "description": c.description}
        for c in Context.objects.filter(question__round_id=round_id).order_by("order", "id")
    ]
    try:
        temperature = 0.0 if session.drafts == 0 else REDRAFT_TEMPERATURE
        candidate = _ask_draft(data, round_id, temperature)
        problems = draft_problems(candidate)
        if problems:
            repaired = _ask_draft(
                {**data, "previous_draft": candidate, "problems": problems}, round_id, temperature
            )
            repaired_problems = draft_problems(repaired)
            if len(repaired_problems) <= len(problems):
                candidate, problems = repaired, repaired_problems
    except LLMUnavailable as failure:
        session = _set_fault(session, failure.reason)
        return TurnResult(
            session=session,
            draft=session.draft or None,
            fault=failure.reason,
            problems=draft_problems(session.draft),
        )
    context_ids = {c["id"] for c in data["contexts"]}
    chosen = candidate.pop("context_id")
    candidate["context_id"] = chosen if chosen in context_ids else session.context_id
    candidate["origin"] = "model"
    question = missing_question(problems) if problems and ask_when_invalid and turns_left(session) else ""
    fault = DRAFT_INVALID if problems and not question else ""
    with transaction.atomic():
        locked = ArticulationSession.objects.select_for_update().get(pk=session.pk)
        locked.draft = candidate
        locked.drafts += 1
        locked.fault = fault
        locked.pending = ""
        locked.pending_since = None
        if question:
            locked.messages = [*locked.messages, {"role": "assistant", "content": question}]
        locked.save(
            update_fields=["draft", "drafts", "fault", "pending", "pending_since", "messages", "updated_at"]
        )
    return TurnResult(session=locked, reply=question or None, draft=candidate, fault=fault, problems=problems)


def missing_question(problems: dict[str, list[str]]) -> str:
    """The question that asks the participant for what a draft is missing, the policies first."""
    if "policies" in problems:
        return _(
            "Before I draft your card: think of the moment you chose. What exactly did you pay attention to? "
            "Name three or more things, one per line."
        )
    if "description" in problems:
        return _("In one sentence: what about this matters to you, for anyone facing such a choice?")
    return _("If you gave this value a short name of two to five words, what would it be?")


def pending_stale(session: ArticulationSession) -> bool:
    """True when a reply or draft has been pending so long that its task is taken as lost."""
    if not session.pending or session.pending_since is None:
        return False
    return (timezone.now() - session.pending_since).total_seconds() > PENDING_STALE_SECONDS


def articulation_confirm(
    *, session: ArticulationSession, title, description, policies, context_id
) -> ValuesCard:
    """Submit the participant's edited draft as their card, with the chat's transcript; idempotent once submitted."""
    if session.status == ArticulationSession.Status.SUBMITTED and session.card_id is not None:
        return session.card
    _require_open(session)
    edited = {
        "title": title if isinstance(title, str) else "",
        "description": description if isinstance(description, str) else "",
        "policies": [p for p in policies if isinstance(p, str)] if isinstance(policies, list | tuple) else [],
        "context_id": _int_or_none(context_id),
        "origin": "participant",
    }
    # What they typed is kept before anything can refuse it, so a reload shows their edits.
    ArticulationSession.objects.filter(pk=session.pk).update(draft=edited)
    session.draft = edited
    card = card_submit(
        participant=session.participant,
        context_id=context_id,
        title=title,
        description=description,
        policies=policies,
        transcript=transcript(session),
        source="chat",
    )
    with transaction.atomic():
        locked = ArticulationSession.objects.select_for_update().get(pk=session.pk)
        locked.status = ArticulationSession.Status.SUBMITTED
        locked.card = card
        locked.fault = ""
        locked.save(update_fields=["status", "card", "fault", "updated_at"])
    session.refresh_from_db()
    return card


def articulation_choose_value(*, session: ArticulationSession, value_id, context_id=None) -> ValuesCard:
    """The participant says an existing value is theirs: it becomes their card, with the chat's transcript."""
    if session.status == ArticulationSession.Status.SUBMITTED and session.card_id is not None:
        return session.card
    _require_open(session)
    card = card_choose_value(participant=session.participant, value_id=value_id, context_id=context_id)
    with transaction.atomic():
        ValuesCard.objects.filter(pk=card.pk).update(transcript=transcript(session), source="chat")
        locked = ArticulationSession.objects.select_for_update().get(pk=session.pk)
        locked.status = ArticulationSession.Status.SUBMITTED
        locked.card = card
        locked.fault = ""
        locked.save(update_fields=["status", "card", "fault", "updated_at"])
    card.refresh_from_db()
    return card


def _ask_draft(data: dict, round_id: int, temperature: float) -> dict:
    draft = gateway.complete_structured(
        purpose="articulation.draft",
        instructions=DRAFT_INSTRUCTIONS,
        data=data,
        schema=DraftCard,
        round_id=round_id,
        temperature=temperature,
    )
    return {
        "title": draft.title.strip(),
        "description": draft.description.strip(),
        "policies": [p.strip() for p in draft.policies if p.strip()][:MAX_POLICIES],
        "context_id": draft.context_id,
    }


def _opening(round_: Round, context: Context | None, *, guided: bool = False) -> str:
    question = round_.questions.order_by("order", "id").first()
    lines = [_("The question of this round: “%(q)s”") % {"q": question.text if question else round_.title}]
    if context is not None:
        lines.append(_("Think of this situation: %(c)s.") % {"c": context.name.rstrip(".")})
    lines.append(guided_question(GUIDED_STEPS[0]) if guided else _("What would you want done here, and why?"))
    return "\n\n".join(lines)


def _chat_data(session: ArticulationSession) -> dict:
    round_ = session.participant.round
    question = round_.questions.order_by("order", "id").first()
    context = session.context
    return {
        "question": question.text if question else round_.title,
        "context": {"name": context.name, "description": context.description} if context else None,
        "conversation": transcript(session),
        "answers_left": turns_left(session),
    }


def _clean_reply(reply: str) -> str:
    text = " ".join(reply.replace("\x00", "").split()) if reply else ""
    return text[:REPLY_MAX]


def _awaiting_reply(session: ArticulationSession) -> bool:
    return bool(session.messages) and session.messages[-1]["role"] == "user"


def _append(
    session: ArticulationSession,
    message: dict,
    *,
    count_turn: bool = False,
    pending: str = "",
    expect_turn: int | None = None,
) -> ArticulationSession:
    with transaction.atomic():
        locked = ArticulationSession.objects.select_for_update().get(pk=session.pk)
        if locked.status != ArticulationSession.Status.OPEN:
            raise Conflict(_("This chat is already closed."), code="chat_closed")
        if expect_turn is not None and (locked.turns != expect_turn or not _awaiting_reply(locked)):
            raise Conflict(_("The chat has moved on."), code="chat_moved_on")
        locked.messages = [*locked.messages, message]
        if count_turn:
            locked.turns += 1
        locked.fault = ""
        locked.pending = pending
        locked.pending_since = timezone.now() if pending else None
        if locked.mode == ArticulationSession.Mode.MODEL:
            locked.prompt_version = CHAT_VERSION
        locked.save(
            update_fields=["messages", "turns", "fault", "pending", "pending_since", "prompt_version", "updated_at"]
        )
    return locked


def _set_pending(session: ArticulationSession, pending: str) -> ArticulationSession:
    ArticulationSession.objects.filter(pk=session.pk).update(
        pending=pending, pending_since=timezone.now(), fault="", updated_at=timezone.now()
    )
    session.refresh_from_db()
    return session


def _clear_pending(session: ArticulationSession, pending: str) -> None:
    ArticulationSession.objects.filter(pk=session.pk, pending=pending).update(pending="", pending_since=None)


def _set_fault(session: ArticulationSession, code: str) -> ArticulationSession:
    ArticulationSession.objects.filter(pk=session.pk).update(fault=code, pending="", pending_since=None)
    session.refresh_from_db()
    return session


def _enqueue(task_name: str, session: ArticulationSession, expected: int) -> None:
    from cards import tasks

    enqueue_slow_on_commit(getattr(tasks, task_name), session.pk, expected)


def _result_since(session: ArticulationSession, messages_before: int, drafts_before: int) -> TurnResult:
    """What the request can report: the reply and draft if a task already wrote them (no worker), else pending."""
    session.refresh_from_db()
    new = session.messages[messages_before:]
    reply = new[-1]["content"] if new and new[-1]["role"] == "assistant" else None
    draft = session.draft if session.drafts > drafts_before else None
    return TurnResult(
        session=session,
        reply=reply,
        draft=draft,
        fault=session.fault,
        problems=draft_problems(session.draft) if draft else {},
    )


def _require_open(session: ArticulationSession) -> None:
    if session.status != ArticulationSession.Status.OPEN:
        raise Conflict(_("This chat is already closed."), code="chat_closed")


def _require_card_stage(round_: Round) -> None:
    if round_.stage not in CARD_STAGES:
        raise WrongStage(_("Cards can be written only during the articulation and voting stages."))


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# Articulation without a model: a guided sequence of MAI's questions, one at a time, with coaching.

GUIDED_VERSION = "guided-v1"
GUIDED_STEPS = ("choice", "attention", "meaningful", "title")


def guided_question(step: str) -> str:
    """The question of one step of the guided sequence."""
    questions = {
        "choice": _(
            "Think of a real moment when you faced a choice like this, or helped someone who did. "
            "What was the choice, and what did you do?"
        ),
        "attention": _(
            "In that moment, what did you pay attention to? Name three or more things you noticed or looked for, "
            "one per line. Start each with the kind of thing in capitals, for example: “MOMENTS when she could say "
            "what she really thought”."
        ),
        "meaningful": _(
            "What about those things felt meaningful to you? Say it in one sentence that would hold for anyone "
            "facing such a choice."
        ),
        "title": _("Last question: give this value a short name of two to five words."),
    }
    return str(questions[step])


def guided_state(session: ArticulationSession) -> dict:
    """Where a guided chat stands: the index of the current step, the answers kept, whether coaching is open."""
    state = (session.draft or {}).get("guided") or {}
    return {
        "step": int(state.get("step", 0)),
        "answers": dict(state.get("answers", {})),
        "coached": bool(state.get("coached", False)),
    }


def guided_step(session: ArticulationSession) -> str:
    """The name of the step the participant answers now; '' once the sequence is done."""
    index = guided_state(session)["step"]
    return GUIDED_STEPS[index] if index < len(GUIDED_STEPS) else ""


def guided_answer(*, session: ArticulationSession, message: str = "", keep: bool = False) -> TurnResult:
    """Take one answer of the guided sequence: coach it when it reads as a rule, goal or norm, else go on.

    `keep` goes on with the answer just coached, as written. After the last step the answers are assembled into
    a draft card for the form; nothing is submitted until the participant confirms it.
    """
    _require_open(session)
    _require_card_stage(Round.objects.get(pk=session.participant.round_id))
    if session.mode != ArticulationSession.Mode.GUIDED:
        raise Conflict(_("This chat is not a guided one."), code="not_guided")
    step = guided_step(session)
    if not step:
        raise Conflict(_("All questions are answered: edit the draft card and submit it."), code="guided_done")
    state = guided_state(session)
    if keep:
        if not state["coached"]:
            raise ValidationError({"message": _("Write your answer first.")})
        text = next(m["content"] for m in reversed(session.messages) if m["role"] == "user")
        hints = []
    else:
        text = clean_text(message, field="message", max_length=MESSAGE_MAX, multiline=True)
        hints = [] if step == "choice" else coaching.coach(text)
    with transaction.atomic():
        locked = ArticulationSession.objects.select_for_update().get(pk=session.pk)
        if locked.status != ArticulationSession.Status.OPEN or guided_step(locked) != step:
            raise Conflict(_("The chat has moved on."), code="chat_moved_on")
        messages = list(locked.messages)
        if not keep:
            messages.append({"role": "user", "content": text})
            locked.turns += 1
        reply = ""
        if hints:
            notes = [f"{hint.message} {hint.example}" for hint in hints]
            reply = "\n\n".join([*notes, str(_("Rewrite your answer, or keep it as it is and go on."))])
            state["coached"] = True
        else:
            state["answers"][step] = text
            state["step"] += 1
            state["coached"] = False
            if state["step"] < len(GUIDED_STEPS):
                reply = guided_question(GUIDED_STEPS[state["step"]])
            else:
                reply = str(
                    _("Thank you. Here is a draft of your card, built from your answers: check it below and change "
                      "anything that is not right.")
                )
        messages.append({"role": "assistant", "content": reply})
        draft = {**(locked.draft or {}), "guided": state}
        if state["step"] >= len(GUIDED_STEPS):
            draft.update(assemble_draft(state["answers"], context_id=locked.context_id))
            locked.drafts += 1
        locked.messages = messages
        locked.draft = draft
        locked.fault = ""
        locked.save(update_fields=["messages", "turns", "draft", "drafts", "fault", "updated_at"])
    done = state["step"] >= len(GUIDED_STEPS)
    return TurnResult(
        session=locked,
        reply=reply,
        draft=locked.draft if done else None,
        problems=draft_problems(locked.draft) if done else {},
    )


def assemble_draft(answers: dict[str, str], *, context_id: int | None) -> dict:
    """A draft card from the guided answers: the name as title, the meaning as description, attention as policies."""
    title = " ".join(answers.get("title", "").split()).strip(" .!?\"'“”‘’")
    meaning = " ".join(answers.get("meaningful", "").split())
    first = SENTENCE_END.search(meaning)
    description = meaning[: first.end()].strip() if first else meaning
    if description and description[-1] not in ".!?\"'”’)":
        description += "."
    policies = []
    for line in re.split(r"[\n;]+", answers.get("attention", "")):
        policy = " ".join(line.strip(" -•*\t").split()).rstrip(".")
        if policy and policy.lower() not in {p.lower() for p in policies}:
            policies.append(policy)
    return {
        "title": title,
        "description": description,
        "policies": policies[:MAX_POLICIES],
        "context_id": context_id,
        "origin": "guided",
    }
