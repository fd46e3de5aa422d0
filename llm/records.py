"""Reading and writing the call record: the cache, the per-round budget and the cost ledger."""

from __future__ import annotations

import logging
from typing import Any

from django.apps import apps
from django.db.models import Sum

from llm.models import LLMCall, Outcome

logger = logging.getLogger(__name__)


def round_token_budget(round_id: int) -> int | None:
    """The round's token budget; None when unlimited or when rounds are not installed."""
    try:
        round_model = apps.get_model("deliberation", "Round")
    except LookupError:
        return None
    return round_model.objects.filter(pk=round_id).values_list("token_budget", flat=True).first()


def round_tokens_used(round_id: int) -> int:
    """Tokens recorded against a round (input plus output, every outcome)."""
    totals = LLMCall.objects.filter(round_id=round_id).aggregate(
        tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out")
    )
    return (totals["tokens_in"] or 0) + (totals["tokens_out"] or 0)


def budget_spent(round_id: int | None) -> bool:
    """True when the round has a budget and its recorded tokens have reached it."""
    if round_id is None:
        return False
    budget = round_token_budget(round_id)
    if budget is None:
        return False
    return round_tokens_used(round_id) >= budget


def cached_response(input_hash: str) -> Any | None:
    """The response of an earlier successful identical call, if any."""
    return (
        LLMCall.objects.filter(input_hash=input_hash, outcome=Outcome.OK, response__isnull=False)
        .order_by("-id")
        .values_list("response", flat=True)
        .first()
    )


def record_call(
    *,
    purpose: str,
    kind: str,
    provider: str,
    model: str,
    input_hash: str,
    outcome: str,
    prompt_version: str = "",
    tokens_in: int = 0,
    tokens_out: int = 0,
    latency_ms: int = 0,
    attempts: int = 0,
    error: str = "",
    round_id: int | None = None,
    response: Any = None,
) -> LLMCall:
    """Write one LLMCall row and log it."""
    call = LLMCall.objects.create(
        purpose=purpose[:64],
        kind=kind,
        provider=provider,
        model=model[:128],
        prompt_version=prompt_version[:64],
        input_hash=input_hash,
        tokens_in=max(0, tokens_in),
        tokens_out=max(0, tokens_out),
        latency_ms=max(0, latency_ms),
        attempts=attempts,
        outcome=outcome,
        error=error,
        round_id=round_id,
        response=response,
    )
    logger.info(
        "llm call purpose=%s kind=%s provider=%s model=%s outcome=%s tokens=%d+%d latency_ms=%d attempts=%d",
        purpose,
        kind,
        provider,
        model,
        outcome,
        call.tokens_in,
        call.tokens_out,
        call.latency_ms,
        attempts,
    )
    return call
