"""Reading the call record: what a round's model use has cost so far."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Sum

from llm.models import LLMCall
from llm.records import round_token_budget


def round_llm_usage(*, round_id: int) -> dict[str, Any]:
    """Tokens, calls per outcome and the budget of one round, for organizers' cost views."""
    rows = (
        LLMCall.objects.filter(round_id=round_id)
        .values("outcome")
        .annotate(calls=Count("id"), tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"))
    )
    by_outcome = {row["outcome"]: row["calls"] for row in rows}
    tokens_in = sum(row["tokens_in"] or 0 for row in rows)
    tokens_out = sum(row["tokens_out"] or 0 for row in rows)
    budget = round_token_budget(round_id)
    used = tokens_in + tokens_out
    return {
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "tokens_used": used,
        "token_budget": budget,
        "budget_spent": budget is not None and used >= budget,
        "calls": sum(by_outcome.values()),
        "calls_by_outcome": by_outcome,
    }
